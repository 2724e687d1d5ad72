/**
 * 10,000 connections on one io_uring loop, all sending at once: ten times
 * more recvs than the ring has buffers, so most of them run dry (ENOBUFS)
 * and must be re-armed as buffers come back, without losing or mixing up a
 * byte.
 */
import { spawnSync } from 'node:child_process';
import * as net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ioUringUnavailableReason } from '../src/index';
import { runCleanups } from './cleanup';
import { distCli } from './dist';
import { LineChild } from './line-child';

afterEach(runCleanups);

const CONNECTIONS = 10000;
const reason = ioUringUnavailableReason();
const fdLimit = Number(spawnSync('sh', ['-c', 'ulimit -n'], { encoding: 'utf8' }).stdout.trim());
// This process holds the clients; the server (a child) inherits the limit.
const skipWhy = reason !== '' ? `io_uring unavailable: ${reason}` : fdLimit < CONNECTIONS + 1000 ? `needs ulimit -n of at least ${CONNECTIONS + 1000}, have ${fdLimit}` : '';
if (skipWhy !== '') process.stdout.write(`io-uring-many skipped: ${skipWhy}\n`);

/** Opens one connection, sends its own 8 bytes and resolves once they come back. */
function echoOne(port: number, i: number, sockets: net.Socket[]): Promise<boolean> {
  const mine = Buffer.from(i.toString(16).padStart(8, '0'));
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    sockets.push(s);
    let got = Buffer.alloc(0);
    s.on('connect', () => s.write(mine));
    s.on('data', (d) => {
      got = Buffer.concat([got, d]);
      if (got.length >= mine.length) resolve(got.equals(mine));
    });
    s.on('error', () => resolve(false));
  });
}

describe('io_uring backend at 10,000 connections', () => {
  (skipWhy === '' ? it : it.skip)('echoes each of 10,000 concurrent connections its own bytes', async () => {
    const server = LineChild.node('edgeloop-echo', [distCli('echo'), '--port', '0', '--mode', 'run', '--backend', 'io_uring']);
    const line = await server.line(/ listening on /, 15000);
    expect(line).toContain('backend io_uring');
    const port = Number(/:(\d+) \(/.exec(line)?.[1]);
    const sockets: net.Socket[] = [];
    try {
      const results: Array<Promise<boolean>> = [];
      // Connect in batches of 500 so the listen backlog never overflows.
      for (let i = 0; i < CONNECTIONS; i += 500) {
        const batch = Array.from({ length: Math.min(500, CONNECTIONS - i) }, (_, k) => echoOne(port, i + k, sockets));
        results.push(...batch);
        await Promise.all(batch.map((p) => Promise.race([p, new Promise((r) => setTimeout(r, 20))])));
      }
      const ok = await Promise.race([
        Promise.all(results),
        new Promise<null>((r) => setTimeout(() => r(null), 60000)),
      ]);
      expect(ok).not.toBeNull();
      expect((ok as boolean[]).filter((x) => !x).length).toBe(0);
    } finally {
      for (const s of sockets) s.destroy();
    }
  }, 90000);
});
