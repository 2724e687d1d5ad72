/**
 * Waker: docs/POLL-SEMANTICS.md rules 21 (wake from any thread, coalescing) and 22
 * (one Waker per Poll), plus loading the addon inside worker threads.
 *
 * Worker code is plain JavaScript that requires the compiled package from
 * dist/ by absolute path, so run `npx tsc -p .` before this file.
 */
import * as fs from 'node:fs';
import * as v8 from 'node:v8';
import * as vm from 'node:vm';
import { Worker } from 'node:worker_threads';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Events, Interest, Poll, SysError, TcpListener, UnixStream, Waker, type WakerHandle } from '../src/index';
import { later, own, runCleanups } from './cleanup';
import { assertDistFresh, DIST_INDEX } from './dist';
import { within } from './waits';
import { drain, expectNoEvents, sleepMs } from './util';
import { expectedBackend, onEpoll } from './platform';

afterEach(runCleanups);

// The workers load dist/, the main thread loads src/ through vitest: make
// sure the modules the workers use are built from the current sources.
beforeAll(assertDistFresh);

interface Seen {
  token: number;
  readable: boolean;
}

/** All events of the last poll as plain objects. */
function seen(events: Events): Seen[] {
  const out: Seen[] = [];
  for (let i = 0; i < events.length; i++) out.push({ token: events.token(i), readable: events.isReadable(i) });
  return out;
}

/** The events of the last poll that carry `token`. */
function withToken(events: Events, token: number): Seen[] {
  return seen(events).filter((e) => e.token === token);
}

/** Exit codes of started workers, captured from the start so no exit is missed. */
const exits = new WeakMap<Worker, Promise<number>>();

/** Starts a worker from plain JS source; `dist` is always in workerData. */
function startWorker(code: string, data: Record<string, unknown>): Worker {
  const worker = new Worker(code, { eval: true, workerData: { dist: DIST_INDEX, ...data } });
  exits.set(worker, new Promise<number>((resolve) => worker.once('exit', resolve)));
  later(() => void worker.terminate());
  return worker;
}

/** The next message from a worker (rejects on worker error, early exit or after `ms`). */
function nextMessage<T>(worker: Worker, ms: number): Promise<T> {
  const p = new Promise<T>((resolve, reject) => {
    const onMessage = (m: T): void => {
      off();
      resolve(m);
    };
    const onError = (e: Error): void => {
      off();
      reject(e);
    };
    const onExit = (code: number): void => {
      off();
      reject(new Error(`worker exited with code ${code} before posting`));
    };
    const off = (): void => {
      worker.off('message', onMessage);
      worker.off('error', onError);
      worker.off('exit', onExit);
    };
    worker.on('message', onMessage);
    worker.on('error', onError);
    worker.on('exit', onExit);
  });
  return within(p, ms, 'worker message');
}

/** Resolves with the exit code once the worker has ended. */
function exited(worker: Worker, ms: number): Promise<number> {
  return within(exits.get(worker)!, ms, 'worker exit');
}

