/**
 * serve(): a codec and a service glued to the EventLoop, pipelined.
 *
 * @packageDocumentation
 */
import type { Connection, ConnectionHandler } from '../connection';
import type { EventLoop, ListenOptions, LoopListener } from '../event-loop';
import { checkListenOptions } from '../loop/accept';
import type { InetAddress, InetAddressLike, UnixAddress } from '../net/address';
import type { StreamSocket } from '../net/stream';
import type { TcpListener } from '../net/tcp';
import type { UnixListener } from '../net/unix';
import { Pending } from '../pending';
import type { Codec, Decoded } from './codec';

/** What a service learns about the connection a request came on. */
export interface ServiceContext {
  /** The connection's id (its loop token). */
  readonly id: number;
  /** This end's address. */
  readonly localAddress: InetAddress | UnixAddress;
  /** The peer's address. */
  readonly peerAddress: InetAddress | UnixAddress;
  /** The connection, for closing it or keeping state in `conn.data`. */
  readonly conn: Connection;
}

/**
 * Turns a request into a response: at once, or later through a
 * {@link Pending} (works in run() and attach() mode) or a Promise (attach()
 * mode only: a blocking run() never drains the microtask queue, so serve()
 * rejects a Promise there with a clear error). Returning `undefined` sends
 * nothing for that request.
 */
export type Service<Req, Res> = (request: Req, ctx: ServiceContext) => Res | undefined | PromiseLike<Res | undefined>;

/** Options for {@link serve}. */
export interface ServeOptions<Req, Res> extends ListenOptions {
  /** Framing. A new codec per connection when given as a factory. */
  codec: Codec<Req, Res> | (() => Codec<Req, Res>);
  /** The service. */
  service: Service<Req, Res>;
  /**
   * Requests in flight per connection (decoded, response not yet written).
   * Past it, the connection stops reading until responses go out. Default 32.
   */
  maxInFlight?: number;
  /**
   * Called when the codec throws (a frame that can never be valid). Return a
   * response to send before the connection closes, or undefined to just
   * close. Responses already in flight are written first.
   */
  onDecodeError?: (error: Error, ctx: ServiceContext) => Res | undefined;
  /** Called when a connection opens. */
  onConnect?: (ctx: ServiceContext) => void;
  /** Called when a connection closes, with the error if there was one. */
  onClose?: (ctx: ServiceContext, error?: Error) => void;
  /** Called when the service fails for a request (throws or rejects). Default: close the connection. */
  onServiceError?: (error: unknown, ctx: ServiceContext) => Res | undefined;
}

/** Where a response waits for its turn. */
interface Slot<Res> {
  done: boolean;
  response: Res | undefined;
}

/** Per-connection state of a served connection. */
class Session<Req, Res> implements ConnectionHandler {
  private readonly codec: Codec<Req, Res>;
  private readonly decoded: Decoded<Req> = { frame: undefined as unknown as Req, consumed: 0 };
  /** Unconsumed input carried across reads. */
  private partial: Buffer | null = null;
  private readonly slots: Slot<Res>[] = [];
  private closing = false;
  readonly ctx: ServiceContext;

  constructor(
    private readonly loop: EventLoop,
    private readonly options: ServeOptions<Req, Res>,
    private readonly maxInFlight: number,
    conn: Connection,
  ) {
    this.codec = typeof options.codec === 'function' ? options.codec() : options.codec;
    this.ctx = { id: conn.id, localAddress: conn.localAddress(), peerAddress: conn.peerAddress(), conn };
  }

  onData(_conn: Connection, data: Buffer, offset: number, length: number): void {
    this.consume(data, offset, length);
  }

  onEnd(): void {
    this.finish();
  }

  /** The client read what was queued: take requests again. */
  onDrain(): void {
    this.writeReady();
  }

  onClose(_conn: Connection, error?: Error): void {
    this.options.onClose?.(this.ctx, error);
  }

  /** Decodes what `buf[offset .. offset+length)` adds to the carried partial frame. */
  private consume(buf: Buffer, offset: number, length: number): void {
    let src: Buffer;
    let pos: number;
    let end: number;
    if (this.partial === null) {
      src = buf;
      pos = offset;
      end = offset + length;
    } else {
      src = Buffer.concat([this.partial, buf.subarray(offset, offset + length)]);
      pos = 0;
      end = src.length;
    }
    try {
      while (pos < end && this.slots.length < this.maxInFlight && !this.closing && !this.ctx.conn.isClosed) {
        if (!this.codec.decode(src, pos, end, this.decoded)) break;
        pos += this.decoded.consumed;
        this.dispatch(this.decoded.frame);
      }
    } catch (err) {
      this.partial = null;
      return this.decodeFailed(err as Error);
    }
    // Whatever was not decoded survives to the next read (copied out of the
    // shared read buffer).
    this.partial = pos >= end ? null : Buffer.from(src.subarray(pos, end));
    if (this.slots.length >= this.maxInFlight) this.ctx.conn.pauseReading();
  }

  private dispatch(request: Req): void {
    const slot: Slot<Res> = { done: false, response: undefined };
    this.slots.push(slot);
    this.ctx.conn.busy++;
    let result: Res | undefined | PromiseLike<Res | undefined>;
    try {
      result = this.options.service(request, this.ctx);
    } catch (err) {
      return this.serviceFailed(slot, err);
    }
    if (result !== null && typeof result === 'object' && typeof (result as PromiseLike<unknown>).then === 'function') {
      if (result instanceof Pending) {
        result.subscribe({ ok: (r) => this.complete(slot, r), err: (e) => this.serviceFailed(slot, e) });
        return;
      }
      if (this.loop.state === 'running') {
        return this.serviceFailed(
          slot,
          new TypeError('the service returned a Promise, but a loop in run() mode never runs promise callbacks: use attach(), or return a Pending (loop.spawnBlocking returns one)'),
        );
      }
      (result as PromiseLike<Res | undefined>).then(
        (r) => this.complete(slot, r),
        (e) => this.serviceFailed(slot, e),
      );
      return;
    }
    this.complete(slot, result as Res | undefined);
  }

