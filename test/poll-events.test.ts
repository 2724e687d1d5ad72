/**
 * docs/POLL-SEMANTICS.md rules 16-18: event capacity, timeouts and EINTR.
 *
 * A blocked poll blocks the JS thread, so whatever ends a blocking poll runs
 * in a worker thread: it writes to a socket, wakes a Waker, or sends this
 * process a signal. Each worker also has a fallback (a wake or a signal)
 * that ends the poll if the behaviour under test does not, so a broken
 * library fails these tests instead of hanging them.
 */
import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import {
  Events,
  Interest,
  MAX_EVENTS_CAPACITY,
  Poll,
  PollOpt,
  Waker,
  WOULD_BLOCK,
} from '../src/index';
import { toTimeoutMs } from '../src/poll';
import { own, runCleanups } from './cleanup';
import { DIST_INDEX } from './dist';
import { newPoll, pair, pollTokens, udpSockets } from './poll-fixtures';
import { expectEvents, expectNoEvents } from './util';
import { within } from './waits';

afterEach(runCleanups);

/** Slots of the Int32Array shared with a helper worker. */
const GO = 0; // main -> worker: start the countdown
const DONE = 1; // main -> worker: the poll returned
const ACTED = 2; // worker: how many times it acted
const FALLBACK = 3; // worker: 1 when it had to use the fallback

/**
 * The helper worker. After `go`, it sleeps `delayMs`, then performs `action`
 * up to `repeats` times, `intervalMs` apart, stopping as soon as the main
 * thread reports that its poll returned. If the poll has not returned
 * `graceMs` later, it performs `fallback` once; if even that does not end
 * the poll within 5 s more, it kills the process so the run fails instead
 * of hanging.
 */
const WORKER_SOURCE = `
const { workerData, parentPort } = require('node:worker_threads');
const fs = require('node:fs');
const lib = require(workerData.lib);
const flags = new Int32Array(workerData.flags);
const [GO, DONE, ACTED, FALLBACK] = [0, 1, 2, 3];
const remote = workerData.waker ? lib.Waker.fromHandle(workerData.waker) : null;
function perform(what) {
  if (what === 'write') fs.writeSync(workerData.fd, Buffer.from('x'));
  else if (what === 'wake') remote.wake();
  else if (what === 'signal') process.kill(process.pid, 'SIGUSR2');
  else throw new Error('unknown action ' + what);
}
function done() { return Atomics.load(flags, DONE) !== 0; }
function sleep(ms) { if (!done()) Atomics.wait(flags, DONE, 0, ms); }
parentPort.postMessage('ready');
Atomics.wait(flags, GO, 0, 10000);
if (Atomics.load(flags, GO) !== 0 && !done()) {
  sleep(workerData.delayMs);
  for (let i = 0; i < workerData.repeats && !done(); i++) {
    // Count first: the main thread may wake before perform() even returns.
    Atomics.add(flags, ACTED, 1);
    perform(workerData.action);
    if (i + 1 < workerData.repeats) sleep(workerData.intervalMs);
  }
  sleep(workerData.graceMs);
  if (!done()) {
    Atomics.store(flags, FALLBACK, 1);
    perform(workerData.fallback);
    sleep(5000);
    if (!done()) process.kill(process.pid, 'SIGKILL');
  }
}
`;

interface HelperSpec {
  action: 'write' | 'wake' | 'signal';
  fallback: 'wake' | 'signal';
  /** fd to write to for 'write' */
  fd?: number;
  /** Waker whose handle the worker wakes for 'wake' */
  waker?: Waker;
  delayMs?: number;
  repeats?: number;
  intervalMs?: number;
  graceMs?: number;
}

interface HelperResult {
  /** What poll() returned. */
  n: number;
  /** How many times the worker started the action before the poll returned. */
  acted: number;
  /** Whether the worker had to use its fallback. */
  usedFallback: boolean;
}

/**
 * Starts a helper worker, waits until it is ready, then calls
 * `poll.poll(events, timeoutMs)` on this thread while the worker acts.
 */
