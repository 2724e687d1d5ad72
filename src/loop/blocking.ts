/**
 * The loop's pool of worker threads for blocking work, started on first use
 * and answering through the loop's Waker.
 *
 * @packageDocumentation
 */
import type { Pending } from '../pending';
import { BlockingPool, type BlockingTask, type PoolOptions } from '../pool';
import type { LoopCore } from './core';

/**
 * Starts the pool lazily (a loop that never blocks costs no threads) and
 * drains its answers from a wake hook, on the loop's thread.
 *
 * @internal
 */
export class LoopBlocking {
  private pool: BlockingPool | null = null;

  constructor(
    private readonly core: LoopCore,
    private readonly options: PoolOptions | undefined,
  ) {}

  spawn<I, O>(task: BlockingTask<I, O>, input: I): Pending<O> {
    return this.started().spawn(task, input);
  }

  prepare(init: BlockingTask<undefined, unknown>[]): Promise<void> {
    return this.started().prepare(init);
  }

  /** Closes the pool, if it was started; its pending tasks reject. */
  close(): void {
    if (this.pool === null) return;
    void this.pool.close();
    this.pool = null;
  }

  private started(): BlockingPool {
    if (this.pool === null) {
      const pool = new BlockingPool(this.core.waker.handle(), this.options);
      this.pool = pool;
      this.core.wakeHooks.add(() => pool.drain());
    }
    return this.pool;
  }
}
