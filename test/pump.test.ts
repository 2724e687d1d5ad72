/**
 * The native pump checks everything it is given: the arrays at
 * construction, every corked write's arena, offset and length before
 * anything is sent, tokens, fds and interest, and the poll it waits on.
 */
import * as os from 'node:os';
import { afterEach, describe, expect, it } from 'vitest';
import { Poll, UnixStream } from '../src/index';
import { native, type NativePump } from '../src/native';
import { own, runCleanups } from './cleanup';

afterEach(runCleanups);

const KEY_BITS = 20;

/** A pump over a fresh Poll, with small arrays this file can fill by hand. */
function newPump(): { pump: NativePump; poll: Poll; writes: Uint32Array; readArena: Uint8Array; writeArena: Uint8Array } {
  const poll = own(new Poll());
  const readArena = new Uint8Array(4096);
  const writeArena = new Uint8Array(1024);
  const writes = new Uint32Array(16 * 4);
  const records = new Uint32Array((2 * 16 + 8) * 5);
  const pump = new native.Pump(poll.native, readArena, writeArena, writes, records, KEY_BITS, 1024, 8);
  return { pump, poll, writes, readArena, writeArena };
}

/** Fills write-list entry `i`. */
function setWrite(writes: Uint32Array, i: number, token: number, arena: number, offset: number, length: number): void {
  writes.set([token, arena, offset, length], i * 4);
}

