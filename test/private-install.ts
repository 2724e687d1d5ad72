/**
 * A copy of the compiled package in a directory only root can read, for the
 * tests of what a process that drops privileges can still do.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { later } from './cleanup';
import { ROOT } from './dist';

/**
 * Copies what the package runs from (dist/, the addon, package.json and
 * node-gyp-build, which finds the addon) into a fresh directory of mode
 * 0700, as a package installed where only its owner, root, can read;
 * removed after the test (register `afterEach(runCleanups)`). Returns the
 * package directory.
 */
export function privateInstall(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'edgeloop-private-'));
  later(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.chmodSync(dir, 0o700);
  for (const entry of ['dist', 'package.json', 'build/Release/edgeloop.node', 'node_modules/node-gyp-build']) {
    fs.cpSync(path.join(ROOT, entry), path.join(dir, entry), { recursive: true });
  }
  return dir;
}
