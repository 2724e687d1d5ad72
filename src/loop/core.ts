/**
 * The state one EventLoop is made of, shared by its parts (accept, sources,
 * drivers) and seen by connections as their {@link LoopContext}.
 *
 * @packageDocumentation
 */
import { Connection, KIND_CONNECTION, type ConnectionHandler } from '../connection';
import { checkEventsCapacity } from '../events';
import type { StreamSocket } from '../net/stream';
import { native } from '../native';
import { Poll } from '../poll';
import { Waker } from '../waker';
import { KIND_LISTENER, type ListenerEntry } from './accept';
import type { LoopContext } from './context';
import { InterestControl } from './control';
import { chooseBackend, ioUringUnavailable, type BackendName } from './backend';
import { DEFAULT_PUMP_SIZES, LoopPump } from './pump';
import { loopStateError } from './errors';
import { Registry, WAKER_TOKEN } from './registry';
import { closeSource, type SourceEntry } from './sources';
import { LoopTimers, checkDelay } from './timers';
import type { EventLoopOptions, LoopState } from './types';

/** What the registry holds. @internal */
export type Entry = Connection | ListenerEntry | SourceEntry;

/**
 * One loop's Poll, registry, timers and waker, its state, and the few
 * operations every part of it needs.
 *
 * @internal
 */
export class LoopCore implements LoopContext {
  readonly poll: Poll;
  readonly registry = new Registry<Entry>();
  readonly interest: InterestControl;
  readonly pump: LoopPump;
  readonly timers: LoopTimers;
  readonly waker: Waker;
  /** Shared with other threads: [0] = 1 asks the loop to stop. */
  readonly control = new Int32Array(new SharedArrayBuffer(4));
  readonly wakeHooks = new Set<() => void>();
  readonly readBuffer: Buffer = Buffer.allocUnsafe(64 * 1024);
  /** The backend the pump runs on. */
  readonly backend: BackendName;
  /** Why `auto` fell back from io_uring; null when it did not. */
  readonly backendFallback: string | null;
  state: LoopState = 'idle';
  batchTime = 0;
  idleWatches = 0;
  connections = 0;
  private readonly onHandlerError?: (error: unknown, conn?: Connection) => void;

  constructor(options: EventLoopOptions) {
    const eventsCapacity = options.eventsCapacity ?? DEFAULT_PUMP_SIZES.events;
    checkEventsCapacity(eventsCapacity);
    this.onHandlerError = options.onHandlerError;
    const choice = chooseBackend(options.backend);
    this.timers = new LoopTimers((err) => this.reportHandlerError(err));
    this.poll = new Poll();
    try {
      this.waker = new Waker(this.poll, WAKER_TOKEN);
      this.interest = new InterestControl(this.poll);
      const sizes = { ...DEFAULT_PUMP_SIZES, events: eventsCapacity };
      let fallback = choice.fallback;
      let pump: LoopPump;
      try {
        pump = new LoopPump(this.poll, sizes, choice.name === 'io_uring');
      } catch (err) {
        // The probe passed, yet this ring failed (a limit on locked memory or rings).
        const reason = (err as { reason?: unknown }).reason;
        if (typeof reason !== 'string') throw err;
        if (options.backend === 'io_uring' || (options.backend === undefined && process.env.EDGELOOP_LOOP_BACKEND === 'io_uring')) {
          throw ioUringUnavailable(reason);
        }
        fallback = reason;
        pump = new LoopPump(this.poll, sizes, false);
      }
      this.pump = pump;
      this.backendFallback = fallback;
      this.backend = fallback === null ? choice.name : (native.backend as BackendName);
    } catch (err) {
      this.poll.close();
      throw err;
    }
  }

  /** Throws ERR_LOOP_CLOSED once the loop is closed. */
  checkOpen(operation: string): void {
    if (this.state === 'closed') throw loopStateError(operation, 'closed');
  }

  /** Throws the state's error unless the loop is idle. */
  checkIdle(operation: string): void {
    if (this.state !== 'idle') throw loopStateError(operation, this.state);
  }

  /**
   * Registers a new connection. With a listener, the caller sets the
   * handler and opens it; without one it is opened here, and nothing is
   * left behind if the stream cannot be registered.
   */
  addConnection(stream: StreamSocket, handler: ConnectionHandler, listener: ListenerEntry | null): Connection {
    const conn = new Connection(this.registry.nextToken(), stream, handler, this, listener);
    this.registry.insert(conn);
    this.connections++;
    if (listener !== null) {
      listener.open++;
      return conn;
    }
    try {
      conn.open();
    } catch (err) {
      this.registry.remove(conn);
      this.connections--;
      throw err;
    }
    return conn;
  }

  release(conn: Connection): void {
    if (!this.registry.holds(conn)) return;
    this.registry.remove(conn);
    this.connections--;
    if (conn.origin !== null) conn.origin.open--;
  }

  /**
   * Closes every connection (their onClose runs), listener and source,
   * drops the timers and wake hooks, and closes the waker, pump and Poll.
   * The caller has detached the drivers.
   */
  close(): void {
    for (const entry of this.registry.snapshot()) {
      if (entry.kind === KIND_CONNECTION) entry.close();
      else if (entry.kind === KIND_LISTENER) entry.close();
      else closeSource(this, entry);
    }
    this.timers.clear();
    this.wakeHooks.clear();
    Atomics.store(this.control, 0, 1);
    this.waker.close();
    this.pump.close();
    this.poll.close();
    this.state = 'closed';
  }

  /** A timer for the public setTimeout/setInterval, its arguments checked. */
  addTimer(callback: () => void, ms: number, interval: number): number {
    if (typeof callback !== 'function') throw new TypeError('callback must be a function');
    checkDelay(ms);
    this.checkOpen('setTimeout()');
    return this.timers.add(callback, ms, interval);
  }

  /** Stamps the turn's clock, when a connection's idle timeout needs it. */
  stampBatch(): void {
    if (this.idleWatches > 0) this.batchTime = this.timers.now();
  }

  /** Runs the wake hooks (the waker fired). */
  runWakeHooks(): void {
    for (const hook of this.wakeHooks) {
      try {
        hook();
      } catch (err) {
        this.reportHandlerError(err);
      }
    }
  }

  reportHandlerError(err: unknown, conn?: Connection): void {
    if (this.onHandlerError !== undefined) {
      this.onHandlerError(err, conn);
    } else if (this.state === 'attached') {
      process.nextTick(() => {
        throw err;
      });
    } else {
      const text = err instanceof Error ? (err.stack ?? err.message) : String(err);
      process.stderr.write(`edgeloop: handler error${conn ? ` on connection ${conn.id}` : ''}: ${text}\n`);
    }
  }
}
