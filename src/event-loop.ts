/**
 * EventLoop: a Poll, a Slab of registrations, timers, and two ways to drive
 * them (blocking `run()` or Node-integrated `attach()`).
 *
 * @packageDocumentation
 */
import { performance } from 'node:perf_hooks';
import { isMainThread } from 'node:worker_threads';
import { Connection, KIND_CONNECTION, type ConnectionHandler } from './connection';
import { SysError, WOULD_BLOCK, check } from './errors';
import { Events } from './events';
import { Interest, PollOpt, Ready } from './interest';
import { native } from './native';
import type { InetAddressLike } from './net/address';
import { ListenerSocket } from './net/listener';
import { StreamSocket } from './net/stream';
import { TcpListener, TcpStream } from './net/tcp';
import { UnixListener } from './net/unix';
import { Pending } from './pending';
import { Poll } from './poll';
import { BlockingPool, type BlockingTask, type PoolOptions } from './pool';
import { Slab } from './slab';
import type { Source } from './source';
import { TimerHeap } from './timers';
import type {
  EventLoopOptions,
  HandlerFactory,
  ListenOptions,
  LoopHandle,
  LoopListener,
  LoopState,
  SourceHandler,
  SourceRegistration,
} from './event-loop-types';
import { RemoteWaker, Waker } from './waker';

export type * from './event-loop-types';

/** Bits of a token that hold the slab key; the rest hold a generation. */
const KEY_BITS = 20;
const KEY_MASK = (1 << KEY_BITS) - 1;
const GEN_LIMIT = 1 << (32 - KEY_BITS);
/**
 * The most registrations (connections, listeners, sources) one loop holds.
 * The two highest keys are reserved for the loop's own tokens.
 */
export const MAX_REGISTRATIONS = KEY_MASK - 1;
/** The loop's own waker token: its key part is never a slab key. */
const WAKER_TOKEN = 0xffffffff;
/** Node's own libuv loop, watched during run() in a worker (see run()). */
const NODE_LOOP_TOKEN = 0xfffffffe;
/** Zero-timeout polls per attach() wake-up before Node gets the thread back. */
const ATTACH_BATCHES = 64;
/** Longest wait for the peer's EOF after end() before closing anyway. */
const LINGER_MS = 2000;
/** Accept backoff after EMFILE/ENFILE, first and longest pause. */
const ACCEPT_BACKOFF_MIN_MS = 10;
const ACCEPT_BACKOFF_MAX_MS = 1000;

const KIND_LISTENER = 1;
const KIND_SOURCE = 2;

const READ_EVENTS = Ready.READABLE | Ready.READ_CLOSED;
const WRITE_EVENTS = Ready.WRITABLE | Ready.WRITE_CLOSED | Ready.ERROR;

interface ListenerEntry extends LoopListener {
  readonly kind: typeof KIND_LISTENER;
  readonly token: number;
  readonly factory: HandlerFactory;
  readonly options: ListenOptions;
  open: number;
  backoffMs: number;
  paused: boolean;
}

interface SourceEntry extends SourceRegistration {
  readonly kind: typeof KIND_SOURCE;
  readonly handler: SourceHandler;
}

type Entry = Connection | ListenerEntry | SourceEntry;

/**
 * An event loop over one {@link Poll}.
 *
 * Connections, listeners and raw sources live in a {@link Slab}. A
 * registration's token is its slab key plus a generation (the upper bits),
 * bumped every time the key is freed, so an event still in the current
 * batch for a connection that was closed, and whose key a new connection
 * took, is recognised as stale and dropped, never delivered to the newcomer
 * (the ABA problem of mio issues #219 and #935).
 *
 * Two ways to drive it:
 * - {@link run}: blocking, the mio way. The calling thread belongs to the
 *   loop until {@link stop}: Node's own timers, promises and I/O callbacks do
 *   not run meanwhile. Use it in a worker thread or a dedicated process.
 * - {@link attach}: integrated. One libuv poll handle watches the epoll fd;
 *   when it is readable, the loop drains ready events with zero-timeout polls.
 *   Node's timers, promises and other I/O keep running beside it.
 *
 * @example
 * ```ts
 * const loop = new EventLoop();
 * loop.listen('127.0.0.1:7007', () => ({
 *   onReadable(conn) {
 *     const buf = loop.readBuffer;
 *     for (;;) {
 *       const n = conn.read(buf);
 *       if (n === WOULD_BLOCK) return;
 *       if (n === 0) return conn.end();
 *       conn.write(buf, 0, n);
 *     }
 *   },
 * }));
 * loop.attach();
 * ```
 */
