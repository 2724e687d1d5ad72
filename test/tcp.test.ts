/**
 * TCP listeners and streams: binding, accepting, connecting, byte transfer,
 * options and addresses. Loopback only.
 */
import * as os from 'node:os';
import { afterEach, describe, expect, it } from 'vitest';
import { Interest, SysError, TcpListener, TcpStream, WOULD_BLOCK } from '../src/index';
import { native } from '../src/native';
import { own, runCleanups } from './cleanup';
import { acceptOne, catchSysError, fillSendBuffer, pair, readExactly, unusedPort, waitReady } from './poll-fixtures';
import { sleepMs } from './util';
import { onLibkqueue } from './platform';

// ---------------------------------------------------------------------------
// Helpers local to this file
// ---------------------------------------------------------------------------

const C = native.constants;
const ERRNO = os.constants.errno;

afterEach(runCleanups);

/**
 * Leaves a loopback port whose only user is a connection in TIME_WAIT: the
 * accepted side closes first, the client answers with its own FIN.
 */
function portInTimeWait(): number {
  const listener = TcpListener.bind('127.0.0.1:0');
  const port = listener.localAddress().port;
  const client = TcpStream.connect({ host: '127.0.0.1', port });
  try {
    const server = acceptOne(listener);
    server.close();
    // The client sees the FIN, then closes: the server side ends in TIME_WAIT.
    expect(readExactly(client, 1).length).toBe(0);
  } finally {
    client.close();
    listener.close();
  }
  // Give the last ACK a moment to land (loopback needs far less).
  sleepMs(20);
  return port;
}

// ---------------------------------------------------------------------------

