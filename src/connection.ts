/**
 * A connection owned by the EventLoop: a stream, its handler, and the
 * outgoing queue that absorbs partial writes.
 *
 * @packageDocumentation
 */
import { WOULD_BLOCK, type WouldBlock } from './errors';
import type { InetAddress, UnixAddress } from './net/address';
import type { StreamSocket } from './net/stream';

/**
 * What the loop calls for a connection. Every method is optional.
 *
 * Exceptions: a SysError thrown from a handler (ECONNRESET from a read, say)
 * closes the connection with that error, as a normal event. Any other
 * exception is a bug in the handler: the loop closes that one connection and
 * reports the error (see `EventLoopOptions.onHandlerError`).
 */
export interface ConnectionHandler {
  /** Data (or EOF: `read` returns 0) can be read. */
  onReadable?(conn: Connection): void;
  /** The socket can take bytes, and the handler asked with `wantWritable`. */
  onWritable?(conn: Connection): void;
  /** The outgoing queue just became empty after having data. */
  onDrain?(conn: Connection): void;
  /**
   * The connection closed: by `close()`, by the loop shutting down, or by an
   * error (then `error` says which). Called exactly once.
   */
  onClose?(conn: Connection, error?: Error): void;
  /** A socket error arrived (before the close it causes). */
  onError?(conn: Connection, error: Error): void;
}

/** What a connection needs from its loop. @internal */
export interface ConnectionOwner {
  updateInterest(conn: Connection): void;
  closeConnection(conn: Connection, error?: Error): void;
  /** Shuts the write side down and closes once the peer is done. */
  finishConnection(conn: Connection): void;
}

/** Slab entry kind of a connection in the EventLoop. @internal */
export const KIND_CONNECTION = 0;

/** Default queued bytes above which `write` returns false. */
export const DEFAULT_HIGH_WATER_MARK = 64 * 1024;

/**
 * One connection on an {@link EventLoop}.
 *
 * Writes go straight to the socket when nothing is queued; what the kernel
 * does not take is copied into the connection's queue and written when the
 * socket turns writable (writable interest is armed only while something is
 * queued). `write` returns false once more than `highWaterMark` bytes are
 * queued: the handler should stop producing until `onDrain`.
 */
export class Connection {
  /** The token under which the loop registered this connection. */
  readonly id: number;
  /** @internal Same as id: the loop's entries share the `token` field. */
  readonly token: number;
  /** @internal */ readonly kind = KIND_CONNECTION;
  /** @internal The listener that accepted it, for per-listener counts. */
  readonly origin: { open: number } | null;
  /** The socket. Prefer the connection's methods; they keep the loop informed. */
  readonly stream: StreamSocket;
  /** The handler the loop calls. */
  handler: ConnectionHandler;
  /** Queued bytes above which `write` reports backpressure. */
  highWaterMark = DEFAULT_HIGH_WATER_MARK;
  /** Free for the application (the servers keep per-connection state here). */
  data: unknown = undefined;
  /**
   * Requests being worked on (serve() counts them). The idle timeout never
   * closes a connection while this is above 0.
   */
  busy = 0;

  /** @internal */ readonly owner: ConnectionOwner;
  /** @internal Interest currently registered. */ registeredInterest = 0;
  /** @internal */ reading = true;
  /** @internal */ writableWanted = false;
  /** @internal */ closed = false;
  /** @internal Write side shut down after end(); draining until the peer's EOF. */ lingering = false;
  /** @internal Loop time of the last readiness event (idle timeouts). */ lastActive = 0;
  /** @internal The idle timer's id, 0 when none. */ idleTimer = 0;
  private queue: Uint8Array[] = [];
  private queueHead = 0;
  private headOffset = 0;
  private queued = 0;
  private endAfterFlush = false;

  /** @internal */
  constructor(
    id: number,
    stream: StreamSocket,
    handler: ConnectionHandler,
    owner: ConnectionOwner,
    origin: { open: number } | null,
  ) {
    this.id = id;
    this.token = id;
    this.origin = origin;
    this.stream = stream;
    this.handler = handler;
    this.owner = owner;
  }

