/**
 * UDP sockets: bind, sendTo/recvFrom, connected send/recv, would-block,
 * zero-length datagrams, IPv6. Loopback only.
 */
import * as os from 'node:os';
import { afterEach, describe, expect, it } from 'vitest';
import { UdpSocket, WOULD_BLOCK, type Received, type InetAddress } from '../src/index';
import { native } from '../src/native';
import { own, runCleanups } from './cleanup';
import { catchSysError, waitReadable } from './poll-fixtures';

// ---------------------------------------------------------------------------
// Helpers local to this file
// ---------------------------------------------------------------------------

const C = native.constants;

afterEach(runCleanups);

/** recvFrom after waiting for the datagram; fails the test on WOULD_BLOCK. */
function recvFromWaiting(sock: UdpSocket, buf: Uint8Array, offset?: number, length?: number): Received<InetAddress> {
  waitReadable(sock);
  const r = sock.recvFrom(buf, offset, length);
  if (r === WOULD_BLOCK) throw new Error('readable, yet recvFrom returned WOULD_BLOCK');
  return r;
}

/** recv after waiting for the datagram. */
function recvWaiting(sock: UdpSocket, buf: Uint8Array): number {
  waitReadable(sock);
  const n = sock.recv(buf);
  if (n === WOULD_BLOCK) throw new Error('readable, yet recv returned WOULD_BLOCK');
  return n;
}

// ---------------------------------------------------------------------------

describe('UdpSocket.bind', () => {
  it('binds 127.0.0.1:0 and reports the port the kernel chose', () => {
    const sock = own(UdpSocket.bind('127.0.0.1:0'));
    const addr = sock.localAddress();
    expect(addr).toMatchObject({ family: 'IPv4', address: '127.0.0.1' });
    expect(addr.port).toBeGreaterThan(0);
  });

  it('binds the IPv6 loopback [::1]:0 (IPv6 loopback must be available on this host)', () => {
    let sock: UdpSocket;
    try {
      sock = own(UdpSocket.bind('[::1]:0'));
    } catch (err) {
      throw new Error(`IPv6 loopback unavailable here, IPv6 tests cannot run: ${(err as Error).message}`);
    }
    expect(sock.localAddress()).toMatchObject({ family: 'IPv6', address: '::1' });
  });

  it('throws SysError EADDRINUSE when the port is already bound', () => {
    const a = own(UdpSocket.bind('127.0.0.1:0'));
    const err = catchSysError(() => own(UdpSocket.bind(a.localAddress())));
    expect(err.code).toBe('EADDRINUSE');
    expect(err.errno).toBe(-os.constants.errno.EADDRINUSE);
    expect(err.syscall).toBe('bind');
  });

  it('lets two sockets share a port with reusePort', () => {
    const a = own(UdpSocket.bind('127.0.0.1:0', { reusePort: true }));
    const b = own(UdpSocket.bind(a.localAddress(), { reusePort: true }));
    expect(b.localAddress().port).toBe(a.localAddress().port);
  });

  it('sets SO_REUSEADDR only when asked', () => {
    const plain = own(UdpSocket.bind('127.0.0.1:0'));
    const reuse = own(UdpSocket.bind('127.0.0.1:0', { reuseAddress: true }));
    const out = new Int32Array(1);
    native.getSockOptInt(plain.fd, C.SOL_SOCKET, C.SO_REUSEADDR, out);
    expect(out[0]).toBe(0);
    native.getSockOptInt(reuse.fd, C.SOL_SOCKET, C.SO_REUSEADDR, out);
    expect(out[0]).not.toBe(0);
  });

  it('setBroadcast toggles SO_BROADCAST', () => {
    const sock = own(UdpSocket.bind('127.0.0.1:0'));
    const out = new Int32Array(1);
    sock.setBroadcast(true);
    native.getSockOptInt(sock.fd, C.SOL_SOCKET, C.SO_BROADCAST, out);
    expect(out[0]).not.toBe(0);
    sock.setBroadcast(false);
    native.getSockOptInt(sock.fd, C.SOL_SOCKET, C.SO_BROADCAST, out);
    expect(out[0]).toBe(0);
  });
});

