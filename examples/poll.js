// An echo server on the bare Poll (usage: node examples/poll.js [port]).
const { Events, Interest, Poll, TcpListener, WOULD_BLOCK } = require('edgeloop');

const poll = new Poll();
const events = new Events(1024);
const listener = TcpListener.bind({ host: '127.0.0.1', port: Number(process.argv[2] ?? 7007) });
poll.register(listener, 0, Interest.READABLE);
console.log(`listening ${listener.localAddress().port}`);
const streams = new Map();
const buf = Buffer.alloc(65536);
for (;;) {
  poll.poll(events); // blocks until something is ready
  for (let i = 0; i < events.length; i++) {
    const token = events.token(i);
    if (token === 0) {
      for (let s; (s = listener.accept()) !== WOULD_BLOCK; ) {
        streams.set(s.fd, s);
        poll.register(s, s.fd, Interest.READABLE);
      }
    } else {
      const s = streams.get(token);
      const n = s.read(buf);
      if (n === 0) streams.delete(token), s.close(); // EOF; close() deregisters
      else if (n !== WOULD_BLOCK) s.write(buf, 0, n); // a real server queues what a short write left
    }
  }
}
