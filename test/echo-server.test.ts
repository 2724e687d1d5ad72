/**
 * createEchoServer(): the echo server as library code, in attach() mode,
 * with node:net clients.
 *
 * Per-connection state (the outgoing queue) is observed by wrapping the
 * public loop.listen() of a loop passed in with `options.loop`, which hands
 * the test each accepted Connection.
 *
 * Loopback only; every wait is bounded; everything is closed after each test.
 */
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { createEchoServer, type EchoServer, type EchoServerOptions } from '../src/echo/server';
import { EventLoop, type Connection } from '../src/index';
import { later, runCleanups } from './cleanup';
import { NetClient } from './net-client';
import { sleep, waitFor } from './waits';

// ---------------------------------------------------------------------------
// Helpers local to this file
// ---------------------------------------------------------------------------

afterEach(runCleanups);

/** An attached echo server on 127.0.0.1:0 with its own loop; closed after the test. */
function startServer(options: EchoServerOptions = {}): EchoServer {
  const server = createEchoServer({ port: 0, ...options });
  later(() => server.close());
  server.loop.attach();
  return server;
}

/**
 * An attached echo server on a loop of ours whose listen() is wrapped so the
 * test sees every accepted Connection.
 */
function startObservedServer(options: EchoServerOptions = {}): { server: EchoServer; conns: Connection[] } {
  const loop = new EventLoop();
  later(() => loop.close());
  const conns: Connection[] = [];
  const listen = loop.listen.bind(loop);
  loop.listen = (addr, factory, opts) =>
    listen(
      addr,
      (conn) => {
        conns.push(conn);
        return factory(conn);
      },
      opts,
    );
  const server = createEchoServer({ port: 0, ...options, loop });
  later(() => server.close());
  loop.attach();
  return { server, conns };
}

/** Splits `data` into random-sized pieces of 1 .. maxPiece bytes. */
function randomPieces(data: Buffer, maxPiece: number): Buffer[] {
  const pieces: Buffer[] = [];
  let pos = 0;
  while (pos < data.length) {
    const n = Math.min(data.length - pos, 1 + Math.floor(Math.random() * maxPiece));
    pieces.push(data.subarray(pos, pos + n));
    pos += n;
  }
  return pieces;
}

/** Waits until `read()` gives the same value for `stableMs`; returns it. */
async function plateau(read: () => number, stableMs: number, maxMs: number): Promise<number> {
  const deadline = Date.now() + maxMs;
  let last = read();
  let since = Date.now();
  while (Date.now() < deadline) {
    await sleep(20);
    const now = read();
    if (now !== last) {
      last = now;
      since = Date.now();
    } else if (Date.now() - since >= stableMs) {
      return now;
    }
  }
  throw new Error(`value never settled within ${maxMs} ms (last ${last})`);
}

const MiB = 1024 * 1024;
const READ_BUFFER = 64 * 1024;

// ---------------------------------------------------------------------------
// Echoing
// ---------------------------------------------------------------------------

describe('createEchoServer(): echoing', () => {
  it('echoes 1 MiB of random binary data sent in random pieces, pipelined, byte for byte', async () => {
    const server = startServer();
    const c = await NetClient.connect(server.address.port);
    const data = randomBytes(MiB);
    for (const piece of randomPieces(data, 8192)) c.sock.write(piece);
    await c.receivedAtLeast(data.length, 10000);
    expect(c.receivedBytes).toBe(data.length);
    expect(c.bytes.equals(data)).toBe(true);
  });

  it('echoes every byte value, including NUL, CR and LF', async () => {
    const server = startServer();
    const c = await NetClient.connect(server.address.port);
    const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    expect((await c.exchange(all)).equals(all)).toBe(true);
  });

  it('echoes for several clients at once without mixing their data', async () => {
    const server = startServer();
    const clients = await Promise.all(Array.from({ length: 8 }, () => NetClient.connect(server.address.port)));
    const payloads = clients.map(() => randomBytes(128 * 1024));
    clients.forEach((c, i) => {
      for (const piece of randomPieces(payloads[i], 4096)) c.sock.write(piece);
    });
    await Promise.all(clients.map((c, i) => c.receivedAtLeast(payloads[i].length, 10000)));
    clients.forEach((c, i) => {
      expect(c.receivedBytes, `client ${i}`).toBe(payloads[i].length);
      expect(c.bytes.equals(payloads[i]), `client ${i} data`).toBe(true);
    });
  });

  it('flushes what it has echoed and then closes when the client half-closes', async () => {
    const server = startServer();
    const c = await NetClient.connect(server.address.port);
    const data = randomBytes(200 * 1024);
    c.sock.end(data);
    await c.until(() => c.ended, 5000, 'the server to close');
    expect(c.bytes.equals(data)).toBe(true);
  });
});

