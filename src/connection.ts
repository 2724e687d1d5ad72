/**
 * A connection owned by the EventLoop, from accept to close: its stream,
 * its handler, the interest it needs, the half-close after end(), errors
 * and the idle timeout. Its outgoing bytes are its {@link Outbox}'s.
 *
 * @packageDocumentation
 */
import { SysError, WOULD_BLOCK, closedError, codedError, type WouldBlock } from './errors';
import { Interest, Ready } from './interest';
import type { LoopContext } from './loop/context';
import { READINESS_MASK, REC_DATA, REC_EOF, REC_ERROR, REC_READ } from './loop/pump';
import { HeldInput } from './loop/held-input';
import { watchIdle } from './loop/idle';
import { Outbox } from './loop/outbox';
import type { InetAddress, UnixAddress } from './net/address';
import type { StreamSocket } from './net/stream';
import type { ConnectionHandler } from './connection-handler';

export type { ConnectionHandler } from './connection-handler';

/** Slab entry kind of a connection in the EventLoop. @internal */
export const KIND_CONNECTION = 0;

/** Default queued bytes above which `write` returns false. */
export const DEFAULT_HIGH_WATER_MARK = 64 * 1024;

/** Longest wait for the peer's EOF after end() before closing anyway. */
const LINGER_MS = 2000;

const READ_EVENTS = Ready.READABLE | Ready.READ_CLOSED;
const WRITE_EVENTS = Ready.WRITABLE | Ready.WRITE_CLOSED | Ready.ERROR;

// A connection's states, as bits of one field: ten thousand idle
// connections are ten thousand of these objects, and a field per flag
// costs a word each.
/** In the loop's pump table (from open() to close()). */
const OPENED = 1;
/** The pump reads this connection itself (its handler has onData). */
const AUTO_READ = 2;
/** The peer's EOF reached onData's handler: nothing more to read. */
const PEER_ENDED = 4;
/** Reading is not paused. */
const READING = 8;
/** The handler asked for onWritable calls. */
const WRITABLE_WANTED = 16;
const CLOSED = 32;
/** end() was called: no more writes; shut down once the queue is flushed. */
const ENDING = 64;
/** Write side shut down after end(); discarding input until the peer's EOF. */
const LINGERING = 128;
/** A loop timer is set to hand held input over (deliverHeld). */
const HELD_DUE = 256;
/**
 * The io_uring ring reads this connection, and keeps doing so for its life
 * even when a handler without onData replaces the one that had it: reading
 * the socket directly while the ring holds earlier bytes would reorder them.
 * Such a handler's read() takes its bytes from the held input.
 */
const RING_READ = 512;