  private complete(slot: Slot<Res>, response: Res | undefined): void {
    if (slot.done) return;
    this.ctx.conn.busy--;
    slot.done = true;
    slot.response = response;
    this.writeReady();
  }

  private serviceFailed(slot: Slot<Res>, err: unknown): void {
    const conn = this.ctx.conn;
    if (conn.isClosed) return;
    const handler = this.options.onServiceError;
    if (handler === undefined) {
      // The error reaches options.onClose (and the handler's onClose).
      conn.close(err instanceof Error ? err : new Error(String(err)));
      return;
    }
    this.complete(slot, handler(err, this.ctx));
  }

  /** Writes every leading response that is ready, in request order. */
  private writeReady(): void {
    const conn = this.ctx.conn;
    if (conn.isClosed) return;
    let written = 0;
    while (written < this.slots.length && this.slots[written].done) {
      const response = this.slots[written].response;
      if (response !== undefined) this.codec.encode(response, conn);
      written++;
    }
    if (written > 0) this.slots.splice(0, written);
    if (this.closing && this.slots.length === 0) {
      conn.end();
      return;
    }
    // A client that sends requests but does not read the answers must not
    // grow the outgoing queue without bound: stop reading past the mark.
    const backlogged = conn.queuedBytes > conn.highWaterMark;
    if (backlogged) {
      conn.pauseReading();
      return;
    }
    if (this.slots.length < this.maxInFlight && !conn.isReading && !this.closing) {
      conn.resumeReading();
      // Frames may already wait in the carried partial input.
      if (this.partial !== null) {
        const carried = this.partial;
        this.partial = null;
        this.consume(carried, 0, carried.length);
      }
    }
  }

  /** EOF: answer what is in flight, then close. */
  private finish(): void {
    this.closing = true;
    this.partial = null;
    // Answered already: writeReady() ends the connection, and the interest
    // change pausing would make first is a native call for nothing.
    this.writeReady();
    if (!this.ctx.conn.isClosed) this.ctx.conn.pauseReading();
  }

  private decodeFailed(err: Error): void {
    const reply = this.options.onDecodeError?.(err, this.ctx);
    this.closing = true;
    this.ctx.conn.pauseReading();
    if (reply !== undefined) this.slots.push({ done: true, response: reply });
    this.writeReady();
  }
}

/**
 * Listens on `addr` and serves every connection with `options.codec` and
 * `options.service`: requests are decoded from each read (several per read,
 * or one across many reads), handed to the service in order, and responses
 * are written in request order even when a later one completes first.
 *
 * @example
 * ```ts
 * const loop = new EventLoop();
 * serve(loop, '127.0.0.1:7000', {
 *   codec: () => new LineCodec({ maxLength: 100 }),
 *   service: (line) => line.toUpperCase(),
 * });
 * loop.attach();
 * ```
 */
export function serve<Req, Res>(loop: EventLoop, addr: InetAddressLike | TcpListener, options: ServeOptions<Req, Res>): LoopListener<TcpListener>;
export function serve<Req, Res>(loop: EventLoop, addr: UnixListener, options: ServeOptions<Req, Res>): LoopListener<UnixListener>;
export function serve<Req, Res>(
  loop: EventLoop,
  addr: InetAddressLike | TcpListener | UnixListener,
  options: ServeOptions<Req, Res>,
): LoopListener;
export function serve<Req, Res>(
  loop: EventLoop,
  addr: InetAddressLike | TcpListener | UnixListener,
  options: ServeOptions<Req, Res>,
): LoopListener {
  const maxInFlight = checkServeOptions(options, 'serve()');
  return loop.listen(
    addr,
    (conn) => {
      const session = new Session(loop, options, maxInFlight, conn);
      options.onConnect?.(session.ctx);
      return session;
    },
    options,
  );
}

/** Checks what serve() and serveStream() share; returns maxInFlight. */
function checkServeOptions<Req, Res>(options: ServeOptions<Req, Res>, what: string): number {
  const maxInFlight = options.maxInFlight ?? 32;
  if (!Number.isInteger(maxInFlight) || maxInFlight < 1) throw new RangeError('maxInFlight must be a positive integer');
  if (options.codec === undefined || typeof options.service !== 'function') {
    throw new TypeError(`${what} needs a codec and a service function`);
  }
  return maxInFlight;
}

/**
 * Serves one stream that is already connected (the connection inetd
 * passes, one made with `TcpStream.connect`) exactly as {@link serve}
 * serves each connection it accepts: same codec, service, ordering and
 * `idleTimeoutMs`. The listener's own options (`maxConnections`, backlog,
 * address reuse) do not apply. `options.onClose` says when it is over.
 *
 * @returns the loop connection, already open
 */
export function serveStream<Req, Res>(loop: EventLoop, stream: StreamSocket, options: ServeOptions<Req, Res>): Connection {
  const maxInFlight = checkServeOptions(options, 'serveStream()');
  checkListenOptions(options);
  // The session needs the connection, so the connection is adopted with no
  // handler first; the handler takes over before the loop's next turn.
  const conn = loop.adopt(stream, {});
  const session = new Session(loop, options, maxInFlight, conn);
  conn.handler = session;
  if (options.idleTimeoutMs !== undefined) conn.watchIdle(options.idleTimeoutMs);
  options.onConnect?.(session.ctx);
  return conn;
}
