/**
 * Descriptor flags and SIGPIPE (DESIGN.md, "Sockets without libuv"): every
 * socket and waker fd edgeloop creates is O_NONBLOCK and close-on-exec, and
 * writes to a dead peer fail with EPIPE/ECONNRESET instead of raising
 * SIGPIPE.
 *
 * Flags come from the `flags:` line of /proc/self/fdinfo/<fd>, an octal
 * number: O_NONBLOCK is 04000 and, for an fd with FD_CLOEXEC set, the kernel
 * adds O_CLOEXEC (02000000) to it.
 */
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  Poll,
  TcpListener,
  TcpStream,
  UdpSocket,
  UnixDatagram,
  UnixListener,
  UnixStream,
  WOULD_BLOCK,
  Waker,
} from '../src/index';
import { later, own, runCleanups } from './cleanup';
import { DIST_INDEX } from './dist';
import { acceptOne } from './poll-fixtures';
import { localListener, waitWritable } from './util';
import { hangGuard } from './waits';

const O_NONBLOCK = 0o4000;
const O_CLOEXEC = 0o2000000;

afterEach(runCleanups);

/** The file status flags of `fd`, from /proc/self/fdinfo. */
function fdFlags(fd: number, pid: number | 'self' = 'self'): number {
  const info = fs.readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8');
  const m = /^flags:\s*([0-7]+)$/m.exec(info);
  if (m === null) throw new Error(`no flags line in fdinfo of fd ${fd}:\n${info}`);
  return parseInt(m[1], 8);
}

function describeFlags(fd: number): { nonblocking: boolean; cloexec: boolean } {
  const flags = fdFlags(fd);
  return { nonblocking: (flags & O_NONBLOCK) !== 0, cloexec: (flags & O_CLOEXEC) !== 0 };
}

function tmpDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'edgeloop-flags-'));
  later(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

describe('the fdinfo reader (controls: the flags can read as false)', () => {
  it('reads a file opened by fs.openSync as blocking', () => {
    const file = path.join(tmpDir(), 'plain');
    fs.writeFileSync(file, '');
    const fd = fs.openSync(file, 'r');
    later(() => fs.closeSync(fd));
    expect(describeFlags(fd).nonblocking).toBe(false);
  });

  it("reads another process's inherited stdin as not close-on-exec", async () => {
    // Node marks even its own stdio close-on-exec, so the control looks at a
    // plain program instead: cat's fd 0 survived exec, so FD_CLOEXEC is clear.
    const child = spawn('cat', [], { stdio: ['pipe', 'ignore', 'ignore'] });
    later(() => child.kill());
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', reject);
    });
    const flags = fdFlags(0, child.pid);
    child.stdin!.end();
    expect((flags & O_CLOEXEC) !== 0).toBe(false);
  });
});

