/**
 * What a test opened, released after it even when it fails.
 *
 * A suite that uses {@link own} or {@link later} registers
 * `afterEach(runCleanups)` once. Vitest runs each test file in its own
 * module graph, so the list is per file.
 */

const cleanups: Array<() => unknown> = [];

/** Closes `thing` after the test, even when the test fails. */
export function own<T extends { close(): unknown }>(thing: T): T {
  cleanups.push(() => thing.close());
  return thing;
}

/** Runs `fn` after the test (newest first). */
export function later(fn: () => unknown): void {
  cleanups.push(fn);
}

/** For afterEach: runs every cleanup, newest first, ignoring failures. */
export async function runCleanups(): Promise<void> {
  while (cleanups.length > 0) {
    try {
      await cleanups.pop()!();
    } catch {
      // already closed by the test, or half-built
    }
  }
}
