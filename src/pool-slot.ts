/**
 * One worker thread of the blocking pool (pool.ts) and what the pool knows
 * about it: the job it runs, whether it has started, why it failed, and the
 * prepare() requests it has still to answer.
 *
 * @packageDocumentation
 * @internal
 */
import { MessageChannel, Worker, type MessagePort } from 'node:worker_threads';
import type { ControlMessage, ErrorRecord, JobMessage, PoolWorkerData, WireTask } from './pool-worker';
import type { Pending } from './pending';
import type { WakerHandle } from './waker';

/** A job as the pool tracks it: the message plus the completion to settle. */
export interface Job extends JobMessage {
  /** Settled with the result, or the error, on the loop's thread. */
  done: Pending<unknown>;
}

/** What a slot tells the pool about its worker. */
export interface SlotEvents {
  /** The worker has loaded; `error` is set when one of its init tasks failed. */
  started(slot: PoolSlot, error: Error | undefined): void;
  /** The worker is gone; `cause` says why. */
  exited(slot: PoolSlot, cause: Error): void;
}

/** Turns an error record from a worker back into an Error. */
export function reviveError(e: ErrorRecord): Error {
  const err = new Error(e.message) as Error & { code?: unknown };
  err.name = e.name;
  if (e.stack !== undefined) err.stack = e.stack;
  if (e.code !== undefined) err.code = e.code;
  return err;
}

interface Waiter {
  resolve: () => void;
  reject: (err: Error) => void;
}

/** One worker thread: started at construction, never restarted (the pool makes a new slot). */
export class PoolSlot {
  /** The thread. */
  readonly worker: Worker;
  /** Where its results arrive (read with receiveMessageOnPort). */
  readonly results: MessagePort;
  /** The job it runs, or null when idle. */
  job: Job | null = null;
  /** Function sources this worker has compiled already. */
  readonly known = new Set<number>();
  /** `'starting'` until its code has loaded, then `'started'`; `'exited'` once gone. */
  state: 'starting' | 'started' | 'exited' = 'starting';
  /** Whether it ever reported started (still true once it has exited). */
  hasStarted = false;
  /** The 'error' event's error, kept for the exit that follows it. */
  private failure: Error | null = null;
  private readonly waiters = new Map<number, Waiter>();
  private nextSeq = 1;

  /**
   * @param file - the worker entry (dist/pool-worker.js)
   * @param waker - the loop's waker, signalled after each result
   * @param init - tasks the worker runs once before it reports started
   * @param events - where started and exit go
   */
  constructor(file: string, waker: WakerHandle, init: WireTask[], private readonly events: SlotEvents) {
    const channel = new MessageChannel();
    const workerData: PoolWorkerData = { waker, results: channel.port2, init };
    this.worker = new Worker(file, { workerData, transferList: [channel.port2] });
    this.results = channel.port1;
    this.worker.on('message', (m: ControlMessage) => this.control(m));
    this.worker.on('error', (err) => {
      this.failure = err;
    });
    this.worker.on('exit', (code) => this.gone(code));
    // Idle workers must not keep the process alive; prepare() refs them
    // while it waits for their answer. After the listeners: a 'message'
    // listener refs the worker's port again.
    this.worker.unref();
  }

  /**
   * Asks the worker to run `init` (each once, in order) and resolves when it
   * has; rejects with the first task's error, or the cause if it exits first.
   */
  prepare(init: WireTask[]): Promise<void> {
    if (this.state === 'exited') return Promise.reject(this.failure ?? new Error('the worker has exited'));
    const seq = this.nextSeq++;
    const answered = new Promise<void>((resolve, reject) => this.waiters.set(seq, { resolve, reject }));
    this.worker.ref();
    this.worker.postMessage({ prepare: seq, init });
    return answered;
  }

  /** Posts a job message to the worker (buffered by Node until it is online). */
  post(message: JobMessage): void {
    this.worker.postMessage(message);
  }

  /** Stops the worker; pending prepare() calls reject with `reason`. */
  terminate(reason: Error): Promise<number> {
    this.settleAll(reason);
    this.results.close();
    return this.worker.terminate();
  }

  private control(m: ControlMessage): void {
    if ('started' in m) {
      if (this.state === 'starting') this.state = 'started';
      this.hasStarted = true;
      this.events.started(this, m.error === undefined ? undefined : reviveError(m.error));
      return;
    }
    const w = this.waiters.get(m.prepared);
    if (w === undefined) return;
    this.waiters.delete(m.prepared);
    if (this.waiters.size === 0) this.worker.unref();
    if (m.error === undefined) w.resolve();
    else w.reject(reviveError(m.error));
  }

  private gone(code: number): void {
    this.state = 'exited';
    const cause = this.failure ?? new Error(`exit code ${code}`);
    this.failure = cause;
    this.settleAll(cause);
    // The pool drains results that arrived before the exit, then the port closes.
    this.events.exited(this, cause);
    this.results.close();
  }

  private settleAll(err: Error): void {
    for (const w of this.waiters.values()) w.reject(err);
    this.waiters.clear();
  }
}
