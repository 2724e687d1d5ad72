/**
 * The edgeloop-identd binary (dist/cli/identd.js) as a child process for
 * the CLI suites: started on 127.0.0.1 at a free port, queried over
 * loopback, stopped by its pid. Every wait is bounded; every daemon is
 * killed by its pid after its test (register `afterEach(runCleanups)`).
 */
import { spawnSync } from 'node:child_process';
import * as net from 'node:net';
import { distCli, ROOT } from './dist';
import { LineChild } from './line-child';
import { NetClient } from './net-client';
import { within } from './waits';

/** The compiled binary. */
export const IDENTD = distCli('identd');

/** A running daemon. */
export interface Daemon {
  /** Its process, output collected. */
  child: LineChild;
  /** The port it listens on. */
  port: number;
  /** Its pid. */
  pid: number;
  /** Its "listening on" line. */
  listening: string;
}

/** A port free on 127.0.0.1 right now. */
export async function freePort(): Promise<number> {
  const s = net.createServer();
  await within(new Promise<void>((r, j) => s.once('error', j).listen(0, '127.0.0.1', () => r())), 3000, 'listen');
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** Starts the daemon on 127.0.0.1 with `args`; waits for its listening line (retrying a port taken meanwhile). */
export async function startDaemon(args: string[] = []): Promise<Daemon> {
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const child = LineChild.spawn('edgeloop-identd', process.execPath, [IDENTD, '--address', '127.0.0.1', '--port', String(port), ...args], {
      cwd: ROOT,
    });
    try {
      const listening = await child.line(/listening on/, 10000);
      return { child, port, pid: child.proc.pid as number, listening };
    } catch (err) {
      lastError = err;
      if (!/EADDRINUSE/.test(child.stderr)) throw err;
    }
  }
  throw lastError;
}

/** Sends `query` on `c` and returns the next reply line. */
export async function ask(c: NetClient, query: string): Promise<string> {
  const before = c.text.split('\r\n').length - 1;
  c.write(`${query}\r\n`);
  await c.until(() => c.text.split('\r\n').length - 1 > before || c.closed, 5000, `a reply to ${query}`);
  return c.text.split('\r\n')[before];
}

/** One query on a new connection to the daemon; its reply line. */
export async function query(port: number, q: string): Promise<string> {
  const c = await NetClient.connect(port);
  try {
    return await ask(c, q);
  } finally {
    c.destroy();
  }
}

/** Sends `signal` to the daemon by pid; resolves with its exit (bounded). */
export async function terminate(d: Daemon, signal: NodeJS.Signals = 'SIGTERM'): Promise<{ code: number | null; signal: string | null }> {
  process.kill(d.pid, signal);
  return within(d.child.exited, 5000, `edgeloop-identd exit after ${signal}`);
}

/** Runs the binary with `args` to completion (a daemon that does start is killed after 10 s). */
export function runIdentd(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [IDENTD, ...args], { cwd: ROOT, encoding: 'utf8', timeout: 10000, killSignal: 'SIGKILL' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
