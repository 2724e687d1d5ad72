/**
 * scripts/soak.js's own flags: a wrong one is named whether or not a value
 * follows it, and --help is the usage, not an error. (The soak itself runs
 * in CI after the suite, not here.)
 */
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';

const SOAK = path.join(__dirname, '..', 'scripts', 'soak.js');

function soak(args: string[]): { status: number | null; stdout: string; stderr: string } {
  return spawnSync(process.execPath, [SOAK, ...args], { encoding: 'utf8', timeout: 10_000 });
}

describe('npm run soak flags', () => {
  it('an unknown flag without a value is named as unknown, exit 2', () => {
    const r = soak(['--bogus']);
    expect(r.status).toBe(2);
    expect(r.stderr.split('\n')[0]).toBe('soak: unknown option --bogus');
  });

  it('--help prints the usage on stdout and exits 0', () => {
    const r = soak(['--help']);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^usage: npm run soak -- /);
  });

  it('a known flag missing its value says so, exit 2', () => {
    const r = soak(['--seconds']);
    expect(r.status).toBe(2);
    expect(r.stderr.split('\n')[0]).toBe('soak: --seconds needs a value');
  });
});
