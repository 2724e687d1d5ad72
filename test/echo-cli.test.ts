/**
 * The edgeloop-echo binary (dist/cli/echo.js): flags, errors, the listening
 * line, echoing, and totals on SIGINT, in attach mode, run mode, and with
 * several worker threads sharing the port.
 *
 * Runs the compiled program, so run `npx tsc -p .` first. Loopback only;
 * every wait is bounded; every child is started here and, if still running
 * after its test, killed by its own pid.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { applyBackendFlag } from '../src/cli/backend-flag';
import { afterEach, describe, expect, it } from 'vitest';
import { useTempDir } from './temp-dir';
import { later, runCleanups } from './cleanup';
import { distCli } from './dist';
import { LineChild } from './line-child';
import { NetClient } from './net-client';
import { sleep } from './waits';

// ---------------------------------------------------------------------------
// Helpers local to this file
// ---------------------------------------------------------------------------

const CLI = distCli('echo');
const COMMAND = 'edgeloop-echo';
const HELP_HINT = `(see ${COMMAND} --help)`;

afterEach(runCleanups);

const tmp = useTempDir('edgeloop-echo-cli-');

/**
 * A --require hook that reports on stderr, when the listening line is
 * written, how many SIGINT and SIGTERM listeners the process has.
 */
function signalHook(): string {
  const file = path.join(tmp.path, 'signal-hook.js');
  fs.writeFileSync(
    file,
    `'use strict';
const fs = require('node:fs');
const write = process.stdout.write;
process.stdout.write = function (chunk, ...rest) {
  if (String(chunk).includes(' listening on ')) {
    fs.writeSync(2, 'HOOK sigint=' + process.listenerCount('SIGINT') + ' sigterm=' + process.listenerCount('SIGTERM') + '\\n');
  }
  return write.call(this, chunk, ...rest);
};
`,
  );
  return file;
}

/** Runs the CLI to completion (for flag errors and --help), bounded to 10 s. */
function runToExit(args: string[]): { status: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 10000, killSignal: 'SIGKILL' });
  return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

/** Starts the CLI (with `nodeArgs` for node itself); killed after the test. */
function startCli(args: string[], nodeArgs: string[] = []): LineChild {
  return LineChild.node(COMMAND, [...nodeArgs, CLI, ...args]);
}

/** Waits for the CLI's listening line and parses it. */
async function listening(cli: LineChild, ms = 15000): Promise<{ line: string; port: number; mode: string; workers: number | null; pid: number }> {
  const line = await cli.line(/ listening on /, ms);
  const m = /^edgeloop-echo listening on 127\.0\.0\.1:(\d+) \(mode (run|attach)(?:, (\d+) workers?)?, (backend [^,]+(?: \(.*\))?), pid (\d+)\)$/.exec(line);
  if (m === null) throw new Error(`unexpected listening line: ${JSON.stringify(line)}`);
  expect(m[4]).toBe(applyBackendFlag(undefined));
  return { line, port: Number(m[1]), mode: m[2], workers: m[3] === undefined ? null : Number(m[3]), pid: Number(m[5]) };
}

/** Parses "edgeloop-echo stopped: C connections, B bytes, M messages". */
function parseTotals(lines: string[]): { connections: number; bytes: number; messages: number } {
  const line = lines.find((l) => l.startsWith(`${COMMAND} stopped:`));
  if (line === undefined) throw new Error(`no totals line in ${JSON.stringify(lines)}`);
  const m = /^edgeloop-echo stopped: (\d+) connections, (\d+) bytes, (\d+) messages$/.exec(line);
  if (m === null) throw new Error(`unexpected totals line: ${JSON.stringify(line)}`);
  return { connections: Number(m[1]), bytes: Number(m[2]), messages: Number(m[3]) };
}

/** Connects, sends `data` (in pieces), waits for it echoed back, closes. Returns what came back. */
async function echoOnce(port: number, data: Buffer, ms = 10000): Promise<Buffer> {
  const c = await NetClient.connect(port);
  for (let pos = 0; pos < data.length; pos += 1000) c.write(data.subarray(pos, pos + 1000));
  await c.receivedAtLeast(data.length, ms);
  if (c.receivedBytes < data.length) throw new Error(`echo on port ${port}: closed after ${c.receivedBytes} of ${data.length} bytes`);
  c.sock.end();
  return c.bytes;
}

