/**
 * The io_uring backend's own behaviour: choosing it, its fallback, and what
 * only completions can get wrong (a completion reaching a reused token, a
 * ring that runs out of buffers). Everything a loop serves is covered by
 * the EventLoop, echo, service and ident suites, which `npm test` runs on
 * both backends (scripts/test-io-uring.js).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { EventLoop, Poll, UnixStream, ioUringUnavailableReason, type Connection } from '../src/index';
import { native } from '../src/native';
import { own, runCleanups } from './cleanup';
import { NetClient } from './net-client';
import { waitFor } from './waits';

afterEach(runCleanups);

const reason = ioUringUnavailableReason();
const ringIt = reason === '' ? it : it.skip;
if (reason !== '') process.stdout.write(`io_uring tests skipped: ${reason}\n`);

const KEY_MASK = (1 << 20) - 1;
const REC_DATA = 1 << 8;
const REC_EOF = 1 << 9;

describe('EventLoop backend option', () => {
  it('names EDGELOOP_LOOP_BACKEND when the bad name came from it', () => {
    const saved = process.env.EDGELOOP_LOOP_BACKEND;
    process.env.EDGELOOP_LOOP_BACKEND = 'bogus';
    try {
      expect(() => new EventLoop()).toThrow(/EDGELOOP_LOOP_BACKEND must be one of .*; got bogus/);
    } finally {
      if (saved === undefined) delete process.env.EDGELOOP_LOOP_BACKEND;
      else process.env.EDGELOOP_LOOP_BACKEND = saved;
    }
  });

  it('refuses an unknown backend name with ERR_INVALID_ARG_VALUE', () => {
    expect(() => new EventLoop({ backend: 'select' as never })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
  });

  it('refuses the selector this build does not have with ERR_BACKEND_UNAVAILABLE', () => {
    const other = native.backend === 'epoll' ? 'kqueue' : 'epoll';
    expect(() => new EventLoop({ backend: other })).toThrow(expect.objectContaining({ code: 'ERR_BACKEND_UNAVAILABLE' }));
  });

  it('runs on the build\'s selector when asked for it, with no fallback', () => {
    const loop = own(new EventLoop({ backend: native.backend }));
    expect(loop.backend).toBe(native.backend);
    expect(loop.backendFallback).toBeNull();
  });

  it('picks io_uring under auto when the probe passes, else the selector with the probe\'s reason', () => {
    const loop = own(new EventLoop({ backend: 'auto' }));
    if (reason === '') {
      expect(loop.backend).toBe('io_uring');
      expect(loop.backendFallback).toBeNull();
    } else {
      expect(loop.backend).toBe(native.backend);
      expect(loop.backendFallback).toBe(reason);
    }
  });

  it('throws ERR_IO_URING_UNAVAILABLE naming the reason where io_uring cannot run, else runs on it', () => {
    if (reason === '') {
      expect(own(new EventLoop({ backend: 'io_uring' })).backend).toBe('io_uring');
    } else {
      expect(() => new EventLoop({ backend: 'io_uring' })).toThrow(expect.objectContaining({ code: 'ERR_IO_URING_UNAVAILABLE', reason }));
    }
  });
});

describe('io_uring completions', () => {
  ringIt('never hands a closed connection\'s bytes to the connection that reuses its slot', async () => {
    const loop = own(new EventLoop({ backend: 'io_uring' }));
    const seen: Array<{ conn: Connection; text: string }> = [];
    const listener = loop.listen('127.0.0.1:0', () => ({
      onData(conn, buf, offset, length) {
        seen.push({ conn, text: buf.toString('latin1', offset, offset + length) });
        if (seen.length === 1) conn.close(); // the first connection closes on its first bytes
        else conn.write(buf, offset, length);
      },
    }));
    loop.attach();
    const port = listener.socket.localAddress().port;
    const a = await NetClient.connect(port);
    a.write('first');
    await waitFor(() => seen.length === 1, 2000, 'the first bytes');
    a.sock.write('stale'); // after the close: must go nowhere
    const b = await NetClient.connect(port);
    b.write('second');
    await b.until(() => b.text === 'second', 2000, 'the echo on the second connection');
    const [first, second] = [seen[0].conn, seen[1].conn];
    expect(second.token & KEY_MASK).toBe(first.token & KEY_MASK); // the same slab slot
    expect(second.token).not.toBe(first.token);
    expect(seen.map((s) => s.text)).toEqual(['first', 'second']);
  });

  ringIt('loses no byte when the buffer ring runs dry (ENOBUFS): the recv re-arms as buffers return', () => {
    // Four 16-byte buffers for a 1000-byte message: the recv runs out
    // after 64 bytes each turn and must come back for the rest, in order.
    const poll = own(new Poll());
    const readArena = new Uint8Array(new SharedArrayBuffer(64));
    const writes = new Uint32Array(16 * 4);
    const records = new Uint32Array((2 * 16 + 8) * 5);
    const pump = new native.Pump(poll.native, readArena, new Uint8Array(64), writes, records, 20, 1 << 16, 8, 16);
    own({ close: () => pump.close() });
    const [a, b] = UnixStream.pair();
    own(a);
    own(b);
    expect(pump.add(1, a.fd, 1, true)).toBe(0);
    const sent = Buffer.from(Array.from({ length: 1000 }, (_, i) => String.fromCharCode(33 + (i % 90))).join(''));
    expect(b.write(sent)).toBe(1000);
    b.close();
    const got: Buffer[] = [];
    let ended = false;
    for (let turn = 0; turn < 500 && !ended; turn++) {
      const end = pump.turn(50, 0);
      for (let i = 0; i < end; i++) {
        const flags = records[i * 5 + 1];
        if ((flags & REC_DATA) !== 0) got.push(Buffer.from(readArena.subarray(records[i * 5 + 2], records[i * 5 + 2] + records[i * 5 + 3])));
        if ((flags & REC_EOF) !== 0) ended = true;
      }
    }
    expect(ended).toBe(true);
    expect(Buffer.concat(got).equals(sent)).toBe(true);
  });

  ringIt('reports which ring set-up mode it runs in', () => {
    const loop = own(new EventLoop({ backend: 'io_uring' }));
    expect(loop.backend).toBe('io_uring');
    const pumpEngine = (loop as unknown as { core: { pump: { engine: string } } }).core.pump.engine;
    expect(pumpEngine).toMatch(/^io_uring \((single-issuer, )?coop-taskrun|plain\)/);
  });
});