describe('Waker: wake and poll (rule 21)', () => {
  it('wake() makes the next poll return one readable event with the waker token', () => {
    const poll = own(new Poll());
    const events = new Events(8);
    const waker = own(new Waker(poll, 17));
    waker.wake();
    poll.poll(events, 1000);
    expect(seen(events)).toEqual([{ token: 17, readable: true }]);
  });

  it('a poll with no wake and nothing registered returns nothing for the waker', () => {
    const poll = own(new Poll());
    const events = new Events(8);
    own(new Waker(poll, 17));
    expectNoEvents(poll, events);
  });

  it('several wakes before a poll give exactly one event for the waker token', () => {
    const poll = own(new Poll());
    const events = new Events(8);
    const waker = own(new Waker(poll, 3));
    for (let i = 0; i < 10; i++) waker.wake();
    poll.poll(events, 1000);
    expect(seen(events)).toEqual([{ token: 3, readable: true }]);
  });

  it('the poll after a consumed wake returns nothing for the waker token', () => {
    const poll = own(new Poll());
    const events = new Events(8);
    const waker = own(new Waker(poll, 3));
    waker.wake();
    waker.wake();
    poll.poll(events, 1000);
    expect(withToken(events, 3)).toHaveLength(1);
    expectNoEvents(poll, events);
  });

  it('each wake after a consumed one produces a fresh event (the waker re-arms)', () => {
    const poll = own(new Poll());
    const events = new Events(8);
    const waker = own(new Waker(poll, 9));
    const counts: number[] = [];
    for (let round = 0; round < 5; round++) {
      waker.wake();
      poll.poll(events, 1000);
      counts.push(withToken(events, 9).length);
    }
    expect(counts).toEqual([1, 1, 1, 1, 1]);
  });

  it('a wake on one Poll does not wake another Poll', () => {
    const a = own(new Poll());
    const b = own(new Poll());
    const events = new Events(8);
    const wa = own(new Waker(a, 1));
    own(new Waker(b, 1));
    wa.wake();
    expectNoEvents(b, events);
    a.poll(events, 1000);
    expect(seen(events)).toEqual([{ token: 1, readable: true }]);
  });

  it('a RemoteWaker built from handle() in the same thread wakes the Poll', () => {
    const poll = own(new Poll());
    const events = new Events(8);
    const waker = own(new Waker(poll, 44));
    Waker.fromHandle(waker.handle()).wake();
    poll.poll(events, 1000);
    expect(seen(events)).toEqual([{ token: 44, readable: true }]);
  });

  it('a wake from a worker thread ends a poll blocked with timeout -1 on the main thread', async () => {
    const WAKER = 5;
    const FALLBACK = 6;
    const poll = own(new Poll());
    const events = new Events(8);
    const waker = own(new Waker(poll, WAKER));
    // Safety net: if the worker cannot wake us (load failure, wake throws,
    // or the wake does not end the poll within 5 s) it connects to this
    // listener with node:net instead, so the blocked poll ends with the
    // FALLBACK token and the test fails instead of hanging forever.
    const fallback = own(TcpListener.bind('127.0.0.1:0'));
    poll.register(fallback, FALLBACK, Interest.READABLE);
    // [0] go, [1] wake issued, [2] main has returned from poll, [3] sleep slot
    const sync = new Int32Array(new SharedArrayBuffer(16));
    const worker = startWorker(
      `
      const { workerData, parentPort } = require('node:worker_threads');
      const net = require('node:net');
      const sync = new Int32Array(workerData.sync);
      function rescue(reason) {
        parentPort.postMessage({ rescue: reason });
        const s = net.connect(workerData.port, '127.0.0.1');
        s.on('error', () => {});
        s.on('connect', () => s.end());
      }
      function main() {
        let remote;
        try {
          remote = require(workerData.dist).Waker.fromHandle(workerData.handle);
        } catch (e) {
          return rescue('load: ' + e.message);
        }
        parentPort.postMessage({ ready: true });
        if (Atomics.wait(sync, 0, 0, 5000) === 'timed-out') return rescue('no go from main');
        Atomics.wait(sync, 3, 0, 100); // give the main thread time to block
        Atomics.store(sync, 1, 1);
        try {
          remote.wake();
        } catch (e) {
          return rescue('wake threw ' + e.code);
        }
        if (Atomics.wait(sync, 2, 0, 5000) === 'timed-out') rescue('poll did not return after wake');
      }
      main();
      `,
      { handle: waker.handle(), sync: sync.buffer, port: fallback.localAddress().port },
    );
    const messages: unknown[] = [];
    worker.on('message', (m) => messages.push(m));
    expect(await nextMessage(worker, 10000)).toEqual({ ready: true });

    Atomics.store(sync, 0, 1);
    Atomics.notify(sync, 0);
    poll.poll(events, -1); // blocks until the worker wakes us (or rescues us)
    Atomics.store(sync, 2, 1);
    Atomics.notify(sync, 2);
    const wakeIssuedBeforeReturn = Atomics.load(sync, 1);
    const got = seen(events);

    expect(await exited(worker, 10000)).toBe(0);
    expect(messages.slice(1), 'worker had to rescue the blocked poll').toEqual([]);
    expect(got).toEqual([{ token: WAKER, readable: true }]);
    expect(wakeIssuedBeforeReturn, 'poll returned before the worker woke it').toBe(1);
  });

  it('many wakes from a worker thread before a poll give exactly one event', async () => {
    const poll = own(new Poll());
    const events = new Events(8);
    const waker = own(new Waker(poll, 8));
    const worker = startWorker(
      `
      const { workerData, parentPort } = require('node:worker_threads');
      const remote = require(workerData.dist).Waker.fromHandle(workerData.handle);
      for (let i = 0; i < 100; i++) remote.wake();
      parentPort.postMessage('done');
      `,
      { handle: waker.handle() },
    );
    expect(await nextMessage(worker, 10000)).toBe('done');
    expect(await exited(worker, 10000)).toBe(0);
    poll.poll(events, 1000);
    expect(seen(events)).toEqual([{ token: 8, readable: true }]);
    expectNoEvents(poll, events);
  });
});

