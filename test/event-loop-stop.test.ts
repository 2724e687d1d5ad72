/**
 * EventLoop: ending run() — stop() from a handler, from a timer, before
 * run(), and EventLoop.stopRemote() from a worker thread; stop() on an
 * attached loop.
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { WOULD_BLOCK } from '../src/index';
import { addressOf, connectRaw, newLoop, runBounded, spyPolls, startWorker } from './event-loop-util';
import { assertDistFresh } from './dist';
import { runCleanups } from './cleanup';

beforeAll(assertDistFresh);
afterEach(runCleanups);

describe('EventLoop stop', () => {
  it('stop() from a connection handler ends run()', () => {
    const loop = newLoop();
    let reads = 0;
    const listener = loop.listen('127.0.0.1:0', () => ({
      onReadable(conn) {
        while (conn.read(loop.readBuffer) > 0) reads++;
        loop.stop();
      },
    }));
    const peer = connectRaw(addressOf(listener));
    peer.write(Buffer.from('stop please'));

    expect(runBounded(loop), 'run() needed the watchdog').toBe(true);
    expect(reads).toBe(1);
    expect(loop.state).toBe('idle');
    expect(loop.connections).toBe(1); // stop() ends run(), it closes nothing
  });

  it('stop() from a timer ends run()', () => {
    const loop = newLoop();
    loop.listen('127.0.0.1:0', () => ({})); // something registered that never fires
    let fired = 0;
    loop.setTimeout(() => {
      fired++;
      loop.stop();
    }, 10);

    expect(runBounded(loop)).toBe(true);
    expect(fired).toBe(1);
    expect(loop.state).toBe('idle');
  });

  it('stop() before run() makes run() return at once, without polling', () => {
    const loop = newLoop();
    const timeouts = spyPolls(loop);
    let fired = 0;
    loop.setTimeout(() => fired++, 0);
    loop.stop();

    expect(runBounded(loop)).toBe(true);
    expect(timeouts).toEqual([]);
    expect(fired).toBe(0);
  });

  it('a stop is used up by the run() it ended: the next run() runs until its own stop', () => {
    const loop = newLoop();
    loop.stop();
    expect(runBounded(loop)).toBe(true);
    let fired = 0;
    loop.setTimeout(() => {
      fired++;
      loop.stop();
    }, 10);

    expect(runBounded(loop)).toBe(true);
    expect(fired).toBe(1);
  });

  it('EventLoop.stopRemote(loop.handle()) from a worker thread ends a run() blocked in this thread', async () => {
    const loop = newLoop();
    // [0]: 1 once run() starts a poll with no timeout (it would block for
    // ever: nothing is registered and no timer is pending), 2 once the
    // worker has called stopRemote.
    const flag = new Int32Array(new SharedArrayBuffer(4));
    const timeouts = spyPolls(loop, (timeoutMs) => {
      if (timeoutMs === -1) {
        Atomics.store(flag, 0, 1);
        Atomics.notify(flag, 0);
      }
    });
    const { errors } = startWorker(
      `
      const { workerData } = require('node:worker_threads');
      const el = require(workerData.dist);
      const flag = new Int32Array(workerData.flag);
      if (Atomics.wait(flag, 0, 0, 10000) === 'timed-out') process.exit(3);
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50); // let the poll block
      Atomics.store(flag, 0, 2);
      el.EventLoop.stopRemote(workerData.handle);
      `,
      { flag: flag.buffer, handle: loop.handle() },
    );

    const onItsOwn = runBounded(loop, 10_000);
    await new Promise((resolve) => setImmediate(resolve)); // let worker errors arrive
    expect(errors, 'the worker failed').toEqual([]);
    expect(onItsOwn, 'run() needed the watchdog').toBe(true);
    expect(Atomics.load(flag, 0), 'the worker stopped it').toBe(2);
    expect(timeouts[0], 'run() blocked without a timeout').toBe(-1);
    expect(loop.state).toBe('idle');
  });

  it('stop() on an attached loop detaches it', () => {
    const loop = newLoop();
    const listener = loop.listen('127.0.0.1:0', () => ({}));
    loop.attach();
    loop.stop();
    expect(loop.state).toBe('idle');
    // Detached, not closed: it can still be driven by hand.
    connectRaw(addressOf(listener));
    expect(loop.turn(1000)).toBe(1);
    expect(loop.connections).toBe(1);
    expect(listener.socket.accept()).toBe(WOULD_BLOCK);
  });
});