async function pollWithHelper(
  poll: Poll,
  events: Events,
  timeoutMs: number | undefined,
  spec: HelperSpec,
): Promise<HelperResult> {
  const flags = new Int32Array(new SharedArrayBuffer(4 * 4));
  const worker = new Worker(WORKER_SOURCE, {
    eval: true,
    workerData: {
      lib: DIST_INDEX,
      flags: flags.buffer,
      action: spec.action,
      fallback: spec.fallback,
      fd: spec.fd ?? -1,
      waker: spec.waker ? spec.waker.handle() : null,
      delayMs: spec.delayMs ?? 100,
      repeats: spec.repeats ?? 1,
      intervalMs: spec.intervalMs ?? 100,
      graceMs: spec.graceMs ?? 3000,
    },
  });
  const exited = once(worker, 'exit');
  try {
    await within(once(worker, 'message'), 10000, 'worker start');
    Atomics.store(flags, GO, 1);
    Atomics.notify(flags, GO);
    let n = -1;
    try {
      n = timeoutMs === undefined ? poll.poll(events) : poll.poll(events, timeoutMs);
    } finally {
      Atomics.store(flags, DONE, 1);
      Atomics.notify(flags, DONE);
    }
    return { n, acted: Atomics.load(flags, ACTED), usedFallback: Atomics.load(flags, FALLBACK) !== 0 };
  } finally {
    // DONE without GO makes a worker that never started its countdown exit.
    Atomics.store(flags, DONE, 1);
    Atomics.notify(flags, GO);
    Atomics.notify(flags, DONE);
    await within(exited, 10000, 'worker exit');
  }
}

/** Counts SIGUSR2 deliveries to JS while installed; remove() uninstalls. */
function sigusr2Counter(): { count(): number; next(ms: number): Promise<void>; remove(): Promise<void> } {
  let count = 0;
  let waiters: (() => void)[] = [];
  const listener = (): void => {
    count++;
    for (const w of waiters.splice(0)) w();
  };
  process.on('SIGUSR2', listener);
  return {
    count: () => count,
    next(ms: number) {
      if (count > 0) return Promise.resolve();
      return within(new Promise<void>((resolve) => waiters.push(resolve)), ms, 'SIGUSR2 listener');
    },
    async remove() {
      // Let any signal still queued in libuv's pipe reach the listener
      // before the default action (termination) comes back.
      await new Promise((resolve) => setTimeout(resolve, 50));
      waiters = [];
      process.off('SIGUSR2', listener);
    },
  };
}

// ---------------------------------------------------------------------------
// Rule 16: capacity
// ---------------------------------------------------------------------------