describe('TcpListener.bind', () => {
  it('binds 127.0.0.1 with port 0 and reports the port the kernel chose', () => {
    const listener = own(TcpListener.bind('127.0.0.1:0'));
    const addr = listener.localAddress();
    expect(addr.family).toBe('IPv4');
    expect(addr.address).toBe('127.0.0.1');
    expect(addr.port).toBeGreaterThan(0);
    expect(addr.port).toBeLessThanOrEqual(65535);
  });

  it('binds the IPv6 loopback [::1] (IPv6 loopback must be available on this host)', () => {
    let listener: TcpListener;
    try {
      listener = own(TcpListener.bind('[::1]:0'));
    } catch (err) {
      throw new Error(`IPv6 loopback unavailable here, IPv6 tests cannot run: ${(err as Error).message}`);
    }
    const addr = listener.localAddress();
    expect(addr).toMatchObject({ family: 'IPv6', address: '::1' });
    expect(addr.port).toBeGreaterThan(0);
  });

  it('accepts { host, port } and the name localhost as 127.0.0.1', () => {
    const a = own(TcpListener.bind({ host: '127.0.0.1', port: 0 }));
    const b = own(TcpListener.bind('localhost:0'));
    expect(a.localAddress().address).toBe('127.0.0.1');
    expect(b.localAddress().address).toBe('127.0.0.1');
  });

  it('binds an explicit port that another listener just released', () => {
    const port = unusedPort();
    const listener = own(TcpListener.bind({ host: '127.0.0.1', port }));
    expect(listener.localAddress().port).toBe(port);
  });

  it('throws SysError EADDRINUSE with code, errno, syscall, address and port when the port is taken', () => {
    const first = own(TcpListener.bind('127.0.0.1:0'));
    const port = first.localAddress().port;
    const err = catchSysError(() => own(TcpListener.bind({ host: '127.0.0.1', port })));
    expect(err).toBeInstanceOf(Error);
    expect(err.code).toBe('EADDRINUSE');
    expect(err.errno).toBe(-ERRNO.EADDRINUSE);
    expect(err.syscall).toBe('bind');
    expect(err.address).toBe('127.0.0.1');
    expect(err.port).toBe(port);
    expect(err.message).toContain('EADDRINUSE');
  });

  it('sets SO_REUSEADDR by default', () => {
    const listener = own(TcpListener.bind('127.0.0.1:0'));
    const out = new Int32Array(1);
    expect(native.getSockOptInt(listener.fd, C.SOL_SOCKET, C.SO_REUSEADDR, out)).toBe(0);
    expect(out[0]).not.toBe(0);
  });

  it('leaves SO_REUSEADDR off with reuseAddress: false', () => {
    const listener = own(TcpListener.bind('127.0.0.1:0', { reuseAddress: false }));
    const out = new Int32Array(1);
    expect(native.getSockOptInt(listener.fd, C.SOL_SOCKET, C.SO_REUSEADDR, out)).toBe(0);
    expect(out[0]).toBe(0);
  });

  it('rebinds a port held by a TIME_WAIT connection when reuseAddress is on (the default)', () => {
    const port = portInTimeWait();
    const listener = own(TcpListener.bind({ host: '127.0.0.1', port }));
    expect(listener.localAddress().port).toBe(port);
  });

  it('fails with EADDRINUSE on a port held by a TIME_WAIT connection when reuseAddress is false', () => {
    const port = portInTimeWait();
    const err = catchSysError(() => own(TcpListener.bind({ host: '127.0.0.1', port }, { reuseAddress: false })));
    expect(err.code).toBe('EADDRINUSE');
  });

  it('lets two listeners with reusePort share one port', () => {
    const a = own(TcpListener.bind('127.0.0.1:0', { reusePort: true }));
    const port = a.localAddress().port;
    const b = own(TcpListener.bind({ host: '127.0.0.1', port }, { reusePort: true }));
    expect(b.localAddress().port).toBe(port);
  });

  it('spreads connections over reusePort listeners so that every connection is accepted by one of them', () => {
    const a = own(TcpListener.bind('127.0.0.1:0', { reusePort: true }));
    const port = a.localAddress().port;
    const b = own(TcpListener.bind({ host: '127.0.0.1', port }, { reusePort: true }));
    const clients = Array.from({ length: 8 }, () => own(TcpStream.connect({ host: '127.0.0.1', port })));
    for (const c of clients) expect(waitReady(c, Interest.WRITABLE) & 2).toBe(2);
    let accepted = 0;
    const deadline = Date.now() + 2000;
    while (accepted < clients.length && Date.now() < deadline) {
      let progress = false;
      for (const l of [a, b]) {
        const s = l.accept();
        if (s !== WOULD_BLOCK) {
          own(s);
          accepted++;
          progress = true;
        }
      }
      if (!progress) sleepMs(5);
    }
    expect(accepted).toBe(clients.length);
  });

  it('rejects a second reusePort listener when the first did not opt in', () => {
    const a = own(TcpListener.bind('127.0.0.1:0'));
    const port = a.localAddress().port;
    const err = catchSysError(() => own(TcpListener.bind({ host: '127.0.0.1', port }, { reusePort: true })));
    expect(err.code).toBe('EADDRINUSE');
  });

  it('passes backlog to listen: with backlog 1 the kernel queues at most 2 unaccepted connections', () => {
    const listener = own(TcpListener.bind('127.0.0.1:0', { backlog: 1 }));
    const addr = listener.localAddress();
    for (let i = 0; i < 6; i++) own(TcpStream.connect(addr));
    expect(waitReady(listener, Interest.READABLE) & 1).toBe(1);
    let accepted = 0;
    for (let s = listener.accept(); s !== WOULD_BLOCK; s = listener.accept()) {
      own(s);
      accepted++;
    }
    // Linux keeps backlog + 1 established connections; the other SYNs are dropped.
    expect(accepted).toBeGreaterThanOrEqual(1);
    expect(accepted).toBeLessThanOrEqual(2);
  });

  it('queues every connection with the default backlog', () => {
    const listener = own(TcpListener.bind('127.0.0.1:0'));
    const addr = listener.localAddress();
    const clients = Array.from({ length: 6 }, () => own(TcpStream.connect(addr)));
    for (const c of clients) expect(waitReady(c, Interest.WRITABLE) & 2).toBe(2);
    let accepted = 0;
    for (let s = listener.accept(); s !== WOULD_BLOCK; s = listener.accept()) {
      own(s);
      accepted++;
    }
    expect(accepted).toBe(6);
  });

  it('rejects a negative or fractional backlog with RangeError', () => {
    expect(() => own(TcpListener.bind('127.0.0.1:0', { backlog: -1 }))).toThrow(RangeError);
    expect(() => own(TcpListener.bind('127.0.0.1:0', { backlog: 1.5 }))).toThrow(RangeError);
  });
});

