// The same loop driven by a blocking run() in a worker thread; the main
// thread stays free and stops it (usage: node examples/run-in-worker.js [port]).
const { Worker, isMainThread, parentPort, workerData } = require('node:worker_threads');
const { EventLoop, WOULD_BLOCK } = require('edgeloop');

if (isMainThread) {
  const worker = new Worker(__filename, { workerData: Number(process.argv[2] ?? 7007) });
  worker.on('message', (m) => {
    process.once('SIGINT', () => EventLoop.stopRemote(m.handle)); // run() returns
    console.log(`listening ${m.port}`);
  });
} else {
  const loop = new EventLoop();
  const server = loop.listen({ host: '127.0.0.1', port: workerData }, () => ({
    onReadable(conn) {
      const n = conn.read(loop.readBuffer);
      if (n === 0) conn.close();
      else if (n !== WOULD_BLOCK) conn.write(loop.readBuffer, 0, n);
    },
  }));
  parentPort.postMessage({ port: server.socket.localAddress().port, handle: loop.handle() });
  loop.run(); // this thread belongs to the loop until stopped
  loop.close();
}
