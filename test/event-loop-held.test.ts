/**
 * What a handler changes in the middle of a turn takes effect at once, on
 * every backend: pausing, ending, closing and swapping handlers. On
 * io_uring one turn hands a connection several buffers the ring already
 * read, so the bytes behind such a change must be held, not dropped or
 * delivered anyway. (npm run test:io_uring runs this file on io_uring.)
 */
import { afterEach, describe, expect, it } from 'vitest';
import { WOULD_BLOCK, type Connection, type EventLoop, type TcpStream } from '../src/index';
import { runCleanups } from './cleanup';
import { adoptPair, newLoop, turnUntil } from './event-loop-util';

afterEach(runCleanups);

/** More than a turn's read budget (64 KiB): io_uring splits it into many records. */
const BURST = 300 * 1024;

/** `count` bytes whose value depends on the position, so order and loss show. */
function pattern(count: number): Buffer {
  const out = Buffer.allocUnsafe(count);
  for (let i = 0; i < count; i++) out[i] = (i * 7 + (i >> 9)) & 0xff;
  return out;
}

/** Writes all of `data` from the raw peer, turning the loop while the socket is full. */
function sendAll(loop: EventLoop, peer: TcpStream, data: Buffer): void {
  let sent = 0;
  const done = turnUntil(
    loop,
    () => sent === data.length,
    () => {
      const n = peer.write(data, sent);
      if (n !== WOULD_BLOCK) sent += n;
    },
  );
  expect(done).toBe(true);
}

/** Reads what the raw peer has now: the text, and whether EOF came. */
function readPeer(peer: TcpStream): { text: string; eof: boolean } {
  const buf = Buffer.alloc(4096);
  let text = '';
  for (;;) {
    const n = peer.read(buf);
    if (n === WOULD_BLOCK) return { text, eof: false };
    if (n === 0) return { text, eof: true };
    text += buf.toString('latin1', 0, n);
  }
}

describe('a handler change inside onData', () => {
  it('a swap to onReadable loses none of the bytes already read, and keeps their order', () => {
    const loop = newLoop();
    const chunks: Buffer[] = [];
    const { peer } = adoptPair(loop, {
      onData(conn, data, offset, length) {
        chunks.push(Buffer.from(data.subarray(offset, offset + length)));
        conn.handler = {
          onReadable(c: Connection) {
            for (;;) {
              const n = c.read(loop.readBuffer);
              if (n === WOULD_BLOCK || n === 0) return;
              chunks.push(Buffer.from(loop.readBuffer.subarray(0, n)));
            }
          },
        };
      },
    });
    const data = pattern(BURST);
    sendAll(loop, peer, data);
    const total = (): number => chunks.reduce((sum, c) => sum + c.length, 0);
    expect(turnUntil(loop, () => total() >= BURST)).toBe(true);
    expect(Buffer.concat(chunks).equals(data)).toBe(true);
  });

  it('the onReadable handler swapped in reads the EOF after the held bytes', () => {
    const loop = newLoop();
    let received = 0;
    let eof = false;
    const { peer } = adoptPair(loop, {
      onData(conn, _data, _offset, length) {
        received += length;
        conn.handler = {
          onReadable(c: Connection) {
            for (;;) {
              const n = c.read(loop.readBuffer);
              if (n === WOULD_BLOCK) return;
              if (n === 0) {
                eof = true;
                c.close();
                return;
              }
              received += n;
            }
          },
        };
      },
    });
    sendAll(loop, peer, pattern(BURST));
    peer.shutdown('write');
    expect(turnUntil(loop, () => eof)).toBe(true);
    expect(received).toBe(BURST);
  });

  it('after pauseReading() no onData comes until resumeReading(), and then every byte in order', () => {
    const loop = newLoop();
    const chunks: Buffer[] = [];
    let paused = false;
    let callsWhilePaused = 0;
    let ended = false;
    const { peer } = adoptPair(loop, {
      onData(conn, data, offset, length) {
        if (paused) callsWhilePaused++;
        chunks.push(Buffer.from(data.subarray(offset, offset + length)));
        if (chunks.length === 1) {
          paused = true;
          conn.pauseReading();
          loop.setTimeout(() => {
            paused = false;
            conn.resumeReading();
          }, 30);
        }
      },
      onEnd(conn) {
        ended = true;
        conn.close();
      },
    });
    const data = pattern(BURST);
    sendAll(loop, peer, data);
    peer.shutdown('write');
    expect(turnUntil(loop, () => ended)).toBe(true);
    expect(callsWhilePaused).toBe(0);
    expect(Buffer.concat(chunks).equals(data)).toBe(true);
  });

  it('after end() onData is not called again', () => {
    const loop = newLoop();
    let calls = 0;
    const { conn, peer } = adoptPair(loop, {
      onData(c) {
        calls++;
        c.end();
      },
    });
    sendAll(loop, peer, pattern(BURST));
    peer.shutdown('write');
    expect(turnUntil(loop, () => conn.isClosed)).toBe(true);
    expect(calls).toBe(1);
  });
});

describe('close() after write() in a turn', () => {
  it('inside onData: the peer reads the bytes, then EOF', () => {
    const loop = newLoop();
    const { conn, peer } = adoptPair(loop, {
      onData(c) {
        c.write(Buffer.from('ERR bad request\n'));
        c.close();
      },
    });
    peer.write(Buffer.from('x'));
    expect(turnUntil(loop, () => conn.isClosed)).toBe(true);
    let got = { text: '', eof: false };
    turnUntil(loop, () => {
      const more = readPeer(peer);
      got = { text: got.text + more.text, eof: more.eof };
      return got.eof;
    });
    expect(got).toEqual({ text: 'ERR bad request\n', eof: true });
  });

  it('inside a loop timer: the peer reads the bytes', () => {
    const loop = newLoop();
    const { conn, peer } = adoptPair(loop, { onData() {} });
    loop.setTimeout(() => {
      conn.write(Buffer.from('bye\n'));
      conn.close();
    }, 1);
    expect(turnUntil(loop, () => conn.isClosed)).toBe(true);
    let text = '';
    turnUntil(loop, () => {
      const more = readPeer(peer);
      text += more.text;
      return more.eof;
    });
    expect(text).toBe('bye\n');
  });
});

describe('a peer reset while bytes are queued', () => {
  it('is reported as the reset, not as the write it breaks', () => {
    const loop = newLoop();
    const errors: string[] = [];
    const { conn, peer } = adoptPair(loop, {
      onData() {},
      onError(_c, err) {
        errors.push(`${err.code}`);
      },
    });
    // Queued beyond the socket buffers, to a peer that never reads.
    loop.setTimeout(() => {
      const chunk = Buffer.alloc(64 * 1024, 7);
      for (let i = 0; i < 64; i++) conn.write(chunk);
    }, 0);
    expect(turnUntil(loop, () => conn.queuedBytes > 0)).toBe(true);
    turnUntil(loop, () => false, undefined, 3);
    peer.close(); // unread bytes on its side: the close is a reset
    expect(turnUntil(loop, () => conn.isClosed)).toBe(true);
    expect(errors).toEqual(['ECONNRESET']);
  });
});