describe('native Pump arguments', () => {
  it('refuses a first argument that is not a native Poll', () => {
    expect(() => new native.Pump({} as never, new Uint8Array(1), new Uint8Array(1), new Uint32Array(4), new Uint32Array(5), 20, 1, 1)).toThrow(TypeError);
  });

  it('refuses a records array too small for one wait', () => {
    const poll = own(new Poll());
    expect(() => new native.Pump(poll.native, new Uint8Array(8), new Uint8Array(8), new Uint32Array(4), new Uint32Array(5), KEY_BITS, 8, 4)).toThrow(RangeError);
  });

  it('refuses a write count past the end of the write list', () => {
    const { pump } = newPump();
    expect(() => pump.turn(0, 17)).toThrow(RangeError);
  });

  it('refuses a corked write that lies outside its arena, and sends nothing of the list', () => {
    const { pump, writes } = newPump();
    const [a, b] = UnixStream.pair();
    own(a);
    own(b);
    expect(pump.add(1, a.fd, 0, false)).toBe(0);
    setWrite(writes, 0, 1, 0, 0, 4); // valid, but the next one is not
    setWrite(writes, 1, 1, 0, 1020, 8);
    expect(() => pump.flush(2, 0)).toThrow(/outside its arena/);
    expect(b.read(new Uint8Array(16))).not.toBeGreaterThan(0);
  });

  it('refuses an arena index other than 0 (write arena) or 1 (read arena)', () => {
    const { pump, writes } = newPump();
    setWrite(writes, 0, 1, 2, 0, 1);
    expect(() => pump.flush(1, 0)).toThrow(RangeError);
  });

  it('refuses a zero-length corked write', () => {
    const { pump, writes } = newPump();
    setWrite(writes, 0, 1, 0, 0, 0);
    expect(() => pump.flush(1, 0)).toThrow(RangeError);
  });

  it('refuses a flush whose records would run past the records array', () => {
    const { pump, writes } = newPump();
    setWrite(writes, 0, 1, 0, 0, 1);
    expect(() => pump.flush(1, 40)).toThrow(RangeError);
  });

  it('refuses a negative fd and interest bits it does not know', () => {
    const { pump } = newPump();
    expect(() => pump.add(1, -1, 1, false)).toThrow(RangeError);
    const [a] = UnixStream.pair();
    own(a);
    expect(() => pump.add(1, a.fd, 0x40, false)).toThrow(RangeError);
  });

  it('refuses the token whose key is the reserved waker key', () => {
    const { pump } = newPump();
    const [a] = UnixStream.pair();
    own(a);
    expect(() => pump.add(0xfffff, a.fd, 1, false)).toThrow(RangeError);
  });

  it('answers -ENOENT for a token it does not hold, and -EEXIST for a key in use', () => {
    const { pump } = newPump();
    const [a, b] = UnixStream.pair();
    own(a);
    own(b);
    expect(pump.modify(7, 1, false)).toBe(-os.constants.errno.ENOENT);
    expect(pump.remove(7)).toBe(-os.constants.errno.ENOENT);
    expect(pump.add(7, a.fd, 1, false)).toBe(0);
    expect(pump.add(7 | (1 << KEY_BITS), b.fd, 1, false)).toBe(-os.constants.errno.EEXIST);
  });

  it('skips a corked write whose token was removed since: its bytes go nowhere', () => {
    const { pump, writes, writeArena } = newPump();
    const [a, b] = UnixStream.pair();
    own(a);
    own(b);
    expect(pump.add(3, a.fd, 0, false)).toBe(0);
    writeArena.set([1, 2, 3]);
    setWrite(writes, 0, 3, 0, 0, 3);
    expect(pump.remove(3)).toBe(0);
    expect(pump.flush(1, 0)).toBe(0);
    expect(b.read(new Uint8Array(16))).not.toBeGreaterThan(0);
  });

  it('refuses the token the ring\'s eventfd uses while attached', () => {
    const { pump } = newPump();
    const [a] = UnixStream.pair();
    own(a);
    expect(() => pump.add(0xfffffffd, a.fd, 1, false)).toThrow(RangeError);
  });

  it('refuses a write list or records over a SharedArrayBuffer, which another thread could rewrite after the checks', () => {
    const poll = own(new Poll());
    const shared = (words: number): Uint32Array => new Uint32Array(new SharedArrayBuffer(words * 4));
    const plain = (words: number): Uint32Array => new Uint32Array(words);
    const make = (writes: Uint32Array, records: Uint32Array) => () =>
      new native.Pump(poll.native, new Uint8Array(64), new Uint8Array(64), writes, records, KEY_BITS, 64, 8);
    expect(make(shared(64), plain(200))).toThrow(/SharedArrayBuffer/);
    expect(make(plain(64), shared(200))).toThrow(/SharedArrayBuffer/);
  });

  it('a closed poll raises the same TypeError ERR_POLL_CLOSED that Poll raises', () => {
    const { pump, poll } = newPump();
    poll.close();
    let caught: unknown;
    try {
      pump.turn(0, 0);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(TypeError);
    expect(caught).toMatchObject({ code: 'ERR_POLL_CLOSED' });
  });
});

describe('native Pump on io_uring', () => {
  const ringIt = native.probeIoUring() === '' ? it : it.skip;

  // Checked before the ring opens, so this runs where io_uring cannot.
  it('refuses a read arena over an ArrayBuffer, which could be detached and freed while the kernel writes into it', () => {
    const poll = own(new Poll());
    expect(
      () => new native.Pump(poll.native, new Uint8Array(64), new Uint8Array(64), new Uint32Array(64), new Uint32Array(200), KEY_BITS, 64, 8, 16),
    ).toThrow(/SharedArrayBuffer/);
  });

  ringIt('refuses a write count past the write list it was made with, when a resizable buffer has grown it since', () => {
    const poll = own(new Poll());
    const resizable = new (ArrayBuffer as unknown as new (n: number, o: { maxByteLength: number }) => ArrayBuffer & { resize(n: number): void })(
      16,
      { maxByteLength: 4096 },
    );
    const writes = new Uint32Array(resizable); // length-tracking: one write now
    const readArena = new Uint8Array(new SharedArrayBuffer(64));
    const pump = own(new native.Pump(poll.native, readArena, new Uint8Array(64), writes, new Uint32Array(2000), KEY_BITS, 64, 8, 16));
    const [a] = UnixStream.pair();
    own(a);
    expect(pump.add(1, a.fd, 0, false)).toBe(0);
    resizable.resize(4096);
    for (let i = 0; i < 200; i++) setWrite(writes, i, 1, 0, 0, 1);
    expect(() => pump.turn(0, 200)).toThrow(/write list the pump was made with/);
  });

  ringIt('add() and modify() after close() throw ERR_POLL_CLOSED and change nothing', () => {
    const poll = own(new Poll());
    const readArena = new Uint8Array(new SharedArrayBuffer(64));
    const pump = new native.Pump(poll.native, readArena, new Uint8Array(64), new Uint32Array(64), new Uint32Array(200), KEY_BITS, 64, 8, 16);
    const [a] = UnixStream.pair();
    own(a);
    expect(pump.add(4, a.fd, 2, false)).toBe(0);
    pump.close();
    expect(() => pump.add(5, a.fd, 2, false)).toThrow(expect.objectContaining({ code: 'ERR_POLL_CLOSED' }));
    expect(() => pump.modify(4, 3, true)).toThrow(expect.objectContaining({ code: 'ERR_POLL_CLOSED' }));
  });

  ringIt('sends a corked write from the read arena\'s tail past its last whole buffer (regression: the buffer marking ran past its table)', () => {
    const poll = own(new Poll());
    // 4 buffers of 16 bytes, and 8 bytes of tail that belong to no buffer.
    const readArena = new Uint8Array(new SharedArrayBuffer(4 * 16 + 8));
    const writes = new Uint32Array(16 * 4);
    const records = new Uint32Array((2 * 16 + 8) * 5);
    const pump = own(new native.Pump(poll.native, readArena, new Uint8Array(1024), writes, records, KEY_BITS, 1024, 8, 16));
    const [a, b] = UnixStream.pair();
    own(a);
    own(b);
    expect(pump.add(1, a.fd, 0, false)).toBe(0);
    readArena.set(Buffer.from('tailbyte'), 64);
    setWrite(writes, 0, 1, 1, 64, 8);
    expect(pump.turn(0, 1)).toBe(0); // all sent: no short-write record
    const got = Buffer.alloc(16);
    expect(b.read(got)).toBe(8);
    expect(got.toString('latin1', 0, 8)).toBe('tailbyte');
  });
});
