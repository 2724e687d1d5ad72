/**
 * EventLoop timers: one-shot, interval, cancel, refresh; run()'s poll
 * timeout follows the next deadline; timers in attach() mode.
 *
 * Assertions are about which callbacks ran and in what order, never about
 * how fast.
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { newLoop, recordPolls, runBounded } from './event-loop-util';
import { assertDistFresh } from './dist';
import { later, runCleanups } from './cleanup';
import { within } from './waits';

beforeAll(assertDistFresh);
afterEach(runCleanups);

describe('EventLoop timers (run mode)', () => {
  it('setTimeout runs its callback once', () => {
    const loop = newLoop();
    let fired = 0;
    loop.setTimeout(() => fired++, 5);
    loop.setTimeout(() => loop.stop(), 60);

    expect(runBounded(loop)).toBe(true);
    expect(fired).toBe(1);
  });

  it('setInterval runs its callback repeatedly', () => {
    const loop = newLoop();
    let count = 0;
    loop.setInterval(() => {
      if (++count === 4) loop.stop();
    }, 2);

    expect(runBounded(loop)).toBe(true);
    expect(count).toBe(4);
  });

  it('clearTimer cancels a pending timeout', () => {
    const loop = newLoop();
    let fired = 0;
    const id = loop.setTimeout(() => fired++, 5);
    loop.setTimeout(() => loop.stop(), 50);
    loop.clearTimer(id);

    expect(runBounded(loop)).toBe(true);
    expect(fired).toBe(0);
  });

  it('clearTimer from inside an interval callback stops the repeats', () => {
    const loop = newLoop();
    let count = 0;
    const id = loop.setInterval(() => {
      if (++count === 2) {
        loop.clearTimer(id);
        loop.setTimeout(() => loop.stop(), 50); // room for ~25 more repeats if the clear failed
      }
    }, 2);

    expect(runBounded(loop)).toBe(true);
    expect(count).toBe(2);
  });

  it('refreshTimer postpones a pending timer past a later one', () => {
    const loop = newLoop();
    const order: string[] = [];
    const id = loop.setTimeout(() => {
      order.push('refreshed');
      loop.stop();
    }, 20);
    loop.setTimeout(() => order.push('marker'), 60);

    expect(loop.refreshTimer(id, 120)).toBe(true);
    expect(runBounded(loop)).toBe(true);
    expect(order).toEqual(['marker', 'refreshed']);
  });

  it('refreshTimer returns false for a timer that already ran', () => {
    const loop = newLoop();
    const id = loop.setTimeout(() => loop.stop(), 1);
    expect(runBounded(loop)).toBe(true);
    expect(loop.refreshTimer(id, 10)).toBe(false);
  });

  it('timers run in deadline order, not creation order', () => {
    const loop = newLoop();
    const order: number[] = [];
    for (const ms of [30, 10, 20]) loop.setTimeout(() => order.push(ms), ms);
    loop.setTimeout(() => loop.stop(), 40);

    expect(runBounded(loop)).toBe(true);
    expect(order).toEqual([10, 20, 30]);
  });

  it('run() with only a timer polls with a timeout up to its deadline, and returns when the timer stops it', () => {
    const loop = newLoop();
    const DELAY_MS = 300;
    // Each poll's timeout and what it returned, and the poll the timer fired after.
    const polls = recordPolls(loop);
    let firedAfterPoll = -1;
    loop.setTimeout(() => {
      firedAfterPoll = polls.length - 1;
      loop.stop();
    }, DELAY_MS);

    expect(runBounded(loop)).toBe(true);
    // Nothing else is registered, so only the timer can end a poll: the
    // loop must neither block forever (-1) nor spin with zero timeouts. The
    // timer fires right after a poll that ended by its own timeout, with no
    // event, i.e. the loop slept until the deadline and then ran the timer.
    expect(firedAfterPoll).toBe(polls.length - 1);
    expect(polls[firedAfterPoll].returned).toBe(0);
    expect(polls[0].timeout).toBeGreaterThan(0);
    for (const { timeout } of polls) {
      expect(timeout).toBeTypeOf('number');
      expect(timeout).toBeGreaterThanOrEqual(0);
    }
    // Each timeout is the time left until the same deadline, so none is
    // longer than the one before it, and the first is at most the delay.
    // (Arithmetic on the timeouts the loop computes, not a measured time.)
    expect(polls[0].timeout).toBeLessThanOrEqual(DELAY_MS);
    for (let i = 1; i < polls.length; i++) expect(polls[i].timeout).toBeLessThanOrEqual(polls[i - 1].timeout!);
  });
});

describe('EventLoop timers (attach mode)', () => {
  it('setTimeout fires while attached, with Node free', async () => {
    const loop = newLoop();
    loop.attach();
    const fired = new Promise<string>((resolve) => loop.setTimeout(() => resolve('fired'), 10));
    await expect(within(fired, 5000, 'loop timer')).resolves.toBe('fired');
  });

  it('a timer added before attach() fires once attached', async () => {
    const loop = newLoop();
    const fired = new Promise<string>((resolve) => loop.setTimeout(() => resolve('fired'), 10));
    loop.attach();
    await expect(within(fired, 5000, 'loop timer')).resolves.toBe('fired');
  });

  it('setInterval repeats while attached until cleared', async () => {
    const loop = newLoop();
    loop.attach();
    let count = 0;
    const done = new Promise<void>((resolve) => {
      const id = loop.setInterval(() => {
        if (++count === 3) {
          loop.clearTimer(id);
          resolve();
        }
      }, 2);
    });
    await within(done, 5000, 'interval');
    await new Promise((r) => setTimeout(r, 30));
    expect(count).toBe(3);
  });

  it('refreshTimer to an earlier deadline takes effect while attached', async () => {
    const loop = newLoop();
    loop.attach();
    const order: string[] = [];
    const finished = new Promise<void>((resolve) => {
      const id = loop.setTimeout(() => {
        order.push('loop timer');
        resolve();
      }, 60_000);
      loop.refreshTimer(id, 10);
      // A Node timer set well after the refreshed deadline: the loop timer
      // must come first (it would come ~60 s later if the refresh were lost).
      const nodeTimer = setTimeout(() => {
        order.push('node timer');
        resolve();
      }, 1000);
      later(() => clearTimeout(nodeTimer));
    });
    await within(finished, 5000, 'timers');
    expect(order[0]).toBe('loop timer');
  });
});
