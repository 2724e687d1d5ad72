/**
 * Closing sockets: deregistration before close (docs/POLL-SEMANTICS.md rule 20),
 * double close, mio 0.6's close-on-drop and write-then-drop, and use after
 * close.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  Events,
  Interest,
  Poll,
  TcpListener,
  TcpStream,
  UdpSocket,
  UnixDatagram,
  UnixListener,
  UnixStream,
  WOULD_BLOCK,
} from '../src/index';
import { later, own, runCleanups } from './cleanup';
import { pair, pollWithEvents, waitReadable } from './poll-fixtures';
import { expectEvents, expectNoEvents, openFdCount, tcpPair } from './util';
import { onEpoll, onLibkqueue } from './platform';
import { useTempDir } from './temp-dir';

// ---------------------------------------------------------------------------
// Helpers local to this file
// ---------------------------------------------------------------------------

afterEach(runCleanups);

const tmp = useTempDir('edgeloop-close-');

/**
 * Starts a child process that holds a duplicate of `fd` (as its fd 3) and
 * checks, through /proc, that the child's fd 3 is the same socket.
 */
function childHoldingDup(fd: number): ChildProcess {
  const child = spawn('sleep', ['30'], { stdio: ['ignore', 'ignore', 'ignore', fd] });
  later(() => child.kill('SIGKILL'));
  expect(child.pid, 'child process did not start').toBeTypeOf('number');
  const mine = fs.readlinkSync(`/proc/self/fd/${fd}`);
  expect(mine).toMatch(/^socket:\[\d+\]$/);
  expect(fs.readlinkSync(`/proc/${child.pid}/fd/3`)).toBe(mine);
  return child;
}

/** Tokens seen over `rounds` polls of `ms` each. */
function tokensOver(poll: Poll, events: Events, rounds: number, ms: number): number[] {
  const seen: number[] = [];
  for (let r = 0; r < rounds; r++) {
    poll.poll(events, ms);
    for (let i = 0; i < events.length; i++) seen.push(events.token(i));
  }
  return seen;
}

function expectClosedError(fn: () => unknown): void {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught, 'expected a TypeError, nothing was thrown').toBeInstanceOf(TypeError);
  expect((caught as { code?: string }).code).toBe('ERR_SOCKET_CLOSED');
}

let names = 0;
function unixPath(): string {
  return path.join(tmp.path, `c${++names}.sock`);
}

// ---------------------------------------------------------------------------

describe('rule 20: close deregisters before closing the fd', () => {
  it('no event arrives under the old token after close while a child process holds a dup of the fd', () => {
    const { client, server } = pair();
    const { poll, events } = pollWithEvents();
    poll.register(server, 42, Interest.READABLE);
    childHoldingDup(server.fd);
    server.close();
    // The socket lives on in the child; make it readable and closed.
    client.write(Buffer.from('for the child'));
    client.shutdown('write');
    expect(tokensOver(poll, events, 4, 100)).not.toContain(42);
  });

  // epoll's pitfall: a registration lives with the open file, not the fd.
  // kqueue drops an fd's events when that fd is closed, dup or not.
  it.runIf(onEpoll)('control: a raw-fd registration (not tracked) keeps firing after close while the dup lives', () => {
    // This is the pitfall rule 20 guards against; it shows the dup set-up
    // above really would deliver events if close did not deregister.
    const { client, server } = pair();
    const { poll, events } = pollWithEvents();
    poll.register(server.fd, 43, Interest.READABLE);
    childHoldingDup(server.fd);
    server.close();
    client.write(Buffer.from('for the child'));
    expect(tokensOver(poll, events, 6, 100)).toContain(43);
  });

  it('a socket registered with two Polls leaves both when closed', () => {
    const { client, server } = pair();
    const a = pollWithEvents();
    const b = pollWithEvents();
    a.poll.register(server, 1, Interest.READABLE);
    b.poll.register(server, 2, Interest.READABLE);
    childHoldingDup(server.fd);
    server.close();
    client.write(Buffer.from('x'));
    expect(tokensOver(a.poll, a.events, 3, 100)).toEqual([]);
    expect(tokensOver(b.poll, b.events, 3, 100)).toEqual([]);
  });

  it('closing one registered socket leaves the other registrations working', () => {
    const p1 = pair();
    const p2 = pair();
    const { poll, events } = pollWithEvents();
    poll.register(p1.server, 1, Interest.READABLE);
    poll.register(p2.server, 2, Interest.READABLE);
    p1.server.close();
    p2.client.write(Buffer.from('still watched'));
    expectEvents(poll, events, [{ token: 2, readable: true }]);
    expect(tokensOver(poll, events, 1, 50)).not.toContain(1);
  });

  it('the fd number freed by close can be registered again at once (no EEXIST, no stale event)', () => {
    const { poll, events } = pollWithEvents();
    const first = pair();
    poll.register(first.server, 7, Interest.READABLE);
    first.client.write(Buffer.from('pending'));
    const oldFd = first.server.fd;
    first.server.close();
    // The kernel hands out the lowest free numbers, so the released one comes
    // back within a few new sockets.
    let reused: UdpSocket | undefined;
    for (let i = 0; i < 64 && reused === undefined; i++) {
      const u = own(UdpSocket.bind('127.0.0.1:0'));
      if (u.fd === oldFd) reused = u;
    }
    expect(reused, 'fd number was not reused').toBeDefined();
    expect(() => poll.register(reused as UdpSocket, 7, Interest.READABLE)).not.toThrow();
    expectNoEvents(poll, events);
  });
});