describe('TcpListener.accept', () => {
  it('returns WOULD_BLOCK when no connection is pending', () => {
    const listener = own(TcpListener.bind('127.0.0.1:0'));
    expect(listener.accept()).toBe(WOULD_BLOCK);
    expect(listener.acceptFd()).toBe(WOULD_BLOCK);
  });

  it('returns a TcpStream for a pending connection, then WOULD_BLOCK again', () => {
    const listener = own(TcpListener.bind('127.0.0.1:0'));
    const client = own(TcpStream.connect(listener.localAddress()));
    const server = acceptOne(listener);
    expect(server).toBeInstanceOf(TcpStream);
    expect(server.isClosed).toBe(false);
    expect(server.fd).toBeGreaterThanOrEqual(0);
    expect(server.peerAddress()).toEqual(client.localAddress());
    expect(listener.accept()).toBe(WOULD_BLOCK);
  });

  it('gives accepted streams that are non-blocking (an empty read returns WOULD_BLOCK)', () => {
    const listener = own(TcpListener.bind('127.0.0.1:0'));
    own(TcpStream.connect(listener.localAddress()));
    const server = acceptOne(listener);
    expect(server.read(Buffer.alloc(16))).toBe(WOULD_BLOCK);
  });

  it('acceptFd returns a raw fd that TcpStream.fromFd can own', () => {
    const listener = own(TcpListener.bind('127.0.0.1:0'));
    const client = own(TcpStream.connect(listener.localAddress()));
    expect(waitReady(listener, Interest.READABLE) & 1).toBe(1);
    const fd = listener.acceptFd();
    expect(fd).toBeGreaterThanOrEqual(0);
    const server = own(TcpStream.fromFd(fd as number));
    client.write(Buffer.from('raw'));
    expect(readExactly(server, 3).toString()).toBe('raw');
  });
});

describe('TcpStream.connect', () => {
  it('completes a non-blocking connect: the stream turns writable and takeError() is null', () => {
    const listener = own(TcpListener.bind('127.0.0.1:0'));
    const client = own(TcpStream.connect(listener.localAddress()));
    const ready = waitReady(client, Interest.WRITABLE);
    expect(ready & 2).toBe(2);
    expect(client.takeError()).toBeNull();
    expect(client.peerAddress()).toEqual(listener.localAddress());
  });

  it('connects over IPv6 loopback', () => {
    const listener = own(TcpListener.bind('[::1]:0'));
    const client = own(TcpStream.connect(listener.localAddress()));
    expect(waitReady(client, Interest.WRITABLE) & 2).toBe(2);
    expect(client.takeError()).toBeNull();
    const server = acceptOne(listener);
    expect(server.peerAddress()).toMatchObject({ family: 'IPv6', address: '::1' });
    client.write(Buffer.from('six'));
    expect(readExactly(server, 3).toString()).toBe('six');
  });

  // libkqueue reads SO_ERROR to report the failure, which clears it.
  it.skipIf(onLibkqueue)('reports a refused connect through an event and takeError() ECONNREFUSED (rule 15)', () => {
    const port = unusedPort();
    const client = own(TcpStream.connect({ host: '127.0.0.1', port }));
    const ready = waitReady(client, Interest.WRITABLE);
    // writable (2) or error (4) must be among the bits
    expect(ready & (2 | 4)).not.toBe(0);
    const err = client.takeError();
    expect(err).toBeInstanceOf(SysError);
    expect(err?.code).toBe('ECONNREFUSED');
    expect(err?.errno).toBe(-ERRNO.ECONNREFUSED);
    expect(err?.syscall).toBe('connect');
  });

  it.skipIf(onLibkqueue)('clears the pending error once takeError() has read it', () => {
    const port = unusedPort();
    const client = own(TcpStream.connect({ host: '127.0.0.1', port }));
    waitReady(client, Interest.WRITABLE);
    expect(client.takeError()?.code).toBe('ECONNREFUSED');
    expect(client.takeError()).toBeNull();
  });

  it('makes peerAddress() throw SysError ENOTCONN on a refused connection', () => {
    const port = unusedPort();
    const client = own(TcpStream.connect({ host: '127.0.0.1', port }));
    waitReady(client, Interest.WRITABLE);
    const err = catchSysError(() => client.peerAddress());
    expect(err.code).toBe('ENOTCONN');
    expect(err.syscall).toBe('getpeername');
  });
});

