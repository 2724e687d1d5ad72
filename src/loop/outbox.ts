/**
 * A connection's outgoing side: the bytes it corked in this turn, the queue
 * of what the kernel did not take, and a corked write's failure.
 *
 * @packageDocumentation
 */
import type { Connection } from '../connection';
import { SysError, WOULD_BLOCK } from '../errors';
import type { LoopPump } from './pump';
import { WriteQueue } from './write-queue';

/**
 * Made on a connection's first write, so a connection that never writes
 * holds none of this; the queue itself is made on the first short write.
 *
 * Inside the loop's turn (handlers, timers) a write to an empty queue is
 * corked: listed with the pump and sent by its next native call. Anything
 * else goes to the socket at once, and what the kernel does not take is
 * copied into the queue, flushed when the socket turns writable. Bytes go
 * out in the order written either way.
 *
 * @internal
 */
export class Outbox {
  /** Bytes corked in this turn's write list (the pump resets it). */
  corkedBytes = 0;
  /** errno of a corked write that failed, until the pump fails the connection. */
  writeErrno = 0;
  private queue: WriteQueue | null = null;

  constructor(
    /** The connection whose bytes these are. */
    readonly conn: Connection,
    private readonly pump: LoopPump,
  ) {}

  /** Bytes in the queue (not counting corked ones). */
  get queued(): number {
    return this.queue === null ? 0 : this.queue.size;
  }

  /**
   * Writes `data[offset .. offset+length)` (length above 0) as the class
   * comment says.
   *
   * @returns false when more than the connection's highWaterMark bytes are
   *   queued, or when the connection closed because a flush this write
   *   forced failed one of its earlier writes
   */
  write(data: Uint8Array, offset: number, length: number): boolean {
    const conn = this.conn;
    const pump = this.pump;
    if (this.queued === 0 && pump.corking) {
      if (this.corkedBytes + length <= conn.highWaterMark) {
        if (pump.cork(this, data, offset, length)) {
          this.corkedBytes += length;
          return true;
        }
        // The cork forced a flush in which this connection's earlier write
        // failed: onClose ran, and these bytes have nowhere to go.
        if (conn.isClosed) return false;
      } else if (this.corkedBytes > 0) {
        pump.flush(); // what this connection corked goes first
        if (conn.isClosed) return false;
      }
    }
    const wasEmpty = this.queued === 0;
    let written = 0;
    if (wasEmpty) {
      const n = conn.stream.write(data, offset, length);
      written = n === WOULD_BLOCK ? 0 : n;
    }
    if (written < length) {
      this.enqueue(data, offset + written, length - written);
      if (wasEmpty) conn.refreshInterest();
    }
    return this.queued <= conn.highWaterMark;
  }

  /** Sends the turn's corked writes now when this connection has some there. */
  flushCorked(): void {
    if (this.corkedBytes > 0) this.pump.flush();
  }

  /**
   * The socket turned writable: writes queued bytes until the queue empties
   * or the kernel is full. Errors other than would-block throw (SysError).
   *
   * @returns true when a queue that held bytes is now empty
   */
  flushQueue(): boolean {
    return this.queue !== null && this.queue.size > 0 && this.queue.flush(this.conn.stream);
  }

  /** The pump could not send `data[offset .. offset+length)` yet: queued, in order. */
  queueUnsent(data: Uint8Array, offset: number, length: number): void {
    this.enqueue(data, offset, length);
    this.conn.writableArmed(); // the pump armed it with the short write
  }

  /** A corked write failed (`writeErrno`): the connection closes with that error. */
  failWrite(): void {
    const errno = this.writeErrno;
    this.writeErrno = 0;
    this.conn.fail(new SysError(-errno, 'write'));
  }

  /** Drops everything queued (the connection closed). */
  clear(): void {
    this.queue?.clear();
  }

  private enqueue(data: Uint8Array, offset: number, length: number): void {
    if (this.queue === null) this.queue = new WriteQueue();
    this.queue.push(data, offset, length);
  }
}
