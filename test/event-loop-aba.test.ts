/**
 * EventLoop: the ABA problem (mio issues #219, #935). An event still in the
 * current batch for a connection that a handler closed, and whose slab key a
 * new connection took, must be dropped, never delivered to the newcomer.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { WOULD_BLOCK, type Connection } from '../src/index';
import { native } from '../src/native';
import { KEY_MASK, abaScene, newLoop, turnUntil } from './event-loop-util';
import { runCleanups } from './cleanup';

afterEach(runCleanups);

describe('EventLoop generations (ABA)', () => {
  it('drops a stale event for a connection closed earlier in the batch whose key was reused', () => {
    // Built on epoll's FIFO ready list (readiness and the listener's accept
    // in one batch); on io_uring a listener's accepts are completions, and
    // test/io-uring-accept.test.ts has the same scenario in the ring's order.
    const loop = newLoop({ backend: native.backend });
    let aClosed = 0;
    const scene = abaScene(loop, (sc) => ({
      onReadable(conn: Connection): void {
        if (conn === sc.x) {
          sc.log.push('X readable');
          conn.read(loop.readBuffer);
          sc.a.close(); // closes A while A's event is still ahead in this batch
        } else if (conn === sc.a) {
          sc.log.push('A readable');
        } else if (conn === sc.b) {
          sc.log.push('B readable');
          // Consume, so that level-triggered readiness ends.
          while (conn.read(loop.readBuffer) > 0);
        }
      },
      onClose(conn: Connection): void {
        if (conn === sc.a) aClosed++;
      },
    }));
    const { a, log, peers } = scene;

    // The kernel's ready list is FIFO: X first, then the listener (a client
    // connecting), then A. One turn sees all three in that order.
    scene.burst();

    const n = loop.turn(1000);

    // Preconditions of the scenario, so the test cannot pass vacuously:
    // three events in the batch (X, listener, A), X handled before the accept
    // (otherwise B would not have A's freed key), A closed by X's handler.
    expect(n, 'X, the listener and A in one batch').toBe(3);
    expect(aClosed).toBe(1);
    expect(scene.b, 'B was accepted in that turn').not.toBeNull();
    const aId = a.id;
    const bId = (scene.b as Connection).id;
    expect(bId & KEY_MASK, 'B took A’s freed key (LIFO reuse)').toBe(aId & KEY_MASK);
    expect(bId, 'but B’s token carries a new generation').not.toBe(aId);

    // The behaviour: A's event, third in the batch, was dropped. Had dispatch
    // looked entries up by key alone (no generation check), A's readable event
    // would have found B under that key and called B's onReadable although B
    // has sent nothing: the log would end with 'B readable'.
    expect(log).toEqual(['X readable', 'accept B']);

    // B itself is a working connection: its own data does reach its handler.
    peers.b!.write(Buffer.from('b'));
    expect(turnUntil(loop, () => log.length === 3)).toBe(true);
    expect(log[2]).toBe('B readable');
    // A really closed, with its 'a' never read (so the kernel reset it).
    expect(() => peers.a.read(Buffer.alloc(4))).toThrow(/ECONNRESET/);
    expect(peers.x.read(Buffer.alloc(4))).toBe(WOULD_BLOCK); // X still open
  });
});
