/**
 * The two programs run with npx from a checkout after `npm ci` (the package
 * links itself as a dev dependency, so its bins land in node_modules/.bin).
 */
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = path.join(__dirname, '..');

describe.each(['edgeloop-echo', 'edgeloop-identd'])('npx %s', (bin) => {
  it('is linked into node_modules/.bin and prints its help', () => {
    const r = spawnSync('npx', ['--no-install', bin, '--help'], { cwd: ROOT, encoding: 'utf8', timeout: 30_000 });
    expect(r.status).toBe(0);
    expect(r.stdout).toContain(`Usage: ${bin} [options]`);
  });
});
