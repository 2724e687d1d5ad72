/**
 * Where the compiled package is, for the code a test runs outside vitest's
 * TypeScript transform: worker threads, child processes and the binaries
 * load dist/ of this checkout (`npm test` builds it first).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

/** The checkout's root. */
export const ROOT = path.resolve(__dirname, '..');

/** The compiled package (dist/ of this checkout). */
export const DIST = path.join(ROOT, 'dist');

/** Its entry point, for require() in workers and children. */
export const DIST_INDEX = path.join(DIST, 'index.js');

/** A compiled program under dist/cli. */
export function distCli(name: 'echo' | 'identd'): string {
  return path.join(DIST, 'cli', `${name}.js`);
}

/** Throws unless dist/ is at least as new as every src/ file (workers load dist/). */
export function assertDistFresh(): void {
  if (!fs.existsSync(DIST_INDEX)) throw new Error('dist/ is missing: run `npm run build:ts` first');
  const srcDir = path.join(ROOT, 'src');
  for (const rel of fs.readdirSync(srcDir, { recursive: true }) as string[]) {
    if (!rel.endsWith('.ts')) continue;
    const out = path.join(DIST, rel.replace(/\.ts$/, '.js'));
    if (!fs.existsSync(out) || fs.statSync(out).mtimeMs + 1 < fs.statSync(path.join(srcDir, rel)).mtimeMs) {
      throw new Error(`dist/ is older than src/${rel}: run \`npm run build:ts\` first`);
    }
  }
}
