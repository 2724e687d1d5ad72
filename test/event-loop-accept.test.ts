/**
 * EventLoop.listen(): maxConnections. A connection past the limit is
 * accepted and closed at once (as Node's server.maxConnections does), and
 * the listener keeps accepting once a slot frees.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Connection, TcpStream } from '../src/index';
import { native } from '../src/native';
import { RawReader, addressOf, connectRaw, newLoop, peerPort, turnUntil } from './event-loop-util';
import { runCleanups } from './cleanup';

afterEach(runCleanups);

describe('EventLoop maxConnections', () => {
  it('accepts and at once closes connections past the limit', () => {
    const loop = newLoop();
    const accepted: Connection[] = [];
    const listener = loop.listen('127.0.0.1:0', (conn) => (accepted.push(conn), {}), { maxConnections: 1 });
    const address = addressOf(listener);
    const first = connectRaw(address);
    expect(turnUntil(loop, () => accepted.length === 1)).toBe(true);
    const extra = [connectRaw(address), connectRaw(address)];
    const readers = extra.map((peer) => new RawReader(peer));

    expect(turnUntil(loop, () => readers.every((r) => r.eof), () => readers.forEach((r) => r.pump()))).toBe(true);

    expect(accepted).toHaveLength(1);
    expect(peerPort(accepted[0])).toBe(first.localAddress().port);
    expect(listener.connections).toBe(1);
    expect(loop.connections).toBe(1);
    const firstReader = new RawReader(first);
    firstReader.pump();
    expect(firstReader.eof, 'the connection within the limit stays open').toBe(false);
  });

  it('accepts again once a connection under the limit closes', () => {
    const loop = newLoop();
    const accepted: Connection[] = [];
    const listener = loop.listen('127.0.0.1:0', (conn) => (accepted.push(conn), {}), { maxConnections: 1 });
    const address = addressOf(listener);
    connectRaw(address);
    expect(turnUntil(loop, () => accepted.length === 1)).toBe(true);

    accepted[0].close();
    expect(listener.connections).toBe(0);
    const next: TcpStream = connectRaw(address);

    expect(turnUntil(loop, () => accepted.length === 2)).toBe(true);
    expect(peerPort(accepted[1])).toBe(next.localAddress().port);
    expect(listener.connections).toBe(1);
  });

  it('maxConnections: 0 closes every connection at accept', () => {
    const loop = newLoop();
    let factoryCalls = 0;
    const listener = loop.listen('127.0.0.1:0', () => (factoryCalls++, {}), { maxConnections: 0 });
    const reader = new RawReader(connectRaw(addressOf(listener)));

    expect(turnUntil(loop, () => reader.eof, () => reader.pump())).toBe(true);
    expect(factoryCalls).toBe(0);
    expect(loop.connections).toBe(0);
  });
});

describe('EventLoop accept errors', () => {
  it('an accept error is reported to onHandlerError and the loop keeps turning', () => {
    const errors: string[] = [];
    const loop = newLoop({ onHandlerError: (err) => errors.push((err as { code?: string }).code ?? String(err)) });
    const accepted: Connection[] = [];
    const broken = loop.listen('127.0.0.1:0', () => ({}));
    const healthy = loop.listen('127.0.0.1:0', (conn) => (accepted.push(conn), {}));
    // A listening socket shut down under the loop: readable, and accept() says EINVAL.
    expect(native.shutdown(broken.socket.fd, 0)).toBe(0);
    connectRaw(addressOf(healthy));
    expect(turnUntil(loop, () => accepted.length === 1 && errors.length > 0)).toBe(true);
    expect(errors[0]).toBe('EINVAL');
  });
});
