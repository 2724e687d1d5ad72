/**
 * LineCodec and RawCodec: pure decode/encode behaviour, no sockets.
 *
 * decode(buf, start, end, out) looks only at buf[start .. end): it returns
 * true and fills `out` for a whole frame, false for a partial one, and
 * throws a FrameError when the input can never become a valid frame. A line
 * longer than maxLength must be reported as soon as that is certain, and
 * never be truncated into a shorter line.
 */
import { describe, expect, it } from 'vitest';
import { FrameError, LineCodec, RawCodec, type ByteSink, type Decoded } from '../src/index';

// ---------------------------------------------------------------------------
// Helpers local to this file
// ---------------------------------------------------------------------------

function out<T>(): Decoded<T> {
  return { frame: undefined as unknown as T, consumed: 0 };
}

/** Decodes every whole line in `bytes`; returns the lines and bytes left over. */
function decodeAll(codec: LineCodec, bytes: Buffer): { lines: string[]; rest: number } {
  const o = out<string>();
  const lines: string[] = [];
  let pos = 0;
  // Bounded: each successful decode consumes at least one byte.
  for (let i = 0; i <= bytes.length && pos < bytes.length; i++) {
    if (!codec.decode(bytes, pos, bytes.length, o)) break;
    expect(o.consumed).toBeGreaterThanOrEqual(1);
    lines.push(o.frame);
    pos += o.consumed;
  }
  return { lines, rest: bytes.length - pos };
}

/** Runs `fn` and returns what it threw (fails the test if nothing was thrown). */
function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected the call to throw, but it returned normally');
}

function expectTooLong(err: unknown): void {
  expect(err).toBeInstanceOf(FrameError);
  expect((err as FrameError).code).toBe('ERR_FRAME_TOO_LONG');
  expect((err as FrameError).name).toBe('FrameError');
}

/** A sink that records what was written. */
function recordingSink(): ByteSink & { bytes(): Buffer } {
  const chunks: Buffer[] = [];
  return {
    write(bytes: Uint8Array, offset = 0, length = bytes.length - offset): boolean {
      chunks.push(Buffer.from(bytes.subarray(offset, offset + length)));
      return true;
    },
    bytes: () => Buffer.concat(chunks),
  };
}

// ---------------------------------------------------------------------------
// LineCodec.decode
// ---------------------------------------------------------------------------

