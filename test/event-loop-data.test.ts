/**
 * The loop's data path: onData handlers fed by the pump's one native call
 * per turn, corked writes, and what must hold when a batch goes wrong
 * (handler exceptions, closes and resets in the middle of a batch).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { SysError, UnixStream, WOULD_BLOCK, type Connection, type ConnectionHandler, type EventLoop, type TcpStream } from '../src/index';
import { native } from '../src/native';
import { own, runCleanups } from './cleanup';
import { RawReader, adoptPair, newLoop, runBounded, turnUntil } from './event-loop-util';
import { onLibkqueue } from './platform';
import { sleepMs } from './util';

afterEach(runCleanups);

/** Echoes every onData view back by reference. */
const echo: ConnectionHandler = {
  onData(conn, data, offset, length) {
    conn.write(data, offset, length);
  },
};

/** `count` bytes whose value at position i is a function of `seed` and i. */
function pattern(count: number, seed: number): Buffer {
  const out = Buffer.allocUnsafe(count);
  for (let i = 0; i < count; i++) out[i] = (i * 7 + seed * 13 + (i >> 8)) & 0xff;
  return out;
}

/** Counts calls of the addon's per-socket read and write exports while `fn` runs. */
function countSocketCalls(fn: () => void): number {
  const names = ['read', 'write', 'writev', 'readv'] as const;
  const originals = names.map((name) => native[name]);
  let calls = 0;
  names.forEach((name, i) => {
    const original = originals[i] as (...args: unknown[]) => number;
    (native as unknown as Record<string, unknown>)[name] = (...args: unknown[]) => {
      calls++;
      return original(...args);
    };
  });
  try {
    fn();
  } finally {
    names.forEach((name, i) => ((native as unknown as Record<string, unknown>)[name] = originals[i]));
  }
  return calls;
}

describe('EventLoop onData', () => {
  it('delivers the bytes that arrived as a view of the read arena', () => {
    const loop = newLoop();
    const got: string[] = [];
    const { peer } = adoptPair(loop, {
      onData(_c, data, offset, length) {
        got.push(data.toString('latin1', offset, offset + length));
      },
    });
    peer.write(Buffer.from('hello pump'));
    expect(turnUntil(loop, () => got.length > 0)).toBe(true);
    expect(got).toEqual(['hello pump']);
  });

  it('a handler with onData gets no onReadable calls', () => {
    const loop = newLoop();
    let readable = 0;
    let data = 0;
    const { peer } = adoptPair(loop, {
      onData: () => void data++,
      onReadable: () => void readable++,
    });
    peer.write(Buffer.from('x'));
    expect(turnUntil(loop, () => data > 0)).toBe(true);
    expect(readable).toBe(0);
  });

  it('echoing to 20 ready connections makes no per-connection read or write call', () => {
    const loop = newLoop();
    const pairs = Array.from({ length: 20 }, () => adoptPair(loop, echo));
    for (const { peer } of pairs) peer.write(Buffer.from('ping'));
    sleepMs(20); // every peer's bytes are in its server socket's queue
    const calls = countSocketCalls(() => expect(loop.turn(100)).toBe(20));
    expect(calls).toBe(0);
    for (const { peer } of pairs) {
      const reader = new RawReader(peer);
      expect(turnUntil(loop, () => reader.total >= 4, () => reader.pump())).toBe(true);
      expect(reader.received().toString()).toBe('ping');
    }
  });

  it('onEnd runs once at the peer EOF, and the connection can still write', () => {
    const loop = newLoop();
    let ends = 0;
    const { peer } = adoptPair(loop, {
      onData: () => {},
      onEnd(conn) {
        ends++;
        conn.write(Buffer.from('bye'));
        conn.end();
      },
    });
    peer.shutdown('write');
    const reader = new RawReader(peer);
    expect(turnUntil(loop, () => reader.eof, () => reader.pump())).toBe(true);
    expect(ends).toBe(1);
    expect(reader.received().toString()).toBe('bye');
  });

  it('without onEnd, the peer EOF ends the connection after what was written', () => {
    const loop = newLoop();
    const closes: Array<Error | undefined> = [];
    const { conn, peer } = adoptPair(loop, { ...echo, onClose: (_c, err) => void closes.push(err) });
    peer.write(Buffer.from('last words'));
    peer.shutdown('write');
    const reader = new RawReader(peer);
    expect(turnUntil(loop, () => reader.eof && conn.isClosed, () => reader.pump())).toBe(true);
    expect(reader.received().toString()).toBe('last words');
    expect(closes).toEqual([undefined]);
  });
});

