/**
 * Bounded waits for asynchronous tests: every await a test makes rejects
 * after a limit, so a missing event fails the test instead of hanging the
 * suite. The limits are hang guards, generous on purpose; tests assert on
 * order and events, never on how fast something happened.
 */

/**
 * How much slower than usual this run is allowed to be: the
 * EDGELOOP_TEST_SLOWDOWN factor (default 1), which `npm run test:valgrind`
 * sets because everything under memcheck runs many times slower.
 */
const SLOWDOWN = Math.max(1, Number(process.env.EDGELOOP_TEST_SLOWDOWN) || 1);

/** A hang guard of `ms`, stretched by the run's slowdown factor. */
export function hangGuard(ms: number): number {
  return ms * SLOWDOWN;
}

/** Resolves after `ms` (a macrotask: lets Node's loop run). */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Rejects after `ms`, naming `what`, unless `promise` settles first. */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  ms = hangGuard(ms);
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: nothing within ${ms} ms`)), ms);
  });
  return Promise.race([promise, limit]).finally(() => clearTimeout(timer));
}

/** Checks `cond` every 5 ms until it holds; rejects after `ms`. */
export async function waitFor(cond: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(5);
  }
}

/**
 * Something that changes on events (a socket's data, a child's output) and
 * can be waited on: subclasses call {@link notify} after each change, and
 * tests await {@link until} a condition holds.
 */
export abstract class Waitable {
  private readonly waiters = new Set<() => void>();

  /** What the timeout error reports about the current state. */
  protected abstract describeState(): string;

  /** Re-checks every pending {@link until}. */
  protected notify(): void {
    for (const w of [...this.waiters]) w();
  }

  /** Waits until `cond()` holds; rejects after `ms`, naming `what` and the state. */
  until(cond: () => boolean, ms: number, what: string): Promise<void> {
    if (cond()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (!cond()) return;
        clearTimeout(timer);
        this.waiters.delete(check);
        resolve();
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(new Error(`timed out after ${ms} ms waiting for ${what} (${this.describeState()})`));
      }, ms);
      this.waiters.add(check);
    });
  }
}
