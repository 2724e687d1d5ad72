/**
 * Loops in worker threads: one blocking EventLoop per worker, several
 * workers sharing a port through SO_REUSEPORT.
 *
 * @packageDocumentation
 */
import { Worker, isMainThread, parentPort, type ResourceLimits } from 'node:worker_threads';
import { EventLoop, type LoopHandle } from './event-loop';

const READY = 'edgeloop:loop-ready';

interface ReadyMessage {
  type: typeof READY;
  handle: LoopHandle;
}

function isReady(msg: unknown): msg is ReadyMessage {
  return typeof msg === 'object' && msg !== null && (msg as { type?: unknown }).type === READY;
}

/**
 * Inside a worker started by {@link LoopWorkers.start}: tells the parent the
 * loop is ready (so it can be stopped from there), runs it until stopped
 * (blocking run(), or attach() with `mode` 'attach'), then closes it and
 * calls `onStopped`.
 *
 * @example
 * ```ts
 * // worker.js
 * const loop = new EventLoop();
 * loop.listen({ host: '127.0.0.1', port: 7007 }, makeHandler, { reusePort: true });
 * runLoopInWorker(loop);
 * ```
 */
export function runLoopInWorker(loop: EventLoop, mode: 'run' | 'attach' = 'run', onStopped?: () => void): void {
  if (isMainThread || parentPort === null) throw new Error('runLoopInWorker() must be called in a worker thread');
  const port = parentPort;
  const ready = (): void => port.postMessage({ type: READY, handle: loop.handle() } satisfies ReadyMessage);
  if (mode === 'attach') {
    // stopRemote() sets the flag and wakes the loop; the wake hook closes it,
    // and with nothing left to keep it alive the worker ends.
    loop.onWake(() => {
      if (!loop.stopRequested) return;
      loop.close();
      onStopped?.();
    });
    loop.attach();
    ready();
    return;
  }
  ready();
  try {
    loop.run();
  } finally {
    loop.close();
    onStopped?.();
  }
}

/** Options for {@link LoopWorkers.start}. */
export interface LoopWorkersOptions {
  /** How many workers. */
  count: number;
  /** The worker script; it must call {@link runLoopInWorker}. */
  filename: string | URL;
  /** Passed to each worker as `workerData` (with `index` added). */
  workerData?: Record<string, unknown>;
  /** Receives every other message a worker posts (from the first one on). */
  onMessage?: (message: unknown, index: number) => void;
  /** Longest wait for every worker to report ready, in ms. Default 10000. */
  readyTimeoutMs?: number;
  /**
   * Each worker's V8 heap limits, as for `new Worker`. Default
   * {@link DEFAULT_LOOP_WORKER_LIMITS}; pass `{}` for Node's own.
   */
  resourceLimits?: ResourceLimits;
}

/**
 * A loop worker's default heap limits: a young generation of at most
 * 3 MiB. A loop allocates per connection, not per message, and most of
 * what it allocates lives as long as its connection, so V8's default habit
 * of growing the young generation through a burst of accepts buys nothing
 * but resident memory (bench/run.js measures it: memory per idle
 * connection).
 */
export const DEFAULT_LOOP_WORKER_LIMITS: Readonly<ResourceLimits> = Object.freeze({ maxYoungGenerationSizeMb: 3 });

/**
 * A group of worker threads each running a blocking EventLoop. Listeners in
 * the workers bind the same port with `reusePort: true` and the kernel
 * spreads connections among them.
 */
export class LoopWorkers {
  /** The worker threads. */
  readonly threads: readonly Worker[];
  private readonly handles: LoopHandle[];

  private constructor(threads: Worker[], handles: LoopHandle[]) {
    this.threads = threads;
    this.handles = handles;
  }

  /** Starts the workers and resolves once every loop reported ready. */
  static async start(options: LoopWorkersOptions): Promise<LoopWorkers> {
    const { count, filename } = options;
    if (!Number.isInteger(count) || count < 1) throw new RangeError('count must be a positive integer');
    const threads: Worker[] = [];
    const ready: Promise<LoopHandle>[] = [];
    for (let index = 0; index < count; index++) {
      const worker = new Worker(filename, {
        workerData: { ...options.workerData, index },
        resourceLimits: options.resourceLimits ?? DEFAULT_LOOP_WORKER_LIMITS,
      });
      threads.push(worker);
      ready.push(
        new Promise<LoopHandle>((resolve, reject) => {
          const timer = setTimeout(
            () => reject(new Error(`worker ${index} did not start its loop in time`)),
            options.readyTimeoutMs ?? 10000,
          );
          worker.on('message', (msg: unknown) => {
            if (isReady(msg)) {
              clearTimeout(timer);
              resolve(msg.handle);
            } else {
              options.onMessage?.(msg, index);
            }
          });
          worker.once('error', (err) => {
            clearTimeout(timer);
            reject(err);
          });
          worker.once('exit', (code) => {
            clearTimeout(timer);
            reject(new Error(`worker ${index} exited with code ${code} before its loop was ready`));
          });
        }),
      );
    }
    try {
      return new LoopWorkers(threads, await Promise.all(ready));
    } catch (err) {
      await Promise.all(threads.map((t) => t.terminate()));
      throw err;
    }
  }

  /** Stops every loop and resolves when every worker has exited. */
  async stop(): Promise<void> {
    const exits = this.threads.map(
      (t) => new Promise<void>((resolve) => (t.threadId === -1 ? resolve() : t.once('exit', () => resolve()))),
    );
    for (const handle of this.handles) {
      try {
        EventLoop.stopRemote(handle);
      } catch {
        // The loop already closed (its worker ended on its own).
      }
    }
    await Promise.all(exits);
  }
}
