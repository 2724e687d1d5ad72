/**
 * Acceptance against a client nobody here wrote: nmap's auth-owners script
 * asks the ident server on port 113 who owns each open port it scanned.
 *
 *   nmap -sT -Pn -p 113,PORT --script auth-owners 127.0.0.1
 *   nmap -6 -sT -Pn -p 113,PORT --script auth-owners ::1
 *
 * PORT is a listener run as edgeloop-alice (runuser); the daemon is the
 * compiled dist/cli/identd.js on 127.0.0.1:113 and [::1]:113. Port 113 must
 * be free: if another program holds it, the test fails and says so.
 *
 * Needs root (port 113, useradd, runuser; skipped, saying so, for other
 * users), the Debian package nmap, and `npx tsc -p .` first. Every wait is
 * bounded (nmap: 60 s); every process started here is killed by its pid
 * afterwards.
 */
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { runCleanups } from './cleanup';
import { distCli, ROOT } from './dist';
import { ALICE, ensureUser, SocketOwner, stopOwners } from './ident-owners';
import { LineChild } from './line-child';
import { needsRoot, setupAsRoot } from './root';

const BIN = distCli('identd');
const NMAP_TIMEOUT_MS = 60000;

/** Fails with a clear message when `host`:113 cannot be bound (in use, or not root). */
async function requirePort113Free(host: string): Promise<void> {
  const srv = net.createServer();
  const err = await new Promise<NodeJS.ErrnoException | null>((resolve) => {
    srv.once('error', (e: NodeJS.ErrnoException) => resolve(e));
    srv.listen({ host, port: 113, ipv6Only: host.includes(':'), exclusive: true }, () => resolve(null));
  });
  if (err === null) {
    await new Promise<void>((r) => srv.close(() => r()));
    return;
  }
  let holder = '';
  try {
    holder = execFileSync('ss', ['-ltnpH', 'sport = :113'], { encoding: 'utf8', timeout: 5000 }).trim();
  } catch {
    // ss missing: the message below still says what is wrong
  }
  throw new Error(
    `port 113 on ${host} is not available (${err.code}): the nmap acceptance test needs it for edgeloop-identd. ` +
      `Stop whatever holds it (e.g. oidentd)${holder ? `; ss shows: ${holder}` : ''}`,
  );
}

/** edgeloop-identd on port 113, started once for the file; killed by pid in afterAll. */
let daemon: LineChild | null = null;

/** A listener on `host` owned by edgeloop-alice; returns its port. */
async function aliceListener(host: string): Promise<number> {
  const owner = SocketOwner.start(ALICE, ['listen', host, '0']);
  return (await owner.wait((m) => typeof m.port === 'number', 10000, `alice's listener on ${host}`)).port as number;
}

/** Runs nmap with `args`, bounded by NMAP_TIMEOUT_MS; returns its stdout. */
async function nmap(args: string[]): Promise<string> {
  const p = LineChild.spawn('nmap', 'nmap', args);
  const exit = await p.runToEnd(NMAP_TIMEOUT_MS);
  if (exit.killed) throw new Error(`nmap ${args.join(' ')}: not done within ${NMAP_TIMEOUT_MS} ms`);
  if (exit.code !== 0) throw new Error(`nmap exited ${JSON.stringify(exit)}: ${p.stderr}`);
  return p.lines.join('\n');
}

/** The auth-owners result nmap printed for `port`, or null. */
function ownerIn(output: string, port: number): string | null {
  const m = new RegExp(`^${port}/tcp\\s+open\\b[^\\n]*\\n\\|_auth-owners: ([^\\n]*)$`, 'm').exec(output);
  return m === null ? null : m[1].trim();
}

afterEach(runCleanups);

needsRoot('binds port 113, creates edgeloop-alice (useradd) and runs her listener as her (runuser)');

// As root, every test fails with the setup's error (never skips) when it fails.
setupAsRoot(async () => {
  try {
    execFileSync('nmap', ['--version'], { stdio: 'ignore', timeout: 10000 });
  } catch {
    throw new Error('nmap is not installed: apt-get install nmap (the acceptance test needs it)');
  }
  if (!fs.existsSync(BIN)) throw new Error(`${BIN} is missing: run \`npx tsc -p .\` before this test`);
  ensureUser(ALICE);
  await requirePort113Free('127.0.0.1');
  await requirePort113Free('::1');
  daemon = new LineChild(
    'edgeloop-identd',
    spawn(process.execPath, [BIN, '--address', '127.0.0.1', '--address', '::1', '--port', '113'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] }),
  );
  await daemon.line(/listening on 127\.0\.0\.1:113, \[::1\]:113/, 10000);
}, 30000);

afterAll(async () => {
  await daemon?.kill();
  await stopOwners();
}, 20000);

describe('nmap auth-owners against edgeloop-identd on port 113', () => {
  it(
    'names edgeloop-alice as the owner of her port over IPv4 (127.0.0.1)',
    async () => {
      const port = await aliceListener('127.0.0.1');
      const out = await nmap(['-sT', '-Pn', '-p', `113,${port}`, '--script', 'auth-owners', '127.0.0.1']);
      expect(ownerIn(out, port), out).toBe(ALICE);
    },
    NMAP_TIMEOUT_MS + 20000,
  );

  it(
    'names edgeloop-alice as the owner of her port over IPv6 (::1)',
    async () => {
      const port = await aliceListener('::1');
      const out = await nmap(['-6', '-sT', '-Pn', '-p', `113,${port}`, '--script', 'auth-owners', '::1']);
      expect(ownerIn(out, port), out).toBe(ALICE);
    },
    NMAP_TIMEOUT_MS + 20000,
  );

  it(
    'names root as the owner of port 113 itself',
    async () => {
      const out = await nmap(['-sT', '-Pn', '-p', '113', '--script', 'auth-owners', '127.0.0.1']);
      expect(ownerIn(out, 113), out).toBe('root');
    },
    NMAP_TIMEOUT_MS + 20000,
  );
});
