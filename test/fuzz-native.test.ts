/**
 * A short run of the native-argument fuzzer (scripts/fuzz-native.js): a
 * fixed seed, 20,000 calls with random arguments across every export of the
 * addon, in a child process. It must end with status 0: every call returned
 * or threw a JS error, and the process neither crashed, aborted nor hung.
 * `npm run fuzz -- --iterations N --seed S` runs longer ones; under
 * `npm run test:sanitize` this file runs against the ASan/UBSan build.
 */
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from './dist';

const SCRIPT = path.join(ROOT, 'scripts', 'fuzz-native.js');

/** Runs the fuzzer with `args`; resolves with its status, signal and output. */
function fuzz(args: string[], limitMs: number): Promise<{ status: number | null; signal: NodeJS.Signals | null; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [SCRIPT, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the fuzzer did not finish within ${limitMs} ms\n${out}\n${err}`));
    }, limitMs);
    child.on('exit', (status, signal) => {
      clearTimeout(timer);
      resolve({ status, signal, out, err });
    });
  });
}

describe('native argument fuzzer', () => {
  it('20,000 random calls (seed 1) neither crash nor hang the process', async () => {
    const r = await fuzz(['--iterations', '20000', '--seed', '1', '--quiet'], 150000);
    expect(r.signal).toBeNull();
    expect(r.status, `${r.out}\n${r.err}`).toBe(0);
    expect(r.out).toMatch(/fuzz-native: 20000 iterations \(seed 1\).*no crash/);
  }, 160000);

  it('refuses bad options with status 2 and a usage line', async () => {
    const r = await fuzz(['--iterations', '-5'], 30000);
    expect(r.status).toBe(2);
    expect(r.err).toContain('usage: npm run fuzz');
  });
});
