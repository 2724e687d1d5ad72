/**
 * The hot path allocates nothing (DESIGN.md, "Poll"): a million polls of a
 * ready socket, a million reads/writes that return WOULD_BLOCK, or a
 * million messages echoed through the EventLoop's pump, run without a
 * single young-generation collection.
 *
 * Method: force a full collection first (so that leftovers from module
 * loading cannot trigger one mid-loop), start a PerformanceObserver for 'gc'
 * entries, run the loop synchronously, then yield to the event loop so that
 * pending entries are delivered, and count the minor (scavenge) ones: the
 * young generation fills by allocation alone. Full collections are not
 * counted: on a loaded machine a loop runs for seconds, long enough for
 * V8's memory reducer to start one on its own timer, which says nothing of
 * what the loop allocates. A control test shows the same harness does see
 * collections when code allocates.
 *
 * Measured here (Node 20, 2 CPUs): about 0.6 s for a million polls and 0.4 s
 * for a million WOULD_BLOCK reads, well inside the 20 s test timeout. The
 * loops still stop at LOOP_DEADLINE_MS, in which case the count check fails.
 */
import { PerformanceObserver, constants as perfConstants } from 'node:perf_hooks';
import * as v8 from 'node:v8';
import * as vm from 'node:vm';
import { afterEach, describe, expect, it } from 'vitest';
import { EventLoop, Events, Interest, Poll, UnixStream, WOULD_BLOCK, type ConnectionHandler } from '../src/index';
import { own, runCleanups } from './cleanup';
import { expectEvents, tcpPair } from './util';

const ITERATIONS = 1_000_000;
/** Safety bound on each loop, checked every 65536 iterations. */
const LOOP_DEADLINE_MS = 15_000;
/** The same for the echo loop, whose million messages each cost four syscalls (about 9 s here, alone). */
const ECHO_DEADLINE_MS = 75_000;

afterEach(runCleanups);

/** A full collection, via the exposed gc() (no-op if it cannot be exposed). */
const forceGc: () => void = (() => {
  try {
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as unknown;
    if (typeof gc === 'function') return gc as () => void;
  } catch {
    // fall through
  }
  return () => {};
})();

function macrotask(ms = 0): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Runs `loop` with a 'gc' PerformanceObserver active and returns the
 * young-generation collections it saw (with their kinds, for the failure message).
 */
async function gcEntriesDuring(loop: () => void): Promise<string[]> {
  forceGc();
  await macrotask(10); // let the forced collection's own entry go by unobserved
  const seen: string[] = [];
  const observer = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      const detail = (e as unknown as { detail?: { kind?: number } }).detail;
      if (detail?.kind !== perfConstants.NODE_PERFORMANCE_GC_MINOR) continue;
      seen.push(`${e.name} kind=${detail?.kind ?? '?'} duration=${e.duration.toFixed(2)}ms`);
    }
  });
  observer.observe({ entryTypes: ['gc'] });
  try {
    loop();
    await macrotask(50);
    await new Promise((resolve) => setImmediate(resolve));
  } finally {
    observer.disconnect();
  }
  return seen;
}