  /** Bytes waiting in the outgoing queue. */
  get queuedBytes(): number {
    return this.queued;
  }

  /** True once closed. */
  get isClosed(): boolean {
    return this.closed;
  }

  /** Reads from the socket: bytes, 0 at EOF, or WOULD_BLOCK. */
  read(buf: Uint8Array, offset = 0, length = buf.length - offset): number | WouldBlock {
    return this.stream.read(buf, offset, length);
  }

  /**
   * Writes `data[offset .. offset+length)`, queueing (by copy) what the socket
   * does not take now. The caller may reuse `data` as soon as this returns.
   *
   * @returns false when the queue is above the high-water mark
   */
  write(data: Uint8Array, offset = 0, length = data.length - offset): boolean {
    if (this.closed) throw new TypeError('connection is closed');
    if (this.endAfterFlush) throw new TypeError('connection is ending: write after end()');
    let written = 0;
    if (this.queued === 0 && length > 0) {
      const n = this.stream.write(data, offset, length);
      written = n === WOULD_BLOCK ? 0 : n;
    }
    if (written < length) {
      this.queue.push(Uint8Array.prototype.slice.call(data, offset + written, offset + length));
      const wasEmpty = this.queued === 0;
      this.queued += length - written;
      if (wasEmpty) this.owner.updateInterest(this);
    }
    return this.queued <= this.highWaterMark;
  }

  /** Stops reading (readable interest off) until {@link resumeReading}. */
  pauseReading(): void {
    if (!this.reading) return;
    this.reading = false;
    this.owner.updateInterest(this);
  }

  /** Resumes reading after {@link pauseReading}. */
  resumeReading(): void {
    if (this.reading || this.closed) return;
    this.reading = true;
    this.owner.updateInterest(this);
  }

  /** True unless reading is paused. */
  get isReading(): boolean {
    return this.reading;
  }

  /** Asks for `onWritable` calls (or stops them) independent of the queue. */
  wantWritable(on: boolean): void {
    if (this.writableWanted === on) return;
    this.writableWanted = on;
    this.owner.updateInterest(this);
  }

  /**
   * Ends the connection gracefully: once the queue is flushed, shuts down
   * the write side (the peer reads EOF after every byte), discards whatever
   * the peer still sends until its own EOF (at most 2 s), then closes. The
   * handler sees no more reads. Closing with unread input at once would make
   * the kernel reset the connection and drop bytes still queued for the peer.
   */
  end(): void {
    if (this.closed || this.endAfterFlush) return;
    this.endAfterFlush = true;
    this.reading = false;
    if (this.queued === 0) this.owner.finishConnection(this);
    else this.owner.updateInterest(this);
  }

  /** Closes now, dropping anything queued. `onClose` runs once. */
  close(): void {
    if (!this.closed) this.owner.closeConnection(this);
  }

  /** The local address. */
  localAddress(): InetAddress | UnixAddress {
    return this.stream.localAddress();
  }

  /** The peer's address. */
  peerAddress(): InetAddress | UnixAddress {
    return this.stream.peerAddress();
  }

  /**
   * Writes queued bytes until the queue is empty or the socket is full.
   *
   * @internal
   * @returns true when the queue became empty by this call
   */
  flush(): boolean {
    if (this.queued === 0) return false;
    while (this.queueHead < this.queue.length) {
      const chunk = this.queue[this.queueHead];
      const n = this.stream.write(chunk, this.headOffset, chunk.length - this.headOffset);
      if (n === WOULD_BLOCK) return false;
      this.queued -= n;
      this.headOffset += n;
      if (this.headOffset < chunk.length) return false;
      this.queueHead++;
      this.headOffset = 0;
    }
    this.queue.length = 0;
    this.queueHead = 0;
    return true;
  }

  /** @internal True when end() waits for the queue. */
  get ending(): boolean {
    return this.endAfterFlush;
  }

  /** @internal Drops the queue (on close). */
  discardQueue(): void {
    this.queue.length = 0;
    this.queueHead = 0;
    this.headOffset = 0;
    this.queued = 0;
  }
}