describe('every edgeloop fd is non-blocking and close-on-exec', () => {
  const both = { nonblocking: true, cloexec: true };

  it('the Poll (epoll) fd is close-on-exec', () => {
    // Only close-on-exec is asserted for the epoll fd: epoll_create1 takes
    // EPOLL_CLOEXEC but has no non-blocking flag, O_NONBLOCK is meaningless
    // for epoll_wait (its timeout decides), and mio creates it the same way.
    const poll = own(new Poll());
    expect(describeFlags(poll.fd).cloexec).toBe(true);
  });

  it('the Waker eventfd', () => {
    const poll = own(new Poll());
    const waker = own(new Waker(poll, 1));
    const fd = waker.handle().fd;
    expect(fd).not.toBe(poll.fd);
    expect(describeFlags(fd)).toEqual(both);
  });

  it('a TcpListener on 127.0.0.1', () => {
    const listener = own(TcpListener.bind('127.0.0.1:0'));
    expect(describeFlags(listener.fd)).toEqual(both);
  });

  it('a TcpListener on ::1', () => {
    const listener = own(TcpListener.bind('[::1]:0'));
    expect(describeFlags(listener.fd)).toEqual(both);
  });

  it('a connecting and a connected TcpStream', () => {
    const { listener, address } = localListener();
    own(listener);
    const client = own(TcpStream.connect(address));
    const whileConnecting = describeFlags(client.fd);
    acceptOne(listener);
    waitWritable(client);
    expect({ whileConnecting, connected: describeFlags(client.fd) }).toEqual({ whileConnecting: both, connected: both });
  });

  it('a connected TcpStream on ::1', () => {
    const listener = own(TcpListener.bind('[::1]:0'));
    const client = own(TcpStream.connect(listener.localAddress()));
    acceptOne(listener);
    expect(describeFlags(client.fd)).toEqual(both);
  });

  it('an accepted TcpStream', () => {
    const { listener, address } = localListener();
    own(listener);
    own(TcpStream.connect(address));
    const server = acceptOne(listener);
    expect(describeFlags(server.fd)).toEqual(both);
  });

  it('an fd from TcpListener.acceptFd()', () => {
    const { listener, address } = localListener();
    own(listener);
    own(TcpStream.connect(address));
    const deadline = Date.now() + 2000;
    let fd: number = WOULD_BLOCK;
    while (fd === WOULD_BLOCK && Date.now() < deadline) fd = listener.acceptFd();
    expect(fd).toBeGreaterThanOrEqual(0);
    own(TcpStream.fromFd(fd));
    expect(describeFlags(fd)).toEqual(both);
  });

  it('a UdpSocket on 127.0.0.1', () => {
    const sock = own(UdpSocket.bind('127.0.0.1:0'));
    expect(describeFlags(sock.fd)).toEqual(both);
  });

  it('a UdpSocket on ::1', () => {
    const sock = own(UdpSocket.bind('[::1]:0'));
    expect(describeFlags(sock.fd)).toEqual(both);
  });

  it('a UnixListener, a connected UnixStream and the accepted UnixStream', () => {
    const file = path.join(tmpDir(), 'listener.sock');
    const listener = own(UnixListener.bind(file));
    const client = own(UnixStream.connect(file));
    const server = acceptOne(listener);
    expect({
      listener: describeFlags(listener.fd),
      client: describeFlags(client.fd),
      server: describeFlags(server.fd),
    }).toEqual({ listener: both, client: both, server: both });
  });

  it('a UnixListener and UnixStream on an abstract name', () => {
    const name = `\0edgeloop-flags-${process.pid}-${Date.now()}`;
    const listener = own(UnixListener.bind(name));
    const client = own(UnixStream.connect(name));
    const server = acceptOne(listener);
    expect([listener, client, server].map((s) => describeFlags(s.fd))).toEqual([both, both, both]);
  });

  it('a bound and an unbound UnixDatagram', () => {
    const file = path.join(tmpDir(), 'dgram.sock');
    const bound = own(UnixDatagram.bind(file));
    const unbound = own(UnixDatagram.unbound());
    expect([describeFlags(bound.fd), describeFlags(unbound.fd)]).toEqual([both, both]);
  });

  it('both ends of a UnixStream socketpair', () => {
    const [a, b] = UnixStream.pair();
    own(a);
    own(b);
    expect([describeFlags(a.fd), describeFlags(b.fd)]).toEqual([both, both]);
  });

  it('both ends of a UnixDatagram socketpair', () => {
    const [a, b] = UnixDatagram.pair();
    own(a);
    own(b);
    expect([describeFlags(a.fd), describeFlags(b.fd)]).toEqual([both, both]);
  });
});

