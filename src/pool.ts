/**
 * spawnBlocking: run blocking or CPU-heavy work on worker threads and get the
 * result back on the loop's thread, through the loop's Waker.
 *
 * @packageDocumentation
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { receiveMessageOnPort } from 'node:worker_threads';
import { Pending } from './pending';
import { PoolSlot, reviveError, type Job } from './pool-slot';
import type { JobMessage, ResultMessage, WireTask } from './pool-worker';
import type { WakerHandle } from './waker';

/**
 * The compiled worker entry (src/pool-worker.ts), found through dist/ from
 * this file's folder whether that is dist/ or src/, as ident/lookup.ts finds
 * its tasks: a worker thread runs JavaScript only, so when this module runs
 * from src/ under a TypeScript runner (the tests) the worker still comes
 * from the build, which `npm test` makes first (build:ts).
 */
const WORKER_FILE = path.resolve(__dirname, '..', 'dist', 'pool-worker.js');

/** The first delay before replacing a worker that could not start; it doubles per failure in a row. */
const RESTART_DELAY_MS = 100;
/** The longest delay between attempts to start a worker. */
const MAX_RESTART_DELAY_MS = 30_000;

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
  /**
   * Called on the main thread with the cause whenever a worker fails: it
   * exits (a task called process.exit, it ran out of memory), cannot load
   * its code, or an init task of {@link BlockingPool.prepare} fails as it
   * starts. A failing worker is replaced either way; the same cause again
   * (a replacement failing like the one before it) is reported once, until a
   * worker starts cleanly. Without it, failures only show in the tasks they
   * reject.
   */
  onWorkerError?: (error: PoolError) => void;
}

/** An error from the pool itself (queue full, pool closed, a worker died or could not start). */
export class PoolError extends Error {
  /**
   * `'ERR_POOL_QUEUE_FULL'`, `'ERR_POOL_CLOSED'`, `'ERR_POOL_WORKER_EXITED'`
   * (a worker exited) or `'ERR_POOL_WORKER_START'` (a worker could not load
   * its code or its init tasks). The last two carry the worker's error as
   * `cause`.
   */
  readonly code: string;

  /**
   * @param message - what happened
   * @param code - a stable code for programs
   * @param cause - the underlying error, if any
   */
  constructor(message: string, code: string, cause?: Error) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'PoolError';
    this.code = code;
  }
}

/** Each distinct task function gets a key; workers compile its source once. */
const fnKeys = new WeakMap<(input: never) => unknown, number>();
const fnSources = new Map<number, string>();
let nextFnKey = 1;

/**
 * A fixed set of worker threads running blocking tasks for one EventLoop.
 * Results arrive on the loop's thread (in run() and attach() mode alike) as
 * {@link Pending} completions. Use it through `loop.spawnBlocking`.
 *
 * A task that throws or rejects rejects its Pending with an Error carrying
 * the original name, message, stack and code. A worker that dies mid-task
 * (e.g. process.exit in the task) rejects that task with
 * ERR_POOL_WORKER_EXITED and is replaced; Node reports worker exits on its
 * own event loop, so in run() mode this is seen once run() returns. A
 * worker that cannot even start is replaced after a delay that doubles with
 * each failure in a row (100 ms up to 30 s), so a pool whose code cannot be
 * loaded does not spin.
 *
 * Worker threads load their code (this package's dist/, the addon, the task
 * modules) when they start, not when the pool is made. A process that drops
 * privileges, chroots or removes its files should first await
 * {@link BlockingPool.prepare}.
 */