export class EventLoop {
  /** The loop's Poll. Register only through the loop. */
  readonly poll: Poll;
  /**
   * A 64 KiB scratch buffer handlers may read into. It is shared by every
   * connection: its contents are valid only until the handler returns.
   */
  readonly readBuffer: Buffer = Buffer.allocUnsafe(64 * 1024);

  private readonly events: Events;
  private readonly slab = new Slab<Entry>();
  private readonly generations: number[] = [];
  private readonly timers = new TimerHeap();
  private readonly waker: Waker;
  private readonly control = new Int32Array(new SharedArrayBuffer(4));
  private readonly wakeHooks = new Set<() => void>();
  private readonly onHandlerError?: (error: unknown, conn?: Connection) => void;
  private readonly poolOptions?: PoolOptions;
  private pool: BlockingPool | null = null;
  private mode: LoopState = 'idle';
  private referenced = true;
  private nodeTimer: NodeJS.Timeout | null = null;
  private nodeTimerDeadline = Infinity;
  private connectionCount = 0;
  /** The clock read once after each poll: activity stamps for idle timeouts. */
  private batchTime = 0;
  private readonly onUvReady = (): void => this.drainAttached();

  /** @param options - see {@link EventLoopOptions} */
  constructor(options: EventLoopOptions = {}) {
    this.events = new Events(options.eventsCapacity ?? 1024);
    this.onHandlerError = options.onHandlerError;
    this.poolOptions = options.pool;
    this.poll = new Poll();
    try {
      this.waker = new Waker(this.poll, WAKER_TOKEN);
    } catch (err) {
      this.poll.close();
      throw err;
    }
  }

  /** Open connections. */
  get connections(): number {
    return this.connectionCount;
  }

  /** `'idle'`, `'running'` (inside run()), `'attached'` or `'closed'`. */
  get state(): LoopState {
    return this.mode;
  }

  /** The loop's clock: `performance.now()` milliseconds. */
  now(): number {
    return performance.now();
  }

  // ---------------------------------------------------------------- listeners

  /**
   * Listens on `addr` (TCP `host:port`, or a Unix listener you bound) and
   * accepts until WOULD_BLOCK on every readiness, calling `factory` for each
   * new connection.
   *
   * EMFILE/ENFILE on accept (out of fds) pause accepting with a backoff
   * (10 ms doubling to 1 s) instead of spinning; accepting resumes on its own.
   */
  listen(addr: InetAddressLike | TcpListener | UnixListener, factory: HandlerFactory, options: ListenOptions = {}): LoopListener {
    if (typeof factory !== 'function') throw new TypeError('factory must be a function');
    const max = options.maxConnections;
    if (max !== undefined && (!Number.isInteger(max) || max < 0)) {
      throw new RangeError('maxConnections must be a non-negative integer');
    }
    const idle = options.idleTimeoutMs;
    if (idle !== undefined && (typeof idle !== 'number' || !(idle > 0) || idle > 0x7fffffff)) {
      throw new RangeError('idleTimeoutMs must be a positive number of milliseconds');
    }
    this.checkOpen();
    const socket = addr instanceof ListenerSocket ? addr : TcpListener.bind(addr, options);
    const loop = this;
    const entry: ListenerEntry = {
      kind: KIND_LISTENER,
      token: this.nextToken(),
      socket,
      factory,
      options,
      open: 0,
      backoffMs: 0,
      paused: false,
      get connections(): number {
        return entry.open;
      },
      close(): void {
        loop.removeEntry(entry);
        socket.close();
      },
    };
    this.insert(entry);
    this.poll.register(socket, entry.token, Interest.READABLE);
    return entry;
  }

  /**
   * Adopts an already connected stream (e.g. from `TcpStream.connect`, once
   * writable) as a loop connection.
   */
  adopt(stream: StreamSocket, handler: ConnectionHandler): Connection {
    this.checkOpen();
    return this.addConnection(stream, handler, null);
  }