describe('EventLoop corked writes', () => {
  it('end() after corked writes sends them before the EOF', () => {
    const loop = newLoop();
    const { peer } = adoptPair(loop, {
      onData(conn) {
        conn.write(Buffer.from('one '));
        conn.write(Buffer.from('two'));
        conn.end();
      },
    });
    peer.write(Buffer.from('go'));
    const reader = new RawReader(peer);
    expect(turnUntil(loop, () => reader.eof, () => reader.pump())).toBe(true);
    expect(reader.received().toString()).toBe('one two');
  });

  it('more small writes in one turn than the write list holds arrive complete and in order', () => {
    const loop = newLoop();
    const chunks = Array.from({ length: 5000 }, (_, i) => Buffer.from(`${i},`));
    const { conn, peer } = adoptPair(loop, {
      onData(c) {
        for (const chunk of chunks) c.write(chunk);
      },
    });
    conn.highWaterMark = 1 << 20;
    peer.write(Buffer.from('go'));
    const expected = Buffer.concat(chunks);
    const reader = new RawReader(peer);
    expect(turnUntil(loop, () => reader.total >= expected.length, () => reader.pump())).toBe(true);
    expect(reader.received().equals(expected)).toBe(true);
  });

  it('a write larger than the write arena, between corked ones, keeps its place', () => {
    const loop = newLoop();
    const big = pattern(300 * 1024, 1);
    const { conn, peer } = adoptPair(loop, {
      onData(c) {
        c.write(Buffer.from('head'));
        c.write(big);
        c.write(Buffer.from('tail'));
      },
    });
    conn.highWaterMark = 4 << 20;
    peer.write(Buffer.from('go'));
    const expected = Buffer.concat([Buffer.from('head'), big, Buffer.from('tail')]);
    const reader = new RawReader(peer);
    expect(turnUntil(loop, () => reader.total >= expected.length, () => reader.pump())).toBe(true);
    expect(reader.received().equals(expected)).toBe(true);
  });

  /**
   * A loop connection whose peer is closed by the handler in the middle of
   * a turn, after `victim` corked a write: the turn's next flush fails it.
   */
  function victimOf(loop: EventLoop): { victim: Connection; victimPeer: UnixStream; closes: Array<Error | undefined> } {
    const [victimPeer, victimEnd] = UnixStream.pair();
    own(victimPeer);
    const closes: Array<Error | undefined> = [];
    const victim = loop.adopt(victimEnd, { onClose: (_c, err) => void closes.push(err) });
    victim.highWaterMark = 1 << 20;
    return { victim, victimPeer, closes };
  }

  it('a write larger than the arena whose forced flush fails an earlier corked write returns false', () => {
    const reported: unknown[] = [];
    const loop = newLoop({ onHandlerError: (err) => void reported.push(err) });
    const { victim, victimPeer, closes } = victimOf(loop);
    let result: boolean | undefined;
    const { peer } = adoptPair(loop, {
      onData() {
        victim.write(Buffer.from('corked first'));
        victimPeer.close();
        result = victim.write(pattern(300 * 1024, 2)); // above the arena: flushes first
      },
    });
    peer.write(Buffer.from('go'));
    expect(turnUntil(loop, () => result !== undefined)).toBe(true);
    expect(result).toBe(false);
    expect(victim.isClosed).toBe(true);
    expect(closes).toHaveLength(1);
    expect(closes[0]).toMatchObject({ code: 'EPIPE', syscall: 'write' });
    expect(reported).toEqual([]);
  });

  it('a write that fills the arena, forcing a flush that fails an earlier corked write, returns false', () => {
    const reported: unknown[] = [];
    const loop = newLoop({ onHandlerError: (err) => void reported.push(err) });
    const { victim, victimPeer, closes } = victimOf(loop);
    const results: boolean[] = [];
    const { conn: writer, peer } = adoptPair(loop, {
      onData() {
        results.push(victim.write(Buffer.from('x')));
        victimPeer.close();
        results.push(victim.write(pattern(255 * 1024, 3))); // the arena's room, nearly all
        results.push(victim.write(pattern(2 * 1024, 4))); // no room left: flushes first
      },
    });
    peer.write(Buffer.from('go'));
    expect(turnUntil(loop, () => results.length === 3)).toBe(true);
    expect(results).toEqual([true, true, false]);
    expect(victim.isClosed).toBe(true);
    expect(closes[0]).toMatchObject({ code: 'EPIPE', syscall: 'write' });
    expect(writer.isClosed, 'the connection whose handler wrote stays open').toBe(false);
    expect(reported).toEqual([]);
  });

  it('corked writes the kernel takes only in part resume from the queue at the right byte', () => {
    const loop = newLoop();
    const [client, server] = UnixStream.pair();
    own(client);
    const parts = Array.from({ length: 8 }, (_, i) => pattern(30 * 1024, i));
    let queuedAfterTurn = 0;
    const conn = loop.adopt(server, {
      onData(c) {
        for (const part of parts) c.write(part);
      },
    });
    conn.highWaterMark = 1 << 20;
    client.write(Buffer.from('go'));
    // The peer reads nothing yet: the socket buffer fills and the rest queues.
    expect(turnUntil(loop, () => conn.queuedBytes > 0, undefined, 50)).toBe(true);
    queuedAfterTurn = conn.queuedBytes;
    const expected = Buffer.concat(parts);
    const received: Buffer[] = [];
    let total = 0;
    const buf = Buffer.allocUnsafe(64 * 1024);
    const readPeer = (): void => {
      for (;;) {
        const n = client.read(buf);
        if (n === WOULD_BLOCK || n === 0) return;
        received.push(Buffer.from(buf.subarray(0, n)));
        total += n;
      }
    };
    expect(turnUntil(loop, () => total >= expected.length, readPeer)).toBe(true);
    expect(queuedAfterTurn).toBeGreaterThan(0);
    expect(Buffer.concat(received).equals(expected)).toBe(true);
  });

  it('run(): echoes by reference to a slow reader lose no byte when later reads reuse the arena', () => {
    // run() sends a turn's corked writes in the next turn's native call,
    // before that call reads again into the same arena: a write that falls
    // short there must still find its unsent bytes intact.
    const loop = newLoop();
    const [client, server] = UnixStream.pair();
    own(client);
    loop.adopt(server, {
      ...echo,
      onData(conn, data, offset, length) {
        if (!conn.write(data, offset, length)) conn.pauseReading();
      },
      onDrain: (conn) => conn.resumeReading(),
    });
    const chunks = Array.from({ length: 24 }, (_, i) => pattern(48 * 1024, i + 3));
    const expected = Buffer.concat(chunks);
    let sent = 0;
    let offsetInChunk = 0;
    const received: Buffer[] = [];
    let total = 0;
    const buf = Buffer.allocUnsafe(16 * 1024);
    const tick = loop.setInterval(() => {
      // Send what the socket takes, read at most 16 KiB back: a slow reader.
      while (sent < chunks.length) {
        const chunk = chunks[sent];
        const n = client.write(chunk, offsetInChunk, chunk.length - offsetInChunk);
        if (n === WOULD_BLOCK) break;
        offsetInChunk += n;
        if (offsetInChunk === chunk.length) {
          sent++;
          offsetInChunk = 0;
        }
      }
      const n = client.read(buf);
      if (n !== WOULD_BLOCK && n > 0) {
        received.push(Buffer.from(buf.subarray(0, n)));
        total += n;
      }
      if (total >= expected.length) {
        loop.clearTimer(tick);
        loop.stop();
      }
    }, 1);
    expect(runBounded(loop, 20_000)).toBe(true);
    expect(Buffer.concat(received).equals(expected)).toBe(true);
  });
});