/** Held bytes above which the connection stops taking more until they are read. */
const HELD_LIMIT = 64 * 1024;

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
  /** @internal The token under which the loop registered it (the loop's entries share this field). */
  readonly token: number;
  /** @internal The listener that accepted it, for per-listener counts. */
  readonly origin: { open: number } | null;
  /** The socket. Prefer the connection's methods; they keep the loop informed. */
  readonly stream: StreamSocket;
  /** Queued bytes above which `write` reports backpressure. */
  highWaterMark = DEFAULT_HIGH_WATER_MARK;
  /** Free for the application (the servers keep per-connection state here). */
  data: unknown = undefined;
  /**
   * Requests being worked on (serve() counts them). The idle timeout never
   * closes a connection while this is above 0.
   */
  busy = 0;

  private readonly loop: LoopContext;
  /** Made by the first write: a connection that never writes has none. */
  private out: Outbox | null = null;
  private current: ConnectionHandler;
  /** Interest currently registered with the kernel, 0 when none. */
  private armed = 0;
  /** The state bits above (OPENED, READING, ...). */
  private state = READING;
  /** @internal Loop time of the last readiness event (idle timeouts). */
  lastActive = 0;
  /** The idle timer's id, 0 when none. */
  private idleTimer = 0;
  /** Input read for it that its handler could not take yet (see HeldInput). */
  private held: HeldInput | null = null;

  /** @internal Made by the loop, which inserts it and then calls {@link open}. */
  constructor(id: number, stream: StreamSocket, handler: ConnectionHandler, loop: LoopContext, origin: { open: number } | null) {
    this.token = id;
    this.origin = origin;
    this.stream = stream;
    this.current = handler;
    this.loop = loop;
  }

  /** The token under which the loop registered this connection. */
  get id(): number {
    return this.token;
  }

  /** @internal Slab entry kind (shared by every connection, so not a field). */
  get kind(): typeof KIND_CONNECTION {
    return KIND_CONNECTION;
  }

  /** The handler the loop calls. */
  get handler(): ConnectionHandler {
    return this.current;
  }

  /**
   * Replaces the handler at once: the next event, even one of the same
   * turn, goes to the new one, and the connection's interest follows it.
   * Bytes already read for the connection are not lost in a swap from
   * `onData` to `onReadable` (a protocol upgrade): `read()` returns them
   * before anything newer from the socket.
   */
  set handler(handler: ConnectionHandler) {
    this.current = handler;
    this.refreshInterest();
    if (this.held !== null) this.scheduleHeld();
  }

  /** Bytes written and not yet taken by the kernel (queued or corked). */
  get queuedBytes(): number {
    const out = this.out;
    return out === null ? 0 : out.queued + out.corkedBytes;
  }

  /** True once closed. */
  get isClosed(): boolean {
    return (this.state & CLOSED) !== 0;
  }

  /** True unless reading is paused. */
  get isReading(): boolean {
    return (this.state & READING) !== 0;
  }

  /** @internal The interest registered with the kernel (0: none). */
  get registeredInterest(): number {
    return this.armed;
  }

  /**
   * Reads from the socket: bytes, 0 at EOF, or WOULD_BLOCK. Bytes the loop
   * had already read for an `onData` handler this one replaced come first.
   */
  read(buf: Uint8Array, offset = 0, length = buf.length - offset): number | WouldBlock {
    const held = this.held;
    if (held !== null) return this.readHeld(held, buf, offset, length);
    // The ring's bytes come in order through the held input only.
    if ((this.state & RING_READ) !== 0 && (this.state & LINGERING) === 0) return WOULD_BLOCK;
    return this.stream.read(buf, offset, length);
  }

  /** read() while input is held: its bytes, then the end that followed them. */
  private readHeld(held: HeldInput, buf: Uint8Array, offset: number, length: number): number | WouldBlock {
    if (held.bytes > 0) {
      const before = held.bytes;
      const n = held.read(buf, offset, length);
      if (before >= HELD_LIMIT && held.bytes < HELD_LIMIT) this.refreshInterest();
      return n;
    }
    if (held.end === 0) return 0; // EOF stays EOF
    this.held = null;
    if (held.end > 0) throw new SysError(-held.end, 'read');
    return this.read(buf, offset, length);
  }

  /**
   * Writes `data[offset .. offset+length)`, queueing (by copy) what the socket
   * does not take now. The caller may reuse `data` as soon as this returns.
   *
   * Inside the loop's turn (handlers, timers) writes are corked: gathered
   * and sent by the loop's next native call, after the handlers of the
   * turn, at most `highWaterMark` bytes per connection at a time. Outside a
   * turn, and for larger writes, the socket is written at once. Either way
   * the bytes go out in the order written.
   *
   * @returns false when more than `highWaterMark` bytes wait (then `onDrain` follows)
   */
  write(data: Uint8Array, offset = 0, length = data.length - offset): boolean {
    const state = this.state;
    if ((state & CLOSED) !== 0) throw closedError('connection');
    if ((state & ENDING) !== 0) throw codedError(TypeError, 'ERR_STREAM_WRITE_AFTER_END', 'connection is ending: write after end()');
    if (length <= 0) return this.queuedBytes <= this.highWaterMark;
    let out = this.out;
    if (out === null) out = this.out = new Outbox(this, this.loop.pump);
    return out.write(data, offset, length);
  }

  /** Stops reading (readable interest off) until {@link resumeReading}. */
  pauseReading(): void {
    if ((this.state & READING) === 0) return;
    this.state &= ~READING;
    this.refreshInterest();
  }

  /** Resumes reading after {@link pauseReading}. */
  resumeReading(): void {
    if ((this.state & (READING | CLOSED)) !== 0) return;
    this.state |= READING;
    this.refreshInterest();
    if (this.held !== null) this.scheduleHeld();
  }

  /** Asks for `onWritable` calls (or stops them) independent of the queue. */
  wantWritable(on: boolean): void {
    if (((this.state & WRITABLE_WANTED) !== 0) === on) return;
    this.state ^= WRITABLE_WANTED;
    this.refreshInterest();
  }

  /**
   * Ends the connection gracefully: once the queue is flushed, shuts down
   * the write side (the peer reads EOF after every byte), discards whatever
   * the peer still sends until its own EOF (at most 2 s), then closes. The
   * handler sees no more reads. Closing with unread input at once would make
   * the kernel reset the connection and drop bytes still queued for the peer.
   */
  end(): void {
    if ((this.state & (CLOSED | ENDING)) !== 0) return;
    this.state = (this.state | ENDING) & ~READING;
    this.held = null;
    const out = this.out;
    if (out !== null) {
      out.flushCorked(); // the shutdown must follow the corked bytes
      if (this.isClosed) return;
    }
    if (out === null || out.queued === 0) this.halfClose();
    else this.refreshInterest();
  }

  /**
   * Closes now, dropping anything queued. `onClose` runs once, with `error`
   * when one is given (as when the loop closes it for a socket error).
   */
  close(error?: Error): void {
    if ((this.state & CLOSED) !== 0) return;
    if (error === undefined && this.out !== null) {
      // Bytes corked in this turn were written as far as the caller knows
      // (write() said so): they go out before the close, as they would have
      // without corking. A write that fails then closes it with its error.
      this.out.flushCorked();
      if (this.isClosed) return;
    }
    this.state |= CLOSED;
    this.held = null;
    this.out?.clear();
    if (this.idleTimer !== 0) {
      this.loop.timers.cancel(this.idleTimer);
      this.idleTimer = 0;
      this.loop.idleWatches--;
    }
    this.loop.release(this);
    // Out of the pump's table (and the kernel's interest list) before the
    // fd closes: a corked write still listed for this token is skipped.
    if ((this.state & OPENED) !== 0) this.loop.pump.remove(this);
    this.stream.close();
    const onClose = this.handler.onClose;
    if (onClose === undefined) return;
    try {
      onClose.call(this.handler, this, error);
    } catch (err) {
      this.loop.reportHandlerError(err, this);
    }
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
   * @internal Starts watching the socket for what the connection needs.
   * Throws (and leaves nothing registered) for a closed or foreign stream.
   */
  open(): void {
    const wanted = this.wantedInterest();
    const autoRead = this.wantsAutoRead();
    this.loop.pump.add(this, wanted, autoRead);
    this.state |= OPENED | (autoRead ? AUTO_READ | (this.loop.pump.ring ? RING_READ : 0) : 0);
    this.armed = wanted;
  }

  /**
   * @internal Closes the connection once no activity was seen for
   * `timeoutMs` (see {@link watchIdle}).
   */
  watchIdle(timeoutMs: number): void {
    if (this.idleTimer === 0) this.loop.idleWatches++;
    this.idleTimer = watchIdle(this, this.loop, timeoutMs, (id) => (this.idleTimer = id));
  }

  /** @internal A readiness event from the loop's poll. */
  onEvent(readiness: number): void {
    const handler = this.handler;
    this.lastActive = this.loop.batchTime;
    if ((this.state & LINGERING) !== 0) return this.drainLingering();
    try {
      if ((readiness & WRITE_EVENTS) !== 0 && !this.writeReady(handler)) return;
      if ((readiness & READ_EVENTS) !== 0 && (this.state & (READING | CLOSED)) === READING && handler.onReadable !== undefined) {
        handler.onReadable(this);
      }
      if ((readiness & Ready.ERROR) !== 0 && !this.isClosed) this.takeSocketError();
    } catch (err) {
      this.fail(err);
    }
  }

  /**
   * @internal The turn's record for a connection the pump read: readiness
   * in the low byte, and bytes in `data[offset .. offset+length)`, EOF or a
   * read error (`errno`).
   */
  onRecord(flags: number, data: Buffer, offset: number, length: number, errno: number): void {
    if ((flags & REC_READ) === 0) return this.onEvent(flags & READINESS_MASK);
    const handler = this.current;
    this.lastActive = this.loop.batchTime;
    if ((this.state & (ENDING | LINGERING)) !== 0) return this.recordAfterEnd(flags, errno);
    try {
      // A read error goes first: flushing the queue into the broken socket
      // would report the write's EPIPE instead of what broke it.
      if ((flags & REC_ERROR) === 0 && (flags & WRITE_EVENTS) !== 0 && !this.writeReady(handler)) return;
      if ((flags & REC_DATA) !== 0 && !this.isClosed) {
        // Read already, on io_uring maybe several records in one turn: what
        // the handler cannot take now (it paused, or no longer has onData)
        // is held, and anything behind held bytes waits behind them.
        if (this.held === null && (this.state & READING) !== 0 && handler.onData !== undefined) {
          handler.onData(this, data, offset, length);
        } else {
          this.hold(data, offset, length);
        }
      }
      if ((flags & (REC_EOF | REC_ERROR)) === 0 || this.isClosed) {
        if ((flags & Ready.ERROR) !== 0 && !this.isClosed) this.takeSocketError();
      } else if (this.held !== null) {
        this.held.end = (flags & REC_ERROR) !== 0 ? errno : 0;
        if (this.held.bytes === 0) this.scheduleHeld();
      } else if ((flags & REC_ERROR) !== 0) {
        this.fail(new SysError(-errno, 'read'));
      } else if (this.current.onData !== undefined) {
        this.peerEnd(this.current);
      } else {
        // The ring's EOF for an onReadable handler: its read() returns 0.
        this.held = new HeldInput();
        this.held.end = 0;
        this.scheduleHeld();
      }
    } catch (err) {
      this.fail(err);
    }
  }

  /**
   * A record after end(): the handler sees no more reads, so bytes are
   * discarded; the peer's EOF (or a reset) ends the lingering, or, while
   * the queue still drains, lets the close follow it at once.
   */
  private recordAfterEnd(flags: number, errno: number): void {
    if ((flags & (REC_EOF | REC_ERROR)) !== 0) {
      if ((this.state & LINGERING) !== 0) return this.close();
      if ((flags & REC_ERROR) !== 0) return this.fail(new SysError(-errno, 'read'));
      this.state |= PEER_ENDED;
    }
    try {
      if ((flags & WRITE_EVENTS) !== 0 && (this.state & LINGERING) === 0) this.writeReady(this.current);
    } catch (err) {
      this.fail(err);
    }
  }

  /** Keeps bytes the handler cannot take now; hands them over when it can. */
  private hold(data: Buffer, offset: number, length: number): void {
    if (this.held === null) this.held = new HeldInput();
    const held = this.held;
    held.push(data, offset, length);
    if (held.bytes >= HELD_LIMIT && held.bytes - length < HELD_LIMIT) this.refreshInterest(); // enough held: stop the ring
    if ((this.state & READING) !== 0) this.scheduleHeld(); // paused: resumeReading() does
  }

  /** A loop timer hands held input over (now, if the turn's timers run yet). */
  private scheduleHeld(): void {
    if ((this.state & (HELD_DUE | CLOSED)) !== 0) return;
    this.state |= HELD_DUE;
    this.loop.timers.add(() => this.deliverHeld(), 0, 0);
  }

  /**
   * Hands held input to the handler while it reads: chunks to `onData`,
   * or `onReadable` calls, whose `read()` takes them first; then the end
   * that came behind them. As with edge-triggered readiness, an
   * `onReadable` handler that takes nothing is called again only when
   * more input comes.
   */
  private deliverHeld(): void {
    this.state &= ~HELD_DUE;
    const held = this.held;
    if (held === null) return;
    try {
      while (this.held === held && (this.state & (READING | CLOSED | ENDING)) === READING) {
        const handler = this.current;
        if (handler.onData !== undefined) {
          const chunk = held.shift();
          if (chunk === null) {
            this.held = null;
            this.refreshInterest();
            if (held.end > 0) this.fail(new SysError(-held.end, 'read'));
            else if (held.end === 0) this.peerEnd(handler);
            return;
          }
          if (held.bytes + chunk.length >= HELD_LIMIT && held.bytes < HELD_LIMIT) this.refreshInterest();
          handler.onData(this, chunk, 0, chunk.length);
        } else if (handler.onReadable !== undefined) {
          const before = held.bytes;
          handler.onReadable(this);
          if (held.bytes === before || held.bytes === 0) return;
        } else {
          return; // no handler for input: it waits for one (the setter)
        }
      }
    } catch (err) {
      this.fail(err);
    }
  }

  /** @internal The pump armed writable interest natively, with a short corked write. */
  writableArmed(): void {
    this.armed |= Interest.WRITABLE;
  }

  /**
   * @internal Closes after an exception: a SysError is a network event
   * (onError, then onClose with it); anything else is a handler bug, also
   * reported to the loop.
   */
  fail(err: unknown): void {
    if (this.isClosed) return;
    if (err instanceof SysError) {
      try {
        this.handler.onError?.(this, err);
      } catch (inner) {
        this.loop.reportHandlerError(inner, this);
      }
      this.close(err);
      return;
    }
    this.close(err instanceof Error ? err : new Error(String(err)));
    this.loop.reportHandlerError(err, this);
  }

  /**
   * The socket can take bytes: flushes the queue (onDrain once it empties,
   * or the half-close after end()) and calls onWritable if asked for.
   *
   * @returns false when the connection half-closed instead
   */
  private writeReady(handler: ConnectionHandler): boolean {
    if (this.out !== null && this.out.flushQueue()) {
      if ((this.state & ENDING) !== 0) {
        this.halfClose();
        return false;
      }
      this.refreshInterest();
      handler.onDrain?.(this);
    }
    if ((this.state & (WRITABLE_WANTED | CLOSED)) === WRITABLE_WANTED && handler.onWritable !== undefined) handler.onWritable(this);
    return true;
  }

  /** The peer's EOF on the onData path: onEnd, or end() by default; no more reading. */
  private peerEnd(handler: ConnectionHandler): void {
    this.state |= PEER_ENDED;
    if (handler.onEnd !== undefined) handler.onEnd(this);
    else this.end();
    this.refreshInterest();
  }

  /**
   * A pending socket error closes the connection with it. Corked bytes are
   * sent first, as they would have been without corking: a write the error
   * breaks (EPIPE) then names it.
   */
  private takeSocketError(): void {
    if (this.out !== null) {
      this.out.flushCorked();
      if (this.isClosed) return;
    }
    const err = this.stream.takeError();
    if (err !== null) this.fail(err);
  }

  private wantedInterest(): number {
    const handler = this.current;
    const state = this.state;
    const reads =
      (state & LINGERING) !== 0 ||
      ((state & (READING | PEER_ENDED)) === READING &&
        (handler.onData !== undefined || handler.onReadable !== undefined) &&
        (this.held === null || this.held.bytes < HELD_LIMIT));
    const writes = (this.out !== null && this.out.queued > 0) || (state & WRITABLE_WANTED) !== 0;
    return (reads ? Interest.READABLE : 0) | (writes ? Interest.WRITABLE : 0);
  }

  /** After end() the connection drains its input itself (drainLingering). */
  private wantsAutoRead(): boolean {
    return (this.current.onData !== undefined || (this.state & RING_READ) !== 0) && (this.state & LINGERING) === 0;
  }

  /** @internal Registers exactly the interest the connection's state needs now. */
  refreshInterest(): void {
    if ((this.state & (CLOSED | OPENED)) !== OPENED) return;
    const wanted = this.wantedInterest();
    const autoRead = this.wantsAutoRead();
    if (wanted === this.armed && autoRead === ((this.state & AUTO_READ) !== 0)) return;
    this.loop.pump.modify(this, wanted, autoRead);
    this.armed = wanted;
    this.state = autoRead ? this.state | AUTO_READ | (this.loop.pump.ring ? RING_READ : 0) : this.state & ~AUTO_READ;
  }

  /** The queue is empty after end(): shut down writing, drain, close. */
  private halfClose(): void {
    if ((this.state & (CLOSED | LINGERING)) !== 0) return;
    // The peer's EOF came already and nothing is queued: close() sends the
    // FIN itself, so a shutdown() first would only cost a syscall.
    if ((this.state & PEER_ENDED) !== 0) return this.close();
    try {
      this.stream.shutdown('write');
    } catch {
      return this.close(); // already reset: nothing to wait for
    }
    this.state |= LINGERING;
    this.refreshInterest();
    this.loop.timers.add(() => this.close(), LINGER_MS, 0);
  }

  /** Discards input after end() until the peer's EOF, then closes. */
  private drainLingering(): void {
    try {
      for (;;) {
        const n = this.stream.read(this.loop.readBuffer);
        if (n === WOULD_BLOCK) return;
        if (n === 0) break;
      }
    } catch {
      // A reset: the peer is gone either way.
    }
    this.close();
  }
}