  /**
   * Registers a raw source (a UDP socket, a netlink socket, any fd) and calls
   * `handler.onReady` on its events.
   */
  register(source: Source, handler: SourceHandler, interest: number, opts?: number): SourceRegistration {
    this.checkOpen();
    const loop = this;
    const entry: SourceEntry = {
      kind: KIND_SOURCE,
      token: this.nextToken(),
      source,
      handler,
      reregister(newInterest: number, newOpts?: number): void {
        loop.poll.reregister(source, entry.token, newInterest, newOpts);
      },
      deregister(): void {
        if (loop.slab.get(entry.token & KEY_MASK) !== entry) return;
        loop.poll.deregister(source);
        loop.removeEntry(entry);
      },
    };
    this.poll.register(source, entry.token, interest, opts);
    this.insert(entry);
    return entry;
  }

  // ------------------------------------------------------------------- timers

  /** Runs `callback` once after `ms` milliseconds of loop time. */
  setTimeout(callback: () => void, ms: number): number {
    return this.addTimer(callback, ms, 0);
  }

  /** Runs `callback` every `ms` milliseconds (at least 1). */
  setInterval(callback: () => void, ms: number): number {
    return this.addTimer(callback, ms, Math.max(1, ms));
  }

  /** Cancels a timer; unknown or expired ids are ignored. */
  clearTimer(id: number): void {
    this.timers.cancel(id);
  }

  /** Moves a pending timer to `ms` from now; false when it already ran. */
  refreshTimer(id: number, ms: number): boolean {
    checkDelay(ms);
    const ok = this.timers.reschedule(id, this.now() + ms);
    if (ok) this.armNodeTimer();
    return ok;
  }

  // ------------------------------------------------------------------ driving

  /**
   * Runs the loop on this thread until {@link stop}. Node's timers, promises
   * and I/O do not run meanwhile: the thread belongs to the loop. A stop
   * requested before run() makes it return at once.
   */
  run(): void {
    if (this.mode !== 'idle') throw new Error(`cannot run() a loop that is ${this.mode}`);
    this.mode = 'running';
    // In a worker, Node ends the thread (worker.terminate(), process.exit())
    // by signalling the worker's libuv loop and interrupting JavaScript; a
    // wait that never returns to libuv would hang the process. Watching that
    // loop's fd wakes the wait, and the interrupt then ends run().
    const nodeLoopFd = isMainThread ? -1 : native.uvBackendFd();
    if (nodeLoopFd >= 0) this.poll.register(nodeLoopFd, NODE_LOOP_TOKEN, Interest.READABLE, PollOpt.EDGE);
    try {
      while (Atomics.load(this.control, 0) === 0) {
        const deadline = this.timers.nextDeadline();
        const timeout = deadline === Infinity ? -1 : Math.max(0, deadline - this.now());
        const n = this.poll.poll(this.events, timeout);
        this.batchTime = this.now();
        this.dispatch(n);
        if (this.timers.size > 0) this.runTimers();
      }
    } finally {
      if (nodeLoopFd >= 0 && this.poll.isOpen) this.poll.deregister(nodeLoopFd);
      Atomics.store(this.control, 0, 0);
      if (this.mode === 'running') this.mode = 'idle';
    }
  }

  /**
   * One turn of the loop: a single poll (waiting up to `timeoutMs`, or until
   * the next timer when that is sooner; -1 or omitted waits for either), then
   * the events and due timers. For embedding the loop in another driver, and
   * for tests.
   *
   * @returns the number of events the poll returned
   */
  turn(timeoutMs = -1): number {
    if (this.mode !== 'idle') throw new Error(`cannot turn() a loop that is ${this.mode}`);
    const deadline = this.timers.nextDeadline();
    let timeout = timeoutMs;
    if (deadline !== Infinity) {
      const untilTimer = Math.max(0, deadline - this.now());
      if (timeout < 0 || untilTimer < timeout) timeout = untilTimer;
    }
    const n = this.poll.poll(this.events, timeout);
    this.batchTime = this.now();
    this.dispatch(n);
    if (this.timers.size > 0) this.runTimers();
    return n;
  }

