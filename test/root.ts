/**
 * Tests that need root skip for other users, each with a note that starts
 * `needs root: ` and says why; test/summary-reporter.ts prints those notes
 * at the end of the run, so a skip is never silent. As root (CI) they run.
 */
import { beforeAll, beforeEach, type TestContext } from 'vitest';

/** Whether this process runs as root. */
export const IS_ROOT = typeof process.getuid === 'function' && process.getuid() === 0;

/** The skip note for `why`. */
export function rootNote(why: string): string {
  return `needs root: ${why}`;
}

/**
 * Skips every test of the enclosing describe (or file, at the top level)
 * unless this process runs as root, noting `why`.
 */
export function needsRoot(why: string): void {
  beforeEach((ctx) => {
    ctx.skip(!IS_ROOT, rootNote(why));
  });
}

/** Skips the running test unless this process runs as root, noting `why`. Call it first in the test. */
export function skipUnlessRoot(ctx: TestContext, why: string): void {
  ctx.skip(!IS_ROOT, rootNote(why));
}

/**
 * Runs `setup` once before the file's tests (a beforeAll bounded by `ms`)
 * when this process runs as root, and not at all otherwise: every test that
 * uses what it makes must skip for other users ({@link needsRoot},
 * {@link skipUnlessRoot}). When it fails, every test fails with its error
 * instead of being skipped, so a root run without the test users shows up
 * red, with why.
 */
export function setupAsRoot(setup: () => Promise<void>, ms: number): void {
  let setupError: unknown = null;
  beforeAll(async () => {
    if (!IS_ROOT) return;
    try {
      await setup();
    } catch (err) {
      setupError = err;
    }
  }, ms);
  beforeEach(() => {
    if (setupError !== null) throw setupError;
  });
}
