/**
 * EventLoop.close(): closes every connection (onClose runs), listener,
 * source and timer, and the Poll; leaves no fd behind; is idempotent; a
 * closed loop refuses to be used.
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { EventLoop, Interest, TcpStream, UdpSocket, WOULD_BLOCK, type Connection } from '../src/index';
import { RawReader, addressOf, connectRaw, newLoop, runBounded, turnUntil } from './event-loop-util';
import { assertDistFresh } from './dist';
import { own, runCleanups } from './cleanup';
import { openFdCount, tcpPair } from './util';
import { onLibkqueue } from './platform';

beforeAll(assertDistFresh);
afterEach(runCleanups);

describe('EventLoop close()', () => {
  it('closes every connection (each onClose runs once, without error), the listener, the sources and the Poll', () => {
    const loop = newLoop();
    const closes: Array<[Connection, Error | undefined]> = [];
    const onClose = (conn: Connection, err?: Error): void => void closes.push([conn, err]);
    const listener = loop.listen('127.0.0.1:0', () => ({ onClose }));
    const peers = [connectRaw(addressOf(listener)), connectRaw(addressOf(listener))];
    expect(turnUntil(loop, () => loop.connections === 2)).toBe(true);
    const pair = tcpPair();
    own(pair.client);
    const adopted = loop.adopt(pair.server, { onClose });
    const udp = UdpSocket.bind('127.0.0.1:0');
    own(udp);
    loop.register(udp, { onReady: () => undefined }, Interest.READABLE);
    expect(loop.connections).toBe(3);

    loop.close();

    expect(closes).toHaveLength(3);
    expect(new Set(closes.map(([c]) => c)).size).toBe(3);
    expect(closes.every(([, err]) => err === undefined)).toBe(true);
    expect(closes.every(([c]) => c.isClosed && c.stream.isClosed)).toBe(true);
    expect(closes.map(([c]) => c)).toContain(adopted);
    expect(loop.connections).toBe(0);
    expect(listener.socket.isClosed).toBe(true);
    expect(udp.isClosed).toBe(true);
    expect(loop.poll.isOpen).toBe(false);
    expect(loop.state).toBe('closed');
    // The peers see the connections end.
    for (const peer of [...peers, pair.client]) {
      const reader = new RawReader(peer);
      for (let i = 0; i < 200 && !reader.eof; i++) reader.pump();
      expect(reader.eof).toBe(true);
    }
  });

  it('close() cancels pending timers: an attached loop’s timer never fires', async () => {
    const loop = newLoop();
    loop.attach();
    let fired = 0;
    loop.setTimeout(() => fired++, 10);
    loop.setInterval(() => fired++, 5);
    loop.close();
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(fired).toBe(0);
  });

  // libkqueue closes its fds from a background thread: counts lag.
  it.skipIf(onLibkqueue)('leaves the process with as many open fds as before the loop was created', () => {
    const before = openFdCount();
    const loop = new EventLoop();
    const listener = loop.listen('127.0.0.1:0', () => ({}));
    const peers = [TcpStream.connect(addressOf(listener)), TcpStream.connect(addressOf(listener))];
    try {
      expect(turnUntil(loop, () => loop.connections === 2)).toBe(true);
      loop.setTimeout(() => undefined, 60_000);
      // Poll + waker + listener + 2 connections + 2 peers, at least.
      expect(openFdCount()).toBeGreaterThanOrEqual(before + 7);
    } finally {
      loop.close();
      for (const p of peers) p.close();
    }
    expect(openFdCount()).toBe(before);
  });

  it('close() twice is harmless', () => {
    const loop = newLoop();
    let closes = 0;
    const { client, server } = tcpPair();
    own(client);
    loop.adopt(server, { onClose: () => void closes++ });
    loop.close();
    expect(() => loop.close()).not.toThrow();
    expect(closes).toBe(1);
    expect(loop.state).toBe('closed');
  });

  it('close() from a handler inside run() makes run() return', () => {
    const loop = newLoop();
    const listener = loop.listen('127.0.0.1:0', () => ({ onReadable: () => loop.close() }));
    connectRaw(addressOf(listener)).write(Buffer.from('close the loop'));
    expect(runBounded(loop), 'run() needed the watchdog').toBe(true);
    expect(loop.state).toBe('closed');
    expect(loop.poll.isOpen).toBe(false);
  });

  describe('a closed loop throws when used', () => {
    const uses: Array<[string, (loop: EventLoop) => unknown]> = [
      ['listen', (loop) => loop.listen('127.0.0.1:0', () => ({}))],
      [
        'adopt',
        (loop) => {
          const { client, server } = tcpPair();
          own(client);
          own(server);
          return loop.adopt(server, {});
        },
      ],
      [
        'register',
        (loop) => loop.register(own(UdpSocket.bind('127.0.0.1:0')), { onReady: () => undefined }, Interest.READABLE),
      ],
      ['setTimeout', (loop) => loop.setTimeout(() => undefined, 1)],
      ['setInterval', (loop) => loop.setInterval(() => undefined, 1)],
      ['run', (loop) => loop.run()],
      ['turn', (loop) => loop.turn(0)],
      ['attach', (loop) => loop.attach()],
      ['wake', (loop) => loop.wake()],
    ];
    it.each(uses)('%s', (_name, use) => {
      const loop = newLoop();
      loop.close();
      expect(() => use(loop)).toThrow();
      expect(loop.state).toBe('closed');
    });
  });

  it('an adopted stream refused by a closed loop is left open for the caller', () => {
    const loop = newLoop();
    loop.close();
    const { client, server } = tcpPair();
    own(client);
    own(server);
    expect(() => loop.adopt(server, {})).toThrow();
    expect(server.isClosed).toBe(false);
    expect(server.read(Buffer.alloc(1))).toBe(WOULD_BLOCK);
  });

  it('an adopt() that throws (the stream was already closed) leaves no connection behind', () => {
    const loop = newLoop();
    let closes = 0;
    const { client, server } = tcpPair();
    own(client);
    server.close();

    expect(() => loop.adopt(server, { onReadable: () => undefined, onClose: () => void closes++ })).toThrow();

    expect(loop.connections, 'a failed adopt() must not count a connection').toBe(0);
    loop.close();
    expect(closes, 'onClose of a connection adopt() refused').toBe(0);
  });
});
