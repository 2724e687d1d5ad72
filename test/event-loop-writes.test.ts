/**
 * EventLoop connections: the outgoing queue. A write the kernel cannot take
 * is queued; writable interest is armed only while bytes are queued; onDrain
 * fires when the queue empties; the peer gets every byte in order; end()
 * flushes then closes; close() drops the queue; onClose runs once.
 *
 * The peer is a raw TcpStream outside the loop that does not read at first
 * (so the kernel buffers fill), then reads everything.
 */
import { afterEach, describe, expect, it } from 'vitest';
import {
  DEFAULT_HIGH_WATER_MARK,
  type Connection,
  type ConnectionHandler,
  type EventLoop,
  type TcpStream,
} from '../src/index';
import { RawReader, armedInterest, newLoop, pattern, turnUntil } from './event-loop-util';
import { own, runCleanups } from './cleanup';
import { tcpPair } from './util';

afterEach(runCleanups);

const CHUNK = 16 * 1024;

/** A loop connection (server side of a pair) with `handler`, and its raw peer. */
function adopted(handler: ConnectionHandler): { loop: EventLoop; conn: Connection; peer: TcpStream } {
  const loop = newLoop();
  const { client, server } = tcpPair();
  own(client);
  own(server);
  const conn = loop.adopt(server, handler);
  return { loop, conn, peer: client };
}

/**
 * Writes patterned 16 KiB chunks until the connection starts queueing
 * (bounded at 64 MiB). Returns the bytes written so far and the last
 * write()'s result.
 */
function fillUntilQueued(conn: Connection): { total: number; last: boolean } {
  let total = 0;
  let last = true;
  for (let i = 0; i < 4096 && conn.queuedBytes === 0; i++) {
    last = conn.write(pattern(total, CHUNK));
    total += CHUNK;
  }
  if (conn.queuedBytes === 0) throw new Error('64 MiB written without the kernel ever refusing');
  return { total, last };
}

/** Reads nothing from the peer; ignores readiness. */
const quiet = (): ConnectionHandler => ({ onReadable: () => undefined });

