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
 * Needs root (port 113, useradd, runuser), the Debian package nmap, and
 * `npx tsc -p .` first. Every wait is bounded (nmap: 60 s); every process
 * started here is killed by its pid afterwards.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

const ROOT = path.resolve(__dirname, '..');
const BIN = path.join(ROOT, 'dist', 'cli', 'identd.js');
const NODE = process.execPath;
const ALICE = 'edgeloop-alice';
const NMAP_TIMEOUT_MS = 60000;

function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

function ensureUser(user: string): void {
  const exists = (): boolean => {
    try {
      execFileSync('id', ['-u', user], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  };
  if (!exists()) {
    execFileSync('useradd', ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', user], { stdio: 'pipe', timeout: 10000 });
  }
  if (!exists()) throw new Error(`could not create user ${user}`);
}

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

/** A child whose stdout is collected; killed by pid in afterAll. */
class Proc {
  out = '';
  err = '';
  exit: { code: number | null; signal: string | null } | null = null;
  readonly exited: Promise<{ code: number | null; signal: string | null }>;

  constructor(readonly proc: ChildProcess) {
    proc.stdout?.setEncoding('utf8').on('data', (d: string) => (this.out += d));
    proc.stderr?.setEncoding('utf8').on('data', (d: string) => (this.err += d));
    this.exited = new Promise((resolve) =>
      proc.once('exit', (code, signal) => {
        this.exit = { code, signal };
        resolve(this.exit);
      }),
    );
  }

  /** Waits until stdout matches `re` (or the process exits), up to `ms`. */
  async until(re: RegExp, ms: number, what: string): Promise<RegExpMatchArray> {
    const deadline = Date.now() + ms;
    for (;;) {
      const m = this.out.match(re);
      if (m !== null) return m;
      if (this.exit !== null) throw new Error(`${what}: exited ${JSON.stringify(this.exit)}; stdout ${JSON.stringify(this.out)} stderr ${JSON.stringify(this.err)}`);
      if (Date.now() > deadline) throw new Error(`${what}: timed out after ${ms} ms; stdout ${JSON.stringify(this.out)} stderr ${JSON.stringify(this.err)}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  async kill(extraPids: number[] = []): Promise<void> {
    if (this.exit !== null) return;
    for (const pid of [...extraPids, this.proc.pid]) {
      try {
        if (pid) process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    await within(this.exited, 5000, 'exit after SIGKILL').catch(() => undefined);
  }
}

const OWNER_SCRIPT = `
const net = require('net');
const [host] = process.argv.slice(1);
const keep = new Set();
process.stdin.on('end', () => process.exit(0));
process.stdin.on('error', () => process.exit(0));
process.stdin.resume();
const s = net.createServer((c) => { keep.add(c); c.on('error', () => {}); c.on('close', () => keep.delete(c)); });
s.on('error', (e) => { console.log(JSON.stringify({ error: e.message })); process.exit(1); });
s.listen({ host, port: 0 }, () => console.log(JSON.stringify({ pid: process.pid, port: s.address().port })));
`;

let daemon: Proc | null = null;
const owners: { p: Proc; innerPid: number }[] = [];

/** A listener on `host` owned by edgeloop-alice; returns its port. */
async function aliceListener(host: string): Promise<number> {
  const p = new Proc(spawn('runuser', ['-u', ALICE, '--', NODE, '-e', OWNER_SCRIPT, host], { cwd: '/', stdio: ['pipe', 'pipe', 'pipe'] }));
  const entry = { p, innerPid: 0 };
  owners.push(entry);
  const m = await p.until(/\{"pid":(\d+),"port":(\d+)\}/, 10000, `alice's listener on ${host}`);
  entry.innerPid = Number(m[1]);
  return Number(m[2]);
}

/** Runs nmap with `args`, bounded by NMAP_TIMEOUT_MS; returns its stdout. */
async function nmap(args: string[]): Promise<string> {
  const p = new Proc(spawn('nmap', args, { stdio: ['ignore', 'pipe', 'pipe'] }));
  try {
    const exit = await within(p.exited, NMAP_TIMEOUT_MS, `nmap ${args.join(' ')}`);
    if (exit.code !== 0) throw new Error(`nmap exited ${JSON.stringify(exit)}: ${p.err}`);
    return p.out;
  } finally {
    await p.kill();
  }
}

/** The auth-owners result nmap printed for `port`, or null. */
function ownerIn(output: string, port: number): string | null {
  const m = new RegExp(`^${port}/tcp\\s+open\\b[^\\n]*\\n\\|_auth-owners: ([^\\n]*)$`, 'm').exec(output);
  return m === null ? null : m[1].trim();
}

/** Why the shared setup failed; every test then fails with it (never skips). */
let setupError: unknown = null;
beforeEach(() => {
  if (setupError !== null) throw setupError;
});

beforeAll(async () => {
  try {
    if (typeof process.getuid !== 'function' || process.getuid() !== 0) {
      throw new Error('the nmap acceptance test must run as root (port 113, useradd, runuser). CI runs as root.');
    }
    try {
      execFileSync('nmap', ['--version'], { stdio: 'ignore', timeout: 10000 });
    } catch {
      throw new Error('nmap is not installed: apt-get install nmap (the acceptance test needs it)');
    }
    if (!fs.existsSync(BIN)) throw new Error(`${BIN} is missing: run \`npx tsc -p .\` before this test`);
    ensureUser(ALICE);
    await requirePort113Free('127.0.0.1');
    await requirePort113Free('::1');
    daemon = new Proc(
      spawn(NODE, [BIN, '--address', '127.0.0.1', '--address', '::1', '--port', '113'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] }),
    );
    await daemon.until(/listening on 127\.0\.0\.1:113, \[::1\]:113/, 10000, 'edgeloop-identd on port 113');
  } catch (err) {
    setupError = err;
  }
}, 30000);

afterAll(async () => {
  await daemon?.kill();
  for (const { p, innerPid } of owners) {
    p.proc.stdin?.end();
    const gone = await within(p.exited, 2000, 'owner exit').then(() => true, () => false);
    if (!gone) await p.kill([innerPid]);
  }
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
