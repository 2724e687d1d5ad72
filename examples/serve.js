// A line protocol with serve(): each line comes back upper-cased, in order,
// even when a later answer is ready first (usage: node examples/serve.js [port]).
const { EventLoop, LineCodec, serve } = require('edgeloop');

const loop = new EventLoop();
const server = serve(loop, { host: '127.0.0.1', port: Number(process.argv[2] ?? 7007) }, {
  codec: () => new LineCodec({ maxLength: 200 }), // an over-long line is answered, then the connection closes
  service: (line) =>
    line.startsWith('slow ')
      ? new Promise((resolve) => setTimeout(() => resolve(line.toUpperCase()), 100)) // attach() runs promises
      : line.toUpperCase(),
  onDecodeError: () => 'ERROR line too long',
});
loop.attach();
process.once('SIGINT', () => loop.close());
console.log(`listening ${server.socket.localAddress().port}`);
