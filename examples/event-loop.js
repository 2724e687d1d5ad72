// An echo server on the EventLoop, attached to Node's own loop
// (usage: node examples/event-loop.js [port]).
const { EventLoop, WOULD_BLOCK } = require('edgeloop');

const loop = new EventLoop();
const server = loop.listen({ host: '127.0.0.1', port: Number(process.argv[2] ?? 7007) }, () => ({
  onReadable(conn) {
    for (;;) {
      const n = conn.read(loop.readBuffer);
      if (n === WOULD_BLOCK) return;
      if (n === 0) return conn.end(); // flush what is queued, then close
      if (!conn.write(loop.readBuffer, 0, n)) conn.pauseReading(); // backpressure
    }
  },
  onDrain(conn) {
    conn.resumeReading();
  },
}));
loop.attach(); // Node's timers, promises and other I/O keep running
process.once('SIGINT', () => loop.close());
console.log(`listening ${server.socket.localAddress().port}`);