// ---------------------------------------------------------------------------
// Backpressure
// ---------------------------------------------------------------------------

describe('createEchoServer(): backpressure', () => {
  it('queues at most highWaterMark + one read buffer for a client that sends 8 MiB and never reads', async () => {
    const { server, conns } = startObservedServer();
    const c = await NetClient.connect(server.address.port);
    c.sock.pause(); // never reads (for now)
    c.sock.write(randomBytes(8 * MiB));
    await waitFor(() => conns.length === 1, 2000, 'the connection');
    const conn = conns[0];
    let maxQueued = 0;
    const sampler = setInterval(() => {
      maxQueued = Math.max(maxQueued, conn.queuedBytes);
    }, 2);
    later(() => clearInterval(sampler));
    await plateau(() => server.stats.bytes, 300, 10000);
    clearInterval(sampler);
    maxQueued = Math.max(maxQueued, conn.queuedBytes);
    expect(conn.queuedBytes).toBeGreaterThan(0); // it did have to queue
    expect(maxQueued).toBeLessThanOrEqual(64 * 1024 + READ_BUFFER);
    expect(conn.isReading).toBe(false);
  });

  it('respects a custom highWaterMark for a client that never reads', async () => {
    const { server, conns } = startObservedServer({ highWaterMark: 4096 });
    const c = await NetClient.connect(server.address.port);
    c.sock.pause();
    c.sock.write(randomBytes(8 * MiB));
    await waitFor(() => conns.length === 1, 2000, 'the connection');
    await plateau(() => server.stats.bytes, 300, 10000);
    expect(conns[0].highWaterMark).toBe(4096);
    expect(conns[0].queuedBytes).toBeLessThanOrEqual(4096 + READ_BUFFER);
  });

  it('stops reading from a client that does not read before all 8 MiB are taken in', async () => {
    const server = startServer();
    const c = await NetClient.connect(server.address.port);
    c.sock.pause();
    c.sock.write(randomBytes(8 * MiB));
    const settled = await plateau(() => server.stats.bytes, 300, 10000);
    expect(settled).toBeLessThan(8 * MiB);
  });

  it('delivers all 8 MiB intact once the non-reading client starts reading', async () => {
    const server = startServer();
    const c = await NetClient.connect(server.address.port);
    c.sock.pause();
    const data = randomBytes(8 * MiB);
    c.sock.write(data);
    await plateau(() => server.stats.bytes, 300, 10000);
    c.sock.resume();
    await c.receivedAtLeast(data.length, 20000);
    expect(c.receivedBytes).toBe(data.length);
    expect(c.bytes.equals(data)).toBe(true);
    expect(server.stats.bytes).toBe(data.length);
  });

  it('rejects a highWaterMark that is not a positive integer', () => {
    expect(() => createEchoServer({ port: 0, highWaterMark: 0 })).toThrow(RangeError);
  });
});

// ---------------------------------------------------------------------------
// Limits
// ---------------------------------------------------------------------------

describe('createEchoServer(): maxConnections', () => {
  it('closes a connection past maxConnections without echoing', async () => {
    const server = startServer({ maxConnections: 2 });
    const a = await NetClient.connect(server.address.port);
    const b = await NetClient.connect(server.address.port);
    expect((await a.exchange(Buffer.from('a'))).toString()).toBe('a');
    expect((await b.exchange(Buffer.from('b'))).toString()).toBe('b');
    const extra = await NetClient.connect(server.address.port);
    extra.sock.write('hello?');
    await extra.waitClosed();
    expect(extra.receivedBytes).toBe(0);
    expect(server.listener.connections).toBe(2);
  });

  it('accepts a new connection once one of the limited ones closed', async () => {
    const server = startServer({ maxConnections: 1 });
    const a = await NetClient.connect(server.address.port);
    expect((await a.exchange(Buffer.from('x'))).toString()).toBe('x');
    a.sock.destroy();
    await waitFor(() => server.listener.connections === 0, 3000, 'the server to see the close');
    const b = await NetClient.connect(server.address.port);
    expect((await b.exchange(Buffer.from('y'))).toString()).toBe('y');
  });
});

