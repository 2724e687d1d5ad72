/**
 * edgeloop-identd --inetd: one connection on stdin and stdout, as inetd
 * (and systemd with StandardInput=socket) passes it, answered like an
 * accepted one, then exit 0.
 *
 * Needs `npm run build:ts` first (the daemon is dist/cli/identd.js). Runs
 * as anyone: the connection is a loopback pair made here.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { UnixDatagram } from '../src/index';
import { later, own, runCleanups } from './cleanup';
import { connectedPair, loopbackListener, spawnIdentd } from './identd-spawn';

afterEach(runCleanups);

/** A syslog socket path where nothing listens, so the daemon's log goes to stderr. */
const NO_SYSLOG = path.join(os.tmpdir(), 'edgeloop-identd-test-no-such-socket');

/** The daemon with a fresh connection as its stdin and stdout; `stderr` says what fd 2 is. */
async function inetd(args: string[] = [], stderr: 'pipe' | 'connection' = 'pipe') {
  const { client, serverFd, closeServer } = await connectedPair();
  const d = spawnIdentd(['--inetd', '--syslog-socket', NO_SYSLOG, ...args], {
    stdio: [serverFd, serverFd, stderr === 'pipe' ? 'pipe' : serverFd],
  });
  // Only the daemon holds the connection now: its close is the client's EOF.
  closeServer();
  return { client, d };
}

describe('--inetd', () => {
  it('answers the queries on its stdin connection', async () => {
    const { client } = await inetd();
    client.write('1, 2\r\nx\r\n');
    expect(await client.lines(2)).toEqual(['1, 2 : ERROR : NO-USER', 'x : ERROR : INVALID-PORT']);
  });

  it('exits 0 once the client has closed its side', async () => {
    const { client, d } = await inetd();
    client.write('1, 2\r\n');
    await client.lines(1);
    client.sock.end();
    expect(await d.waitExit(10000)).toEqual({ code: 0, signal: null });
  });

  it('closes the connection after --idle-timeout and exits 0', async () => {
    const { client, d } = await inetd(['--idle-timeout', '0.2']);
    await client.waitClosed(10000);
    expect(await d.waitExit(10000)).toEqual({ code: 0, signal: null });
  });

  it('applies the query length limit: an over-long line gets INVALID-PORT and the connection closes', async () => {
    const { client } = await inetd();
    client.write(`${'1'.repeat(1500)}\r\n`);
    await client.waitClosed(10000);
    expect(client.text).toBe('0, 0 : ERROR : INVALID-PORT\r\n');
  });

  it('writes nothing to stdout but the replies (the log goes to stderr when syslog is missing)', async () => {
    const { client, d } = await inetd();
    client.write('1, 2\r\n');
    client.sock.end();
    await client.waitClosed(10000);
    await d.waitExit(10000);
    expect(client.text).toBe('1, 2 : ERROR : NO-USER\r\n');
    expect(d.stderr).toMatch(/127\.0\.0\.1 "1, 2" -> 1, 2 : ERROR : NO-USER/);
  });

  it('writes no log line to a stderr that is the connection itself', async () => {
    const { client, d } = await inetd([], 'connection');
    client.write('1, 2\r\n');
    client.sock.end();
    await client.waitClosed(10000);
    await d.waitExit(10000);
    expect(client.text).toBe('1, 2 : ERROR : NO-USER\r\n');
  });

  it('logs its queries to syslog when there is one', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'edgeloop-inetd-'));
    later(() => fs.rmSync(dir, { recursive: true, force: true }));
    const logPath = path.join(dir, 'log');
    const syslog = own(UnixDatagram.bind(logPath));
    const { client, serverFd, closeServer } = await connectedPair();
    const d = spawnIdentd(['--inetd', '--syslog-socket', logPath], { stdio: [serverFd, serverFd, 'pipe'] });
    closeServer();
    client.write('1, 2\r\n');
    client.sock.end();
    await d.waitExit(10000);
    const buf = Buffer.alloc(2048);
    const got = syslog.recv(buf);
    expect(typeof got === 'number' && got > 0 ? buf.toString('utf8', 0, got) : null).toMatch(
      new RegExp(`^<30>.* edgeloop-identd\\[${d.proc.pid}\\]: 127\\.0\\.0\\.1 "1, 2" -> 1, 2 : ERROR : NO-USER$`),
    );
  });
});

describe('--inetd misused', () => {
  it('exits 1 when stdin is not a socket', async () => {
    const d = spawnIdentd(['--inetd', '--syslog-socket', NO_SYSLOG], { stdio: ['ignore', 'pipe', 'pipe'] });
    expect((await d.waitExit(10000)).code).toBe(1);
    expect(d.stderr).toMatch(/^edgeloop-identd: --inetd: fd 0 is not a socket/);
  });

  it("exits 1 with the inetd.conf fix when stdin is a listening socket ('wait')", async () => {
    const { listener } = loopbackListener();
    const d = spawnIdentd(['--inetd', '--syslog-socket', NO_SYSLOG], { stdio: [listener.fd, 'pipe', 'pipe'] });
    expect((await d.waitExit(10000)).code).toBe(1);
    expect(d.stderr).toMatch(/fd 0 is a listening socket, not a connection \(inetd\.conf must say 'nowait'\)/);
  });

  it('--help lists --inetd', async () => {
    const d = spawnIdentd(['--help']);
    await d.waitExit(10000);
    await d.drained;
    expect(d.lines.some((l) => /^\s+--inetd\s/.test(l))).toBe(true);
  });

  it('--port with --inetd is a usage error (exit 2)', async () => {
    const d = spawnIdentd(['--inetd', '--port', '1113']);
    expect((await d.waitExit(10000)).code).toBe(2);
    expect(d.stderr).toMatch(/^edgeloop-identd: --address and --port cannot be used with --inetd/);
  });
});