  /**
   * Makes {@link run} return after the current batch, or detaches an
   * attached loop. Safe from a handler or a timer; from another thread use
   * {@link EventLoop.stopRemote} with {@link handle}.
   */
  stop(): void {
    if (this.mode === 'attached') {
      this.detach();
      return;
    }
    Atomics.store(this.control, 0, 1);
    if (this.mode === 'running') this.waker.wake();
  }

  /** True once stop() or stopRemote() asked this loop to stop. */
  get stopRequested(): boolean {
    return Atomics.load(this.control, 0) !== 0;
  }

  /** A handle to post to another thread, for {@link EventLoop.stopRemote}. */
  handle(): LoopHandle {
    return { waker: this.waker.handle(), control: this.control.buffer as SharedArrayBuffer };
  }

  /**
   * Stops a loop in another thread, given its {@link EventLoop.handle | handle()}: run() returns;
   * an attached loop's wake hooks see {@link stopRequested} (runLoopInWorker
   * closes the loop then).
   */
  static stopRemote(handle: LoopHandle): void {
    Atomics.store(new Int32Array(handle.control, 0, 1), 0, 1);
    new RemoteWaker(handle.waker).wake();
  }

  /**
   * Integrates with Node's event loop: one libuv poll handle watches the
   * Poll's fd, and ready events are dispatched from Node's loop (through
   * MakeCallback, so microtasks run after each wake-up). Timers on this loop
   * are driven by one Node timer. The handle keeps the process alive unless
   * {@link unref} is called.
   */
  attach(): void {
    if (this.mode !== 'idle') throw new Error(`cannot attach() a loop that is ${this.mode}`);
    check(this.poll.native.attach(this.onUvReady, this), 'uv_poll_start');
    this.mode = 'attached';
    if (!this.referenced) this.poll.native.unref();
    this.armNodeTimer();
  }

  /** Undoes {@link attach}; the loop can be attached or run again. */
  detach(): void {
    if (this.mode !== 'attached') return;
    this.poll.native.detach();
    this.mode = 'idle';
    this.clearNodeTimer();
  }

  /** Lets the process exit while attached (like `handle.unref()`). */
  unref(): void {
    this.referenced = false;
    if (this.mode === 'attached') this.poll.native.unref();
    this.nodeTimer?.unref();
  }

  /** Undoes {@link unref}. */
  ref(): void {
    this.referenced = true;
    if (this.mode === 'attached') this.poll.native.ref();
    this.nodeTimer?.ref();
  }

  /**
   * Adds a callback run on the loop's thread whenever its waker fires (used
   * by the blocking-work pool). Returns a function that removes it.
   */
  onWake(hook: () => void): () => void {
    this.wakeHooks.add(hook);
    return () => this.wakeHooks.delete(hook);
  }

  /**
   * Runs `task(input)` on the loop's pool of worker threads (started on
   * first use, sized by `options.pool`) and delivers the result on this
   * loop's thread through its Waker, in run() and attach() mode alike.
   *
   * @returns a {@link Pending}: subscribe with `then`; `await` it in attach
   *   mode. It rejects with the task's error, or a PoolError
   *   (ERR_POOL_QUEUE_FULL, ERR_POOL_CLOSED, ERR_POOL_WORKER_EXITED).
   */
  spawnBlocking<I, O>(task: BlockingTask<I, O>, input: I): Pending<O> {
    this.checkOpen();
    if (this.pool === null) {
      const pool = new BlockingPool(this.waker.handle(), this.poolOptions);
      this.pool = pool;
      this.onWake(() => pool.drain());
    }
    return this.pool.spawn(task, input);
  }

  /** Wakes the loop from this thread (runs the wake hooks soon). */
  wake(): void {
    this.waker.wake();
  }

