// Bun.listen echo server: data -> write, keeping what write() did not take
// until drain. TCP_NODELAY set on open.
//   bun bun-echo.js PORT      prints "listening PORT" once ready
const pending = new WeakMap();

const server = Bun.listen({
  hostname: '127.0.0.1',
  port: Number(process.argv[2] ?? 0),
  socket: {
    open(socket) {
      if (typeof socket.setNoDelay === 'function') socket.setNoDelay(true);
    },
    data(socket, data) {
      const queued = pending.get(socket);
      if (queued) {
        pending.set(socket, Buffer.concat([queued, data]));
        return;
      }
      const n = socket.write(data);
      if (n < data.length) pending.set(socket, Buffer.from(data.subarray(Math.max(n, 0))));
    },
    drain(socket) {
      const queued = pending.get(socket);
      if (!queued) return;
      const n = socket.write(queued);
      if (n >= queued.length) pending.delete(socket);
      else pending.set(socket, queued.subarray(Math.max(n, 0)));
    },
  },
});
process.stdout.write(`listening ${server.port}\n`);