describe('rule 16: poll returns at most capacity events; the rest come later', () => {
  it('rule 16: a poll with 5 ready fds and capacity 2 returns exactly 2 events', () => {
    const poll = newPoll();
    const events = new Events(2);
    udpSockets(5).forEach((s, i) => poll.register(s, i, Interest.WRITABLE));
    expectEvents(poll, new Events(8), [0, 1, 2, 3, 4].map((token) => ({ token, writable: true })));
    for (let i = 0; i < 4; i++) {
      const tokens = pollTokens(poll, events, 500);
      expect(tokens).toHaveLength(2);
      expect(new Set(tokens).size).toBe(2);
    }
  });

  it('rule 16: capacity 1 returns one event per poll', () => {
    const poll = newPoll();
    const events = new Events(1);
    udpSockets(3).forEach((s, i) => poll.register(s, i, Interest.WRITABLE));
    for (let i = 0; i < 4; i++) expect(pollTokens(poll, events, 500)).toHaveLength(1);
  });

  it('rule 16 (level): round robin reports every ready fd within ceil(n / capacity) polls', () => {
    const poll = newPoll();
    const events = new Events(2);
    udpSockets(5).forEach((s, i) => poll.register(s, i, Interest.WRITABLE));
    // All five are writable from the start; make sure they are all queued.
    expectEvents(poll, new Events(8), [0, 1, 2, 3, 4].map((token) => ({ token })));
    const seen = new Set<number>();
    for (let i = 0; i < 3; i++) for (const t of pollTokens(poll, events, 500)) seen.add(t);
    expect([...seen].sort()).toEqual([0, 1, 2, 3, 4]);
  });

  it('rule 16 (level): over many polls each ready fd gets an equal share', () => {
    const poll = newPoll();
    const events = new Events(2);
    udpSockets(5).forEach((s, i) => poll.register(s, i, Interest.WRITABLE));
    expectEvents(poll, new Events(8), [0, 1, 2, 3, 4].map((token) => ({ token })));
    const counts = new Map<number, number>();
    // 10 polls x 2 slots = 20 events over 5 fds: 4 each when served in turn.
    for (let i = 0; i < 10; i++) {
      for (const t of pollTokens(poll, events, 500)) counts.set(t, (counts.get(t) ?? 0) + 1);
    }
    expect([...counts.entries()].sort((a, b) => a[0] - b[0])).toEqual([
      [0, 4],
      [1, 4],
      [2, 4],
      [3, 4],
      [4, 4],
    ]);
  });

  it('rule 16 (edge): each ready fd is reported exactly once, spread over later polls', () => {
    const poll = newPoll();
    const events = new Events(2);
    udpSockets(5).forEach((s, i) => poll.register(s, i, Interest.WRITABLE, PollOpt.EDGE));
    const all: number[] = [];
    for (let i = 0; i < 10 && all.length < 5; i++) {
      const tokens = pollTokens(poll, events, 500);
      expect(tokens.length).toBeLessThanOrEqual(2);
      all.push(...tokens);
    }
    expect([...all].sort()).toEqual([0, 1, 2, 3, 4]);
    expectNoEvents(poll, events);
  });

  it('rule 16 (edge): data events beyond capacity are delivered on the next poll, not lost', () => {
    const poll = newPoll();
    const events = new Events(1);
    const pairs = [pair(), pair(), pair()];
    pairs.forEach((p, i) => poll.register(p.server, i, Interest.READABLE, PollOpt.EDGE));
    for (const p of pairs) p.client.write(Buffer.from('x'));
    const all: number[] = [];
    for (let i = 0; i < 10 && all.length < 3; i++) all.push(...pollTokens(poll, events, 500));
    expect([...all].sort()).toEqual([0, 1, 2]);
    expectNoEvents(poll, events);
  });

  it('rule 16: capacity 0 is rejected with RangeError', () => {
    expect(() => new Events(0)).toThrow(RangeError);
  });

  it('rule 16: negative, fractional and oversized capacities are rejected', () => {
    expect(() => new Events(-1)).toThrow(RangeError);
    expect(() => new Events(MAX_EVENTS_CAPACITY + 1)).toThrow(RangeError);
    expect(() => new Events(1.5)).toThrow(TypeError);
    expect(new Events(MAX_EVENTS_CAPACITY).capacity).toBe(MAX_EVENTS_CAPACITY);
  });

  it('rule 16: the native wait rejects zero-capacity storage with RangeError', () => {
    const poll = newPoll();
    expect(() => poll.native.wait(new Uint32Array(0), 0)).toThrow(RangeError);
    expect(() => poll.native.wait(new Uint32Array(1), 0)).toThrow(RangeError);
  });
});

// ---------------------------------------------------------------------------
// Rule 17: timeouts
// ---------------------------------------------------------------------------