describe('zero allocation on the hot path', () => {
  it('the gc observer harness reports collections when the loop allocates (control)', async () => {
    let keep: unknown[] = [];
    const entries = await gcEntriesDuring(() => {
      for (let i = 0; i < ITERATIONS; i++) {
        keep.push({ i, s: `x${i}` });
        if (keep.length > 1000) keep = [];
      }
    });
    expect(keep.length).toBeGreaterThan(0);
    expect(entries.length).toBeGreaterThan(0);
  });

  it('a million level-triggered polls of a ready TCP stream cause no young-generation collection', async () => {
    const TOKEN = 9;
    const poll = own(new Poll());
    const events = new Events(8);
    const { client, server } = tcpPair();
    own(client);
    own(server);
    poll.register(server, TOKEN, Interest.READABLE);
    client.write(Buffer.from('unread data stays unread'));
    expectEvents(poll, events, [{ token: TOKEN, readable: true }]);

    let done = 0;
    let good = 0;
    const start = Date.now();
    const entries = await gcEntriesDuring(() => {
      for (let i = 0; i < ITERATIONS; i++) {
        if (poll.poll(events, 0) === 1 && events.token(0) === TOKEN && events.isReadable(0)) good++;
        done++;
        if ((i & 0xffff) === 0xffff && Date.now() - start > LOOP_DEADLINE_MS) break;
      }
    });
    expect(done, 'loop stopped at its time bound').toBe(ITERATIONS);
    expect(good, 'every poll reports the one ready stream').toBe(ITERATIONS);
    expect(entries, 'garbage collections during the poll loop').toEqual([]);
  });

  it('a million reads of an empty TCP stream return WOULD_BLOCK without throwing or a young-generation collection', async () => {
    const { client, server } = tcpPair();
    own(client);
    own(server);
    const buf = Buffer.alloc(1024);

    let done = 0;
    let wouldBlock = 0;
    let thrown: unknown = null;
    const start = Date.now();
    const entries = await gcEntriesDuring(() => {
      try {
        for (let i = 0; i < ITERATIONS; i++) {
          if (server.read(buf) === WOULD_BLOCK) wouldBlock++;
          done++;
          if ((i & 0xffff) === 0xffff && Date.now() - start > LOOP_DEADLINE_MS) break;
        }
      } catch (e) {
        thrown = e;
      }
    });
    expect(thrown).toBeNull();
    expect(done, 'loop stopped at its time bound').toBe(ITERATIONS);
    expect(wouldBlock).toBe(ITERATIONS);
    expect(entries, 'garbage collections during the read loop').toEqual([]);
  });

  it('a million writes to a full Unix stream return WOULD_BLOCK without throwing or a young-generation collection', async () => {
    // A Unix socketpair, not TCP: on loopback TCP the receiver's buffer keeps
    // autotuning upwards, so 1-byte writes to a "full" TCP stream sometimes
    // succeed and the count of WOULD_BLOCK results would not be exact.
    const [client, server] = UnixStream.pair();
    own(client);
    own(server);
    // Fill the socket: the server never reads.
    const chunk = Buffer.alloc(64 * 1024, 0x61);
    let filled = false;
    for (let i = 0; i < 10_000 && !filled; i++) filled = client.write(chunk) === WOULD_BLOCK;
    expect(filled, 'the stream never filled up').toBe(true);
    const one = Buffer.from('z');

    let done = 0;
    let wouldBlock = 0;
    let thrown: unknown = null;
    const start = Date.now();
    const entries = await gcEntriesDuring(() => {
      try {
        for (let i = 0; i < ITERATIONS; i++) {
          if (client.write(one) === WOULD_BLOCK) wouldBlock++;
          done++;
          if ((i & 0xffff) === 0xffff && Date.now() - start > LOOP_DEADLINE_MS) break;
        }
      } catch (e) {
        thrown = e;
      }
    });
    expect(thrown).toBeNull();
    expect(done, 'loop stopped at its time bound').toBe(ITERATIONS);
    expect(wouldBlock).toBe(ITERATIONS);
    expect(entries, 'garbage collections during the write loop').toEqual([]);
  });

  it('a million zero-timeout polls with nothing ready cause no young-generation collection', async () => {
    const poll = own(new Poll());
    const events = new Events(8);
    let done = 0;
    let empty = 0;
    const start = Date.now();
    const entries = await gcEntriesDuring(() => {
      for (let i = 0; i < ITERATIONS; i++) {
        if (poll.poll(events, 0) === 0) empty++;
        done++;
        if ((i & 0xffff) === 0xffff && Date.now() - start > LOOP_DEADLINE_MS) break;
      }
    });
    expect(done, 'loop stopped at its time bound').toBe(ITERATIONS);
    expect(empty).toBe(ITERATIONS);
    expect(entries, 'garbage collections during the empty poll loop').toEqual([]);
  });

  it('a million messages echoed through the pump (onData, corked writes by reference) cause no young-generation collection', async () => {
    // 50 Unix socketpairs adopted by one loop; each round writes one 64 B
    // message on every client, runs one turn (one native call reads all 50,
    // the echoes are corked and sent by the turn's flush) and reads the
    // echoes back. Unix streams keep the kernel's share of each round small.
    const loop = own(new EventLoop());
    const CONNS = 50;
    const MESSAGES = 1_000_000;
    let echoed = 0;
    const handler: ConnectionHandler = {
      onData(conn, data, offset, length) {
        echoed++;
        conn.write(data, offset, length);
      },
    };
    const clients: UnixStream[] = [];
    for (let i = 0; i < CONNS; i++) {
      const [client, server] = UnixStream.pair();
      own(client);
      loop.adopt(server, handler);
      clients.push(client);
    }
    const message = Buffer.alloc(64, 0x6d);
    const back = Buffer.alloc(64 * 1024);
    let received = 0;
    const round = (): void => {
      for (let i = 0; i < CONNS; i++) clients[i].write(message);
      loop.turn(0);
      for (let i = 0; i < CONNS; i++) {
        const n = clients[i].read(back);
        if (n !== WOULD_BLOCK) received += n;
      }
    };
    for (let i = 0; i < 200; i++) round(); // warm-up: optimised code, not first-call allocations
    const baseline = echoed;
    received = 0;
    const start = Date.now();
    const entries = await gcEntriesDuring(() => {
      for (let i = 0; echoed - baseline < MESSAGES; i++) {
        round();
        if ((i & 0x3ff) === 0x3ff && Date.now() - start > ECHO_DEADLINE_MS) break;
      }
    });
    expect(echoed - baseline, 'loop stopped at its time bound').toBe(MESSAGES);
    expect(received).toBe(MESSAGES * 64);
    expect(entries, 'young-generation collections while echoing').toEqual([]);
  }, 90_000);
});
