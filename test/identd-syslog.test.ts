/**
 * edgeloop-identd --syslog: RFC 3164 messages to a Unix datagram socket
 * (facility daemon), and the fall back to stderr, with one warning, when
 * the socket is missing or goes away. The syslog socket is a UnixDatagram
 * bound in a temporary directory (--syslog-socket), never /dev/log.
 *
 * Needs `npm run build:ts` first (the daemon is dist/cli/identd.js). Runs
 * as anyone, on loopback and free ports.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { UnixDatagram, WOULD_BLOCK } from '../src/index';
import { formatSyslog } from '../src/cli/syslog';
import { own, runCleanups } from './cleanup';
import { spawnIdentd, loopbackListener } from './identd-spawn';
import { LineChild } from './line-child';
import { NetClient } from './net-client';
import { useTempDir } from './temp-dir';
import { sleep } from './waits';

afterEach(runCleanups);
const tmp = useTempDir('edgeloop-syslog-');

/** A syslog socket at a fresh path, and what has arrived on it. */
function syslogServer(): { path: string; socket: UnixDatagram; messages: string[]; until: (re: RegExp, ms?: number) => Promise<string> } {
  const where = path.join(tmp.path, `log-${Math.random().toString(36).slice(2)}`);
  const socket = own(UnixDatagram.bind(where));
  const messages: string[] = [];
  const buf = Buffer.alloc(4096);
  const drain = (): void => {
    for (;;) {
      const n = socket.recv(buf);
      if (n === WOULD_BLOCK) return;
      messages.push(buf.toString('utf8', 0, n));
    }
  };
  const until = async (re: RegExp, ms = 10000): Promise<string> => {
    const deadline = Date.now() + ms;
    for (;;) {
      drain();
      const hit = messages.find((m) => re.test(m));
      if (hit !== undefined) return hit;
      if (Date.now() > deadline) throw new Error(`no syslog message matching ${re} within ${ms} ms; got ${JSON.stringify(messages)}`);
      await sleep(10);
    }
  };
  return { path: where, socket, messages, until };
}

/** The daemon on a free loopback port, logging to syslog at `logPath`. */
async function daemon(logPath: string, args: string[] = []): Promise<{ d: LineChild; port: number }> {
  // The port comes from a listener the daemon is handed (socket activation):
  // nothing to race for, and no listening line on stdout to wait for.
  const { listener, port } = loopbackListener();
  const d = spawnIdentd(['--syslog', '--syslog-socket', logPath, ...args], {
    stdio: ['ignore', 'pipe', 'pipe', listener.fd],
    env: { LISTEN_FDS: '1' },
    listenPid: true,
  });
  return { d, port };
}

async function query(port: number, text: string, n: number): Promise<string[]> {
  const c = await NetClient.connect(port);
  c.write(text);
  return c.lines(n);
}

describe('formatSyslog()', () => {
  const when = new Date(2026, 11, 6, 9, 5, 3);

  it('writes <30> (daemon.info), the local time with a space-padded day, and TAG[PID]:', () => {
    expect(formatSyslog('info', 'edgeloop-identd', 42, 'hello', when)).toBe('<30>Dec  6 09:05:03 edgeloop-identd[42]: hello');
  });

  it('writes <28> for daemon.warning', () => {
    expect(formatSyslog('warning', 't', 1, 'm', when)).toMatch(/^<28>/);
  });

  it('writes <27> for daemon.err', () => {
    expect(formatSyslog('err', 't', 1, 'm', when)).toMatch(/^<27>/);
  });

  it('turns control characters into spaces', () => {
    expect(formatSyslog('info', 't', 1, 'a\nb\rc\0d', when)).toMatch(/: a b c d$/);
  });
});

describe('--syslog', () => {
  it('logs each query as daemon.info, tagged edgeloop-identd[pid]', async () => {
    const log = syslogServer();
    const { d, port } = await daemon(log.path);
    await log.until(/listening on/);
    await query(port, '1, 2\r\n', 1);
    const line = await log.until(/"1, 2"/);
    expect(line).toMatch(
      new RegExp(`^<30>[A-Z][a-z]{2} [ 0-9]\\d \\d\\d:\\d\\d:\\d\\d edgeloop-identd\\[${d.proc.pid}\\]: 127\\.0\\.0\\.1 "1, 2" -> 1, 2 : ERROR : NO-USER$`),
    );
  });

  it('sends its listening line to syslog, and nothing to stdout or stderr', async () => {
    const log = syslogServer();
    const { d, port } = await daemon(log.path);
    await log.until(/listening on/);
    await query(port, '1, 2\r\n', 1);
    await log.until(/"1, 2"/);
    d.signal('SIGTERM');
    await d.waitExit(10000);
    await d.drained;
    expect({ stdout: d.lines, stderr: d.stderr }).toEqual({ stdout: [], stderr: '' });
  });

  it('sends its stopped line to syslog on SIGTERM', async () => {
    const log = syslogServer();
    const { d } = await daemon(log.path);
    await log.until(/listening on/);
    d.signal('SIGTERM');
    expect(await log.until(/stopped/)).toMatch(/^<30>.*: stopped: 0 queries answered$/);
  });

  it('with --quiet logs no per-query line', async () => {
    const log = syslogServer();
    const { d, port } = await daemon(log.path, ['--quiet']);
    await log.until(/listening on/);
    await query(port, '1, 2\r\n', 1);
    d.signal('SIGTERM');
    await log.until(/stopped/);
    expect(log.messages.filter((m) => /"1, 2"/.test(m))).toEqual([]);
  });

  it('falls back to stderr with one warning when the socket does not exist', async () => {
    const missing = path.join(tmp.path, 'no-such-socket');
    const { d, port } = await daemon(missing);
    await d.until(() => /listening on/.test(d.stderr), 10000, 'the listening line on stderr');
    await query(port, '1, 2\r\n', 1);
    await d.until(() => /"1, 2"/.test(d.stderr), 10000, 'the query line on stderr');
    const lines = d.stderr.split('\n').filter(Boolean);
    expect(lines.filter((l) => /warning|cannot log/.test(l))).toEqual([
      `edgeloop-identd: cannot log to ${missing} (connect ENOENT: No such file or directory); logging to stderr instead`,
    ]);
    expect(lines).toContain('edgeloop-identd: 127.0.0.1 "1, 2" -> 1, 2 : ERROR : NO-USER');
  });

  it('falls back to stderr, with one warning, when the syslog socket goes away later', async () => {
    const log = syslogServer();
    const { d, port } = await daemon(log.path);
    await log.until(/listening on/);
    log.socket.close();
    fs.rmSync(log.path);
    await query(port, '1, 2\r\n', 1);
    await query(port, '3, 4\r\n', 1);
    await d.until(() => /"3, 4"/.test(d.stderr), 10000, 'the second query line on stderr');
    expect(d.stderr.split('\n').filter((l) => /cannot log/.test(l))).toHaveLength(1);
  });

  it.each(['--syslog', '--syslog-socket'])('--help lists %s', async (flag) => {
    const d = spawnIdentd(['--help']);
    await d.waitExit(10000);
    await d.drained;
    expect(d.lines.join('\n')).toMatch(new RegExp(`(^|\\s)${flag}(\\s|$)`, 'm'));
  });

  it('--syslog-socket without --syslog is a usage error (exit 2)', async () => {
    const d = spawnIdentd(['--syslog-socket', '/dev/log']);
    expect((await d.waitExit(10000)).code).toBe(2);
    expect(d.stderr).toMatch(/^edgeloop-identd: --syslog-socket needs --syslog/);
  });
});
