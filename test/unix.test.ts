/**
 * Unix-domain sockets: stream listeners and connections on a path and on a
 * Linux abstract name, socketpairs, datagrams, and path-length limits.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  Interest,
  SysError,
  UnixDatagram,
  UnixListener,
  UnixStream,
  WOULD_BLOCK,
  type Received,
  type UnixAddress,
} from '../src/index';
import { own, runCleanups } from './cleanup';
import { acceptOne, catchError, readExactly, waitReady } from './poll-fixtures';
import { useTempDir } from './temp-dir';

// ---------------------------------------------------------------------------
// Helpers local to this file
// ---------------------------------------------------------------------------

/** Bytes in sockaddr_un.sun_path on Linux. */
const SUN_PATH = 108;

afterEach(runCleanups);

const tmp = useTempDir('edgeloop-unix-');

let counter = 0;
/** A fresh socket path inside the test's temp tmp.path. */
function sockPath(): string {
  return path.join(tmp.path, `s${++counter}.sock`);
}
/** A fresh abstract name, without the leading NUL. */
function abstractName(): string {
  return `edgeloop-test-${process.pid}-${++counter}-${Math.random().toString(36).slice(2)}`;
}

/** A path of exactly `bytes` bytes inside the temp tmp.path. */
function pathOfLength(bytes: number): string {
  const prefix = path.join(tmp.path, `p${++counter}-`);
  if (prefix.length >= bytes) throw new Error(`temp tmp.path path too long to build a ${bytes}-byte path`);
  return prefix + 'x'.repeat(bytes - prefix.length);
}

function recvFromWaiting(sock: UnixDatagram, buf: Uint8Array): Received<UnixAddress> {
  expect(waitReady(sock, Interest.READABLE) & 1, 'datagram never arrived').toBe(1);
  const r = sock.recvFrom(buf);
  if (r === WOULD_BLOCK) throw new Error('readable, yet recvFrom returned WOULD_BLOCK');
  return r;
}

// ---------------------------------------------------------------------------

describe('UnixListener / UnixStream on a filesystem path', () => {
  it('binds a path, creating a socket file there', () => {
    const p = sockPath();
    own(UnixListener.bind(p));
    expect(fs.statSync(p).isSocket()).toBe(true);
  });

  it('reports the bound path as its local address', () => {
    const p = sockPath();
    const listener = own(UnixListener.bind(p));
    expect(listener.localAddress()).toEqual({ family: 'unix', path: p, abstract: false });
  });

  it('accept returns WOULD_BLOCK with no pending connection', () => {
    const listener = own(UnixListener.bind(sockPath()));
    expect(listener.accept()).toBe(WOULD_BLOCK);
  });

  it('connects, accepts a UnixStream and carries bytes both ways', () => {
    const p = sockPath();
    const listener = own(UnixListener.bind(p));
    const client = own(UnixStream.connect(p));
    const server = acceptOne(listener);
    expect(server).toBeInstanceOf(UnixStream);
    expect(client.write(Buffer.from('over unix'))).toBe(9);
    expect(readExactly(server, 9).toString()).toBe('over unix');
    server.write(Buffer.from('back'));
    expect(readExactly(client, 4).toString()).toBe('back');
  });

  it("the client's peer is the listener path; the accepted side sees an unnamed peer", () => {
    const p = sockPath();
    const listener = own(UnixListener.bind(p));
    const client = own(UnixStream.connect(p));
    const server = acceptOne(listener);
    expect(client.peerAddress()).toEqual({ family: 'unix', path: p, abstract: false });
    expect(server.peerAddress()).toEqual({ family: 'unix', path: '', abstract: false });
    expect(client.localAddress()).toEqual({ family: 'unix', path: '', abstract: false });
    expect(server.localAddress()).toEqual({ family: 'unix', path: p, abstract: false });
  });

  it('closing the listener leaves the file; binding the same path again fails with EADDRINUSE', () => {
    const p = sockPath();
    UnixListener.bind(p).close();
    expect(fs.existsSync(p)).toBe(true);
    const err = catchError(() => own(UnixListener.bind(p)));
    expect(err).toBeInstanceOf(SysError);
    expect(err.code).toBe('EADDRINUSE');
    expect(err.syscall).toBe('bind');
  });

  it('connecting to a path that does not exist throws SysError ENOENT', () => {
    const err = catchError(() => own(UnixStream.connect(path.join(tmp.path, 'missing.sock'))));
    expect(err).toBeInstanceOf(SysError);
    expect(err.code).toBe('ENOENT');
    expect(err.syscall).toBe('connect');
  });

  it('peer close makes read return 0', () => {
    const p = sockPath();
    const listener = own(UnixListener.bind(p));
    const client = own(UnixStream.connect(p));
    const server = acceptOne(listener);
    client.close();
    expect(waitReady(server, Interest.READABLE) & 1).toBe(1);
    expect(server.read(Buffer.alloc(8))).toBe(0);
  });

  it('rejects an empty path with TypeError', () => {
    expect(() => own(UnixListener.bind(''))).toThrow(TypeError);
  });
});