/*
 * SIGPIPE. Node ignores SIGPIPE (SIG_IGN) at startup, so in the test process
 * itself a write without MSG_NOSIGNAL would also just fail with EPIPE: such a
 * test would prove nothing. Each case therefore runs in a child node process
 * that first puts SIGPIPE back to its default disposition (terminate): adding
 * and removing a 'SIGPIPE' listener makes libuv reset the handler to SIG_DFL.
 * The child checks /proc/self/status (SigIgn/SigCgt) to confirm SIGPIPE is
 * neither ignored nor caught, and a control case shows that a plain write(2)
 * to a broken socket really does kill that child.
 *
 * What this proves: edgeloop's socket writes (send, sendmsg) do not raise
 * SIGPIPE, because the child survives and gets the error as a SysError.
 * What it does not prove: anything about writes through edgeloop to fds that
 * are not sockets (pipes, ttys), where native/send.h falls back to write(2) and
 * relies on Node ignoring SIGPIPE; nor about other platforms (SO_NOSIGPIPE).
 */
const CHILD = String.raw`
const fs = require('node:fs');
const el = require(process.env.EDGELOOP_DIST);

function restoreDefaultSigpipe() {
  const noop = () => {};
  process.on('SIGPIPE', noop);
  process.off('SIGPIPE', noop);
}
function sigpipeDisposition() {
  const status = fs.readFileSync('/proc/self/status', 'utf8');
  const mask = (name) => BigInt('0x' + new RegExp('^' + name + ':\\s*([0-9a-f]+)', 'm').exec(status)[1]);
  const bit = 1n << 12n; // SIGPIPE is signal 13
  return { ignored: (mask('SigIgn') & bit) !== 0n, caught: (mask('SigCgt') & bit) !== 0n };
}
function sleep(ms) { Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms); }
function report(obj) { process.stdout.write(JSON.stringify(obj) + '\n'); }

function tcpPair() {
  const listener = el.TcpListener.bind('127.0.0.1:0');
  const client = el.TcpStream.connect(listener.localAddress());
  let server = el.WOULD_BLOCK;
  const deadline = Date.now() + 2000;
  while (server === el.WOULD_BLOCK && Date.now() < deadline) server = listener.accept();
  listener.close();
  if (server === el.WOULD_BLOCK) throw new Error('accept timed out');
  return [client, server];
}

// Writes until the write throws (bounded: 200 tries, 10 ms apart).
function writeUntilError(write) {
  for (let i = 0; i < 200; i++) {
    try {
      write();
    } catch (e) {
      return { name: e.name, code: e.code, syscall: e.syscall };
    }
    sleep(10);
  }
  return { name: 'none', code: 'no error after 200 writes' };
}

restoreDefaultSigpipe();
report({ disposition: sigpipeDisposition() });
const data = Buffer.from('data for a dead peer');

switch (process.env.EDGELOOP_CASE) {
  case 'control-plain-write': {
    const [a, b] = el.UnixStream.pair();
    b.close();
    fs.writeSync(a.fd, data); // write(2) without MSG_NOSIGNAL: SIGPIPE kills us here
    report({ survived: true });
    break;
  }
  case 'tcp-write': {
    const [client, server] = tcpPair();
    server.close();
    report({ error: writeUntilError(() => client.write(data)) });
    client.close();
    break;
  }
  case 'tcp-write-accepted-side': {
    const [client, server] = tcpPair();
    client.close();
    report({ error: writeUntilError(() => server.write(data)) });
    server.close();
    break;
  }
  case 'tcp-write-after-shutdown': {
    const [client, server] = tcpPair();
    client.shutdown('write');
    report({ error: writeUntilError(() => client.write(data)) });
    client.close();
    server.close();
    break;
  }
  case 'unix-write': {
    const [a, b] = el.UnixStream.pair();
    b.close();
    report({ error: writeUntilError(() => a.write(data)) });
    a.close();
    break;
  }
  case 'unix-writev': {
    const [a, b] = el.UnixStream.pair();
    b.close();
    report({ error: writeUntilError(() => a.writev([data, data])) });
    a.close();
    break;
  }
  default:
    throw new Error('unknown case ' + process.env.EDGELOOP_CASE);
}
report({ survived: true });
`;