describe('TcpStream read and write', () => {
  it('delivers written bytes to the peer in order', () => {
    const { client, server } = pair();
    const data = Buffer.from('hello, edgeloop');
    expect(client.write(data)).toBe(data.length);
    expect(readExactly(server, data.length).toString()).toBe('hello, edgeloop');
  });

  it('carries data in both directions on one connection', () => {
    const { client, server } = pair();
    client.write(Buffer.from('ping'));
    expect(readExactly(server, 4).toString()).toBe('ping');
    server.write(Buffer.from('pong'));
    expect(readExactly(client, 4).toString()).toBe('pong');
  });

  it('writes only buf[offset .. offset+length)', () => {
    const { client, server } = pair();
    expect(client.write(Buffer.from('0123456789'), 3, 4)).toBe(4);
    expect(readExactly(server, 4).toString()).toBe('3456');
    expect(server.read(Buffer.alloc(8))).toBe(WOULD_BLOCK);
  });

  it('writes from offset to the end when length is omitted', () => {
    const { client, server } = pair();
    expect(client.write(Buffer.from('abcdef'), 4)).toBe(2);
    expect(readExactly(server, 2).toString()).toBe('ef');
  });

  it('reads into buf[offset .. offset+length) and leaves the other bytes alone', () => {
    const { client, server } = pair();
    client.write(Buffer.from('XYZW'));
    waitReady(server, Interest.READABLE);
    const buf = Buffer.from('..........');
    expect(server.read(buf, 2, 3)).toBe(3);
    expect(buf.toString()).toBe('..XYZ.....');
    expect(readExactly(server, 1).toString()).toBe('W');
  });

  it('readv scatters into several buffers in order', () => {
    const { client, server } = pair();
    client.write(Buffer.from('abcdefgh'));
    waitReady(server, Interest.READABLE);
    const a = Buffer.alloc(3);
    const b = Buffer.alloc(2);
    const c = Buffer.alloc(10);
    expect(server.readv([a, b, c])).toBe(8);
    expect(a.toString()).toBe('abc');
    expect(b.toString()).toBe('de');
    expect(c.subarray(0, 3).toString()).toBe('fgh');
  });

  it('writev gathers several buffers in order', () => {
    const { client, server } = pair();
    const n = client.writev([Buffer.from('one,'), new Uint8Array(0), Buffer.from('two,'), Buffer.from('three')]);
    expect(n).toBe(13);
    expect(readExactly(server, 13).toString()).toBe('one,two,three');
  });

  it('peek returns the pending bytes without consuming them', () => {
    const { client, server } = pair();
    client.write(Buffer.from('peekaboo'));
    waitReady(server, Interest.READABLE);
    const p = Buffer.alloc(4);
    expect(server.peek(p)).toBe(4);
    expect(p.toString()).toBe('peek');
    expect(readExactly(server, 8).toString()).toBe('peekaboo');
  });

  it('read returns WOULD_BLOCK on an idle connection', () => {
    const { server } = pair();
    expect(server.read(Buffer.alloc(16))).toBe(WOULD_BLOCK);
  });

  it('readv returns WOULD_BLOCK on an idle connection', () => {
    const { server } = pair();
    expect(server.readv([Buffer.alloc(4), Buffer.alloc(4)])).toBe(WOULD_BLOCK);
  });

  it('peek returns WOULD_BLOCK on an idle connection', () => {
    const { server } = pair();
    expect(server.peek(Buffer.alloc(4))).toBe(WOULD_BLOCK);
  });

  it('read returns 0 at EOF once the peer closed, and keeps returning 0', () => {
    const { client, server } = pair();
    client.write(Buffer.from('last'));
    client.close();
    expect(readExactly(server, 4).toString()).toBe('last');
    waitReady(server, Interest.READABLE);
    expect(server.read(Buffer.alloc(8))).toBe(0);
    expect(server.read(Buffer.alloc(8))).toBe(0);
  });

  it('write returns WOULD_BLOCK once the send buffer is full (bounded loop)', () => {
    const { client } = pair();
    const written = fillSendBuffer(client);
    expect(written).toBeGreaterThan(0);
    expect(client.write(Buffer.alloc(1024))).toBe(WOULD_BLOCK);
  });

  it('writev returns WOULD_BLOCK once the send buffer is full', () => {
    const { client } = pair();
    fillSendBuffer(client);
    expect(client.writev([Buffer.alloc(1024), Buffer.alloc(1024)])).toBe(WOULD_BLOCK);
  });

  it('becomes writable again after the peer drains a full send buffer', () => {
    const { client, server } = pair();
    const written = fillSendBuffer(client);
    let drained = 0;
    const buf = Buffer.alloc(256 * 1024);
    const deadline = Date.now() + 5000;
    while (drained < written && Date.now() < deadline) {
      const n = server.read(buf);
      if (n === WOULD_BLOCK) waitReady(server, Interest.READABLE, 500);
      else if (n === 0) break;
      else drained += n;
    }
    expect(drained).toBe(written);
    expect(waitReady(client, Interest.WRITABLE) & 2).toBe(2);
    expect(client.write(Buffer.from('more'))).toBe(4);
  });

  it("shutdown('write') makes the peer read 0 while the other direction still works", () => {
    const { client, server } = pair();
    client.write(Buffer.from('bye'));
    client.shutdown('write');
    expect(readExactly(server, 3).toString()).toBe('bye');
    waitReady(server, Interest.READABLE);
    expect(server.read(Buffer.alloc(8))).toBe(0);
    server.write(Buffer.from('still here'));
    expect(readExactly(client, 10).toString()).toBe('still here');
  });

  it("shutdown() with no argument shuts the write half", () => {
    const { client, server } = pair();
    client.shutdown();
    waitReady(server, Interest.READABLE);
    expect(server.read(Buffer.alloc(8))).toBe(0);
  });

  it("write after our own shutdown('write') throws SysError EPIPE", () => {
    const { client } = pair();
    client.shutdown('write');
    const err = catchSysError(() => client.write(Buffer.from('x')));
    expect(err.code).toBe('EPIPE');
    expect(err.syscall).toBe('write');
  });

  it("shutdown('read') makes our own reads return 0", () => {
    const { server } = pair();
    server.shutdown('read');
    expect(server.read(Buffer.alloc(8))).toBe(0);
  });

  it('shutdown rejects an unknown direction with TypeError', () => {
    const { client } = pair();
    expect(() => client.shutdown('sideways' as never)).toThrow(TypeError);
  });

  it('moves 1 MiB intact through a connection in both non-blocking halves', () => {
    const { client, server } = pair();
    const data = Buffer.alloc(1 << 20);
    for (let i = 0; i < data.length; i++) data[i] = (i * 31 + 7) & 0xff;
    const got = Buffer.alloc(data.length);
    let sent = 0;
    let recvd = 0;
    const deadline = Date.now() + 10000;
    while (recvd < data.length && Date.now() < deadline) {
      if (sent < data.length) {
        const n = client.write(data, sent, Math.min(64 * 1024, data.length - sent));
        if (n !== WOULD_BLOCK) sent += n;
      }
      const m = server.read(got, recvd, got.length - recvd);
      if (m === 0) break;
      if (m !== WOULD_BLOCK) recvd += m;
    }
    expect(recvd).toBe(data.length);
    expect(got.equals(data)).toBe(true);
  });
});