  /**
   * Closes every connection (their `onClose` runs), every listener and
   * source, cancels timers, detaches, and closes the Poll. Idempotent.
   * Calling it from inside run() also makes run() return.
   */
  close(): void {
    if (this.mode === 'closed') return;
    this.detach();
    for (const [, entry] of [...this.slab.entries()]) {
      if (entry.kind === KIND_CONNECTION) this.closeConnection(entry);
      else if (entry.kind === KIND_LISTENER) entry.close();
      else {
        this.removeEntry(entry);
        if (typeof entry.source === 'object' && 'close' in entry.source && typeof entry.source.close === 'function') {
          (entry.source as { close(): void }).close();
        }
      }
    }
    this.timers.clear();
    this.wakeHooks.clear();
    if (this.pool !== null) {
      void this.pool.close();
      this.pool = null;
    }
    Atomics.store(this.control, 0, 1);
    this.waker.close();
    this.poll.close();
    this.mode = 'closed';
  }

  // ------------------------------------------------------- ConnectionOwner

  /** @internal Re-registers a connection for what it now needs. */
  updateInterest(conn: Connection): void {
    if (conn.isClosed) return;
    const wanted =
      ((conn.reading && conn.handler.onReadable !== undefined) || conn.lingering ? Interest.READABLE : 0) |
      (conn.queuedBytes > 0 || conn.writableWanted ? Interest.WRITABLE : 0);
    if (wanted === conn.registeredInterest) return;
    if (wanted === 0) {
      this.poll.deregister(conn.stream);
    } else if (conn.registeredInterest === 0) {
      this.poll.register(conn.stream, conn.id, wanted, PollOpt.LEVEL);
    } else {
      this.poll.reregister(conn.stream, conn.id, wanted, PollOpt.LEVEL);
    }
    conn.registeredInterest = wanted;
  }

  /** @internal end() with an empty queue: shut down writing, drain, close. */
  finishConnection(conn: Connection): void {
    if (conn.isClosed || conn.lingering) return;
    try {
      conn.stream.shutdown('write');
    } catch {
      return this.closeConnection(conn); // already reset: nothing to wait for
    }
    conn.lingering = true;
    this.updateInterest(conn);
    this.setTimeout(() => this.closeConnection(conn), LINGER_MS);
  }

  /** @internal Closes a connection once: onClose runs with the error, if any. */
  closeConnection(conn: Connection, error?: Error): void {
    if (conn.isClosed) return;
    conn.closed = true;
    conn.discardQueue();
    if (conn.idleTimer !== 0) this.timers.cancel(conn.idleTimer);
    this.removeEntry(conn);
    this.connectionCount--;
    if (conn.origin !== null) conn.origin.open--;
    conn.stream.close(); // deregisters first
    const onClose = conn.handler.onClose;
    if (onClose !== undefined) {
      try {
        onClose.call(conn.handler, conn, error);
      } catch (err) {
        this.reportHandlerError(err, conn);
      }
    }
  }

  // ------------------------------------------------------------------ private

  private dispatch(n: number): void {
    const events = this.events;
    const storage = events.storage;
    for (let i = 0; i < n; i++) {
      const token = storage[i * 2];
      const readiness = storage[i * 2 + 1];
      if (token === WAKER_TOKEN) {
        this.runWakeHooks();
        continue;
      }
      if (token === NODE_LOOP_TOKEN) continue;
      const entry = this.slab.get(token & KEY_MASK);
      // Stale: closed earlier in this batch, and maybe reused since.
      if (entry === undefined || entry.token !== token) continue;
      if (entry.kind === KIND_CONNECTION) this.connectionEvent(entry, readiness);
      else if (entry.kind === KIND_LISTENER) this.acceptAll(entry);
      else this.sourceEvent(entry, readiness);
    }
  }

  private connectionEvent(conn: Connection, readiness: number): void {
    const handler = conn.handler;
    conn.lastActive = this.batchTime;
    if (conn.lingering) return this.drainLingering(conn);
    try {
      if ((readiness & WRITE_EVENTS) !== 0) {
        if (conn.queuedBytes > 0 && conn.flush()) {
          if (conn.ending) return this.finishConnection(conn);
          this.updateInterest(conn);
          handler.onDrain?.(conn);
        }
        if (conn.writableWanted && !conn.isClosed && handler.onWritable !== undefined) handler.onWritable(conn);
      }
      if ((readiness & READ_EVENTS) !== 0 && conn.reading && !conn.isClosed && handler.onReadable !== undefined) {
        handler.onReadable(conn);
      }
      if ((readiness & Ready.ERROR) !== 0 && !conn.isClosed) {
        const err = conn.stream.takeError();
        if (err !== null) this.failConnection(conn, err);
      }
    } catch (err) {
      this.failConnection(conn, err);
    }
  }