describe('rule 17: timeouts', () => {
  it('rule 17: an omitted timeout blocks until another thread makes a socket readable', async () => {
    const poll = newPoll();
    const events = new Events(8);
    const waker = own(new Waker(poll, 99));
    const { client, server } = pair();
    poll.register(server, 1, Interest.READABLE);
    const r = await pollWithHelper(poll, events, undefined, { action: 'write', fd: client.fd, fallback: 'wake', waker });
    expect(r.usedFallback).toBe(false);
    expect(r.acted).toBe(1);
    expect(r.n).toBeGreaterThanOrEqual(1);
    expect(events.token(0)).toBe(1);
    expect(events.isReadable(0)).toBe(true);
  });

  it('rule 17: timeout -1 blocks until another thread makes a socket readable', async () => {
    const poll = newPoll();
    const events = new Events(8);
    const waker = own(new Waker(poll, 99));
    const { client, server } = pair();
    poll.register(server, 1, Interest.READABLE);
    const r = await pollWithHelper(poll, events, -1, { action: 'write', fd: client.fd, fallback: 'wake', waker });
    expect(r.usedFallback).toBe(false);
    expect(r.acted).toBe(1);
    expect(r.n).toBe(1);
    expect(events.token(0)).toBe(1);
  });

  it('rule 17: timeout -1 with nothing registered blocks until a Waker fires from another thread', async () => {
    const poll = newPoll();
    const events = new Events(8);
    const waker = own(new Waker(poll, 7));
    const signals = sigusr2Counter();
    try {
      const r = await pollWithHelper(poll, events, -1, { action: 'wake', waker, fallback: 'signal' });
      expect(r.usedFallback).toBe(false);
      expect(r.acted).toBe(1);
      expect(r.n).toBe(1);
      expect(events.token(0)).toBe(7);
      expect(events.isReadable(0)).toBe(true);
    } finally {
      await signals.remove();
    }
  });

  it('rule 17: timeout 0 returns the events that are ready', () => {
    const poll = newPoll();
    const events = new Events(8);
    const { client, server } = pair();
    client.write(Buffer.from('x'));
    // Confirm readiness on a separate Poll first, so the 0 timeout is not racing the kernel.
    const probe = newPoll();
    probe.register(server, 0, Interest.READABLE);
    expectEvents(probe, new Events(4), [{ token: 0, readable: true }]);
    poll.register(server, 3, Interest.READABLE);
    poll.register(client, 4, Interest.WRITABLE);
    const tokens = pollTokens(poll, events, 0);
    expect([...tokens].sort()).toEqual([3, 4]);
  });

  it('rule 17: timeout 0 with nothing ready returns 0 events', () => {
    const poll = newPoll();
    const events = new Events(8);
    const { server } = pair();
    poll.register(server, 1, Interest.READABLE);
    expect(poll.poll(events, 0)).toBe(0);
    expect(events.length).toBe(0);
  });

  it('rule 17: an expired timeout returns 0 events', () => {
    const poll = newPoll();
    const events = new Events(8);
    const { server } = pair();
    poll.register(server, 1, Interest.READABLE);
    expect(poll.poll(events, 20)).toBe(0);
    expect(events.length).toBe(0);
  });

  it('rule 17: an expired timeout resets events.length left by an earlier poll', () => {
    const poll = newPoll();
    const events = new Events(8);
    const [s] = udpSockets(1);
    poll.register(s, 1, Interest.WRITABLE, PollOpt.EDGE);
    expect(poll.poll(events, 500)).toBe(1);
    expect(events.length).toBe(1);
    expect(poll.poll(events, 20)).toBe(0);
    expect(events.length).toBe(0);
  });

  it('rule 17: an expired timeout returns 0 even with nothing registered', () => {
    const poll = newPoll();
    expect(poll.poll(new Events(4), 10)).toBe(0);
  });

  it('rule 17: a sub-millisecond timeout reaches the kernel as 1 ms, never 0', () => {
    const poll = newPoll();
    const events = new Events(8);
    const handle = poll.native;
    const original = handle.wait;
    const passed: number[] = [];
    // The addon's methods are read-only on the prototype: shadow on the instance.
    Object.defineProperty(handle, 'wait', {
      configurable: true,
      value: (storage: Uint32Array, timeout: number): number => {
        passed.push(timeout);
        return original.call(handle, storage, timeout);
      },
    });
    expect(poll.poll(events, 0.1)).toBe(0);
    expect(poll.poll(events, 0.0001)).toBe(0);
    expect(poll.poll(events, Number.MIN_VALUE)).toBe(0);
    expect(passed).toEqual([1, 1, 1]);
  });

  it('rule 17: a sub-millisecond timeout with nothing ready returns 0 after actually waiting', () => {
    const poll = newPoll();
    const events = new Events(8);
    const { server } = pair();
    poll.register(server, 1, Interest.READABLE);
    // Lower bound only: a 1 ms kernel wait cannot finish in under half a millisecond.
    const start = process.hrtime.bigint();
    const n = poll.poll(events, 0.1);
    const elapsedNs = process.hrtime.bigint() - start;
    expect(n).toBe(0);
    expect(elapsedNs).toBeGreaterThanOrEqual(500_000n);
  });

  it('rule 17: fractional timeouts round up to whole milliseconds', () => {
    expect(toTimeoutMs(0.1)).toBe(1);
    expect(toTimeoutMs(1e-9)).toBe(1);
    expect(toTimeoutMs(1)).toBe(1);
    expect(toTimeoutMs(1.2)).toBe(2);
    expect(toTimeoutMs(0)).toBe(0);
  });

  it('rule 17: none, -1 and Infinity all mean block forever (-1 to the kernel)', () => {
    expect(toTimeoutMs(undefined)).toBe(-1);
    expect(toTimeoutMs(-1)).toBe(-1);
    expect(toTimeoutMs(Infinity)).toBe(-1);
  });

  it('rule 17: negative timeouts other than -1 and NaN are rejected', () => {
    const poll = newPoll();
    const events = new Events(4);
    expect(() => poll.poll(events, -2)).toThrow(RangeError);
    expect(() => poll.poll(events, -0.5)).toThrow(RangeError);
    expect(() => poll.poll(events, NaN)).toThrow(TypeError);
  });

  it('rule 17: timeouts beyond the kernel limit are clamped, not wrapped', () => {
    expect(toTimeoutMs(2 ** 31)).toBe(0x7fffffff);
    expect(toTimeoutMs(1e15)).toBe(0x7fffffff);
  });
});