/** Opens `n` connections at once, each echoing its own random payload; checks every byte. */
async function echoMany(port: number, n: number, size: number): Promise<number> {
  const payloads = Array.from({ length: n }, () => randomBytes(size));
  const replies = await Promise.all(payloads.map((p) => echoOnce(port, p)));
  replies.forEach((r, i) => expect(r.equals(payloads[i]), `connection ${i} echoed intact`).toBe(true));
  return n * size;
}

/** Connects and waits for the server to close the connection; returns bytes received. */
async function waitServerClose(port: number, send: string | null, ms = 10000): Promise<number> {
  const c = await NetClient.connect(port);
  if (send !== null) c.write(send);
  // A reset counts as closed.
  await c.waitClosed(ms);
  return c.receivedBytes;
}

/** Checks the one-line usage error and exit code 2. */
function expectUsageError(args: string[]): void {
  const r = runToExit(args);
  expect(r.signal).toBeNull();
  expect(r.status).toBe(2);
  expect(r.stdout).toBe('');
  // One error line naming the command; the only other line allowed is the
  // pointer to --help. No stack trace, no multi-line message.
  const lines = r.stderr.split('\n').filter((l) => l.length > 0 && l !== HELP_HINT);
  expect(lines, `stderr was ${JSON.stringify(r.stderr)}`).toHaveLength(1);
  expect(lines[0].startsWith(`${COMMAND}: `)).toBe(true);
}

// ---------------------------------------------------------------------------
// --help
// ---------------------------------------------------------------------------

describe('edgeloop-echo --help', () => {
  it('exits 0 and prints usage on stdout', () => {
    const r = runToExit(['--help']);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^Usage: edgeloop-echo \[options\]/);
    expect(r.stderr).toBe('');
  });

  it('documents every flag', () => {
    const r = runToExit(['--help']);
    for (const flag of ['--host', '--port', '-p,', '--mode', '--workers', '--max-connections', '--idle-timeout', '--help', '-h,']) {
      expect(r.stdout, `help mentions ${flag}`).toContain(flag);
    }
    // Each flag line carries a description, not just the flag.
    for (const line of r.stdout.split('\n').filter((l) => /^\s+(-\w, )?--/.test(l))) {
      expect(line.trim().split(/\s{2,}/).length, `description on: ${line}`).toBeGreaterThanOrEqual(2);
    }
  });

  it('accepts -h as well', () => {
    const r = runToExit(['-h']);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('--port');
  });
});

// ---------------------------------------------------------------------------
// Bad flags
// ---------------------------------------------------------------------------

describe('edgeloop-echo bad flags', () => {
  const cases: [string, string[]][] = [
    ['a non-numeric --port', ['--port', 'x']],
    ['a --port above 65535', ['--port', '70000']],
    ['an unknown --mode', ['--mode', 'foo']],
    ['--workers 0', ['--workers', '0']],
    ['a --workers above the maximum', ['--workers', '257']],
    ['a non-numeric --idle-timeout', ['--idle-timeout', 'abc']],
    ['--idle-timeout 0', ['--idle-timeout', '0']],
    ['--max-connections 0', ['--max-connections', '0']],
    ['an unknown flag', ['--bogus']],
    ['an unknown short flag', ['-x']],
    ['a stray argument', ['extra']],
    ['--port without a value', ['--port']],
    ['a negative --port given as a separate argument', ['--port', '-1']],
  ];
  for (const [what, args] of cases) {
    it(`prints one 'edgeloop-echo:' error line and exits 2 for ${what} (${args.join(' ')})`, () => {
      expectUsageError(args);
    });
  }
});

// ---------------------------------------------------------------------------
// Serving, per mode
// ---------------------------------------------------------------------------

interface ModeCase {
  name: string;
  args: string[];
  mode: 'attach' | 'run';
  workers: number | null;
  connections: number;
}

const MODES: ModeCase[] = [
  { name: 'attach mode', args: ['--port', '0'], mode: 'attach', workers: null, connections: 3 },
  { name: 'run mode', args: ['--port', '0', '--mode', 'run'], mode: 'run', workers: 1, connections: 3 },
  { name: 'attach mode with 2 workers', args: ['--port', '0', '--workers', '2'], mode: 'attach', workers: 2, connections: 20 },
  { name: 'run mode with 2 workers', args: ['--port', '0', '--mode', 'run', '--workers', '2'], mode: 'run', workers: 2, connections: 20 },
];

