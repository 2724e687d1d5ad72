/**
 * The edgeloop-identd binary (dist/cli/identd.js): flag validation, the
 * running daemon's output, its answers and log, SIGTERM, and dropping
 * privileges with --user.
 *
 * Needs `npx tsc -p .` first (the binary is the compiled dist/cli/identd.js).
 * The tests that ask about the test users' sockets (useradd, runuser) or
 * use --user need root and skip, saying so, for other users; the rest run
 * as anyone. Every daemon listens on loopback only,
 * on a free port; every wait is bounded; every process started here is
 * killed by its pid if still running after its test.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { applyBackendFlag } from '../src/cli/backend-flag';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { later, runCleanups } from './cleanup';
import { distCli, ROOT } from './dist';
import { ALICE, BOB, ensureUser, idOf, ownedConnection, stopOwners } from './ident-owners';
import { LineChild } from './line-child';
import { NetClient } from './net-client';
import { privateInstall } from './private-install';
import { needsRoot, setupAsRoot, skipUnlessRoot } from './root';
import { sleep, within } from './waits';

const BIN = distCli('identd');
const NODE = process.execPath;
const HINT = '(see edgeloop-identd --help)';

// ---------------------------------------------------------------------------
// Cleanup and waits
// ---------------------------------------------------------------------------

afterEach(runCleanups);

/** A port free on both 127.0.0.1 and ::1 right now. */
async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const a = net.createServer();
    await within(new Promise<void>((r, j) => a.once('error', j).listen(0, '127.0.0.1', () => r())), 3000, 'listen');
    const port = (a.address() as net.AddressInfo).port;
    const b = net.createServer();
    const ok = await new Promise<boolean>((r) => {
      b.once('error', () => r(false));
      b.listen({ port, host: '::1', ipv6Only: true }, () => r(true));
    });
    await new Promise<void>((r) => a.close(() => r()));
    if (ok) await new Promise<void>((r) => b.close(() => r()));
    if (ok) return port;
  }
  throw new Error('no free port on 127.0.0.1 and ::1');
}

/** alice listens on 127.0.0.1, bob connects to her. */
let conn = { serverPort: 0, clientPort: 0 };
let aliceUid = 0;

/** Why the tests that ask about alice's and bob's sockets need root. */
const OWNERS = 'asks about a connection between the test users edgeloop-alice and edgeloop-bob, made by creating them (useradd) and running processes as them (runuser)';

beforeAll(() => {
  if (!fs.existsSync(BIN)) throw new Error(`${BIN} is missing: run \`npx tsc -p .\` before these tests`);
});

// As root, every test fails with the setup's error (never skips) when it fails.
setupAsRoot(async () => {
  aliceUid = ensureUser(ALICE);
  ensureUser(BOB);
  conn = await ownedConnection({ listenUser: ALICE, listenHost: '127.0.0.1', connectUser: BOB, connectHost: '127.0.0.1' });
}, 30000);

afterAll(stopOwners, 20000);

// ---------------------------------------------------------------------------
// The daemon
// ---------------------------------------------------------------------------

interface Daemon {
  child: LineChild;
  port: number;
  pid: number;
  listening: string;
}

/**
 * Starts the daemon on 127.0.0.1 (and any given addresses) at a free port;
 * waits for its listening line. `install` is the package directory to run
 * it from (default this checkout).
 */
