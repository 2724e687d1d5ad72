/**
 * EventLoop: a Poll, a registry of connections, listeners and sources,
 * timers, and two ways to drive them (blocking `run()` or Node-integrated
 * `attach()`). This file is the public face; the parts live in src/loop/.
 *
 * @packageDocumentation
 */
import type { Connection, ConnectionHandler } from './connection';
import type { InetAddressLike } from './net/address';
import { ListenerSocket } from './net/listener';
import type { StreamSocket } from './net/stream';
import { TcpListener } from './net/tcp';
import type { UnixListener } from './net/unix';
import type { Pending } from './pending';
import type { Poll } from './poll';
import type { BlockingTask } from './pool';
import type { Source } from './source';
import { addListener, checkListenOptions } from './loop/accept';
import { LoopBlocking } from './loop/blocking';
import type { BackendName } from './loop/backend';
import { LoopCore } from './loop/core';
import { Drivers } from './loop/drivers';
import { addSource } from './loop/sources';
import type {
  EventLoopOptions,
  HandlerFactory,
  ListenOptions,
  LoopHandle,
  LoopListener,
  LoopState,
  SourceHandler,
  SourceRegistration,
} from './loop/types';
import { RemoteWaker } from './waker';

export type * from './loop/types';
export { MAX_REGISTRATIONS } from './loop/registry';

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
 * Using a loop in a state that does not allow it throws a coded error:
 * `ERR_LOOP_CLOSED` (TypeError) after {@link close}, `ERR_LOOP_RUNNING` or
 * `ERR_LOOP_ATTACHED` (Error) for run(), turn() or attach() on a loop that
 * is already driven.
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
  readonly readBuffer: Buffer;

  private readonly core: LoopCore;
  private readonly drivers: Drivers;
  private readonly blocking: LoopBlocking;

  /** @param options - see {@link EventLoopOptions} */
  constructor(options: EventLoopOptions = {}) {
    this.core = new LoopCore(options);
    this.drivers = new Drivers(this.core);
    this.poll = this.core.poll;
    this.readBuffer = this.core.readBuffer;
    this.blocking = new LoopBlocking(this.core, options.pool);
  }

  /**
   * The backend the loop runs on: `'epoll'`, `'kqueue'` or `'io_uring'`
   * (see {@link EventLoopOptions.backend}).
   */
  get backend(): BackendName {
    return this.core.backend;
  }

  /**
   * Why `backend: 'auto'` did not take io_uring (the missing kernel
   * feature or the error); null when it did or io_uring was not asked for.
   */
  get backendFallback(): string | null {
    return this.core.backendFallback;
  }

  /** Open connections. */
  get connections(): number {
    return this.core.connections;
  }

  /** `'idle'`, `'running'` (inside run()), `'attached'` or `'closed'`. */
  get state(): LoopState {
    return this.core.state;
  }

  /** The loop's clock: `performance.now()` milliseconds. */
  now(): number {
    return this.core.timers.now();
  }

  /**
   * Listens on `addr` (TCP `host:port`, or a Unix listener you bound) and
   * accepts until WOULD_BLOCK on every readiness, calling `factory` for each
   * new connection.
   *
   * EMFILE/ENFILE on accept (out of fds) pause accepting with a backoff
   * (10 ms doubling to 1 s) instead of spinning; accepting resumes on its own.
   */
  listen(addr: InetAddressLike | TcpListener, factory: HandlerFactory, options?: ListenOptions): LoopListener<TcpListener>;
  listen(addr: UnixListener, factory: HandlerFactory, options?: ListenOptions): LoopListener<UnixListener>;
  listen(addr: InetAddressLike | TcpListener | UnixListener, factory: HandlerFactory, options?: ListenOptions): LoopListener;
  listen(addr: InetAddressLike | TcpListener | UnixListener, factory: HandlerFactory, options: ListenOptions = {}): LoopListener {
    if (typeof factory !== 'function') throw new TypeError('factory must be a function');
    checkListenOptions(options);
    this.core.checkOpen('listen()');
    const socket = addr instanceof ListenerSocket ? (addr as TcpListener | UnixListener) : TcpListener.bind(addr, options);
    return addListener(this.core, socket, factory, options);
  }

  /**
   * Adopts an already connected stream (e.g. from `TcpStream.connect`, once
   * writable) as a loop connection.
   */
  adopt(stream: StreamSocket, handler: ConnectionHandler): Connection {
    this.core.checkOpen('adopt()');
    return this.core.addConnection(stream, handler, null);
  }

  /**
   * Registers a raw source (a UDP socket, a netlink socket, any fd) and calls
   * `handler.onReady` on its events.
   */
  register(source: Source, handler: SourceHandler, interest: number, opts?: number): SourceRegistration {
    this.core.checkOpen('register()');
    return addSource(this.core, source, handler, interest, opts);
  }

  /** Runs `callback` once after `ms` milliseconds of loop time. */
  setTimeout(callback: () => void, ms: number): number {
    return this.core.addTimer(callback, ms, 0);
  }

  /** Runs `callback` every `ms` milliseconds (at least 1). */
  setInterval(callback: () => void, ms: number): number {
    return this.core.addTimer(callback, ms, Math.max(1, ms));
  }

  /** Cancels a timer; unknown or expired ids are ignored. */
  clearTimer(id: number): void {
    this.core.timers.cancel(id);
  }

  /** Moves a pending timer to `ms` from now; false when it already ran. */
  refreshTimer(id: number, ms: number): boolean {
    return this.core.timers.refresh(id, ms);
  }

  /**
   * Runs the loop on this thread until {@link stop}. Node's timers, promises
   * and I/O do not run meanwhile: the thread belongs to the loop. A stop
   * requested before run() makes it return at once.
   */
  run(): void {
    this.drivers.run();
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
    return this.drivers.turn(timeoutMs);
  }

  /**
   * Makes {@link run} return after the current batch, or detaches an
   * attached loop. Safe from a handler or a timer; from another thread use
   * {@link EventLoop.stopRemote} with {@link handle}.
   */
  stop(): void {
    const core = this.core;
    if (core.state === 'attached') return this.drivers.detach();
    Atomics.store(core.control, 0, 1);
    if (core.state === 'running') core.waker.wake();
  }

  /** True once stop() or stopRemote() asked this loop to stop. */
  get stopRequested(): boolean {
    return Atomics.load(this.core.control, 0) !== 0;
  }

  /** A handle to post to another thread, for {@link EventLoop.stopRemote}. */
  handle(): LoopHandle {
    return { waker: this.core.waker.handle(), control: this.core.control.buffer as SharedArrayBuffer };
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
    this.drivers.attach();
  }

  /** Undoes {@link attach}; the loop can be attached or run again. */
  detach(): void {
    this.drivers.detach();
  }

  /** Lets the process exit while attached (like `handle.unref()`). */
  unref(): void {
    this.drivers.setReferenced(false);
  }

  /** Undoes {@link unref}. */
  ref(): void {
    this.drivers.setReferenced(true);
  }

  /**
   * Adds a callback run on the loop's thread whenever its waker fires (used
   * by the blocking-work pool). Returns a function that removes it.
   */
  onWake(hook: () => void): () => void {
    this.core.wakeHooks.add(hook);
    return () => this.core.wakeHooks.delete(hook);
  }

  /**
   * Runs `task(input)` on the loop's pool of worker threads (started on
   * first use, sized by `options.pool`) and delivers the result on this
   * loop's thread through its Waker, in run() and attach() mode alike.
   *
   * @returns a {@link Pending}: subscribe with `then`; `await` it in attach
   *   mode. It rejects with the task's error, or a PoolError
   *   (ERR_POOL_QUEUE_FULL, ERR_POOL_CLOSED, ERR_POOL_WORKER_EXITED,
   *   ERR_POOL_WORKER_START).
   */
  spawnBlocking<I, O>(task: BlockingTask<I, O>, input: I): Pending<O> {
    this.core.checkOpen('spawnBlocking()');
    return this.blocking.spawn(task, input);
  }

  /**
   * Starts the pool of worker threads now, instead of on the first
   * spawnBlocking(), and resolves once every worker has loaded its code and
   * the addon and run each of `init` once (see {@link BlockingPool.prepare}).
   * Await it before dropping privileges, chroot or anything else that takes
   * away the files the workers load: they load them when they start, and
   * replacements for failed workers start later still, running `init` too.
   * Await it before `run()`: the answers arrive on Node's event loop.
   */
  async prepareBlocking(init: BlockingTask<undefined, unknown>[] = []): Promise<void> {
    this.core.checkOpen('prepareBlocking()');
    await this.blocking.prepare(init);
  }

  /** Wakes the loop from this thread (runs the wake hooks soon). */
  wake(): void {
    this.core.waker.wake();
  }

  /**
   * Closes every connection (their `onClose` runs), every listener and
   * source, cancels timers, detaches, and closes the Poll. Idempotent.
   * Calling it from inside run() also makes run() return.
   */
  close(): void {
    if (this.core.state === 'closed') return;
    this.drivers.detach();
    this.core.close();
    this.blocking.close();
  }
}