describe('UdpSocket sendTo / recvFrom', () => {
  it('delivers a datagram and names its sender', () => {
    const a = own(UdpSocket.bind('127.0.0.1:0'));
    const b = own(UdpSocket.bind('127.0.0.1:0'));
    expect(a.sendTo(Buffer.from('hello udp'), b.localAddress())).toBe(9);
    const buf = Buffer.alloc(64);
    const r = recvFromWaiting(b, buf);
    expect(r.bytes).toBe(9);
    expect(buf.subarray(0, 9).toString()).toBe('hello udp');
    expect(r.address).toEqual(a.localAddress());
  });

  it('accepts the destination as a "host:port" string', () => {
    const a = own(UdpSocket.bind('127.0.0.1:0'));
    const b = own(UdpSocket.bind('127.0.0.1:0'));
    a.sendTo(Buffer.from('str'), `127.0.0.1:${b.localAddress().port}`);
    const buf = Buffer.alloc(8);
    expect(recvFromWaiting(b, buf).bytes).toBe(3);
  });

  it('returns WOULD_BLOCK from recvFrom when no datagram is queued', () => {
    const sock = own(UdpSocket.bind('127.0.0.1:0'));
    expect(sock.recvFrom(Buffer.alloc(16))).toBe(WOULD_BLOCK);
  });

  it('keeps datagram boundaries: two sends are two receives', () => {
    const a = own(UdpSocket.bind('127.0.0.1:0'));
    const b = own(UdpSocket.bind('127.0.0.1:0'));
    a.sendTo(Buffer.from('first'), b.localAddress());
    a.sendTo(Buffer.from('second!'), b.localAddress());
    const buf = Buffer.alloc(64);
    expect(recvFromWaiting(b, buf).bytes).toBe(5);
    expect(buf.subarray(0, 5).toString()).toBe('first');
    expect(recvFromWaiting(b, buf).bytes).toBe(7);
    expect(buf.subarray(0, 7).toString()).toBe('second!');
    expect(b.recvFrom(buf)).toBe(WOULD_BLOCK);
  });

  it('reads a zero-length datagram as 0 bytes, with its sender, and it is not EOF', () => {
    const a = own(UdpSocket.bind('127.0.0.1:0'));
    const b = own(UdpSocket.bind('127.0.0.1:0'));
    expect(a.sendTo(Buffer.alloc(0), b.localAddress())).toBe(0);
    a.sendTo(Buffer.from('after'), b.localAddress());
    const buf = Buffer.alloc(16);
    const empty = recvFromWaiting(b, buf);
    expect(empty.bytes).toBe(0);
    expect(empty.address).toEqual(a.localAddress());
    const next = recvFromWaiting(b, buf);
    expect(next.bytes).toBe(5);
    expect(buf.subarray(0, 5).toString()).toBe('after');
  });

  it('truncates a datagram longer than the buffer and drops the rest', () => {
    const a = own(UdpSocket.bind('127.0.0.1:0'));
    const b = own(UdpSocket.bind('127.0.0.1:0'));
    a.sendTo(Buffer.from('0123456789'), b.localAddress());
    const buf = Buffer.alloc(4);
    expect(recvFromWaiting(b, buf).bytes).toBe(4);
    expect(buf.toString()).toBe('0123');
    expect(b.recvFrom(Buffer.alloc(16))).toBe(WOULD_BLOCK);
  });

  it('sendTo sends only buf[offset .. offset+length)', () => {
    const a = own(UdpSocket.bind('127.0.0.1:0'));
    const b = own(UdpSocket.bind('127.0.0.1:0'));
    expect(a.sendTo(Buffer.from('abcdefgh'), b.localAddress(), 2, 3)).toBe(3);
    const buf = Buffer.alloc(16);
    expect(recvFromWaiting(b, buf).bytes).toBe(3);
    expect(buf.subarray(0, 3).toString()).toBe('cde');
  });

  it('recvFrom writes at the given offset and leaves the other bytes alone', () => {
    const a = own(UdpSocket.bind('127.0.0.1:0'));
    const b = own(UdpSocket.bind('127.0.0.1:0'));
    a.sendTo(Buffer.from('XY'), b.localAddress());
    const buf = Buffer.from('......');
    expect(recvFromWaiting(b, buf, 3, 2).bytes).toBe(2);
    expect(buf.toString()).toBe('...XY.');
  });

  it('sendTo an IPv6 address from an IPv4 socket throws SysError EAFNOSUPPORT', () => {
    const a = own(UdpSocket.bind('127.0.0.1:0'));
    const err = catchSysError(() => a.sendTo(Buffer.from('x'), '[::1]:9'));
    expect(err.code).toBe('EAFNOSUPPORT');
    expect(err.syscall).toBe('sendto');
  });
});

