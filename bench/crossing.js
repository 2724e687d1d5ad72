// Nanoseconds per call through edgeloop for the calls the echo hot path
// makes, next to the same syscalls from C (bench/syscall-cost.c), so the
// N-API crossing's share is visible. Prints one JSON line.
'use strict';
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const { Events, Interest, Poll, UnixStream, WOULD_BLOCK } = require(path.join(__dirname, '..'));

const N = 1_000_000;
const [a, b] = UnixStream.pair();
const buf = Buffer.alloc(64);
const time = (fn) => {
  for (let i = 0; i < 50_000; i++) fn(); // warm up the JIT
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < N; i++) fn();
  return Number(process.hrtime.bigint() - t0) / N;
};
const readNs = time(() => {
  if (a.read(buf) !== WOULD_BLOCK) throw new Error('expected WOULD_BLOCK');
});
const poll = new Poll();
const events = new Events(64);
poll.register(a, 1, Interest.READABLE);
const pollNs = time(() => poll.poll(events, 0));
const c = JSON.parse(execFileSync(path.join(__dirname, 'build', 'syscall-cost'), { encoding: 'utf8' }));
process.stdout.write(
  `${JSON.stringify({
    read_would_block_ns: readNs,
    poll_empty_ns: pollNs,
    c_recv_eagain_ns: c.recv_eagain_ns,
    c_epoll_wait_empty_ns: c.epoll_wait_empty_ns,
  })}\n`,
);
for (const s of [a, b]) s.close();
poll.close();