describe('TcpStream options', () => {
  it('has TCP_NODELAY off by default', () => {
    const { client } = pair();
    expect(client.noDelay()).toBe(false);
  });

  it('setNoDelay(true) turns TCP_NODELAY on and setNoDelay(false) turns it off', () => {
    const { client } = pair();
    client.setNoDelay(true);
    expect(client.noDelay()).toBe(true);
    client.setNoDelay(false);
    expect(client.noDelay()).toBe(false);
  });

  it('setNoDelay() with no argument enables TCP_NODELAY', () => {
    const { server } = pair();
    server.setNoDelay();
    expect(server.noDelay()).toBe(true);
  });

  it('has SO_KEEPALIVE off by default', () => {
    const { client } = pair();
    expect(client.keepAlive()).toBe(false);
  });

  it('setKeepAlive(true) and setKeepAlive(false) toggle SO_KEEPALIVE', () => {
    const { client } = pair();
    client.setKeepAlive(true);
    expect(client.keepAlive()).toBe(true);
    client.setKeepAlive(false);
    expect(client.keepAlive()).toBe(false);
  });

  it('setKeepAlive(true, 42) sets the idle time before the first probe', () => {
    const { client } = pair();
    client.setKeepAlive(true, 42);
    expect(client.keepAlive()).toBe(true);
    expect(C.TCP_KEEPIDLE).toBeDefined();
    const out = new Int32Array(1);
    expect(native.getSockOptInt(client.fd, C.IPPROTO_TCP, C.TCP_KEEPIDLE as number, out)).toBe(0);
    expect(out[0]).toBe(42);
  });

  it('setKeepAlive rejects a zero, negative or fractional initial delay with RangeError', () => {
    const { client } = pair();
    expect(() => client.setKeepAlive(true, 0)).toThrow(RangeError);
    expect(() => client.setKeepAlive(true, -5)).toThrow(RangeError);
    expect(() => client.setKeepAlive(true, 1.5)).toThrow(RangeError);
  });
});

describe('TcpStream addresses', () => {
  it("client.localAddress() is the server's peerAddress() and the other way round", () => {
    const { client, server } = pair();
    expect(client.localAddress()).toEqual(server.peerAddress());
    expect(server.localAddress()).toEqual(client.peerAddress());
  });

  it('reports IPv4 loopback addresses with real ports', () => {
    const { client } = pair();
    const local = client.localAddress();
    const peer = client.peerAddress();
    expect(local).toMatchObject({ family: 'IPv4', address: '127.0.0.1' });
    expect(peer).toMatchObject({ family: 'IPv4', address: '127.0.0.1' });
    expect(local.port).toBeGreaterThan(0);
    expect(peer.port).toBeGreaterThan(0);
    expect(local.port).not.toBe(peer.port);
  });

  it("the accepted stream's localAddress() is the listener's address", () => {
    const listener = own(TcpListener.bind('127.0.0.1:0'));
    own(TcpStream.connect(listener.localAddress()));
    const server = acceptOne(listener);
    expect(server.localAddress()).toEqual(listener.localAddress());
  });
});