async function startDaemon(args: string[] = [], addresses = ['127.0.0.1'], install = ROOT): Promise<Daemon> {
  let lastError: unknown;
  const bin = path.join(install, path.relative(ROOT, BIN));
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const argv = [bin, ...addresses.flatMap((a) => ['--address', a]), '--port', String(port), ...args];
    const child = LineChild.spawn('edgeloop-identd', NODE, argv, { cwd: install });
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

/** A query connection to the daemon; returns the reply lines once `n` arrived (or it closed). */
async function query(port: number, text: string, n: number, host = '127.0.0.1'): Promise<string[]> {
  const c = await NetClient.connect(port, { host });
  c.write(text);
  await c.until(() => c.text.split('\r\n').length - 1 >= n || c.closed, 5000, `${n} replies`);
  c.destroy();
  const lines = c.text.split('\r\n');
  lines.pop();
  return lines;
}

/** SIGTERM by pid; resolves with the exit once it came (bounded). */
async function terminate(d: Daemon, signal: NodeJS.Signals = 'SIGTERM'): Promise<{ code: number | null; signal: string | null }> {
  process.kill(d.pid, signal);
  return within(d.child.exited, 5000, `edgeloop-identd exit after ${signal}`);
}

/** Runs the binary to completion with `args` (bounded: a daemon that starts is killed after 10 s). */
function runBinary(args: string[]): { status: number | null; stdout: string; stderr: string; signal: string | null } {
  const r = spawnSync(NODE, [BIN, ...args], { cwd: ROOT, encoding: 'utf8', timeout: 10000, killSignal: 'SIGKILL' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, signal: r.signal };
}

// ---------------------------------------------------------------------------
// --help
// ---------------------------------------------------------------------------

describe('--help', () => {
  it('exits 0 and prints the usage to stdout only', () => {
    const r = runBinary(['--help']);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^Usage: edgeloop-identd \[options\]/);
    expect(r.stderr).toBe('');
  });

  const flags = [
    '--address',
    '--port',
    '--idle-timeout',
    '--max-connections',
    '--opsys',
    '--charset',
    '--reply',
    '--fail-reply',
    '--unknown-error',
    '--hide',
    '--user',
    '--group',
    '--quiet',
    '--help',
  ];

  it.each(flags)('lists %s', (flag) => {
    const r = runBinary(['--help']);
    expect(r.stdout).toMatch(new RegExp(`(^|\\s)${flag}(\\s|$)`, 'm'));
  });

  it('-h is the same as --help', () => {
    const r = runBinary(['-h']);
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(runBinary(['--help']).stdout);
  });
});

// ---------------------------------------------------------------------------
// Bad flags: one line on stderr starting 'edgeloop-identd:', exit 2
// ---------------------------------------------------------------------------

describe('bad flag values', () => {
  let port = 0;
  beforeAll(async () => {
    port = await freePort();
  });

  const bad: [string, string[], RegExp][] = [
    ['--port 0', ['--port', '0'], /--port/],
    ['--port 70000', ['--port', '70000'], /--port/],
    ['--port x', ['--port', 'x'], /--port/],
    ['--port without a value', ['--port'], /--port/],
    ['--idle-timeout -1', ['--idle-timeout', '-1'], /--idle-timeout/],
    ['--idle-timeout=-1', ['--idle-timeout=-1'], /--idle-timeout/],
    ['--idle-timeout x', ['--idle-timeout', 'x'], /--idle-timeout/],
    ['--idle-timeout 0', ['--idle-timeout', '0'], /--idle-timeout/],
    ['--max-connections 0', ['--max-connections', '0'], /--max-connections/],
    ['--max-connections x', ['--max-connections', 'x'], /--max-connections/],
    ['an unknown flag --bogus', ['--bogus'], /--bogus/],
    ['a stray argument', ['stray'], /stray/],
    ['--address nonsense', ['--address', 'nonsense'], /--address|nonsense/],
    ['--address 999.1.1.1', ['--address', '999.1.1.1'], /--address|999\.1\.1\.1/],
    ['--address cafe (hex letters only)', ['--address', 'cafe'], /--address|cafe/],
    ['--reply with a newline', ['--reply', 'evil\n1, 2 : USERID : UNIX : root'], /--reply/],
    ['--reply with a CR', ['--reply', 'evil\rx'], /--reply/],
    ['--fail-reply with a newline', ['--fail-reply', 'a\nb'], /--fail-reply/],
    ['--opsys with a newline', ['--opsys', 'UNIX\nX'], /--opsys/],
    ['--charset with a newline', ['--charset', 'UTF-8\nX'], /--charset/],
    ['--reply empty (RFC 1413 wants a user id)', ['--reply', ''], /--reply/],
    ['--reply with a space', ['--reply', 'a b'], /--reply/],
    ['--reply starting with a colon', ['--reply', ':x'], /--reply/],
    ['--fail-reply empty', ['--fail-reply', ''], /--fail-reply/],
    ['--opsys with a colon', ['--opsys', 'X:Y'], /--opsys/],
    ['--opsys empty', ['--opsys', ''], /--opsys/],
    ['--charset with a comma', ['--charset', 'a,b'], /--charset/],
    ['--user naming no user', ['--user', 'edgeloop-no-such-user'], /--user|edgeloop-no-such-user/],
  ];

  it.each(bad)('%s: exits 2 with one "edgeloop-identd:" line', (_what, args, mentions) => {
    // Loopback and a free port first, so a value wrongly accepted cannot bind
    // anything else (and the later bad flag overrides them).
    const r = runBinary(['--address', '127.0.0.1', '--port', String(port), ...args]);
    const lines = r.stderr.split('\n').filter((l) => l !== '');
    expect({ status: r.status, stdout: r.stdout }).toEqual({ status: 2, stdout: '' });
    expect(lines[0]).toMatch(/^edgeloop-identd: /);
    expect(lines[0]).toMatch(mentions);
    // One message line; the only other line allowed is the --help hint.
    expect(lines.slice(1).filter((l) => l !== HINT)).toEqual([]);
  });
});

// ---------------------------------------------------------------------------
// A running daemon
// ---------------------------------------------------------------------------

describe('running daemon', () => {
  it('prints "edgeloop-identd listening on 127.0.0.1:PORT (pid PID, netlink)"', async () => {
    const d = await startDaemon();
    expect(d.listening).toBe(`edgeloop-identd listening on 127.0.0.1:${d.port} (pid ${d.pid}, ${applyBackendFlag(undefined)}, netlink)`);
  });

  it('lists every address it listens on (127.0.0.1 and [::1])', async () => {
    const d = await startDaemon([], ['127.0.0.1', '::1']);
    expect(d.listening).toBe(`edgeloop-identd listening on 127.0.0.1:${d.port}, [::1]:${d.port} (pid ${d.pid}, ${applyBackendFlag(undefined)}, netlink)`);
  });

  it('answers a query with the owner of a connection end', async (ctx) => {
    skipUnlessRoot(ctx, OWNERS);
    const d = await startDaemon();
    const q = `${conn.serverPort}, ${conn.clientPort}`;
    expect(await query(d.port, `${q}\r\n`, 1)).toEqual([`${q} : USERID : UNIX : ${ALICE}`]);
  });

  it('answers over ::1 when listening there', async () => {
    const d = await startDaemon([], ['127.0.0.1', '::1']);
    expect(await query(d.port, '1, 2\r\n', 1, '::1')).toEqual(['1, 2 : ERROR : NO-USER']);
  });

  it('logs one line per query: querier, query and reply', async (ctx) => {
    skipUnlessRoot(ctx, OWNERS);
    const d = await startDaemon();
    const q = `${conn.serverPort}, ${conn.clientPort}`;
    await query(d.port, `${q}\r\n1, 2\r\nx\r\n`, 3);
    await d.child.count(/^edgeloop-identd: /, 3, 3000);
    await terminate(d);
    const logs = d.child.lines.filter((l) => /^edgeloop-identd: /.test(l));
    expect(logs.sort()).toEqual(
      [
        `edgeloop-identd: 127.0.0.1 "${q}" -> ${q} : USERID : UNIX : ${ALICE}`,
        'edgeloop-identd: 127.0.0.1 "1, 2" -> 1, 2 : ERROR : NO-USER',
        'edgeloop-identd: 127.0.0.1 "x" -> x : ERROR : INVALID-PORT',
      ].sort(),
    );
  });

  it('logs nothing per query with --quiet', async () => {
    const d = await startDaemon(['--quiet']);
    await query(d.port, 'x\r\n0, 4\r\n', 2);
    await terminate(d);
    expect(d.child.lines.filter((l) => /^edgeloop-identd: /.test(l))).toEqual([]);
  });

  it('on SIGTERM prints "stopped: N queries answered" and exits 0', async () => {
    const d = await startDaemon();
    await query(d.port, 'x\r\n0, 4\r\n', 2);
    const exit = await terminate(d);
    expect(exit).toEqual({ code: 0, signal: null });
    expect(d.child.lines.at(-1)).toBe('edgeloop-identd stopped: 2 queries answered');
  });

  it('with --quiet still counts the queries in its stopped line', async () => {
    const d = await startDaemon(['--quiet']);
    await query(d.port, 'x\r\n0, 4\r\n5, 70000\r\n', 3);
    await terminate(d);
    expect(d.child.lines).toEqual([d.listening, 'edgeloop-identd stopped: 3 queries answered']);
  });

  it('on SIGINT prints its stopped line and exits 0', async () => {
    const d = await startDaemon();
    await query(d.port, 'x\r\n', 1);
    const exit = await terminate(d, 'SIGINT');
    expect(exit).toEqual({ code: 0, signal: null });
    expect(d.child.lines.at(-1)).toBe('edgeloop-identd stopped: 1 queries answered');
  });

  // BUG: identd.ts prints its "listening" line before it installs the
  // SIGINT/SIGTERM handlers, so a supervisor that stops the daemon as soon
  // as it reports ready kills it by the default signal action: no stopped
  // line, exit by signal instead of 0 (about 1 start in 5 here; 15 starts
  // make a miss unlikely).
  it('handles a SIGTERM sent the moment the listening line appears', async () => {
    const exits: { code: number | null; signal: string | null }[] = [];
    for (let i = 0; i < 15; i++) {
      const d = await startDaemon();
      exits.push(await terminate(d));
    }
    expect(exits.filter((e) => e.code !== 0)).toEqual([]);
  }, 60000);

  it('writes nothing to stderr in a normal run', async () => {
    const d = await startDaemon();
    await query(d.port, '1, 2\r\n', 1);
    await terminate(d);
    expect(d.child.stderr).toBe('');
  });

  it('exits 1 with one line when the port is taken', async () => {
    const d = await startDaemon();
    const r = runBinary(['--address', '127.0.0.1', '--port', String(d.port)]);
    expect(r.status).toBe(1);
    expect(r.stderr.split('\n').filter(Boolean)).toHaveLength(1);
    expect(r.stderr).toMatch(/^edgeloop-identd: .*EADDRINUSE/);
  });
});

// ---------------------------------------------------------------------------
// Flags reach the server
// ---------------------------------------------------------------------------

describe('flags reach the server', () => {
  it('--reply answers every query with that user', async () => {
    const d = await startDaemon(['--reply', 'fixed-user']);
    expect(await query(d.port, '1, 2\r\n', 1)).toEqual(['1, 2 : USERID : UNIX : fixed-user']);
  });

  it('--fail-reply answers a lookup miss with that user', async () => {
    const d = await startDaemon(['--fail-reply', 'guest']);
    expect(await query(d.port, '1, 2\r\n', 1)).toEqual(['1, 2 : USERID : UNIX : guest']);
  });

  it('--unknown-error answers every error as UNKNOWN-ERROR', async () => {
    const d = await startDaemon(['--unknown-error']);
    expect(await query(d.port, '1, 2\r\nx\r\n', 2)).toEqual(['1, 2 : ERROR : UNKNOWN-ERROR', 'x : ERROR : UNKNOWN-ERROR']);
  });

  it('--hide NAME answers HIDDEN-USER for that user', async (ctx) => {
    skipUnlessRoot(ctx, OWNERS);
    const d = await startDaemon(['--hide', ALICE]);
    const q = `${conn.serverPort}, ${conn.clientPort}`;
    expect(await query(d.port, `${q}\r\n`, 1)).toEqual([`${q} : ERROR : HIDDEN-USER`]);
  });

  it('--hide UID answers HIDDEN-USER for that uid', async (ctx) => {
    skipUnlessRoot(ctx, OWNERS);
    const d = await startDaemon(['--hide', String(aliceUid)]);
    const q = `${conn.serverPort}, ${conn.clientPort}`;
    expect(await query(d.port, `${q}\r\n`, 1)).toEqual([`${q} : ERROR : HIDDEN-USER`]);
  });

  it('--opsys and --charset appear in USERID replies', async (ctx) => {
    skipUnlessRoot(ctx, OWNERS);
    const d = await startDaemon(['--opsys', 'OTHER', '--charset', 'UTF-8']);
    const q = `${conn.clientPort}, ${conn.serverPort}`;
    expect(await query(d.port, `${q}\r\n`, 1)).toEqual([`${q} : USERID : OTHER,UTF-8 : ${BOB}`]);
  });

  it('--idle-timeout 0.3 closes an idle connection after about 300 ms', async () => {
    const d = await startDaemon(['--idle-timeout', '0.3']);
    const sock = net.connect({ host: '127.0.0.1', port: d.port });
    later(() => {
      sock.destroy();
    });
    sock.on('error', () => {});
    const start = Date.now();
    await within(new Promise<void>((r) => sock.once('close', () => r())), 3000, 'idle close');
    expect(Date.now() - start).toBeGreaterThanOrEqual(250);
  });

  it('--max-connections 1 closes a second concurrent connection unanswered', async () => {
    const d = await startDaemon(['--max-connections', '1']);
    const first = net.connect({ host: '127.0.0.1', port: d.port });
    later(() => {
      first.destroy();
    });
    first.on('error', () => {});
    await within(new Promise<void>((r) => first.once('connect', () => r())), 3000, 'first connect');
    await sleep(100);
    let got = '';
    const second = net.connect({ host: '127.0.0.1', port: d.port }, () => second.write('1, 2\r\n'));
    later(() => {
      second.destroy();
    });
    second.on('error', () => {});
    second.on('data', (x) => (got += x));
    await within(new Promise<void>((r) => second.once('close', () => r())), 3000, 'second connection closed');
    expect(got).toBe('');
  });

  // BUG: --reply rejects CR/LF/NUL in the argument, but U+010A/U+010D pass,
  // and the reply is encoded as latin1, which keeps their low octets: LF and
  // CR. The daemon then sends a second, forged reply line.
  it('--reply with U+010D U+010A cannot put a second reply line on the wire', async () => {
    const d = await startDaemon(['--reply', 'evil\u010d\u010a1,2:USERID:UNIX:root']);
    const sock = net.connect({ host: '127.0.0.1', port: d.port }, () => sock.write('1, 2\r\n'));
    later(() => {
      sock.destroy();
    });
    sock.on('error', () => {});
    const chunks: Buffer[] = [];
    sock.on('data', (b: Buffer) => chunks.push(b));
    await within(
      (async () => {
        while (!Buffer.concat(chunks).includes('\r\n')) await sleep(10);
      })(),
      3000,
      'a reply',
    );
    await sleep(100);
    const wire = Buffer.concat(chunks).toString('latin1');
    expect(wire.split('\r\n').filter(Boolean)).toHaveLength(1);
    expect(wire.slice(0, -2)).not.toMatch(/[\r\n]/);
  });
});

// ---------------------------------------------------------------------------
// --user: dropping privileges
// ---------------------------------------------------------------------------

describe('--user nobody', () => {
  needsRoot('drops privileges with --user nobody (setuid), and asks about the test users\' sockets (useradd, runuser)');

  /** A field of /proc/PID/status as numbers ("Uid", "Gid", "Groups"). */
  function statusIds(pid: number, field: string): number[] {
    const line = fs
      .readFileSync(`/proc/${pid}/status`, 'utf8')
      .split('\n')
      .find((l) => l.startsWith(`${field}:`));
    if (line === undefined) throw new Error(`no ${field} line in /proc/${pid}/status`);
    return line
      .slice(field.length + 1)
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .map(Number);
  }

  it('runs with real, effective, saved and fs uid all nobody', async () => {
    const nobody = idOf('-u', 'nobody');
    expect(nobody, 'the system has a user nobody').not.toBeNull();
    const d = await startDaemon(['--user', 'nobody']);
    expect(statusIds(d.pid, 'Uid')).toEqual([nobody, nobody, nobody, nobody]);
  });

  it("runs with nobody's primary group as every gid", async () => {
    const gid = idOf('-g', 'nobody');
    const d = await startDaemon(['--user', 'nobody']);
    expect(statusIds(d.pid, 'Gid')).toEqual([gid, gid, gid, gid]);
  });

  it("keeps none of root's supplementary groups", async () => {
    const d = await startDaemon(['--user', 'nobody']);
    expect(statusIds(d.pid, 'Groups')).not.toContain(0);
  });

  it('still uses netlink (opened before the drop)', async () => {
    const d = await startDaemon(['--user', 'nobody']);
    expect(d.listening).toMatch(/\(pid \d+, backend [^,]+, netlink\)$/);
  });

  it('still answers owner lookups after the drop', async () => {
    const d = await startDaemon(['--user', 'nobody']);
    const q = `${conn.serverPort}, ${conn.clientPort}`;
    const r = `${conn.clientPort}, ${conn.serverPort}`;
    expect(await query(d.port, `${q}\r\n${r}\r\n`, 2)).toEqual([
      `${q} : USERID : UNIX : ${ALICE}`,
      `${r} : USERID : UNIX : ${BOB}`,
    ]);
  });

  it('answers owner lookups when installed in a directory only root can read', async () => {
    const install = privateInstall();
    const worker = path.join(install, 'dist', 'pool-worker.js');
    const probe = spawnSync('runuser', ['-u', 'nobody', '--', 'test', '-r', worker], { timeout: 10000 });
    expect(probe.status, 'nobody cannot read the copy').toBe(1);
    const d = await startDaemon(['--user', 'nobody'], ['127.0.0.1'], install);
    const q = `${conn.serverPort}, ${conn.clientPort}`;
    const r = `${conn.clientPort}, ${conn.serverPort}`;
    expect(await query(d.port, `${q}\r\n${r}\r\n`, 2)).toEqual([
      `${q} : USERID : UNIX : ${ALICE}`,
      `${r} : USERID : UNIX : ${BOB}`,
    ]);
  });

  it('stops cleanly on SIGTERM after the drop', async () => {
    const d = await startDaemon(['--user', 'nobody']);
    await query(d.port, 'x\r\n', 1);
    expect(await terminate(d)).toEqual({ code: 0, signal: null });
    expect(d.child.lines.at(-1)).toBe('edgeloop-identd stopped: 1 queries answered');
  });
});
