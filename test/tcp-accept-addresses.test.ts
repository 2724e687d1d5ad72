/**
 * TcpListener.accept() learns the peer's address from accept4 and, for a
 * listener bound to a specific address, the local one from the listener:
 * what the stream reports must be exactly what the kernel would say.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { TcpListener, TcpStream } from '../src/index';
import { native } from '../src/native';
import { decodeSlot, newSlot } from '../src/net/address';
import { own, runCleanups } from './cleanup';
import { acceptOne } from './poll-fixtures';

afterEach(runCleanups);

/** The kernel's own view of `fd`'s ends. */
function kernelView(fd: number): { local: unknown; peer: unknown } {
  const slot = newSlot();
  expect(native.getSockName(fd, slot)).toBe(0);
  const local = decodeSlot(slot);
  expect(native.getPeerName(fd, slot)).toBe(0);
  return { local, peer: decodeSlot(slot) };
}

function acceptedFrom(bindHost: string, connectHost: string): TcpStream {
  const listener = own(TcpListener.bind({ host: bindHost, port: 0 }));
  own(TcpStream.connect({ host: connectHost, port: listener.localAddress().port }));
  return acceptOne(listener);
}

describe('TcpListener.accept() addresses', () => {
  for (const [bindHost, connectHost] of [
    ['127.0.0.1', '127.0.0.1'],
    ['0.0.0.0', '127.0.0.1'],
    ['::1', '::1'],
    ['::', '::1'],
  ] as const) {
    it(`a listener on ${bindHost}: the accepted stream's addresses are the kernel's`, () => {
      const stream = acceptedFrom(bindHost, connectHost);
      const view = kernelView(stream.fd);
      expect(stream.localAddress()).toEqual(view.local);
      expect(stream.peerAddress()).toEqual(view.peer);
    });
  }

  it('each accepted stream has its own peer address', () => {
    const listener = own(TcpListener.bind({ host: '127.0.0.1', port: 0 }));
    const port = listener.localAddress().port;
    const a = own(TcpStream.connect({ host: '127.0.0.1', port }));
    const first = acceptOne(listener);
    const b = own(TcpStream.connect({ host: '127.0.0.1', port }));
    const second = acceptOne(listener);
    expect(first.peerAddress().port).toBe(a.localAddress().port);
    expect(second.peerAddress().port).toBe(b.localAddress().port);
  });

  it('a returned address is a copy: changing it does not change the next one', () => {
    const stream = acceptedFrom('127.0.0.1', '127.0.0.1');
    // The type says readonly; a caller in plain JavaScript can still write.
    const peer = stream.peerAddress() as { port: number };
    peer.port = 1;
    expect(stream.peerAddress().port).not.toBe(1);
  });

  it('a closed accepted stream still refuses to report its addresses', () => {
    const stream = acceptedFrom('127.0.0.1', '127.0.0.1');
    stream.close();
    expect(() => stream.peerAddress()).toThrow(expect.objectContaining({ code: 'ERR_SOCKET_CLOSED' }));
    expect(() => stream.localAddress()).toThrow(expect.objectContaining({ code: 'ERR_SOCKET_CLOSED' }));
  });
});