  /** Discards input after end() until the peer's EOF, then closes. */
  private drainLingering(conn: Connection): void {
    try {
      for (;;) {
        const n = conn.stream.read(this.readBuffer);
        if (n === WOULD_BLOCK) return;
        if (n === 0) break;
      }
    } catch {
      // A reset: the peer is gone either way.
    }
    this.closeConnection(conn);
  }

  private failConnection(conn: Connection, err: unknown): void {
    if (conn.isClosed) return;
    if (err instanceof SysError) {
      try {
        conn.handler.onError?.(conn, err);
      } catch (inner) {
        this.reportHandlerError(inner, conn);
      }
      this.closeConnection(conn, err);
      return;
    }
    this.closeConnection(conn, err instanceof Error ? err : new Error(String(err)));
    this.reportHandlerError(err, conn);
  }

  private acceptAll(entry: ListenerEntry): void {
    const max = entry.options.maxConnections ?? Infinity;
    const noDelay = entry.options.noDelay !== false && entry.socket instanceof TcpListener;
    for (;;) {
      let stream: StreamSocket | typeof WOULD_BLOCK;
      try {
        stream = entry.socket.accept() as StreamSocket | typeof WOULD_BLOCK;
      } catch (err) {
        if (err instanceof SysError && (err.code === 'EMFILE' || err.code === 'ENFILE')) {
          this.pauseAccepting(entry);
          return;
        }
        throw err;
      }
      if (stream === WOULD_BLOCK) break;
      entry.backoffMs = 0;
      if (entry.open >= max || this.slab.length >= MAX_REGISTRATIONS) {
        stream.close();
        continue;
      }
      if (noDelay) (stream as TcpStream).setNoDelay(true);
      let conn: Connection | null = null;
      try {
        conn = this.addConnection(stream, {}, entry);
        conn.handler = entry.factory(conn);
        if (entry.options.idleTimeoutMs !== undefined) this.watchIdle(conn, entry.options.idleTimeoutMs);
        this.updateInterest(conn);
      } catch (err) {
        if (conn !== null) this.failConnection(conn, err);
        else stream.close();
      }
    }
  }

  /**
   * One loop timer per connection. Activity only stamps `lastActive` (once
   * per batch's clock reading); the timer, when it fires early, moves itself
   * to lastActive + timeout instead of being rescheduled on every event.
   */
  private watchIdle(conn: Connection, timeoutMs: number): void {
    conn.lastActive = this.now();
    const check = (): void => {
      if (conn.isClosed) return;
      const due = conn.busy > 0 ? this.now() + timeoutMs : conn.lastActive + timeoutMs;
      if (due > this.now()) {
        conn.idleTimer = this.setTimeout(check, due - this.now());
        return;
      }
      const err = new Error(`connection idle for ${timeoutMs} ms`) as Error & { code: string };
      err.code = 'ERR_IDLE_TIMEOUT';
      this.closeConnection(conn, err);
    };
    conn.idleTimer = this.setTimeout(check, timeoutMs);
  }

  private pauseAccepting(entry: ListenerEntry): void {
    if (entry.paused) return;
    entry.paused = true;
    entry.backoffMs = Math.min(ACCEPT_BACKOFF_MAX_MS, Math.max(ACCEPT_BACKOFF_MIN_MS, entry.backoffMs * 2));
    this.poll.deregister(entry.socket);
    this.setTimeout(() => {
      if (this.slab.get(entry.token & KEY_MASK) !== entry) return; // closed meanwhile
      entry.paused = false;
      this.poll.register(entry.socket, entry.token, Interest.READABLE);
    }, entry.backoffMs);
  }

  private sourceEvent(entry: SourceEntry, readiness: number): void {
    try {
      entry.handler.onReady(entry, readiness);
    } catch (err) {
      this.reportHandlerError(err);
    }
  }