describe('closing twice is harmless', () => {
  const makers: [string, () => { close(): void; readonly isClosed: boolean; fd: number }][] = [
    ['TcpStream', () => pair().client],
    ['TcpListener', () => own(TcpListener.bind('127.0.0.1:0'))],
    ['UdpSocket', () => own(UdpSocket.bind('127.0.0.1:0'))],
    ['UnixStream', () => own(UnixStream.pair()[0])],
    ['UnixListener', () => own(UnixListener.bind(unixPath()))],
    ['UnixDatagram', () => own(UnixDatagram.unbound())],
  ];
  it.each(makers)('%s: a second close() neither throws nor touches another fd', (_name, make) => {
    const sock = make();
    sock.close();
    expect(sock.isClosed).toBe(true);
    expect(sock.fd).toBe(-1);
    // An fd opened now may reuse the number; a second close must not close it.
    const bystander = own(UdpSocket.bind('127.0.0.1:0'));
    expect(() => sock.close()).not.toThrow();
    expect(bystander.localAddress().port).toBeGreaterThan(0);
  });

  it('a registered socket can be closed twice', () => {
    const { server } = pair();
    const { poll } = pollWithEvents();
    poll.register(server, 1, Interest.READABLE);
    server.close();
    expect(() => server.close()).not.toThrow();
  });

  it('a Poll can be closed twice', () => {
    const poll = new Poll();
    poll.close();
    expect(() => poll.close()).not.toThrow();
    expect(poll.isOpen).toBe(false);
    expect(poll.fd).toBe(-1);
  });

  it('closing a socket after its Poll was closed is harmless', () => {
    const { server } = pair();
    const poll = new Poll();
    poll.register(server, 1, Interest.READABLE);
    poll.close();
    expect(() => server.close()).not.toThrow();
  });

  it('closing a Poll leaves its registered sockets open and usable', () => {
    const { client, server } = pair();
    const poll = new Poll();
    poll.register(server, 1, Interest.READABLE);
    poll.close();
    client.write(Buffer.from('alive'));
    waitReadable(server);
    const buf = Buffer.alloc(8);
    expect(server.read(buf)).toBe(5);
  });

  // libkqueue closes its fds from a background thread: counts lag.
  it.skipIf(onLibkqueue)('opening and closing 200 sockets leaks no fds', () => {
    const before = openFdCount();
    for (let i = 0; i < 50; i++) {
      const { client, server } = tcpPair();
      client.close();
      server.close();
      UdpSocket.bind('127.0.0.1:0').close();
      const [a, b] = UnixStream.pair();
      a.close();
      b.close();
    }
    expect(openFdCount()).toBe(before);
  });
});

describe('mio 0.6 close-on-drop and write-then-drop', () => {
  it('closing the accepted side makes the client readable, then read() returns 0', () => {
    const { client, server } = pair();
    const { poll, events } = pollWithEvents();
    poll.register(client, 1, Interest.READABLE);
    expectNoEvents(poll, events);
    server.close();
    expectEvents(poll, events, [{ token: 1, readable: true }]);
    expect(client.read(Buffer.alloc(8))).toBe(0);
  });

  it('data written just before close all reaches the peer, followed by EOF', () => {
    const { client, server } = pair();
    const payload = Buffer.alloc(512 * 1024);
    for (let i = 0; i < payload.length; i++) payload[i] = (i * 7 + 3) & 0xff;
    let sent = 0;
    for (let i = 0; i < 1000 && sent < payload.length; i++) {
      const n = client.write(payload, sent);
      if (n === WOULD_BLOCK) break;
      sent += n;
    }
    expect(sent).toBeGreaterThan(0);
    client.close();

    const { poll, events } = pollWithEvents();
    poll.register(server, 2, Interest.READABLE);
    const got = Buffer.alloc(sent + 1);
    let recvd = 0;
    let eof = false;
    const deadline = Date.now() + 5000;
    while (!eof && Date.now() < deadline) {
      const n = server.read(got, recvd, got.length - recvd);
      if (n === 0) eof = true;
      else if (n === WOULD_BLOCK) poll.poll(events, 200);
      else recvd += n;
    }
    expect(eof).toBe(true);
    expect(recvd).toBe(sent);
    expect(got.subarray(0, recvd).equals(payload.subarray(0, sent))).toBe(true);
  });

  it('a Unix stream written then closed delivers its data, then EOF', () => {
    const [a, b] = UnixStream.pair().map(own);
    a.write(Buffer.from('parting words'));
    a.close();
    const buf = Buffer.alloc(32);
    expect(b.read(buf)).toBe(13);
    expect(buf.subarray(0, 13).toString()).toBe('parting words');
    expect(b.read(buf)).toBe(0);
  });
});

