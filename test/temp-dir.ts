/**
 * A temporary directory for one test file: made before its first test,
 * removed with everything in it after its last.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll } from 'vitest';

/** What {@link useTempDir} returns. */
export interface TempDir {
  /** The directory (only valid once the file's tests run). */
  readonly path: string;
  /** Writes `body` to `name` inside it; returns the file's path. */
  write(name: string, body: string): string;
}

/**
 * Registers the hooks that make and remove a directory named after
 * `prefix`. Call once at the top level of a test file.
 */
export function useTempDir(prefix: string): TempDir {
  let dir = '';
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  });
  afterAll(() => {
    if (dir !== '') fs.rmSync(dir, { recursive: true, force: true });
  });
  return {
    get path() {
      if (dir === '') throw new Error('the temporary directory exists only while the tests run');
      return dir;
    },
    write(name, body) {
      const file = path.join(dir, name);
      fs.writeFileSync(file, body);
      return file;
    },
  };
}
