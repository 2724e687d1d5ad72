/**
 * The EventLoop's public option and handle types.
 *
 * @packageDocumentation
 */
import type { Connection, ConnectionHandler } from '../connection';
import type { TcpListener, TcpListenerOptions } from '../net/tcp';
import type { UnixListener } from '../net/unix';
import type { PoolOptions } from '../pool';
import type { Source } from '../source';
import type { WakerHandle } from '../waker';
import type { BackendOption } from './backend';

/** Creates the handler for each accepted connection. */
export type HandlerFactory = (conn: Connection) => ConnectionHandler;

/** Options for {@link EventLoop.listen}. */
export interface ListenOptions extends TcpListenerOptions {
  /** TCP_NODELAY on every accepted TCP connection. Default true. */
  noDelay?: boolean;
  /**
   * Most connections this listener keeps open at once; a connection past it
   * is accepted and closed at once, as Node's `server.maxConnections` does.
   * Default: unlimited.
   */
  maxConnections?: number;
  /**
   * Closes a connection that has had no readiness event for this long (ms),
   * with an Error whose code is 'ERR_IDLE_TIMEOUT'. Default: never.
   */
  idleTimeoutMs?: number;
}

/**
 * A listener the loop accepts on. `S` is its socket's type: a TcpListener
 * for a `host:port` or a TcpListener given to `listen()`, so
 * `socket.localAddress().port` type-checks without a cast.
 */
export interface LoopListener<S extends TcpListener | UnixListener = TcpListener | UnixListener> {
  /** The listening socket. */
  readonly socket: S;
  /** Connections accepted through it that are still open. */
  readonly connections: number;
  /** Stops accepting and closes the socket (open connections stay). */
  close(): void;
}

/** What {@link EventLoop.register} calls for a raw source. */
export interface SourceHandler {
  /** The source is ready; `readiness` holds {@link Ready} bits. */
  onReady(registration: SourceRegistration, readiness: number): void;
}

/** A raw source registered with the loop. */
export interface SourceRegistration {
  /** The token it is registered under. */
  readonly token: number;
  /** The source. */
  readonly source: Source;
  /** Changes interest and options. */
  reregister(interest: number, opts?: number): void;
  /** Removes it from the loop (does not close it). */
  deregister(): void;
}

/** A clonable reference to a loop, for stopping it from another thread. */
export interface LoopHandle {
  /** The loop's waker. */
  readonly waker: WakerHandle;
  /** Shared control word: [0] = 1 asks the loop to stop. */
  readonly control: SharedArrayBuffer;
}

/** Options for {@link EventLoop}. */
export interface EventLoopOptions {
  /** Events per poll. Default 1024. */
  eventsCapacity?: number;
  /**
   * Called when a connection's handler throws something that is not a
   * SysError (a bug, not a network event; a SysError is the connection's
   * onError), for anything a loop timer or wake hook throws, and for a
   * listener's accept error other than EMFILE/ENFILE (a SysError; the
   * listener backs off, 10 ms doubling to 1 s, and tries again). The
   * connection involved is closed first.
   * Default: in attach() mode the error is rethrown on the next tick, so it
   * reaches process 'uncaughtException' as Node users expect; in run() mode
   * it is written to stderr and the loop keeps serving.
   */
  onHandlerError?: (error: unknown, conn?: Connection) => void;
  /** The blocking-work pool, started by prepareBlocking() or the first spawnBlocking(). */
  pool?: PoolOptions;
  /**
   * What drives the loop's connections (see docs/IO_URING.md):
   * - `'epoll'` / `'kqueue'`: the readiness selector this build has;
   * - `'io_uring'`: completions (multishot recv into provided buffers);
   *   throws `ERR_IO_URING_UNAVAILABLE`, naming what is missing, where it
   *   cannot run;
   * - `'auto'`: io_uring when a probe succeeds, else the selector, with
   *   the reason in {@link EventLoop.backendFallback}.
   *
   * Default: the environment variable `EDGELOOP_LOOP_BACKEND` if set, else
   * the selector. Handlers see the same events on every backend.
   */
  backend?: BackendOption;
}



/** Where a loop is in its life: see {@link EventLoop.state}. */
export type LoopState = 'idle' | 'running' | 'attached' | 'closed';
