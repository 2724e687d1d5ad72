// node:net echo server: on('data') -> write, pausing while write() reports
// backpressure. TCP_NODELAY on every connection.
//   node node-net.js PORT      prints "listening PORT" once ready
'use strict';
const net = require('node:net');

const server = net.createServer((socket) => {
  socket.setNoDelay(true);
  socket.on('data', (chunk) => {
    if (!socket.write(chunk)) {
      socket.pause();
      socket.once('drain', () => socket.resume());
    }
  });
  socket.on('error', () => socket.destroy());
});
server.listen(Number(process.argv[2] ?? 0), '127.0.0.1', 4096, () => {
  process.stdout.write(`listening ${server.address().port}\n`);
});
