// Polls a ready socket a million times and counts garbage collections:
// the zero-allocation claim, measured. Prints one JSON line.
'use strict';
const path = require('node:path');
const { PerformanceObserver, performance } = require('node:perf_hooks');
const { Events, Interest, Poll, UnixStream } = require(path.join(__dirname, '..'));

const POLLS = 1_000_000;
const poll = new Poll();
const events = new Events(64);
const [a, b] = UnixStream.pair();
b.write(Buffer.from('ready'));
poll.register(a, 1, Interest.READABLE); // level-triggered: ready on every poll
for (let i = 0; i < 10_000; i++) poll.poll(events, 0); // warm up the JIT first

let gcCount = 0;
const obs = new PerformanceObserver((list) => (gcCount += list.getEntries().length));
obs.observe({ entryTypes: ['gc'] });
const t0 = performance.now();
let seen = 0;
for (let i = 0; i < POLLS; i++) seen += poll.poll(events, 0);
const ms = performance.now() - t0;
setImmediate(() => {
  obs.disconnect();
  process.stdout.write(`${JSON.stringify({ polls: POLLS, events: seen, gcCount, nsPerPoll: (ms * 1e6) / POLLS })}\n`);
  a.close();
  b.close();
  poll.close();
});
