/**
 * The connection's outgoing queue: a flush of several queued chunks is one
 * gather write (writev) with a bounded iovec count, and a partial write
 * resumes at the exact byte the kernel stopped at.
 *
 * The unit cases drive WriteQueue against a scripted stream that takes a
 * chosen number of bytes per call; the last case runs a real connection
 * whose peer reads late.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { WOULD_BLOCK, type TcpStream } from '../src/index';
import { WRITEV_BATCH, WriteQueue } from '../src/loop/write-queue';
import { native } from '../src/native';
import type { StreamSocket } from '../src/net/stream';
import { RawReader, newLoop, pattern, turnUntil } from './event-loop-util';
import { own, runCleanups } from './cleanup';
import { tcpPair } from './util';

afterEach(async () => {
  vi.restoreAllMocks();
  await runCleanups();
});

/**
 * A stream that accepts at most `budget()` bytes per call (WOULD_BLOCK at
 * 0), records what it took in order, and counts its write and writev calls
 * and the buffers each writev was given.
 */
class ScriptedStream {
  readonly taken: number[] = [];
  writes = 0;
  writevBuffers: number[] = [];

  constructor(private readonly budget: () => number) {}

  write(buf: Uint8Array): number {
    this.writes++;
    return this.take([buf]);
  }

  writev(buffers: readonly Uint8Array[]): number {
    this.writevBuffers.push(buffers.length);
    return this.take(buffers);
  }

  asStream(): StreamSocket {
    return this as unknown as StreamSocket;
  }

  private take(buffers: readonly Uint8Array[]): number {
    let room = this.budget();
    if (room === 0) return WOULD_BLOCK;
    let n = 0;
    for (const b of buffers) {
      for (let i = 0; i < b.length && room > 0; i++, room--, n++) this.taken.push(b[i]);
    }
    return n;
  }
}

/** Queues `count` chunks of `size` patterned bytes; returns all bytes queued. */
function fill(queue: WriteQueue, count: number, size: number): number[] {
  const all: number[] = [];
  for (let i = 0; i < count; i++) {
    const chunk = pattern(i * size, size);
    queue.push(chunk, 0, size);
    all.push(...chunk);
  }
  return all;
}

describe('WriteQueue', () => {
  it('flushes several queued chunks with one writev when the kernel takes them all', () => {
    const queue = new WriteQueue();
    fill(queue, 5, 100);
    const stream = new ScriptedStream(() => 1 << 20);
    expect(queue.flush(stream.asStream())).toBe(true);
    expect(stream.writevBuffers).toEqual([5]);
    expect(stream.writes).toBe(0);
    expect(queue.size).toBe(0);
  });

  it('flushes a single queued chunk with a plain write', () => {
    const queue = new WriteQueue();
    fill(queue, 1, 100);
    const stream = new ScriptedStream(() => 1 << 20);
    expect(queue.flush(stream.asStream())).toBe(true);
    expect(stream.writes).toBe(1);
    expect(stream.writevBuffers).toEqual([]);
  });

  it(`hands writev at most ${WRITEV_BATCH} buffers at a time`, () => {
    const queue = new WriteQueue();
    fill(queue, WRITEV_BATCH * 2 + 3, 10);
    const stream = new ScriptedStream(() => 1 << 20);
    expect(queue.flush(stream.asStream())).toBe(true);
    expect(Math.max(...stream.writevBuffers)).toBeLessThanOrEqual(WRITEV_BATCH);
    expect(stream.writevBuffers.reduce((a, b) => a + b, 0) + stream.writes).toBe(WRITEV_BATCH * 2 + 3);
  });

  it('stops at the first short write and reports the queue not empty', () => {
    const queue = new WriteQueue();
    fill(queue, 4, 100);
    const stream = new ScriptedStream(() => 150);
    expect(queue.flush(stream.asStream())).toBe(false);
    expect(stream.writevBuffers).toEqual([4]);
    expect(queue.size).toBe(250);
  });

  it('resumes a partial write at the exact byte, across chunk boundaries, until all bytes are sent in order', () => {
    const queue = new WriteQueue();
    const expected = fill(queue, 7, 33);
    // 10, 0 (would block), 45, 0, 17, ... : cuts land inside and at the ends of chunks.
    const script = [10, 0, 45, 0, 17, 33, 1, 0, 64, 2];
    let call = 0;
    const stream = new ScriptedStream(() => script[call++ % script.length]);
    let flushes = 0;
    while (!queue.flush(stream.asStream()) && flushes < 100) flushes++;
    expect(queue.size).toBe(0);
    expect(stream.taken).toEqual(expected);
  });

  it('reports WOULD_BLOCK as not flushed, losing nothing', () => {
    const queue = new WriteQueue();
    const expected = fill(queue, 3, 20);
    let open = false;
    const stream = new ScriptedStream(() => (open ? 1 << 20 : 0));
    expect(queue.flush(stream.asStream())).toBe(false);
    expect(queue.size).toBe(60);
    open = true;
    expect(queue.flush(stream.asStream())).toBe(true);
    expect(stream.taken).toEqual(expected);
  });

  it('copies pushed bytes, so the caller may reuse its buffer at once', () => {
    const queue = new WriteQueue();
    const buf = Buffer.from('abcdef');
    queue.push(buf, 1, 3);
    buf.fill(0);
    const stream = new ScriptedStream(() => 1 << 20);
    queue.flush(stream.asStream());
    expect(Buffer.from(stream.taken).toString()).toBe('bcd');
  });
});

describe('Connection flush', () => {
  it('sends many queued writes to a late reader with gather writes, every byte in order', () => {
    const loop = newLoop();
    const { client, server } = tcpPair();
    own(client);
    const peer: TcpStream = client;
    const conn = loop.adopt(own(server), { onReadable: () => undefined });
    // Fill the kernel buffers, then queue many small chunks behind them.
    let total = 0;
    for (let i = 0; i < 4096 && conn.queuedBytes === 0; i++) {
      conn.write(pattern(total, 16 * 1024));
      total += 16 * 1024;
    }
    expect(conn.queuedBytes).toBeGreaterThan(0);
    for (let i = 0; i < 200; i++) {
      conn.write(pattern(total, 100));
      total += 100;
    }
    // The queue reuses its argument array, so record each call's count as it happens.
    const original = native.writev.bind(native);
    const counts: number[] = [];
    vi.spyOn(native, 'writev').mockImplementation((fd: number, bufs: readonly Uint8Array[]) => {
      counts.push(bufs.length);
      return original(fd, bufs);
    });
    const reader = new RawReader(peer);
    expect(turnUntil(loop, () => reader.total >= total, () => reader.pump())).toBe(true);
    expect(conn.queuedBytes).toBe(0);
    expect(reader.received().equals(pattern(0, total))).toBe(true);
    const most = Math.max(...counts);
    expect(most).toBeGreaterThan(1);
    expect(most).toBeLessThanOrEqual(WRITEV_BATCH);
  });
});
