/**
 * spawnBlocking: run blocking or CPU-heavy work on worker threads and get the
 * result back on the loop's thread, through the loop's Waker.
 *
 * @packageDocumentation
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from 'node:worker_threads';
import { Pending } from './pending';
import type { ErrorRecord, JobMessage, PoolWorkerData, ResultMessage, WireTask } from './pool-worker';
import type { WakerHandle } from './waker';

/**
 * The compiled worker entry (src/pool-worker.ts), found through dist/ from
 * this file's folder whether that is dist/ or src/, as ident/lookup.ts finds
 * its tasks: a worker thread runs JavaScript only, so when this module runs
 * from src/ under a TypeScript runner (the tests) the worker still comes
 * from the build, which `npm test` makes first (build:ts).
 */
const WORKER_FILE = path.resolve(__dirname, '..', 'dist', 'pool-worker.js');

/**
 * Work for the pool: a self-contained function (its source is sent to the
 * worker, so it must not use variables from its enclosing scope; it may call
 * `require()`, which resolves from the working directory), or an absolute
 * module path and the name of the function it exports.
 */
export type BlockingTask<I, O> =
  | ((input: I) => O | PromiseLike<O>)
  | {
      /** Absolute path of a CommonJS module the worker requires. */
      module: string;
      /** The exported function to call. Default 'default'. */
      export?: string;
    };

/** Options for the blocking-work pool. */
export interface PoolOptions {
  /** Worker threads. Default: available parallelism, at least 2, at most 4. */
  size?: number;
  /** Tasks waiting for a worker before spawn() rejects with ERR_POOL_QUEUE_FULL. Default 1024. */
  maxQueue?: number;
}

/** An error from the pool itself (queue full, pool closed, worker died). */
export class PoolError extends Error {
  /** `'ERR_POOL_QUEUE_FULL'`, `'ERR_POOL_CLOSED'` or `'ERR_POOL_WORKER_EXITED'`. */
  readonly code: string;

  /**
   * @param message - what happened
   * @param code - a stable code for programs
   */
  constructor(message: string, code: string) {
    super(message);
    this.name = 'PoolError';
    this.code = code;
  }
}

interface Job extends JobMessage {
  done: Pending<unknown>;
}

interface Slot {
  worker: Worker;
  results: MessagePort;
  job: Job | null;
  /** Function sources this worker has compiled already. */
  known: Set<number>;
}

/** Each distinct task function gets a key; workers compile its source once. */
const fnKeys = new WeakMap<(input: never) => unknown, number>();
const fnSources = new Map<number, string>();
let nextFnKey = 1;

function reviveError(e: ErrorRecord): Error {
  const err = new Error(e.message) as Error & { code?: unknown };
  err.name = e.name;
  if (e.stack !== undefined) err.stack = e.stack;
  if (e.code !== undefined) err.code = e.code;
  return err;
}

/**
 * A fixed set of worker threads running blocking tasks for one EventLoop.
 * Results arrive on the loop's thread (in run() and attach() mode alike) as
 * {@link Pending} completions. Use it through `loop.spawnBlocking`.
 *
 * A task that throws or rejects rejects its Pending with an Error carrying
 * the original name, message, stack and code. A worker that dies mid-task
 * (e.g. process.exit in the task) rejects that task with
 * ERR_POOL_WORKER_EXITED and is replaced; Node reports worker exits on its
 * own event loop, so in run() mode this is seen once run() returns.
 */
export class BlockingPool {
  private readonly slots: Slot[] = [];
  private readonly queue: Job[] = [];
  private readonly inFlight = new Map<number, Job>();
  private readonly maxQueue: number;
  private nextId = 1;
  private closed = false;

  /**
   * @param waker - the loop's waker handle
   * @param options - see {@link PoolOptions}
   */
  constructor(
    private readonly waker: WakerHandle,
    options: PoolOptions = {},
  ) {
    const size = options.size ?? Math.min(4, Math.max(2, os.availableParallelism()));
    if (!Number.isInteger(size) || size < 1) throw new RangeError('pool size must be a positive integer');
    const maxQueue = options.maxQueue ?? 1024;
    if (!Number.isInteger(maxQueue) || maxQueue < 0) throw new RangeError('maxQueue must be a non-negative integer');
    this.maxQueue = maxQueue;
    // A missing worker file would make every worker exit at once and be
    // replaced, forever: say so instead.
    if (!fs.existsSync(WORKER_FILE)) throw new Error(`the pool's worker ${WORKER_FILE} is missing: build with npm run build:ts`);
    for (let i = 0; i < size; i++) this.slots.push(this.startWorker());
  }