describe('use after close throws TypeError ERR_SOCKET_CLOSED', () => {
  const buf = Buffer.alloc(8);
  const stream = (): TcpStream => {
    const s = pair().client;
    s.close();
    return s;
  };
  const streamOps: [string, (s: TcpStream) => unknown][] = [
    ['read', (s) => s.read(buf)],
    ['write', (s) => s.write(buf)],
    ['readv', (s) => s.readv([buf])],
    ['writev', (s) => s.writev([buf])],
    ['peek', (s) => s.peek(buf)],
    ['shutdown', (s) => s.shutdown('write')],
    ['localAddress', (s) => s.localAddress()],
    ['peerAddress', (s) => s.peerAddress()],
    ['takeError', (s) => s.takeError()],
    ['setNoDelay', (s) => s.setNoDelay(true)],
    ['noDelay', (s) => s.noDelay()],
    ['setKeepAlive', (s) => s.setKeepAlive(true)],
    ['keepAlive', (s) => s.keepAlive()],
  ];
  it.each(streamOps)('TcpStream.%s', (_name, op) => {
    expectClosedError(() => op(stream()));
  });

  const listenerOps: [string, (l: TcpListener) => unknown][] = [
    ['accept', (l) => l.accept()],
    ['acceptFd', (l) => l.acceptFd()],
    ['localAddress', (l) => l.localAddress()],
    ['takeError', (l) => l.takeError()],
  ];
  it.each(listenerOps)('TcpListener.%s', (_name, op) => {
    const l = TcpListener.bind('127.0.0.1:0');
    l.close();
    expectClosedError(() => op(l));
  });

  const udpOps: [string, (u: UdpSocket) => unknown][] = [
    ['send', (u) => u.send(buf)],
    ['recv', (u) => u.recv(buf)],
    ['sendTo', (u) => u.sendTo(buf, '127.0.0.1:9')],
    ['recvFrom', (u) => u.recvFrom(buf)],
    ['connect', (u) => u.connect('127.0.0.1:9')],
    ['peerAddress', (u) => u.peerAddress()],
    ['localAddress', (u) => u.localAddress()],
    ['setBroadcast', (u) => u.setBroadcast(true)],
  ];
  it.each(udpOps)('UdpSocket.%s', (_name, op) => {
    const u = UdpSocket.bind('127.0.0.1:0');
    u.close();
    expectClosedError(() => op(u));
  });

  it('UnixStream.read and write', () => {
    const [a, b] = UnixStream.pair();
    a.close();
    b.close();
    expectClosedError(() => a.read(buf));
    expectClosedError(() => b.write(buf));
  });

  it('UnixListener.accept', () => {
    const l = UnixListener.bind(unixPath());
    l.close();
    expectClosedError(() => l.accept());
  });

  it('UnixDatagram.sendTo and recvFrom', () => {
    const d = UnixDatagram.unbound();
    d.close();
    expectClosedError(() => d.sendTo(buf, unixPath()));
    expectClosedError(() => d.recvFrom(buf));
  });

  it('Poll.register, reregister and deregister of a closed socket', () => {
    const { poll } = pollWithEvents();
    const s = stream();
    expectClosedError(() => poll.register(s, 1, Interest.READABLE));
    expectClosedError(() => poll.reregister(s, 1, Interest.READABLE));
    expectClosedError(() => poll.deregister(s));
  });

  it('deregister after closing a registered socket', () => {
    const { server } = pair();
    const { poll } = pollWithEvents();
    poll.register(server, 1, Interest.READABLE);
    server.close();
    expectClosedError(() => poll.deregister(server));
  });
});