describe('LineCodec.decode', () => {
  it('decodes a CR LF terminated line without its terminator and consumes the CR LF', () => {
    const codec = new LineCodec();
    const o = out<string>();
    expect(codec.decode(Buffer.from('hello\r\n'), 0, 7, o)).toBe(true);
    expect(o.frame).toBe('hello');
    expect(o.consumed).toBe(7);
  });

  it('decodes a bare LF terminated line and consumes the LF', () => {
    const codec = new LineCodec();
    const o = out<string>();
    expect(codec.decode(Buffer.from('hello\n'), 0, 6, o)).toBe(true);
    expect(o.frame).toBe('hello');
    expect(o.consumed).toBe(6);
  });

  it('decodes an empty line (CR LF alone and LF alone)', () => {
    const codec = new LineCodec();
    expect(decodeAll(codec, Buffer.from('\r\n\n'))).toEqual({ lines: ['', ''], rest: 0 });
  });

  it('keeps a CR that is not directly before the LF as part of the line', () => {
    const codec = new LineCodec();
    expect(decodeAll(codec, Buffer.from('a\rb\r\n'))).toEqual({ lines: ['a\rb'], rest: 0 });
  });

  it('decodes several lines of mixed terminators from one buffer, in order', () => {
    const codec = new LineCodec();
    const r = decodeAll(codec, Buffer.from('one\r\ntwo\nthree\r\nfour\n'));
    expect(r).toEqual({ lines: ['one', 'two', 'three', 'four'], rest: 0 });
  });

  it('decodes whole lines and leaves a trailing partial line undecoded', () => {
    const codec = new LineCodec();
    const r = decodeAll(codec, Buffer.from('one\ntwo\r\nthr'));
    expect(r).toEqual({ lines: ['one', 'two'], rest: 3 });
  });

  it('returns false for a partial line (no LF yet), including one ending in CR', () => {
    const codec = new LineCodec();
    const o = out<string>();
    expect(codec.decode(Buffer.from('partial'), 0, 7, o)).toBe(false);
    expect(codec.decode(Buffer.from('partial\r'), 0, 8, o)).toBe(false);
  });

  it('returns false for an empty range', () => {
    const codec = new LineCodec();
    expect(codec.decode(Buffer.from('abc\n'), 2, 2, out<string>())).toBe(false);
  });

  it('decodes from a non-zero start offset', () => {
    const codec = new LineCodec();
    const o = out<string>();
    const buf = Buffer.from('xxxxabc\r\nzz');
    expect(codec.decode(buf, 4, buf.length, o)).toBe(true);
    expect(o.frame).toBe('abc');
    expect(o.consumed).toBe(5);
  });

  it('ignores bytes after `end` even when they contain an LF', () => {
    const codec = new LineCodec();
    const buf = Buffer.from('abc\ndef\n');
    // Only "ab" is in range: the LF at index 3 is past end.
    expect(codec.decode(buf, 0, 2, out<string>())).toBe(false);
    // From "def": range is "de", the LF at index 7 is past end.
    expect(codec.decode(buf, 4, 6, out<string>())).toBe(false);
  });

  it('ignores bytes after `end` when looking for a too-long line (no error from out-of-range bytes)', () => {
    const codec = new LineCodec({ maxLength: 3 });
    // In range: "ab" (fine, partial). Past end: a long run and an LF.
    const buf = Buffer.from('abcdefghij\n');
    expect(codec.decode(buf, 0, 2, out<string>())).toBe(false);
  });

  it('accepts a line exactly maxLength bytes long, with CR LF and with bare LF', () => {
    const codec = new LineCodec({ maxLength: 5 });
    expect(decodeAll(codec, Buffer.from('abcde\r\n'))).toEqual({ lines: ['abcde'], rest: 0 });
    expect(decodeAll(codec, Buffer.from('abcde\n'))).toEqual({ lines: ['abcde'], rest: 0 });
  });

  it('waits for more input when exactly maxLength bytes and a CR have arrived', () => {
    // "abcde\r" may still become the valid line "abcde" when the LF comes.
    const codec = new LineCodec({ maxLength: 5 });
    expect(codec.decode(Buffer.from('abcde\r'), 0, 6, out<string>())).toBe(false);
  });

  it('throws ERR_FRAME_TOO_LONG for a maxLength+1 line terminated by CR LF', () => {
    const codec = new LineCodec({ maxLength: 5 });
    expectTooLong(thrown(() => codec.decode(Buffer.from('abcdef\r\n'), 0, 8, out<string>())));
  });

  it('throws ERR_FRAME_TOO_LONG for a maxLength+1 line terminated by a bare LF', () => {
    const codec = new LineCodec({ maxLength: 5 });
    expectTooLong(thrown(() => codec.decode(Buffer.from('abcdef\n'), 0, 7, out<string>())));
  });

  it('throws ERR_FRAME_TOO_LONG as soon as maxLength+1 line bytes (not CR) have arrived without a terminator', () => {
    // "abcdef" with maxLength 5: the sixth byte is not a CR, so no terminator
    // can make this a valid line any more. The breach is certain now.
    const codec = new LineCodec({ maxLength: 5 });
    expectTooLong(thrown(() => codec.decode(Buffer.from('abcdef'), 0, 6, out<string>())));
  });

  it('throws ERR_FRAME_TOO_LONG for maxLength+2 bytes without a terminator', () => {
    const codec = new LineCodec({ maxLength: 5 });
    expectTooLong(thrown(() => codec.decode(Buffer.from('abcde\rx'), 0, 7, out<string>())));
    expectTooLong(thrown(() => codec.decode(Buffer.from('abcdefg'), 0, 7, out<string>())));
  });

  it('throws ERR_FRAME_TOO_LONG for a long line whose LF lies far beyond the limit', () => {
    const codec = new LineCodec({ maxLength: 5 });
    const buf = Buffer.from(`${'x'.repeat(100)}\n`);
    expectTooLong(thrown(() => codec.decode(buf, 0, buf.length, out<string>())));
  });

  it('never returns a truncated line for an over-long one fed a byte at a time', () => {
    // Feed "abcdefgh\n" growing by one byte; every call must either wait
    // (false) or throw; none may return a frame.
    const codec = new LineCodec({ maxLength: 5 });
    const full = Buffer.from('abcdefgh\n');
    let threwAt = -1;
    for (let end = 1; end <= full.length; end++) {
      const o = out<string>();
      try {
        expect(codec.decode(full, 0, end, o), `decode returned a frame at end=${end}: ${JSON.stringify(o.frame)}`).toBe(false);
      } catch (err) {
        expectTooLong(err);
        threwAt = end;
        break;
      }
    }
    expect(threwAt).toBeGreaterThan(0);
  });

  it('reports a too-long line after valid ones only when decoding reaches it', () => {
    const codec = new LineCodec({ maxLength: 3 });
    const buf = Buffer.from('ab\nabcd\n');
    const o = out<string>();
    expect(codec.decode(buf, 0, buf.length, o)).toBe(true);
    expect(o.frame).toBe('ab');
    expectTooLong(thrown(() => codec.decode(buf, o.consumed, buf.length, out<string>())));
  });

  it('decodes latin1 by default: one character per byte', () => {
    const codec = new LineCodec();
    const o = out<string>();
    const buf = Buffer.from([0xe9, 0xff, 0x0a]);
    expect(codec.decode(buf, 0, 3, o)).toBe(true);
    expect(o.frame).toBe('\u00e9\u00ff');
  });

  it('decodes utf8 when asked', () => {
    const codec = new LineCodec({ encoding: 'utf8' });
    const o = out<string>();
    const buf = Buffer.from('h\u00e9\u20ac\n', 'utf8');
    expect(codec.decode(buf, 0, buf.length, o)).toBe(true);
    expect(o.frame).toBe('h\u00e9\u20ac');
  });

  it('decodes from a plain Uint8Array as well as a Buffer', () => {
    const codec = new LineCodec();
    const o = out<string>();
    const bytes = new Uint8Array([0x68, 0x69, 0x0d, 0x0a]);
    expect(codec.decode(bytes, 0, 4, o)).toBe(true);
    expect(o.frame).toBe('hi');
    expect(o.consumed).toBe(4);
  });

  it('rejects a maxLength that is not a positive integer', () => {
    expect(() => new LineCodec({ maxLength: 0 })).toThrow(RangeError);
    expect(() => new LineCodec({ maxLength: 1.5 })).toThrow(RangeError);
    expect(() => new LineCodec({ maxLength: -1 })).toThrow(RangeError);
  });

  it('defaults maxLength to 1000', () => {
    const codec = new LineCodec();
    expect(codec.maxLength).toBe(1000);
    expect(decodeAll(codec, Buffer.from(`${'a'.repeat(1000)}\n`)).lines[0]).toHaveLength(1000);
    expectTooLong(thrown(() => decodeAll(codec, Buffer.from(`${'a'.repeat(1001)}\n`))));
  });
});

