/**
 * Codecs: bytes to frames and frames to bytes.
 *
 * @packageDocumentation
 */

/** Where {@link Codec.decode} puts a frame (reused: no allocation per frame). */
export interface Decoded<F> {
  /** The frame just decoded. */
  frame: F;
  /** Bytes of input it used, at least 1. */
  consumed: number;
}

/** Where {@link Codec.encode} writes bytes (a connection's outgoing queue). */
export interface ByteSink {
  /** Takes `bytes[offset .. offset+length)`; the caller may reuse the buffer afterwards. */
  write(bytes: Uint8Array, offset?: number, length?: number): unknown;
}

/**
 * Turns a byte stream into request frames and response frames into bytes.
 *
 * `decode` looks at `buf[start .. end)`: when it holds a whole frame it
 * fills `out` and returns true; when it holds only part of one it returns
 * false and is called again with more bytes (the same unconsumed bytes
 * first). When the input can never become a valid frame it throws a
 * {@link FrameError}.
 */
export interface Codec<Req, Res> {
  /** Decodes one frame from `buf[start .. end)` into `out`; false when more bytes are needed. */
  decode(buf: Uint8Array, start: number, end: number, out: Decoded<Req>): boolean;
  /** Writes `frame`'s bytes to `sink`. */
  encode(frame: Res, sink: ByteSink): void;
}

/** Input that can never decode (too long, malformed framing). */
export class FrameError extends Error {
  /** e.g. `'ERR_FRAME_TOO_LONG'`. */
  readonly code: string;

  /**
   * @param message - what was wrong
   * @param code - a stable code for programs
   */
  constructor(message: string, code: string) {
    super(message);
    this.name = 'FrameError';
    this.code = code;
  }
}

/** Options for {@link LineCodec}. */
export interface LineCodecOptions {
  /** Longest line in bytes, without its CR LF. Default 1000. */
  maxLength?: number;
  /** How line bytes become a string. Default 'latin1' (one char per byte). */
  encoding?: 'latin1' | 'utf8' | 'ascii';
}

const LF = 0x0a;
const CR = 0x0d;

/**
 * Lines ending in CR LF or a bare LF, as strings without the terminator.
 * A line longer than `maxLength` is reported with a FrameError
 * (`ERR_FRAME_TOO_LONG`) as soon as that is certain, never truncated.
 * Encoding appends CR LF.
 */
export class LineCodec implements Codec<string, string> {
  /** Longest line accepted. */
  readonly maxLength: number;
  private readonly encoding: BufferEncoding;

  /** @param options - see {@link LineCodecOptions} */
  constructor(options: LineCodecOptions = {}) {
    const max = options.maxLength ?? 1000;
    if (!Number.isInteger(max) || max < 1) throw new RangeError('maxLength must be a positive integer');
    this.maxLength = max;
    this.encoding = options.encoding ?? 'latin1';
  }

  /** Decodes one line (without its terminator); throws FrameError past maxLength. */
  decode(buf: Uint8Array, start: number, end: number, out: Decoded<string>): boolean {
    // The terminator may sit one byte past maxLength + CR.
    const limit = Math.min(end, start + this.maxLength + 2);
    const lf = buf.indexOf(LF, start);
    if (lf < 0 || lf >= limit) {
      // Too long for certain: more than maxLength + CR, or maxLength bytes
      // followed by something other than the CR of a CR LF.
      const len = end - start;
      if (len > this.maxLength + 1 || (len === this.maxLength + 1 && buf[start + this.maxLength] !== CR)) {
        throw new FrameError(`line longer than ${this.maxLength} bytes`, 'ERR_FRAME_TOO_LONG');
      }
      return false;
    }
    let stop = lf;
    if (stop > start && buf[stop - 1] === CR) stop--;
    if (stop - start > this.maxLength) {
      throw new FrameError(`line longer than ${this.maxLength} bytes`, 'ERR_FRAME_TOO_LONG');
    }
    const bytes = Buffer.isBuffer(buf) ? buf : Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
    out.frame = bytes.toString(this.encoding, start, stop);
    out.consumed = lf - start + 1;
    return true;
  }

  /** Writes `line` and CR LF. */
  encode(line: string, sink: ByteSink): void {
    sink.write(Buffer.from(`${line}\r\n`, this.encoding));
  }
}

/**
 * Passes bytes through unchanged: each read's bytes are one frame (a view
 * that is valid only during the service call). The echo server's codec.
 */
export class RawCodec implements Codec<Uint8Array, Uint8Array> {
  /** Everything available is one frame. */
  decode(buf: Uint8Array, start: number, end: number, out: Decoded<Uint8Array>): boolean {
    if (end <= start) return false;
    out.frame = buf.subarray(start, end);
    out.consumed = end - start;
    return true;
  }

  /** Writes the bytes as they are. */
  encode(frame: Uint8Array, sink: ByteSink): void {
    sink.write(frame);
  }
}