describe('UdpSocket connect / send / recv', () => {
  it('send and recv travel between two connected sockets', () => {
    const a = own(UdpSocket.bind('127.0.0.1:0'));
    const b = own(UdpSocket.bind('127.0.0.1:0'));
    a.connect(b.localAddress());
    b.connect(a.localAddress());
    expect(a.send(Buffer.from('to b'))).toBe(4);
    const buf = Buffer.alloc(16);
    expect(recvWaiting(b, buf)).toBe(4);
    expect(buf.subarray(0, 4).toString()).toBe('to b');
    expect(b.send(Buffer.from('to a!'))).toBe(5);
    expect(recvWaiting(a, buf)).toBe(5);
    expect(buf.subarray(0, 5).toString()).toBe('to a!');
  });

  it('peerAddress() is the connected address', () => {
    const a = own(UdpSocket.bind('127.0.0.1:0'));
    const b = own(UdpSocket.bind('127.0.0.1:0'));
    a.connect(b.localAddress());
    expect(a.peerAddress()).toEqual(b.localAddress());
  });

  it('peerAddress() on an unconnected socket throws SysError ENOTCONN', () => {
    const a = own(UdpSocket.bind('127.0.0.1:0'));
    const err = catchSysError(() => a.peerAddress());
    expect(err.code).toBe('ENOTCONN');
  });

  it('recv returns WOULD_BLOCK on a connected socket with nothing queued', () => {
    const a = own(UdpSocket.bind('127.0.0.1:0'));
    const b = own(UdpSocket.bind('127.0.0.1:0'));
    a.connect(b.localAddress());
    expect(a.recv(Buffer.alloc(16))).toBe(WOULD_BLOCK);
  });

  it('recv on a connected socket reads a zero-length datagram as 0', () => {
    const a = own(UdpSocket.bind('127.0.0.1:0'));
    const b = own(UdpSocket.bind('127.0.0.1:0'));
    a.connect(b.localAddress());
    b.connect(a.localAddress());
    expect(a.send(Buffer.alloc(0))).toBe(0);
    expect(recvWaiting(b, Buffer.alloc(8))).toBe(0);
    expect(b.recv(Buffer.alloc(8))).toBe(WOULD_BLOCK);
  });

  it('a connected socket only receives from its peer', () => {
    const a = own(UdpSocket.bind('127.0.0.1:0'));
    const b = own(UdpSocket.bind('127.0.0.1:0'));
    const stranger = own(UdpSocket.bind('127.0.0.1:0'));
    a.connect(b.localAddress());
    stranger.sendTo(Buffer.from('intruder'), a.localAddress());
    b.sendTo(Buffer.from('friend'), a.localAddress());
    const buf = Buffer.alloc(16);
    const r = recvFromWaiting(a, buf);
    expect(buf.subarray(0, r.bytes).toString()).toBe('friend');
    expect(r.address).toEqual(b.localAddress());
    expect(a.recvFrom(buf)).toBe(WOULD_BLOCK);
  });

  it('send on an unconnected socket throws SysError EDESTADDRREQ', () => {
    const a = own(UdpSocket.bind('127.0.0.1:0'));
    const err = catchSysError(() => a.send(Buffer.from('x')));
    expect(err.code).toBe('EDESTADDRREQ');
    expect(err.syscall).toBe('send');
  });

  it('send uses offset and length', () => {
    const a = own(UdpSocket.bind('127.0.0.1:0'));
    const b = own(UdpSocket.bind('127.0.0.1:0'));
    a.connect(b.localAddress());
    expect(a.send(Buffer.from('..mid..'), 2, 3)).toBe(3);
    const buf = Buffer.alloc(8);
    expect(recvFromWaiting(b, buf).bytes).toBe(3);
    expect(buf.subarray(0, 3).toString()).toBe('mid');
  });
});

describe('UdpSocket over IPv6', () => {
  it('sendTo/recvFrom over [::1] names an IPv6 sender', () => {
    const a = own(UdpSocket.bind('[::1]:0'));
    const b = own(UdpSocket.bind('[::1]:0'));
    expect(a.sendTo(Buffer.from('v6'), b.localAddress())).toBe(2);
    const buf = Buffer.alloc(8);
    const r = recvFromWaiting(b, buf);
    expect(r.bytes).toBe(2);
    expect(buf.subarray(0, 2).toString()).toBe('v6');
    expect(r.address).toMatchObject({ family: 'IPv6', address: '::1', port: a.localAddress().port });
  });

  it('connect/send/recv over [::1]', () => {
    const a = own(UdpSocket.bind('[::1]:0'));
    const b = own(UdpSocket.bind('[::1]:0'));
    a.connect(`[::1]:${b.localAddress().port}`);
    expect(a.send(Buffer.from('six'))).toBe(3);
    const buf = Buffer.alloc(8);
    expect(recvFromWaiting(b, buf).bytes).toBe(3);
    expect(a.peerAddress()).toMatchObject({ family: 'IPv6', address: '::1', port: b.localAddress().port });
  });

  it('reads a zero-length IPv6 datagram as 0', () => {
    const a = own(UdpSocket.bind('[::1]:0'));
    const b = own(UdpSocket.bind('[::1]:0'));
    a.sendTo(new Uint8Array(0), b.localAddress());
    expect(recvFromWaiting(b, Buffer.alloc(4)).bytes).toBe(0);
  });
});
