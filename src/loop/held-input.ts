/**
 * HeldInput: bytes the pump read for a connection that could not take them
 * when they arrived, kept in order until it can.
 *
 * @packageDocumentation
 */

/**
 * The io_uring backend reads a connection before its handlers run, and one
 * turn may hand over several of its buffers. When a handler pauses reading,
 * or swaps `onData` for `onReadable`, part-way through those, the rest has
 * already left the socket: it waits here (copied out of the read arena,
 * whose buffers go back to the kernel) and is handed over when reading
 * resumes, through `onData` or through `read()`, before anything newer. An
 * end or error that came behind the bytes waits behind them too.
 *
 * Only that case allocates: a connection whose handler takes every record
 * as it comes never makes one.
 *
 * @internal
 */
export class HeldInput {
  /** Bytes not yet handed over. */
  bytes = 0;
  /** What followed the bytes: -1 nothing yet, 0 the peer's EOF, else a read's errno. */
  end = -1;
  private readonly chunks: Buffer[] = [];
  private head = 0;
  /** Offset already read out of `chunks[head]` (by read()). */
  private taken = 0;

  /** Keeps a copy of `data[offset .. offset+length)` behind what is held. */
  push(data: Uint8Array, offset: number, length: number): void {
    this.chunks.push(Buffer.from(data.subarray(offset, offset + length)));
    this.bytes += length;
  }

  /** The oldest unread bytes as one chunk (null when none), no longer held. */
  shift(): Buffer | null {
    if (this.head === this.chunks.length) return null;
    const chunk = this.chunks[this.head];
    const rest = this.taken === 0 ? chunk : chunk.subarray(this.taken);
    this.drop();
    this.bytes -= rest.length;
    return rest;
  }

  /** Copies up to `length` bytes into `buf` at `offset`; the count copied. */
  read(buf: Uint8Array, offset: number, length: number): number {
    if (!Number.isInteger(offset) || !Number.isInteger(length) || offset < 0 || length < 0 || offset + length > buf.length) {
      throw new RangeError('offset and length must lie within the buffer');
    }
    let copied = 0;
    while (copied < length && this.head < this.chunks.length) {
      const chunk = this.chunks[this.head];
      const n = Math.min(length - copied, chunk.length - this.taken);
      buf.set(chunk.subarray(this.taken, this.taken + n), offset + copied);
      copied += n;
      this.taken += n;
      if (this.taken === chunk.length) this.drop();
    }
    this.bytes -= copied;
    return copied;
  }

  private drop(): void {
    this.chunks[this.head++] = undefined as unknown as Buffer;
    this.taken = 0;
    if (this.head === this.chunks.length) {
      this.chunks.length = 0;
      this.head = 0;
    }
  }
}