describe('createEchoServer(): idleTimeoutMs', () => {
  it('closes a connection that stays idle longer than idleTimeoutMs', async () => {
    const server = startServer({ idleTimeoutMs: 100 });
    const c = await NetClient.connect(server.address.port);
    expect((await c.exchange(Buffer.from('hi'))).toString()).toBe('hi');
    await c.waitClosed(5000);
    await waitFor(() => server.listener.connections === 0, 2000, 'the server side to close');
  });

  it('keeps a connection open while it stays active beyond the idle timeout', async () => {
    const server = startServer({ idleTimeoutMs: 300 });
    const c = await NetClient.connect(server.address.port);
    // Active every 30 ms for at least 750 ms: over twice the idle timeout.
    for (let i = 0; i < 25; i++) {
      expect((await c.exchange(Buffer.from(`p${i}`))).toString()).toBe(`p${i}`);
      await sleep(30);
    }
    expect(c.closed).toBe(false);
    expect(server.listener.connections).toBe(1);
  });
});

// ---------------------------------------------------------------------------
// Stats and close
// ---------------------------------------------------------------------------

describe('createEchoServer(): stats', () => {
  it('counts connections, bytes and messages', async () => {
    const server = startServer();
    expect(server.stats).toEqual({ connections: 0, bytes: 0, messages: 0 });
    const a = await NetClient.connect(server.address.port);
    const b = await NetClient.connect(server.address.port);
    let sent = 0;
    for (let i = 0; i < 5; i++) {
      const msg = Buffer.from(`message ${i}`);
      await a.exchange(msg);
      sent += msg.length;
    }
    const big = randomBytes(300 * 1024);
    await b.exchange(big, 10000);
    sent += big.length;
    expect(server.stats.connections).toBe(2);
    expect(server.stats.bytes).toBe(sent);
    // Five separate exchanges need at least five reads; 300 KiB needs at
    // least ceil(300 / 64) reads of the 64 KiB buffer.
    expect(server.stats.messages).toBeGreaterThanOrEqual(5 + Math.ceil(big.length / READ_BUFFER));
    expect(server.stats.messages).toBeLessThanOrEqual(sent);
  });
});

describe('createEchoServer(): close()', () => {
  it('closes every open connection', async () => {
    const server = createEchoServer({ port: 0 });
    later(() => server.close());
    server.loop.attach();
    const clients = await Promise.all([1, 2, 3].map(() => NetClient.connect(server.address.port)));
    await Promise.all(clients.map((c, i) => c.exchange(Buffer.from(`c${i}`))));
    server.close();
    await Promise.all(clients.map((c) => c.waitClosed()));
  });

  it('stops listening: a new connection is refused', async () => {
    const server = createEchoServer({ port: 0 });
    later(() => server.close());
    server.loop.attach();
    const port = server.address.port;
    server.close();
    await expect(NetClient.connect(port)).rejects.toThrow(/ECONNREFUSED/);
  });

  it('closes the loop it created', () => {
    const server = createEchoServer({ port: 0 });
    server.loop.attach();
    server.close();
    expect(server.loop.state).toBe('closed');
  });

  it('leaves a loop passed in open, with its other listeners working', async () => {
    const loop = new EventLoop();
    later(() => loop.close());
    const first = createEchoServer({ port: 0, loop });
    const second = createEchoServer({ port: 0, loop });
    later(() => second.close());
    loop.attach();
    first.close();
    expect(loop.state).toBe('attached');
    const c = await NetClient.connect(second.address.port);
    expect((await c.exchange(Buffer.from('still here'))).toString()).toBe('still here');
  });

  it('reports the real port when port 0 was asked', () => {
    const server = startServer();
    expect(server.address.port).toBeGreaterThan(0);
    expect(server.address.port).toBeLessThan(65536);
  });
});
