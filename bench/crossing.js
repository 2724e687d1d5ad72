// Nanoseconds per call through edgeloop for the calls the echo hot path
// makes, next to the same syscalls from C (bench/syscall-cost.c), so the
// N-API crossing's share is visible: an empty native call, a read that
// finds nothing, an empty poll, and an EventLoop echo turn (the pump's one
// native call, plus the turn's flush) over 1, 10 and 100 ready connections.
// Prints one JSON line.
'use strict';
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const { EventLoop, Events, Interest, Poll, UnixStream, WOULD_BLOCK } = require(path.join(__dirname, '..'));

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
const nativePoll = poll.native;
const emptyCallNs = time(() => nativePoll.fd());

/** Server-side ns per loop.turn(0) with `n` connections ready, each echoing 64 B. */
function pumpTurnNs(n, turns) {
  const loop = new EventLoop();
  const handler = { onData: (conn, data, offset, length) => void conn.write(data, offset, length) };
  const peers = [];
  for (let i = 0; i < n; i++) {
    const [peer, server] = UnixStream.pair();
    loop.adopt(server, handler);
    peers.push(peer);
  }
  const back = Buffer.alloc(65536);
  let total = 0n;
  for (let t = 0; t < turns + 1000; t++) {
    for (const peer of peers) peer.write(buf);
    const t0 = process.hrtime.bigint();
    loop.turn(0);
    if (t >= 1000) total += process.hrtime.bigint() - t0; // after the warm-up
    for (const peer of peers) peer.read(back);
  }
  loop.close();
  for (const peer of peers) peer.close();
  return Number(total) / turns;
}
const turn1 = pumpTurnNs(1, 200_000);
const turn10 = pumpTurnNs(10, 50_000);
const turn100 = pumpTurnNs(100, 5_000);
const c = JSON.parse(execFileSync(path.join(__dirname, 'build', 'syscall-cost'), { encoding: 'utf8' }));
process.stdout.write(
  `${JSON.stringify({
    empty_call_ns: emptyCallNs,
    read_would_block_ns: readNs,
    poll_empty_ns: pollNs,
    pump_turn_1_ns: turn1,
    pump_turn_10_ns: turn10,
    pump_turn_100_ns: turn100,
    c_recv_eagain_ns: c.recv_eagain_ns,
    c_epoll_wait_empty_ns: c.epoll_wait_empty_ns,
    c_turn_1_ns: c.turn_1_ns,
    c_turn_10_ns: c.turn_10_ns,
    c_turn_100_ns: c.turn_100_ns,
  })}\n`,
);
for (const s of [a, b]) s.close();
poll.close();