  private addConnection(stream: StreamSocket, handler: ConnectionHandler, listener: ListenerEntry | null): Connection {
    const conn = new Connection(this.nextToken(), stream, handler, this, listener);
    this.insert(conn);
    this.connectionCount++;
    if (listener !== null) {
      listener.open++;
      return conn;
    }
    try {
      this.updateInterest(conn);
    } catch (err) {
      // Not registered (a closed or already registered stream): undo.
      this.removeEntry(conn);
      this.connectionCount--;
      conn.closed = true;
      throw err;
    }
    return conn;
  }

  private nextToken(): number {
    const key = this.slab.nextKey;
    if (key >= MAX_REGISTRATIONS) throw new RangeError(`an EventLoop holds at most ${MAX_REGISTRATIONS} registrations`);
    const gen = this.generations[key] ?? 0;
    return ((gen << KEY_BITS) | key) >>> 0;
  }

  private insert(entry: Entry): void {
    const key = this.slab.insert(entry);
    if (((entry.token & KEY_MASK) >>> 0) !== key) throw new Error('slab key does not match the token');
  }

  private removeEntry(entry: Entry): void {
    const key = entry.token & KEY_MASK;
    if (this.slab.get(key) !== entry) return;
    this.slab.remove(key);
    // A new generation for the next owner of this key: late events for the
    // old one no longer match.
    this.generations[key] = ((this.generations[key] ?? 0) + 1) % GEN_LIMIT;
  }

  private runWakeHooks(): void {
    for (const hook of this.wakeHooks) {
      try {
        hook();
      } catch (err) {
        this.reportHandlerError(err);
      }
    }
  }

  private addTimer(callback: () => void, ms: number, interval: number): number {
    if (typeof callback !== 'function') throw new TypeError('callback must be a function');
    checkDelay(ms);
    this.checkOpen();
    const id = this.timers.add(this.now() + ms, interval, callback);
    this.armNodeTimer();
    return id;
  }

  private runTimers(): void {
    this.timers.runDue(this.now(), (err) => this.reportHandlerError(err));
  }

  private drainAttached(): void {
    if (this.mode !== 'attached') return;
    for (let batch = 0; batch < ATTACH_BATCHES && this.mode === 'attached'; batch++) {
      const n = this.poll.poll(this.events, 0);
      this.batchTime = this.now();
      this.dispatch(n);
      if (n < this.events.capacity) break;
    }
    if (this.timers.size > 0) this.runTimers();
    this.armNodeTimer();
  }

  /** Keeps one Node timer armed for the earliest loop timer while attached. */
  private armNodeTimer(): void {
    if (this.mode !== 'attached') return;
    const deadline = this.timers.nextDeadline();
    if (deadline === this.nodeTimerDeadline && this.nodeTimer !== null) return;
    this.clearNodeTimer();
    if (deadline === Infinity) return;
    this.nodeTimerDeadline = deadline;
    this.nodeTimer = setTimeout(() => {
      this.nodeTimer = null;
      this.nodeTimerDeadline = Infinity;
      if (this.mode !== 'attached') return;
      this.runTimers();
      this.armNodeTimer();
    }, Math.max(0, Math.ceil(deadline - this.now())));
    if (!this.referenced) this.nodeTimer.unref();
  }

  private clearNodeTimer(): void {
    if (this.nodeTimer !== null) clearTimeout(this.nodeTimer);
    this.nodeTimer = null;
    this.nodeTimerDeadline = Infinity;
  }

  private reportHandlerError(err: unknown, conn?: Connection): void {
    if (this.onHandlerError !== undefined) {
      this.onHandlerError(err, conn);
    } else if (this.mode === 'attached') {
      process.nextTick(() => {
        throw err;
      });
    } else {
      const text = err instanceof Error ? (err.stack ?? err.message) : String(err);
      process.stderr.write(`edgeloop: handler error${conn ? ` on connection ${conn.id}` : ''}: ${text}\n`);
    }
  }

  private checkOpen(): void {
    if (this.mode === 'closed') throw new TypeError('event loop is closed');
  }
}

function checkDelay(ms: number): void {
  if (typeof ms !== 'number' || Number.isNaN(ms)) throw new TypeError('delay must be a number of milliseconds');
  if (ms < 0 || ms > 0x7fffffff) throw new RangeError('delay must be in 0..2^31-1 ms');
}
