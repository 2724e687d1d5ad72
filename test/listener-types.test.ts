/**
 * The listener types TypeScript users see: listen() and serve() on a
 * host:port give a LoopListener whose socket is a TcpListener.
 */
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = path.join(__dirname, '..');

describe('LoopListener types', () => {
  it('socket.localAddress().port type-checks after listen() and serve() on an inet address', () => {
    const tsc = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
    const fixture = path.join(__dirname, 'fixtures', 'listener-types.ts');
    const args = ['--noEmit', '--strict', '--module', 'node16', '--moduleResolution', 'node16', '--target', 'ES2022', '--types', 'node', '--skipLibCheck', fixture];
    const r = spawnSync(process.execPath, [tsc, ...args], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
    expect(r.stdout + r.stderr).toBe('');
    expect(r.status).toBe(0);
  }, 120_000);
});