export class BlockingPool {
  private readonly slots: PoolSlot[] = [];
  private readonly queue: Job[] = [];
  private readonly inFlight = new Map<number, Job>();
  private readonly maxQueue: number;
  private readonly onWorkerError: ((error: PoolError) => void) | undefined;
  /** Init tasks every worker runs as it starts, replacements included. */
  private readonly init: WireTask[] = [];
  private readonly initKeys = new Set<string>();
  private readonly restartTimers = new Set<NodeJS.Timeout>();
  /** Workers in a row that failed to start; sets the restart delay. */
  private startFailures = 0;
  /** The message last given to onWorkerError, so a repeated cause is reported once. */
  private lastReported: string | null = null;
  /** Why the last worker that failed to start did. */
  private lastStartError: Error | null = null;
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
    if (options.onWorkerError !== undefined && typeof options.onWorkerError !== 'function') {
      throw new TypeError('onWorkerError must be a function');
    }
    this.maxQueue = maxQueue;
    this.onWorkerError = options.onWorkerError;
    // An unreadable worker file would make every worker fail at once: say
    // why now, in the caller's terms.
    checkWorkerFile();
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
    const idle = this.slots.find((s) => s.state !== 'exited' && s.job === null);
    if (idle !== undefined) {
      this.send(idle, job);
    } else if (this.allDown()) {
      return Pending.rejected(this.noWorkerError());
    } else if (this.queue.length >= this.maxQueue) {
      return Pending.rejected(new PoolError(`the blocking pool's queue is full (${this.maxQueue})`, 'ERR_POOL_QUEUE_FULL'));
    } else {
      this.queue.push(job);
    }
    return job.done as Pending<O>;
  }

  /**
   * Resolves once every worker has started (loaded this package's code and
   * the addon) and run each of `init` once. Workers started later, to
   * replace one that failed, run the init tasks too before taking jobs.
   * Init tasks take no input; a module task loads its module for later jobs
   * and may set up what they need, e.g. a name-service lookup that loads
   * its libraries. A task given again (the same function, or module and
   * export) is not run again.
   *
   * Rejects with the first init task's error, or with a PoolError
   * (ERR_POOL_WORKER_START) when a worker cannot start. Node delivers the
   * answers on its own event loop: await it before `loop.run()`.
   */
  prepare(init: BlockingTask<undefined, unknown>[] = []): Promise<void> {
    if (this.closed) return Promise.reject(new PoolError('the blocking pool is closed', 'ERR_POOL_CLOSED'));
    const fresh: WireTask[] = [];
    for (const task of init) {
      const wire = this.describe(task as BlockingTask<never, unknown>);
      const key = 'module' in wire ? `${wire.module}#${wire.export}` : `fn${wire.fnKey}`;
      if (this.initKeys.has(key)) continue;
      this.initKeys.add(key);
      // Workers that start later get the source with the task, not first with a job.
      fresh.push('fnKey' in wire ? { fnKey: wire.fnKey, source: fnSources.get(wire.fnKey) } : wire);
    }
    this.init.push(...fresh);
    const answers = this.slots.map((slot) => {
      if (slot.state === 'exited') return Promise.reject(this.noWorkerError());
      for (const t of fresh) if ('fnKey' in t) slot.known.add(t.fnKey);
      return slot.prepare(fresh).catch((err: Error) => {
        if (slot.state !== 'exited') throw err;
        throw new PoolError(`a blocking pool worker exited before it had run its init tasks: ${err.message}`, 'ERR_POOL_WORKER_START', err);
      });
    });
    return Promise.all(answers).then(() => undefined);
  }

  /** Delivers every result that has arrived. Called by the loop's wake hook. */
  drain(): void {
    // An exited slot was drained as it exited; its port is closed.
    for (const slot of this.slots) if (slot.state !== 'exited') this.drainSlot(slot);
  }

  /**
   * Rejects queued and running tasks with ERR_POOL_CLOSED and terminates the
   * workers. Resolves when every worker has exited.
   */
  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    const err = new PoolError('the blocking pool is closed', 'ERR_POOL_CLOSED');
    for (const timer of this.restartTimers) clearTimeout(timer);
    this.restartTimers.clear();
    for (const job of this.queue.splice(0)) job.done.reject(err);
    for (const job of this.inFlight.values()) job.done.reject(err);
    this.inFlight.clear();
    const exits = this.slots.map(async (slot) => {
      if (slot.state !== 'exited') await slot.terminate(err);
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

  private send(slot: PoolSlot, job: Job): void {
    slot.job = job;
    this.inFlight.set(job.id, job);
    let task = job.task;
    if ('fnKey' in task && !slot.known.has(task.fnKey)) {
      task = { fnKey: task.fnKey, source: fnSources.get(task.fnKey) };
      slot.known.add(task.fnKey);
    }
    const message: JobMessage = { id: job.id, task, input: job.input };
    slot.post(message);
  }

  private drainSlot(slot: PoolSlot): void {
    for (let m = receiveMessageOnPort(slot.results); m !== undefined; m = receiveMessageOnPort(slot.results)) {
      this.finish(slot, m.message as ResultMessage);
    }
  }

  private finish(slot: PoolSlot, msg: ResultMessage): void {
    const job = this.inFlight.get(msg.id);
    if (job === undefined) return;
    this.inFlight.delete(msg.id);
    if (slot.job === job) slot.job = null;
    const next = this.queue.shift();
    if (next !== undefined && !this.closed) this.send(slot, next);
    if (msg.ok) job.done.resolve(msg.value);
    else job.done.reject(reviveError(msg.error));
  }

  private startWorker(): PoolSlot {
    // Known function sources travel with the first job that needs them;
    // init functions come with their source (prepare() made them so).
    const slot = new PoolSlot(WORKER_FILE, this.waker, this.init, {
      started: (s, error) => this.workerStarted(s, error),
      exited: (s, cause) => this.workerExited(s, cause),
    });
    for (const t of this.init) if ('fnKey' in t) slot.known.add(t.fnKey);
    return slot;
  }

  private workerStarted(slot: PoolSlot, error: Error | undefined): void {
    if (this.closed || !this.slots.includes(slot)) return;
    if (error !== undefined) {
      this.report(new PoolError(`a blocking pool worker could not run its init tasks: ${error.message}`, 'ERR_POOL_WORKER_START', error));
      return;
    }
    this.startFailures = 0;
    this.lastStartError = null;
    this.lastReported = null;
  }

  private workerExited(slot: PoolSlot, cause: Error): void {
    if (this.closed) return;
    const i = this.slots.indexOf(slot);
    if (i < 0) return;
    this.drainSlot(slot);
    const job = slot.job;
    slot.job = null;
    if (job !== null) {
      this.inFlight.delete(job.id);
      job.done.reject(new PoolError(`the worker running this task exited: ${cause.message}`, 'ERR_POOL_WORKER_EXITED', cause));
    }
    if (slot.hasStarted) {
      this.report(new PoolError(`a blocking pool worker exited: ${cause.message}`, 'ERR_POOL_WORKER_EXITED', cause));
      this.replace(i);
      return;
    }
    // Node says "Cannot find module" for a file it may not read: name the
    // real problem when it is that one.
    const reason = workerFileProblem() ?? cause;
    this.lastStartError = reason;
    this.report(new PoolError(`a blocking pool worker could not start: ${reason.message}`, 'ERR_POOL_WORKER_START', cause));
    // Starting again at once would fail the same way, as fast as threads
    // can be made: wait, longer after each failure in a row.
    const delay = Math.min(MAX_RESTART_DELAY_MS, RESTART_DELAY_MS * 2 ** this.startFailures);
    this.startFailures++;
    const timer = setTimeout(() => {
      this.restartTimers.delete(timer);
      if (!this.closed) this.replace(i);
    }, delay);
    timer.unref();
    this.restartTimers.add(timer);
    if (this.allDown()) {
      const err = this.noWorkerError();
      for (const queued of this.queue.splice(0)) queued.done.reject(err);
    }
  }

  /** Puts a new worker in slot `i` and gives it the next queued job. */
  private replace(i: number): void {
    const fresh = this.startWorker();
    this.slots[i] = fresh;
    const next = this.queue.shift();
    if (next !== undefined) this.send(fresh, next);
  }

  private allDown(): boolean {
    return this.slots.every((s) => s.state === 'exited');
  }

  private noWorkerError(): PoolError {
    const cause = this.lastStartError ?? undefined;
    const why = cause === undefined ? '' : `: ${cause.message}`;
    return new PoolError(`no worker of the blocking pool could start${why}`, 'ERR_POOL_WORKER_START', cause);
  }

  private report(error: PoolError): void {
    if (this.onWorkerError === undefined || error.message === this.lastReported) return;
    this.lastReported = error.message;
    this.onWorkerError(error);
  }
}

/** Why the worker entry cannot be read, or null when it can. */
function workerFileProblem(): Error | null {
  try {
    fs.accessSync(WORKER_FILE, fs.constants.R_OK);
    return null;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return new Error(`the pool's worker ${WORKER_FILE} is missing: build with npm run build:ts`);
    return new Error(
      `the pool's worker ${WORKER_FILE} cannot be read (${code}): start the pool (loop.prepareBlocking()) before dropping privileges`,
    );
  }
}

/** Throws a clear error when the worker entry cannot be read. */
function checkWorkerFile(): void {
  const problem = workerFileProblem();
  if (problem !== null) throw problem;
}