describe('Linux abstract names', () => {
  it("binds '\\0name' without creating a file and reports it as abstract", () => {
    const name = abstractName();
    const listener = own(UnixListener.bind(`\0${name}`));
    expect(listener.localAddress()).toEqual({ family: 'unix', path: name, abstract: true });
    expect(fs.existsSync(name)).toBe(false);
    expect(fs.existsSync(path.join(process.cwd(), name))).toBe(false);
  });

  it("connects to a '\\0name' listener and carries bytes", () => {
    const name = `\0${abstractName()}`;
    const listener = own(UnixListener.bind(name));
    const client = own(UnixStream.connect(name));
    const server = acceptOne(listener);
    client.write(Buffer.from('abstract'));
    expect(readExactly(server, 8).toString()).toBe('abstract');
  });

  it('{ path, abstract: true } names the same socket as the NUL-prefixed string', () => {
    const name = abstractName();
    const listener = own(UnixListener.bind({ path: name, abstract: true }));
    expect(listener.localAddress()).toEqual({ family: 'unix', path: name, abstract: true });
    const client = own(UnixStream.connect(`\0${name}`));
    const server = acceptOne(listener);
    client.write(Buffer.from('same'));
    expect(readExactly(server, 4).toString()).toBe('same');
    expect(client.peerAddress()).toEqual({ family: 'unix', path: name, abstract: true });
  });

  it('a Buffer starting with NUL is an abstract name too', () => {
    const name = abstractName();
    const listener = own(UnixListener.bind(Buffer.from(`\0${name}`)));
    expect(listener.localAddress()).toEqual({ family: 'unix', path: name, abstract: true });
    own(UnixStream.connect({ path: name, abstract: true }));
    acceptOne(listener);
  });

  it('connecting to an abstract name nobody listens on throws SysError ECONNREFUSED', () => {
    const err = catchError(() => own(UnixStream.connect(`\0${abstractName()}`)));
    expect(err).toBeInstanceOf(SysError);
    expect(err.code).toBe('ECONNREFUSED');
  });

  it('binding an abstract name twice fails with EADDRINUSE', () => {
    const name = `\0${abstractName()}`;
    own(UnixListener.bind(name));
    const err = catchError(() => own(UnixListener.bind(name)));
    expect(err.code).toBe('EADDRINUSE');
  });

  it('frees an abstract name when its socket closes (no file to unlink)', () => {
    const name = `\0${abstractName()}`;
    UnixListener.bind(name).close();
    const again = own(UnixListener.bind(name));
    expect(again.localAddress().abstract).toBe(true);
  });
});

