/**
 * EventLoop: the ABA problem (mio issues #219, #935). An event still in the
 * current batch for a connection that a handler closed, and whose slab key a
 * new connection took, must be dropped, never delivered to the newcomer.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { WOULD_BLOCK, type Connection } from '../src/index';
import { native } from '../src/native';
import { KEY_MASK, addressOf, connectRaw, newLoop, peerPort, settle, turnUntil } from './event-loop-util';
import { runCleanups } from './cleanup';
import { sleepMs } from './util';

afterEach(runCleanups);

describe('EventLoop generations (ABA)', () => {
  it('drops a stale event for a connection closed earlier in the batch whose key was reused', () => {
    // Built on epoll's FIFO ready list (readiness and the listener's accept
    // in one batch); on io_uring a listener's accepts are completions, and
    // test/io-uring-accept.test.ts has the same scenario in the ring's order.
    const loop = newLoop({ backend: native.backend });
    const log: string[] = [];
    let x: Connection | null = null;
    let a: Connection | null = null;
    let b: Connection | null = null;
    let aClosed = 0;
    const accepted: Connection[] = [];
    const handler = {
      onReadable(conn: Connection): void {
        if (conn === x) {
          log.push('X readable');
          conn.read(loop.readBuffer);
          a!.close(); // closes A while A's event is still ahead in this batch
        } else if (conn === a) {
          log.push('A readable');
        } else if (conn === b) {
          log.push('B readable');
          // Consume, so that level-triggered readiness ends.
          while (conn.read(loop.readBuffer) > 0);
        }
      },
      onClose(conn: Connection): void {
        if (conn === a) aClosed++;
      },
    };
    const listener = loop.listen('127.0.0.1:0', (conn) => {
      accepted.push(conn);
      if (accepted.length === 3) {
        b = conn;
        log.push('accept B');
      }
      return handler;
    });
    const address = addressOf(listener);

    // Two established connections, X and A, then a quiet loop.
    const peerX = connectRaw(address);
    expect(turnUntil(loop, () => accepted.length === 1)).toBe(true);
    const peerA = connectRaw(address);
    expect(turnUntil(loop, () => accepted.length === 2)).toBe(true);
    const byPort = (port: number): Connection => accepted.find((c) => peerPort(c) === port)!;
    x = byPort(peerX.localAddress().port);
    a = byPort(peerA.localAddress().port);
    expect(settle(loop), 'the loop should be quiet before the batch').toBe(true);

    // The kernel's ready list is FIFO: X first, then the listener (a client
    // connecting), then A. One turn sees all three in that order.
    peerX.write(Buffer.from('x'));
    sleepMs(10);
    const peerB = connectRaw(address);
    sleepMs(10);
    peerA.write(Buffer.from('a'));
    sleepMs(20);

    const n = loop.turn(1000);

    // Preconditions of the scenario, so the test cannot pass vacuously:
    // three events in the batch (X, listener, A), X handled before the accept
    // (otherwise B would not have A's freed key), A closed by X's handler.
    expect(n, 'X, the listener and A in one batch').toBe(3);
    expect(aClosed).toBe(1);
    expect(b, 'B was accepted in that turn').not.toBeNull();
    const aId = a.id;
    const bId = (b as unknown as Connection).id;
    expect(bId & KEY_MASK, 'B took A’s freed key (LIFO reuse)').toBe(aId & KEY_MASK);
    expect(bId, 'but B’s token carries a new generation').not.toBe(aId);

    // The behaviour: A's event, third in the batch, was dropped. Had dispatch
    // looked entries up by key alone (no generation check), A's readable event
    // would have found B under that key and called B's onReadable although B
    // has sent nothing: the log would end with 'B readable'.
    expect(log).toEqual(['X readable', 'accept B']);

    // B itself is a working connection: its own data does reach its handler.
    peerB.write(Buffer.from('b'));
    expect(turnUntil(loop, () => log.length === 3)).toBe(true);
    expect(log[2]).toBe('B readable');
    // A really closed, with its 'a' never read (so the kernel reset it).
    expect(() => peerA.read(Buffer.alloc(4))).toThrow(/ECONNRESET/);
    expect(peerX.read(Buffer.alloc(4))).toBe(WOULD_BLOCK); // X still open
  });
});