describe('EventLoop writes', () => {
  it('queues what the kernel cannot take, and write() returns false once past highWaterMark', () => {
    const { conn } = adopted(quiet());
    const { last } = fillUntilQueued(conn);
    const queued = conn.queuedBytes;
    expect(queued).toBeGreaterThan(0);
    expect(queued).toBeLessThanOrEqual(CHUNK);
    expect(last, 'a queue under highWaterMark is not backpressure').toBe(true);

    const big = DEFAULT_HIGH_WATER_MARK * 2;
    const ok = conn.write(pattern(0, big));

    // Nothing is written past a non-empty queue (that would reorder bytes).
    expect(conn.queuedBytes).toBe(queued + big);
    expect(ok).toBe(false);
  });

  it('arms writable interest only while bytes are queued', () => {
    const { loop, conn, peer } = adopted(quiet());
    expect(armedInterest(loop, conn)).toEqual({ readable: true, writable: false });

    fillUntilQueued(conn);
    expect(armedInterest(loop, conn)).toEqual({ readable: true, writable: true });

    const reader = new RawReader(peer);
    expect(turnUntil(loop, () => conn.queuedBytes === 0, () => reader.pump())).toBe(true);
    expect(armedInterest(loop, conn)).toEqual({ readable: true, writable: false });
  });

  it('calls onDrain once when the queue empties, and the peer gets every byte in order', () => {
    const drains: number[] = [];
    const { loop, conn, peer } = adopted({ ...quiet(), onDrain: (c) => void drains.push(c.queuedBytes) });
    const { total: first } = fillUntilQueued(conn);
    conn.write(pattern(first, 1024 * 1024));
    const total = first + 1024 * 1024;
    expect(drains).toEqual([]);

    // A few turns with the peer not reading: the queue cannot drain.
    for (let i = 0; i < 5; i++) loop.turn(0);
    expect(drains).toEqual([]);

    const reader = new RawReader(peer);
    expect(turnUntil(loop, () => reader.total >= total && drains.length > 0, () => reader.pump())).toBe(true);
    expect(drains).toEqual([0]);
    expect(reader.total).toBe(total);
    expect(reader.received().equals(pattern(0, total))).toBe(true);
  });

  it('end() flushes the queue, shuts down writing, and closes on the peer\'s EOF', () => {
    const closes: Array<Error | undefined> = [];
    const { loop, conn, peer } = adopted({ ...quiet(), onClose: (_c, err) => void closes.push(err) });
    const { total } = fillUntilQueued(conn);

    conn.end();
    expect(conn.isClosed, 'end() waits for the queue').toBe(false);
    expect(closes).toEqual([]);

    const reader = new RawReader(peer);
    expect(turnUntil(loop, () => reader.eof, () => reader.pump())).toBe(true);
    expect(reader.received().equals(pattern(0, total))).toBe(true);
    expect(closes, 'open until the peer is done too').toEqual([]);

    peer.shutdown('write');
    expect(turnUntil(loop, () => conn.isClosed)).toBe(true);
    expect(closes).toEqual([undefined]);
    expect(loop.connections).toBe(0);
  });

  it('end() delivers every queued byte, then EOF, even when the peer sent bytes the handler never read', () => {
    const { loop, conn, peer } = adopted(quiet());
    // The peer says something the handler does not read (a pipelined request,
    // a trailing line): end() must still be a graceful close for the peer.
    peer.write(Buffer.from('one more thing'));
    const { total: first } = fillUntilQueued(conn);
    conn.write(pattern(first, 1024 * 1024));
    const total = first + 1024 * 1024;
    conn.end();

    const reader = new RawReader(peer);
    let readError: unknown = null;
    const pump = (): void => {
      try {
        reader.pump();
      } catch (err) {
        readError = err;
      }
    };
    expect(turnUntil(loop, () => reader.eof || readError !== null, pump)).toBe(true);
    expect(readError, 'the peer was reset instead of getting EOF').toBeNull();
    expect(reader.total).toBe(total);
    expect(reader.received().equals(pattern(0, total))).toBe(true);
  });

  it('end() with nothing queued shuts down writing at once and closes on the peer\'s EOF', () => {
    let closes = 0;
    const { loop, conn, peer } = adopted({ onClose: () => void closes++ });
    conn.write(Buffer.from('last words'));
    conn.end();
    const reader = new RawReader(peer);
    for (let i = 0; i < 100 && !reader.eof; i++) reader.pump();
    expect(reader.received().toString()).toBe('last words');
    expect(reader.eof, 'the write side is shut down at once').toBe(true);
    expect(closes).toBe(0);
    peer.close();
    expect(turnUntil(loop, () => conn.isClosed)).toBe(true);
    expect(closes).toBe(1);
  });

  it('end() closes after the linger bound when the peer never finishes', () => {
    let closes = 0;
    const { loop, conn } = adopted({ onClose: () => void closes++ });
    conn.end();
    expect(turnUntil(loop, () => conn.isClosed, undefined, 2000, 5000)).toBe(true);
    expect(closes).toBe(1);
  });

  it('write() after end() throws', () => {
    const { conn } = adopted(quiet());
    fillUntilQueued(conn);
    conn.end();
    expect(() => conn.write(Buffer.from('more'))).toThrow(TypeError);
  });

  it('close() drops the queue: the peer gets only what the kernel had taken', () => {
    const { loop, conn, peer } = adopted(quiet());
    const { total } = fillUntilQueued(conn);
    const dropped = conn.queuedBytes;

    conn.close();
    expect(conn.queuedBytes).toBe(0);

    const reader = new RawReader(peer);
    expect(turnUntil(loop, () => reader.eof, () => reader.pump())).toBe(true);
    expect(reader.total).toBe(total - dropped);
    expect(reader.received().equals(pattern(0, total - dropped))).toBe(true);
  });

  it('onClose runs exactly once, whatever closes the connection how often', () => {
    const closes: Array<Error | undefined> = [];
    const { loop, conn } = adopted({ onClose: (_c, err) => void closes.push(err) });
    conn.close();
    conn.close();
    conn.end();
    loop.close();
    expect(closes).toEqual([undefined]);
  });
});