describe('UnixStream.pair', () => {
  it('returns two connected streams that carry bytes both ways', () => {
    const [a, b] = UnixStream.pair().map(own);
    expect(a.write(Buffer.from('left'))).toBe(4);
    expect(readExactly(b, 4).toString()).toBe('left');
    expect(b.write(Buffer.from('right'))).toBe(5);
    expect(readExactly(a, 5).toString()).toBe('right');
  });

  it('both ends are unnamed', () => {
    const [a, b] = UnixStream.pair().map(own);
    expect(a.localAddress()).toEqual({ family: 'unix', path: '', abstract: false });
    expect(b.peerAddress()).toEqual({ family: 'unix', path: '', abstract: false });
  });

  it('read returns WOULD_BLOCK when nothing was written', () => {
    const [a] = UnixStream.pair().map(own);
    expect(a.read(Buffer.alloc(8))).toBe(WOULD_BLOCK);
  });

  it('closing one end makes the other read 0', () => {
    const [a, b] = UnixStream.pair().map(own);
    a.close();
    expect(b.read(Buffer.alloc(8))).toBe(0);
  });

  it("shutdown('write') makes the other end read 0 while it can still reply", () => {
    const [a, b] = UnixStream.pair().map(own);
    a.shutdown('write');
    expect(b.read(Buffer.alloc(8))).toBe(0);
    b.write(Buffer.from('ok'));
    expect(readExactly(a, 2).toString()).toBe('ok');
  });

  it('readv, writev and peek work on a Unix stream', () => {
    const [a, b] = UnixStream.pair().map(own);
    expect(a.writev([Buffer.from('ab'), Buffer.from('cde')])).toBe(5);
    const p = Buffer.alloc(2);
    expect(b.peek(p)).toBe(2);
    expect(p.toString()).toBe('ab');
    const x = Buffer.alloc(1);
    const y = Buffer.alloc(8);
    expect(b.readv([x, y])).toBe(5);
    expect(x.toString()).toBe('a');
    expect(y.subarray(0, 4).toString()).toBe('bcde');
  });

  it('write returns WOULD_BLOCK when the pair is full (bounded loop)', () => {
    const [a] = UnixStream.pair().map(own);
    const chunk = Buffer.alloc(64 * 1024);
    let blocked = false;
    for (let i = 0; i < 4096 && !blocked; i++) blocked = a.write(chunk) === WOULD_BLOCK;
    expect(blocked).toBe(true);
  });
});

describe('UnixDatagram', () => {
  it('bind + sendTo/recvFrom delivers a datagram and names the bound sender', () => {
    const pa = sockPath();
    const pb = sockPath();
    const a = own(UnixDatagram.bind(pa));
    const b = own(UnixDatagram.bind(pb));
    expect(a.sendTo(Buffer.from('dgram'), pb)).toBe(5);
    const buf = Buffer.alloc(16);
    const r = recvFromWaiting(b, buf);
    expect(r.bytes).toBe(5);
    expect(buf.subarray(0, 5).toString()).toBe('dgram');
    expect(r.address).toEqual({ family: 'unix', path: pa, abstract: false });
    expect(b.localAddress()).toEqual({ family: 'unix', path: pb, abstract: false });
  });

  it('an unbound socket can send; the receiver sees an unnamed sender', () => {
    const pb = sockPath();
    const b = own(UnixDatagram.bind(pb));
    const u = own(UnixDatagram.unbound());
    expect(u.sendTo(Buffer.from('anon'), pb)).toBe(4);
    const buf = Buffer.alloc(8);
    const r = recvFromWaiting(b, buf);
    expect(buf.subarray(0, r.bytes).toString()).toBe('anon');
    expect(r.address).toEqual({ family: 'unix', path: '', abstract: false });
  });

  it('recvFrom on a pair() socket reports the unnamed peer', () => {
    const [a, b] = UnixDatagram.pair().map(own);
    a.send(Buffer.from('paired'));
    const buf = Buffer.alloc(16);
    const r = recvFromWaiting(b, buf);
    expect(r.bytes).toBe(6);
    expect(r.address).toEqual({ family: 'unix', path: '', abstract: false });
  });

  it('recvFrom returns WOULD_BLOCK with no datagram queued', () => {
    const b = own(UnixDatagram.bind(sockPath()));
    expect(b.recvFrom(Buffer.alloc(8))).toBe(WOULD_BLOCK);
  });

  it('pair() sockets exchange datagrams with send/recv and keep boundaries', () => {
    const [a, b] = UnixDatagram.pair().map(own);
    expect(a.send(Buffer.from('one'))).toBe(3);
    expect(a.send(Buffer.from('two!'))).toBe(4);
    const buf = Buffer.alloc(16);
    expect(b.recv(buf)).toBe(3);
    expect(buf.subarray(0, 3).toString()).toBe('one');
    expect(b.recv(buf)).toBe(4);
    expect(buf.subarray(0, 4).toString()).toBe('two!');
    expect(b.recv(buf)).toBe(WOULD_BLOCK);
  });

  it('a zero-length datagram on a pair reads as 0 and is not EOF', () => {
    const [a, b] = UnixDatagram.pair().map(own);
    expect(a.send(new Uint8Array(0))).toBe(0);
    a.send(Buffer.from('x'));
    const buf = Buffer.alloc(4);
    expect(b.recv(buf)).toBe(0);
    expect(b.recv(buf)).toBe(1);
  });

  it('connect sets the default peer for send, and peerAddress reports it', () => {
    const pb = sockPath();
    const b = own(UnixDatagram.bind(pb));
    const a = own(UnixDatagram.unbound());
    a.connect(pb);
    expect(a.peerAddress()).toEqual({ family: 'unix', path: pb, abstract: false });
    expect(a.send(Buffer.from('via connect'))).toBe(11);
    expect(waitReady(b, Interest.READABLE) & 1).toBe(1);
    const buf = Buffer.alloc(16);
    expect(b.recv(buf)).toBe(11);
    expect(buf.subarray(0, 11).toString()).toBe('via connect');
  });

  it('binds an abstract name and receives on it', () => {
    const name = abstractName();
    const b = own(UnixDatagram.bind({ path: name, abstract: true }));
    expect(b.localAddress()).toEqual({ family: 'unix', path: name, abstract: true });
    const a = own(UnixDatagram.bind(`\0${abstractName()}`));
    a.sendTo(Buffer.from('abs'), `\0${name}`);
    const r = recvFromWaiting(b, Buffer.alloc(8));
    expect(r.bytes).toBe(3);
    expect(r.address.abstract).toBe(true);
    expect(r.address.path).toBe(a.localAddress().path);
  });

  it('sendTo a path with no socket throws SysError ENOENT', () => {
    const a = own(UnixDatagram.unbound());
    const err = catchError(() => a.sendTo(Buffer.from('x'), path.join(tmp.path, 'nobody.sock')));
    expect(err).toBeInstanceOf(SysError);
    expect(err.code).toBe('ENOENT');
    expect(err.syscall).toBe('sendto');
  });
});