// ---------------------------------------------------------------------------
// LineCodec.encode
// ---------------------------------------------------------------------------

describe('LineCodec.encode', () => {
  it('writes the line followed by CR LF', () => {
    const codec = new LineCodec();
    const sink = recordingSink();
    codec.encode('hello', sink);
    expect(sink.bytes().toString('latin1')).toBe('hello\r\n');
  });

  it('writes CR LF alone for an empty line', () => {
    const codec = new LineCodec();
    const sink = recordingSink();
    codec.encode('', sink);
    expect([...sink.bytes()]).toEqual([0x0d, 0x0a]);
  });

  it('round-trips through decode', () => {
    const codec = new LineCodec();
    const sink = recordingSink();
    for (const line of ['a', '', 'b c', '\u00e9']) codec.encode(line, sink);
    expect(decodeAll(codec, sink.bytes())).toEqual({ lines: ['a', '', 'b c', '\u00e9'], rest: 0 });
  });

  it('encodes with the configured encoding', () => {
    const codec = new LineCodec({ encoding: 'utf8' });
    const sink = recordingSink();
    codec.encode('\u20ac', sink);
    expect([...sink.bytes()]).toEqual([0xe2, 0x82, 0xac, 0x0d, 0x0a]);
  });
});

// ---------------------------------------------------------------------------
// RawCodec
// ---------------------------------------------------------------------------

describe('RawCodec', () => {
  it('decodes everything in range as one frame that is a view of the input', () => {
    const codec = new RawCodec();
    const o = out<Uint8Array>();
    const buf = Buffer.from('0123456789');
    expect(codec.decode(buf, 2, 7, o)).toBe(true);
    expect(Buffer.from(o.frame).toString()).toBe('23456');
    expect(o.consumed).toBe(5);
    // A view, not a copy.
    expect(o.frame.buffer).toBe(buf.buffer);
    buf[2] = 0x41;
    expect(o.frame[0]).toBe(0x41);
  });

  it('does not treat LF or any other byte specially', () => {
    const codec = new RawCodec();
    const o = out<Uint8Array>();
    const buf = Buffer.from([0x0a, 0x00, 0x0d, 0xff]);
    expect(codec.decode(buf, 0, 4, o)).toBe(true);
    expect([...o.frame]).toEqual([0x0a, 0x00, 0x0d, 0xff]);
  });

  it('returns false for an empty range', () => {
    const codec = new RawCodec();
    expect(codec.decode(Buffer.from('abc'), 1, 1, out<Uint8Array>())).toBe(false);
  });

  it('encodes by writing the frame bytes unchanged', () => {
    const codec = new RawCodec();
    const sink = recordingSink();
    codec.encode(new Uint8Array([1, 2, 3, 0x0a]), sink);
    expect([...sink.bytes()]).toEqual([1, 2, 3, 0x0a]);
  });
});