  /** Worker threads in the pool. */
  get size(): number {
    return this.slots.length;
  }

  /** Tasks waiting for a worker. */
  get queued(): number {
    return this.queue.length;
  }

  /** Runs `task(input)` on a worker; the result arrives on the loop's thread. */
  spawn<I, O>(task: BlockingTask<I, O>, input: I): Pending<O> {
    if (this.closed) return Pending.rejected(new PoolError('the blocking pool is closed', 'ERR_POOL_CLOSED'));
    const job: Job = { id: this.nextId++, task: this.describe(task), input, done: new Pending<unknown>() };
    const idle = this.slots.find((s) => s.job === null);
    if (idle !== undefined) {
      this.send(idle, job);
    } else if (this.queue.length >= this.maxQueue) {
      return Pending.rejected(new PoolError(`the blocking pool's queue is full (${this.maxQueue})`, 'ERR_POOL_QUEUE_FULL'));
    } else {
      this.queue.push(job);
    }
    return job.done as Pending<O>;
  }

  /** Delivers every result that has arrived. Called by the loop's wake hook. */
  drain(): void {
    for (const slot of this.slots) {
      for (let m = receiveMessageOnPort(slot.results); m !== undefined; m = receiveMessageOnPort(slot.results)) {
        this.finish(slot, m.message as ResultMessage);
      }
    }
  }

  /**
   * Rejects queued and running tasks with ERR_POOL_CLOSED and terminates the
   * workers. Resolves when every worker has exited.
   */
  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    const err = new PoolError('the blocking pool is closed', 'ERR_POOL_CLOSED');
    for (const job of this.queue.splice(0)) job.done.reject(err);
    for (const job of this.inFlight.values()) job.done.reject(err);
    this.inFlight.clear();
    const exits = this.slots.map(async (slot) => {
      slot.results.close();
      await slot.worker.terminate();
    });
    return Promise.all(exits).then(() => undefined);
  }

  private describe(task: BlockingTask<never, unknown>): WireTask {
    if (typeof task === 'function') {
      let key = fnKeys.get(task);
      if (key === undefined) {
        key = nextFnKey++;
        fnKeys.set(task, key);
        fnSources.set(key, task.toString());
      }
      return { fnKey: key };
    }
    if (typeof task === 'object' && task !== null && typeof task.module === 'string' && path.isAbsolute(task.module)) {
      return { module: task.module, export: task.export ?? 'default' };
    }
    throw new TypeError('task must be a function or { module: <absolute path>, export?: name }');
  }

  private send(slot: Slot, job: Job): void {
    slot.job = job;
    this.inFlight.set(job.id, job);
    let task = job.task;
    if ('fnKey' in task && !slot.known.has(task.fnKey)) {
      task = { fnKey: task.fnKey, source: fnSources.get(task.fnKey) };
      slot.known.add(task.fnKey);
    }
    const message: JobMessage = { id: job.id, task, input: job.input };
    slot.worker.postMessage(message);
  }

  private finish(slot: Slot, msg: ResultMessage): void {
    const job = this.inFlight.get(msg.id);
    if (job === undefined) return;
    this.inFlight.delete(msg.id);
    if (slot.job === job) slot.job = null;
    const next = this.queue.shift();
    if (next !== undefined && !this.closed) this.send(slot, next);
    if (msg.ok) job.done.resolve(msg.value);
    else job.done.reject(reviveError(msg.error));
  }

  private startWorker(): Slot {
    const channel = new MessageChannel();
    const workerData: PoolWorkerData = { waker: this.waker, results: channel.port2 };
    const worker = new Worker(WORKER_FILE, { workerData, transferList: [channel.port2] });
    worker.unref();
    const slot: Slot = { worker, results: channel.port1, job: null, known: new Set() };
    worker.on('exit', () => this.workerExited(slot));
    worker.on('error', () => {
      // 'exit' follows; the task is rejected there.
    });
    return slot;
  }

  private workerExited(slot: Slot): void {
    if (this.closed) return;
    this.drain();
    const job = slot.job;
    const i = this.slots.indexOf(slot);
    if (i < 0) return;
    slot.results.close();
    const fresh = this.startWorker();
    this.slots[i] = fresh;
    if (job !== null) {
      this.inFlight.delete(job.id);
      job.done.reject(new PoolError('the worker running this task exited', 'ERR_POOL_WORKER_EXITED'));
    }
    const next = this.queue.shift();
    if (next !== undefined) this.send(fresh, next);
  }
}