describe('Unix path length', () => {
  it(`accepts the longest path that fits (${SUN_PATH - 1} bytes) and reports it back intact`, () => {
    const p = pathOfLength(SUN_PATH - 1);
    const listener = own(UnixListener.bind(p));
    expect(listener.localAddress().path).toBe(p);
  });

  it(`a ${SUN_PATH}-byte path is rejected with a clear ENAMETOOLONG error naming the path`, () => {
    const p = pathOfLength(SUN_PATH);
    const err = catchError(() => own(UnixListener.bind(p)));
    expect(err).toBeInstanceOf(SysError);
    expect(err.code).toBe('ENAMETOOLONG');
    expect(err.message).toContain('ENAMETOOLONG');
    expect(err.message).toContain(p);
  });

  it('a very long path (300 bytes) is rejected with ENAMETOOLONG before any socket is opened', () => {
    const p = path.join(tmp.path, 'y'.repeat(300));
    const err = catchError(() => own(UnixDatagram.bind(p)));
    expect(err.code).toBe('ENAMETOOLONG');
  });

  it(`accepts an abstract name of ${SUN_PATH - 1} bytes and rejects ${SUN_PATH}`, () => {
    const base = abstractName();
    const fits = (base + 'z'.repeat(SUN_PATH)).slice(0, SUN_PATH - 1);
    const listener = own(UnixListener.bind({ path: fits, abstract: true }));
    expect(listener.localAddress()).toEqual({ family: 'unix', path: fits, abstract: true });
    const tooLong = (base + 'z'.repeat(SUN_PATH)).slice(0, SUN_PATH);
    const err = catchError(() => own(UnixListener.bind({ path: tooLong, abstract: true })));
    expect(err.code).toBe('ENAMETOOLONG');
  });

  it('a too-long path given to UnixStream.connect names connect as the failing call', () => {
    const err = catchError(() => own(UnixStream.connect(pathOfLength(SUN_PATH + 20))));
    expect(err.code).toBe('ENAMETOOLONG');
    // The error must say which call the user made; it should not claim a bind.
    expect(err.syscall).toBe('connect');
  });
});