// ---------------------------------------------------------------------------
// Rule 18: EINTR
// ---------------------------------------------------------------------------

describe('rule 18: a signal ends the wait and poll returns 0', () => {
  it('rule 18: SIGUSR2 during poll(-1) with nothing ready returns 0 and the listener runs', async () => {
    const poll = newPoll();
    const events = new Events(8);
    const waker = own(new Waker(poll, 5));
    const signals = sigusr2Counter();
    try {
      // Signals every 100 ms (up to 20) until the poll returns; a wake after
      // that if it never does (then n would be 1, failing the test).
      const r = await pollWithHelper(poll, events, -1, {
        action: 'signal',
        fallback: 'wake',
        waker,
        repeats: 20,
        intervalMs: 100,
        graceMs: 1000,
      });
      expect(r.usedFallback).toBe(false);
      expect(r.acted).toBeGreaterThanOrEqual(1);
      expect(r.n).toBe(0);
      expect(events.length).toBe(0);
      // The signal was real: the JS listener sees it once the loop turns.
      await signals.next(2000);
      expect(signals.count()).toBeGreaterThanOrEqual(1);
    } finally {
      await signals.remove();
    }
  });

  it('rule 18: a signal during a long finite timeout returns 0 instead of waiting on', async () => {
    const poll = newPoll();
    const events = new Events(8);
    const waker = own(new Waker(poll, 5));
    const signals = sigusr2Counter();
    try {
      // If the wait were retried after EINTR, the fallback wake (well before
      // the 60 s timeout) would end it with n = 1.
      const r = await pollWithHelper(poll, events, 60000, {
        action: 'signal',
        fallback: 'wake',
        waker,
        repeats: 20,
        intervalMs: 100,
        graceMs: 1000,
      });
      expect(r.usedFallback).toBe(false);
      expect(r.n).toBe(0);
      await signals.next(2000);
    } finally {
      await signals.remove();
    }
  });

  it('rule 18: the Poll keeps working after an interrupted wait', async () => {
    const poll = newPoll();
    const events = new Events(8);
    const waker = own(new Waker(poll, 5));
    const [s] = udpSockets(1);
    const signals = sigusr2Counter();
    try {
      const r = await pollWithHelper(poll, events, -1, {
        action: 'signal',
        fallback: 'wake',
        waker,
        repeats: 20,
        intervalMs: 100,
        graceMs: 1000,
      });
      expect(r.n).toBe(0);
      await signals.next(2000);
    } finally {
      await signals.remove();
    }
    poll.register(s, 1, Interest.READABLE | Interest.WRITABLE);
    expectEvents(poll, events, [{ token: 1, writable: true }]);
    expect(s.recv(Buffer.alloc(4))).toBe(WOULD_BLOCK);
    waker.wake();
    expectEvents(poll, events, [{ token: 5, readable: true }]);
  });
});