for (const mc of MODES) {
  describe(`edgeloop-echo ${mc.args.join(' ')} (${mc.name})`, () => {
    it('prints the listening line with the real port, the mode and its pid', async () => {
      const cli = startCli(mc.args);
      const l = await listening(cli);
      expect(l.port).toBeGreaterThan(0);
      expect(l.port).toBeLessThan(65536);
      expect(l.mode).toBe(mc.mode);
      expect(l.workers).toBe(mc.workers);
      expect(l.pid).toBe(cli.proc.pid);
    });

    it(`echoes on the printed port over ${mc.connections} simultaneous connections`, async () => {
      const cli = startCli(mc.args);
      const { port } = await listening(cli);
      await echoMany(port, mc.connections, 32 * 1024);
      expect(cli.exit).toBeNull();
    });

    it('on SIGINT prints totals of connections, bytes and messages that add up, and exits 0', async () => {
      const cli = startCli(mc.args);
      const { port } = await listening(cli);
      const bytes = await echoMany(port, mc.connections, 16 * 1024);
      // Let the server see every client's close before stopping.
      await sleep(100);
      cli.signal('SIGINT');
      const exit = await cli.waitExit();
      expect(exit).toEqual({ code: 0, signal: null });
      const totals = parseTotals(cli.lines);
      expect(totals.connections).toBe(mc.connections);
      expect(totals.bytes).toBe(bytes);
      expect(totals.messages).toBeGreaterThanOrEqual(mc.connections);
      expect(totals.messages).toBeLessThanOrEqual(bytes);
    });
  });
}

describe('edgeloop-echo signals and limits', () => {
  it('on SIGTERM also prints totals and exits 0', async () => {
    const cli = startCli(['--port', '0']);
    await listening(cli);
    await sleep(200); // see the next tests for a signal sent at once
    cli.signal('SIGTERM');
    expect(await cli.waitExit()).toEqual({ code: 0, signal: null });
    expect(parseTotals(cli.lines)).toEqual({ connections: 0, bytes: 0, messages: 0 });
  });

  it('prints zero totals on SIGINT in run mode with workers when nothing connected', async () => {
    const cli = startCli(['--port', '0', '--mode', 'run', '--workers', '2']);
    await listening(cli);
    await sleep(200); // see the next tests for a signal sent at once
    cli.signal('SIGINT');
    expect(await cli.waitExit()).toEqual({ code: 0, signal: null });
    expect(parseTotals(cli.lines)).toEqual({ connections: 0, bytes: 0, messages: 0 });
  });

  // A supervisor may send SIGINT as soon as it reads the listening line, so
  // the line must only be printed once the signal handlers are in place.
  // A preloaded hook records, at the moment the line is written, how many
  // SIGINT/SIGTERM listeners the process has (deterministic, unlike racing
  // a signal against the startup).
  for (const args of [['--port', '0'], ['--port', '0', '--mode', 'run'], ['--port', '0', '--workers', '2']]) {
    it(`has its SIGINT and SIGTERM handlers installed when it prints the listening line (${args.join(' ')})`, async () => {
      const cli = startCli(args, ['--require', signalHook()]);
      await listening(cli);
      await cli.until(() => /HOOK sigint=\d+ sigterm=\d+/.test(cli.stderr), 5000, 'the hook report');
      const m = /HOOK sigint=(\d+) sigterm=(\d+)/.exec(cli.stderr)!;
      expect({ sigint: Number(m[1]) >= 1, sigterm: Number(m[2]) >= 1 }).toEqual({ sigint: true, sigterm: true });
    });
  }

  it('--max-connections 1 closes a second simultaneous connection without echoing', async () => {
    const cli = startCli(['--port', '0', '--max-connections', '1']);
    const { port } = await listening(cli);
    // The first connection stays open (we hold it) ...
    const first = net.connect({ host: '127.0.0.1', port });
    later(() => void first.destroy());
    first.on('error', () => {});
    const firstEcho = new Promise<string>((resolve) => first.once('data', (d) => resolve(d.toString())));
    first.write('one');
    expect(await Promise.race([firstEcho, sleep(5000).then(() => 'timeout')])).toBe('one');
    // ... so the second one is closed at once.
    expect(await waitServerClose(port, 'two')).toBe(0);
  });

  it('--idle-timeout 0.2 closes an idle connection', async () => {
    const cli = startCli(['--port', '0', '--idle-timeout', '0.2']);
    const { port } = await listening(cli);
    expect(await waitServerClose(port, null, 10000)).toBe(0);
  });
});