interface ChildRun {
  status: number | null;
  signal: NodeJS.Signals | null;
  lines: Array<Record<string, unknown>>;
  stderr: string;
}

function runChild(scenario: string): ChildRun {
  const r = spawnSync(process.execPath, ['-e', CHILD], {
    env: { ...process.env, EDGELOOP_DIST: DIST_INDEX, EDGELOOP_CASE: scenario },
    encoding: 'utf8',
    timeout: hangGuard(10_000),
  });
  const lines = r.stdout
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  return { status: r.status, signal: r.signal, lines, stderr: r.stderr };
}

const DEFAULT_DISPOSITION = { disposition: { ignored: false, caught: false } };

/** The child's first line says SIGPIPE is neither ignored nor caught (stderr shown if it failed to start). */
function expectDefaultDisposition(r: ChildRun): void {
  expect({ first: r.lines[0], stderr: r.lines.length === 0 ? r.stderr : '' }).toEqual({
    first: DEFAULT_DISPOSITION,
    stderr: '',
  });
}

describe('writes never raise SIGPIPE (child process, SIGPIPE at default disposition)', () => {
  it('control: in the child a plain write(2) to a socket with a closed peer is killed by SIGPIPE', () => {
    const r = runChild('control-plain-write');
    expectDefaultDisposition(r);
    expect({ signal: r.signal, lines: r.lines.slice(1), stderr: r.stderr }).toEqual({ signal: 'SIGPIPE', lines: [], stderr: '' });
  });

  it('TcpStream.write to a closed peer throws EPIPE or ECONNRESET and the process survives', () => {
    const r = runChild('tcp-write');
    expectDefaultDisposition(r);
    expect({ status: r.status, signal: r.signal, stderr: r.stderr }).toEqual({ status: 0, signal: null, stderr: '' });
    const err = r.lines[1].error as { name: string; code: string };
    expect(err.name).toBe('SysError');
    expect(['EPIPE', 'ECONNRESET']).toContain(err.code);
    expect(r.lines[2]).toEqual({ survived: true });
  });

  it('an accepted TcpStream writing to a closed client throws EPIPE or ECONNRESET and the process survives', () => {
    const r = runChild('tcp-write-accepted-side');
    expectDefaultDisposition(r);
    expect({ status: r.status, signal: r.signal, stderr: r.stderr }).toEqual({ status: 0, signal: null, stderr: '' });
    const err = r.lines[1].error as { name: string; code: string };
    expect(err.name).toBe('SysError');
    expect(['EPIPE', 'ECONNRESET']).toContain(err.code);
  });

  it('TcpStream.write after its own shutdown("write") throws EPIPE and the process survives', () => {
    const r = runChild('tcp-write-after-shutdown');
    expectDefaultDisposition(r);
    expect({ status: r.status, signal: r.signal, stderr: r.stderr }).toEqual({ status: 0, signal: null, stderr: '' });
    expect(r.lines[1]).toEqual({ error: { name: 'SysError', code: 'EPIPE', syscall: 'write' } });
  });

  it('UnixStream.write to a closed peer throws EPIPE and the process survives', () => {
    const r = runChild('unix-write');
    expectDefaultDisposition(r);
    expect({ status: r.status, signal: r.signal, stderr: r.stderr }).toEqual({ status: 0, signal: null, stderr: '' });
    expect(r.lines[1]).toEqual({ error: { name: 'SysError', code: 'EPIPE', syscall: 'write' } });
  });

  it('UnixStream.writev to a closed peer throws EPIPE and the process survives', () => {
    const r = runChild('unix-writev');
    expectDefaultDisposition(r);
    expect({ status: r.status, signal: r.signal, stderr: r.stderr }).toEqual({ status: 0, signal: null, stderr: '' });
    expect(r.lines[1]).toEqual({ error: { name: 'SysError', code: 'EPIPE', syscall: 'writev' } });
  });
});
