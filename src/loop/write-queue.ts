/**
 * A connection's outgoing queue: what the kernel did not take at once, in
 * order, flushed with one gather write per flush.
 *
 * @packageDocumentation
 */
import { WOULD_BLOCK } from '../errors';
import type { StreamSocket } from '../net/stream';

/**
 * Most chunks handed to one writev. A flush with more queued chunks sends
 * the first batch and, only when the kernel took all of it, the next; so a
 * flush costs one syscall in the common case and its iovec array (built in
 * C++ on the stack) stays small. Far below the native limit of 1024.
 */
export const WRITEV_BATCH = 64;

/**
 * The argument array of every queue's writev, reused: no array per flush,
 * and none per queue. Filled and emptied around one synchronous call.
 */
const writevBatch: Uint8Array[] = [];

/**
 * Queued bytes as a list of owned chunks. The head chunk is replaced by a
 * view of its unsent tail after a partial write, so every chunk in the list
 * is sent whole and a flush can pass the list to writev as it is.
 *
 * @internal
 */
export class WriteQueue {
  private chunks: Uint8Array[] = [];
  private head = 0;
  private bytes = 0;

  /** Bytes waiting. */
  get size(): number {
    return this.bytes;
  }

  /** Copies `data[offset .. offset+length)` to the end of the queue. */
  push(data: Uint8Array, offset: number, length: number): void {
    this.chunks.push(Uint8Array.prototype.slice.call(data, offset, offset + length));
    this.bytes += length;
  }

  /**
   * Writes queued bytes until the queue is empty or the socket is full.
   * Errors other than would-block (EPIPE, ECONNRESET) propagate as SysError.
   *
   * @returns true when the queue is now empty
   */
  flush(stream: StreamSocket): boolean {
    while (this.head < this.chunks.length) {
      const pending = this.chunks.length - this.head;
      let n: number;
      let offered: number;
      if (pending === 1) {
        const only = this.chunks[this.head];
        offered = only.length;
        n = stream.write(only);
      } else {
        const batch = writevBatch;
        const count = Math.min(pending, WRITEV_BATCH);
        offered = 0;
        for (let i = 0; i < count; i++) {
          const chunk = this.chunks[this.head + i];
          batch.push(chunk);
          offered += chunk.length;
        }
        try {
          n = stream.writev(batch);
        } finally {
          batch.length = 0;
        }
      }
      if (n === WOULD_BLOCK) return false;
      this.consume(n);
      if (n < offered) return false;
    }
    this.clear();
    return true;
  }

  /** Drops everything (on close). */
  clear(): void {
    this.chunks.length = 0;
    this.head = 0;
    this.bytes = 0;
  }

  /** Advances past `n` sent bytes; a partly sent chunk keeps its tail. */
  private consume(n: number): void {
    this.bytes -= n;
    let left = n;
    while (left > 0) {
      const chunk = this.chunks[this.head];
      if (left < chunk.length) {
        this.chunks[this.head] = chunk.subarray(left);
        return;
      }
      left -= chunk.length;
      this.head++;
    }
    // A queue that never fully drains would keep its sent chunks' slots.
    if (this.head >= 1024 && this.head * 2 >= this.chunks.length) {
      this.chunks = this.chunks.slice(this.head);
      this.head = 0;
    }
  }
}