describe('EventLoop batch faults', () => {
  it('a handler that throws mid-batch closes its own connection; the others in the batch still get their bytes', () => {
    const reported: unknown[] = [];
    const loop = newLoop({ onHandlerError: (err) => void reported.push(err) });
    const boom = new Error('boom');
    const got = new Map<Connection, string>();
    const handler: ConnectionHandler = {
      onData(conn, data, offset, length) {
        const text = data.toString('latin1', offset, offset + length);
        if (text === 'throw') throw boom;
        got.set(conn, text);
      },
    };
    const pairs = Array.from({ length: 6 }, () => adoptPair(loop, handler));
    pairs.forEach(({ peer }, i) => peer.write(Buffer.from(i === 2 ? 'throw' : `m${i}`)));
    sleepMs(20);
    loop.turn(100);
    expect(reported).toEqual([boom]);
    expect(pairs[2].conn.isClosed).toBe(true);
    for (const [i, { conn }] of pairs.entries()) {
      if (i !== 2) expect(got.get(conn)).toBe(`m${i}`);
    }
  });

  it('a connection closed by a handler mid-batch gets none of its results; its reused token none of its bytes', () => {
    const loop = newLoop();
    const calls: string[] = [];
    const pairs: Array<{ conn: Connection; peer: TcpStream }> = [];
    let newcomer: Connection | null = null;
    const handler: ConnectionHandler = {
      onData(conn) {
        const me = pairs.findIndex((p) => p.conn === conn);
        calls.push(me === -1 ? 'newcomer' : `conn${me}`);
        if (newcomer !== null) return;
        // Close the other one and let a new connection take its slab key.
        pairs[1 - me].conn.close();
        newcomer = adoptPair(loop, handler).conn;
      },
    };
    pairs.push(adoptPair(loop, handler), adoptPair(loop, handler));
    for (const { peer } of pairs) peer.write(Buffer.from('data'));
    sleepMs(20);
    loop.turn(100);
    expect(calls).toHaveLength(1);
    expect(newcomer).not.toBeNull();
    const closed = pairs.find((p) => p.conn.isClosed)!.conn;
    expect(newcomer!.id & 0xfffff, 'the newcomer took the closed connection key').toBe(closed.id & 0xfffff);
    expect(newcomer!.id).not.toBe(closed.id);
    loop.turn(20);
    expect(calls).toHaveLength(1);
  });

  it.skipIf(onLibkqueue)('a peer reset gives one onError and one onClose, with ECONNRESET from the read', () => {
    const reported: unknown[] = [];
    const loop = newLoop({ onHandlerError: (err) => void reported.push(err) });
    const log: Array<[string, Error | undefined]> = [];
    const { conn, peer } = adoptPair(loop, {
      onData: () => {},
      onError: (_c, err) => void log.push(['error', err]),
      onClose: (_c, err) => void log.push(['close', err]),
    });
    // The peer closes with data it never read: the kernel sends a reset.
    conn.write(Buffer.from('never read'));
    sleepMs(10);
    peer.close();
    expect(turnUntil(loop, () => conn.isClosed)).toBe(true);
    expect(log.map(([what]) => what)).toEqual(['error', 'close']);
    expect(log[0][1]).toBeInstanceOf(SysError);
    expect(log[0][1]).toMatchObject({ code: 'ECONNRESET', syscall: 'read' });
    expect(log[1][1]).toBe(log[0][1]);
    expect(reported).toEqual([]);
  });
});