describe('Waker: closed wakers', () => {
  function closedError(fn: () => void): { name: string; code: unknown } | null {
    try {
      fn();
      return null;
    } catch (e) {
      return { name: (e as Error).name, code: (e as { code?: unknown }).code };
    }
  }

  it('wake() after waker.close() throws ERR_WAKER_CLOSED', () => {
    const poll = own(new Poll());
    const waker = new Waker(poll, 1);
    waker.close();
    expect(closedError(() => waker.wake())).toEqual({ name: 'TypeError', code: 'ERR_WAKER_CLOSED' });
  });

  it('wake() after the Poll is closed throws ERR_WAKER_CLOSED', () => {
    const poll = new Poll();
    const waker = new Waker(poll, 1);
    poll.close();
    expect(waker.isOpen).toBe(false);
    expect(closedError(() => waker.wake())).toEqual({ name: 'TypeError', code: 'ERR_WAKER_CLOSED' });
  });

  it('a RemoteWaker in this thread throws once its Waker is closed', () => {
    const poll = own(new Poll());
    const waker = new Waker(poll, 1);
    const remote = Waker.fromHandle(waker.handle());
    waker.close();
    expect(closedError(() => remote.wake())).toEqual({ name: 'TypeError', code: 'ERR_WAKER_CLOSED' });
  });

  it('a RemoteWaker in this thread throws once its Poll is closed', () => {
    const poll = new Poll();
    const waker = new Waker(poll, 1);
    const remote = Waker.fromHandle(waker.handle());
    poll.close();
    expect(closedError(() => remote.wake())).toEqual({ name: 'TypeError', code: 'ERR_WAKER_CLOSED' });
  });

  // On kqueue the waker signals the kqueue fd itself: no separate fd to reuse.
  it.runIf(onEpoll)('a stale RemoteWaker does not signal an fd that reused the closed eventfd number', () => {
    const poll = own(new Poll());
    const waker = new Waker(poll, 1);
    const handle: WakerHandle = waker.handle();
    const remote = Waker.fromHandle(handle);
    waker.close();
    // New fds take the lowest free numbers: open socketpairs until one end
    // lands on the number the eventfd had (bounded: lower holes fill first).
    let peer: UnixStream | undefined;
    for (let i = 0; i < 64 && peer === undefined; i++) {
      const [a, b] = UnixStream.pair();
      own(a);
      own(b);
      peer = a.fd === handle.fd ? b : b.fd === handle.fd ? a : undefined;
    }
    expect(peer, 'no new socket reused the eventfd number').toBeDefined();
    expect(closedError(() => remote.wake())).not.toBeNull();
    // A write to the reused fd would arrive at its peer.
    expect(drain(peer!).length, 'the stale wake wrote into the new socket').toBe(0);
  });

  it('a RemoteWaker in a worker throws once the Waker was closed', async () => {
    const poll = own(new Poll());
    const waker = new Waker(poll, 1);
    const handle = waker.handle();
    waker.close();
    const worker = startWorker(
      `
      const { workerData, parentPort } = require('node:worker_threads');
      const remote = require(workerData.dist).Waker.fromHandle(workerData.handle);
      try { remote.wake(); parentPort.postMessage({ threw: false }); }
      catch (e) { parentPort.postMessage({ threw: true, name: e.name, code: e.code }); }
      `,
      { handle },
    );
    expect(await nextMessage(worker, 10000)).toEqual({ threw: true, name: 'TypeError', code: 'ERR_WAKER_CLOSED' });
    expect(await exited(worker, 10000)).toBe(0);
  });

  it('a RemoteWaker in a worker throws once the Poll was closed', async () => {
    const poll = new Poll();
    const waker = new Waker(poll, 1);
    const handle = waker.handle();
    poll.close();
    const worker = startWorker(
      `
      const { workerData, parentPort } = require('node:worker_threads');
      const remote = require(workerData.dist).Waker.fromHandle(workerData.handle);
      try { remote.wake(); parentPort.postMessage({ threw: false }); }
      catch (e) { parentPort.postMessage({ threw: true, name: e.name, code: e.code }); }
      `,
      { handle },
    );
    expect(await nextMessage(worker, 10000)).toEqual({ threw: true, name: 'TypeError', code: 'ERR_WAKER_CLOSED' });
    expect(await exited(worker, 10000)).toBe(0);
  });

  /**
   * Opens socketpairs until one end gets fd number `fd` (bounded); returns
   * the other end, where anything written to `fd` would arrive.
   */
  function reuseFd(fd: number): UnixStream | undefined {
    for (let i = 0; i < 64; i++) {
      const [a, b] = UnixStream.pair();
      own(a);
      own(b);
      if (a.fd === fd) return b;
      if (b.fd === fd) return a;
    }
    return undefined;
  }

  /** Waits (bounded) until `fd` is no longer open in this process. */
  async function fdClosed(fd: number, nudge: () => void = () => {}): Promise<boolean> {
    for (let round = 0; round < 40; round++) {
      if (!fs.existsSync(`/proc/self/fd/${fd}`)) return true;
      nudge();
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    return false;
  }

  it('a RemoteWaker throws, and signals no reused fd, after the worker owning its Poll exited', async () => {
    // The loop-in-a-worker setup DESIGN.md recommends: the worker owns the
    // Poll, the main thread keeps a RemoteWaker to stop it. The worker ends
    // without closing its Poll; its env teardown closes the eventfd.
    const worker = startWorker(
      `
      const { workerData, parentPort } = require('node:worker_threads');
      const el = require(workerData.dist);
      const poll = new el.Poll();
      const waker = new el.Waker(poll, 1);
      globalThis.kept = [poll, waker];
      parentPort.postMessage(waker.handle());
      `,
      {},
    );
    const handle = await nextMessage<WakerHandle>(worker, 10000);
    expect(await exited(worker, 10000)).toBe(0);
    expect(await fdClosed(handle.fd), 'worker teardown did not close the eventfd').toBe(true);
    const peer = reuseFd(handle.fd);
    expect(peer, 'no new socket reused the eventfd number').toBeDefined();
    const outcome = closedError(() => Waker.fromHandle(handle).wake());
    const written = drain(peer!).length;
    expect({ threw: outcome !== null, bytesWrittenToReusedFd: written }).toEqual({ threw: true, bytesWrittenToReusedFd: 0 });
  });

  it('a RemoteWaker throws, and signals no reused fd, after its unclosed Poll was garbage-collected', async () => {
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as () => void;
    const handle = ((): WakerHandle => {
      const poll = new Poll();
      return new Waker(poll, 1).handle();
    })();
    const remote = Waker.fromHandle(handle);
    expect(await fdClosed(handle.fd, gc), 'the Poll was not collected').toBe(true);
    const peer = reuseFd(handle.fd);
    expect(peer, 'no new socket reused the eventfd number').toBeDefined();
    const outcome = closedError(() => remote.wake());
    const written = drain(peer!).length;
    expect({ threw: outcome !== null, bytesWrittenToReusedFd: written }).toEqual({ threw: true, bytesWrittenToReusedFd: 0 });
  });

  it('creating a Waker on a closed Poll throws ERR_POLL_CLOSED', () => {
    const poll = new Poll();
    poll.close();
    let err: unknown;
    try {
      new Waker(poll, 1);
    } catch (e) {
      err = e;
    }
    expect((err as { code?: string } | undefined)?.code).toBe('ERR_POLL_CLOSED');
  });
});

describe('Waker: one per Poll (rule 22)', () => {
  it('a second Waker on one Poll throws SysError EEXIST', () => {
    const poll = own(new Poll());
    own(new Waker(poll, 1));
    let err: unknown;
    try {
      own(new Waker(poll, 2));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(SysError);
    expect((err as SysError).code).toBe('EEXIST');
  });

  it('a second Waker is refused even with the same token', () => {
    const poll = own(new Poll());
    own(new Waker(poll, 1));
    let err: unknown;
    try {
      own(new Waker(poll, 1));
    } catch (e) {
      err = e;
    }
    expect((err as SysError | undefined)?.code).toBe('EEXIST');
  });

  it('the first Waker keeps working after a second one was refused', () => {
    const poll = own(new Poll());
    const events = new Events(8);
    const first = own(new Waker(poll, 1));
    expect(() => own(new Waker(poll, 2))).toThrow(SysError);
    expect(first.isOpen).toBe(true);
    first.wake();
    poll.poll(events, 1000);
    expect(seen(events)).toEqual([{ token: 1, readable: true }]);
  });

  it('after waker.close() a new Waker can be created and wakes under its own token', () => {
    const poll = own(new Poll());
    const events = new Events(8);
    const old = new Waker(poll, 1);
    const oldRemote = Waker.fromHandle(old.handle());
    old.close();
    const fresh = own(new Waker(poll, 2));
    fresh.wake();
    poll.poll(events, 1000);
    expect(seen(events)).toEqual([{ token: 2, readable: true }]);
    expect(() => oldRemote.wake()).toThrow(TypeError);
    expectNoEvents(poll, events);
  });

  it('a wake pending when the Waker is closed is not reported under the old token', () => {
    const poll = own(new Poll());
    const events = new Events(8);
    const old = new Waker(poll, 1);
    old.wake();
    old.close();
    expectNoEvents(poll, events);
  });

  it('closing and re-creating the Waker many times keeps working', () => {
    const poll = own(new Poll());
    const events = new Events(8);
    const tokens: number[] = [];
    for (let i = 0; i < 50; i++) {
      const waker = new Waker(poll, 100 + i);
      waker.wake();
      poll.poll(events, 1000);
      for (const e of seen(events)) tokens.push(e.token);
      waker.close();
    }
    expect(tokens).toEqual(Array.from({ length: 50 }, (_, i) => 100 + i));
  });
});

describe('Waker: a raw fd under the waker token', () => {
  const TOKEN = 7;

  /** Poll + Waker(TOKEN) + a Unix pair whose `reader` end, as a raw fd, is registered under TOKEN. */
  function setup(): { poll: Poll; events: Events; waker: Waker; reader: UnixStream; writer: UnixStream } {
    const poll = own(new Poll());
    const events = new Events(8);
    const waker = own(new Waker(poll, TOKEN));
    const [reader, writer] = UnixStream.pair();
    own(reader);
    own(writer);
    poll.register(reader.fd, TOKEN, Interest.READABLE); // a raw fd number
    return { poll, events, waker, reader, writer };
  }

  it('without a wake, the raw fd is reported on every poll (level) and its data is not consumed', () => {
    const { poll, events, reader, writer } = setup();
    writer.write(Buffer.from('0123456789abcdef'));
    const counts: number[] = [];
    for (let i = 0; i < 3; i++) {
      poll.poll(events, 1000);
      counts.push(withToken(events, TOKEN).length);
    }
    expect(counts).toEqual([1, 1, 1]);
    expect(drain(reader).toString()).toBe('0123456789abcdef');
  });

  it('with a wake, one poll reports both the waker and the raw fd, and the next only the fd', () => {
    const { poll, events, waker, reader, writer } = setup();
    writer.write(Buffer.from('0123456789abcdef'));
    waker.wake();
    poll.poll(events, 1000);
    const first = withToken(events, TOKEN).length;
    poll.poll(events, 1000);
    const second = withToken(events, TOKEN).length;
    expect([first, second]).toEqual([2, 1]);
    expect(drain(reader).toString()).toBe('0123456789abcdef');
  });

  it('once the raw fd is drained, a wake gives exactly one event and then nothing', () => {
    const { poll, events, waker, reader, writer } = setup();
    writer.write(Buffer.from('xy'));
    poll.poll(events, 1000);
    drain(reader);
    waker.wake();
    poll.poll(events, 1000);
    expect(withToken(events, TOKEN)).toEqual([{ token: TOKEN, readable: true }]);
    expectNoEvents(poll, events);
  });
});

describe('the addon in worker threads', () => {
  const POLL_IN_WORKER = `
    const { workerData, parentPort } = require('node:worker_threads');
    const el = require(workerData.dist);
    const poll = new el.Poll();
    const events = new el.Events(8);
    const waker = new el.Waker(poll, 11);
    const [a, b] = el.UnixStream.pair();
    poll.register(a, 12, el.Interest.READABLE);
    b.write(Buffer.from('hi'));
    waker.wake();
    const tokens = [];
    for (let round = 0; round < 3 && tokens.length < 2; round++) {
      poll.poll(events, 500);
      for (let i = 0; i < events.length; i++) tokens.push(events.token(i));
    }
    const buf = Buffer.alloc(8);
    const n = a.read(buf);
    a.close(); b.close(); waker.close(); poll.close();
    parentPort.postMessage({ backend: el.backend, tokens: tokens.sort((x, y) => x - y), read: buf.toString('utf8', 0, n) });
  `;

  it('loads in a worker, where a Poll reports its own waker and socket', async () => {
    const worker = startWorker(POLL_IN_WORKER, {});
    const result = await nextMessage(worker, 10000);
    expect(await exited(worker, 10000)).toBe(0);
    expect(result).toEqual({ backend: expectedBackend, tokens: [11, 12], read: 'hi' });
  });

  it('loads in two workers at once, and the main thread still works after they exit', async () => {
    const w1 = startWorker(POLL_IN_WORKER, {});
    const w2 = startWorker(POLL_IN_WORKER, {});
    const [r1, r2] = await Promise.all([nextMessage(w1, 10000), nextMessage(w2, 10000)]);
    expect(await Promise.all([exited(w1, 10000), exited(w2, 10000)])).toEqual([0, 0]);
    expect(r1).toEqual({ backend: expectedBackend, tokens: [11, 12], read: 'hi' });
    expect(r2).toEqual(r1);

    const poll = own(new Poll());
    const events = new Events(8);
    const waker = own(new Waker(poll, 4));
    waker.wake();
    poll.poll(events, 1000);
    expect(seen(events)).toEqual([{ token: 4, readable: true }]);
  });

  it('a worker whose Poll blocks in poll(-1) is woken by the main thread', async () => {
    const worker = startWorker(
      `
      const { workerData, parentPort } = require('node:worker_threads');
      const el = require(workerData.dist);
      const poll = new el.Poll();
      const events = new el.Events(8);
      const waker = new el.Waker(poll, 21);
      parentPort.postMessage({ handle: waker.handle() });
      // A 5 s timeout instead of -1 keeps a broken wake from hanging the
      // suite; the main thread wakes at once, so the result tells.
      poll.poll(events, 5000);
      const tokens = [];
      for (let i = 0; i < events.length; i++) tokens.push(events.token(i));
      waker.close(); poll.close();
      parentPort.postMessage({ tokens });
      `,
      {},
    );
    const { handle } = await nextMessage<{ handle: WakerHandle }>(worker, 10000);
    sleepMs(50);
    Waker.fromHandle(handle).wake();
    expect(await nextMessage(worker, 10000)).toEqual({ tokens: [21] });
    expect(await exited(worker, 10000)).toBe(0);
  });
});
