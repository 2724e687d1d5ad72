/**
 * Shared helpers for the conformance suite, after mio's tests/util.
 */
import * as fs from 'node:fs';
import { expect } from 'vitest';
import { Events, Poll, TcpListener, TcpStream, WOULD_BLOCK, type InetAddress } from '../src/index';

/** One expected event: a token and the readiness bits that must be set. */
export interface Expected {
  token: number;
  readable?: boolean;
  writable?: boolean;
  error?: boolean;
  readClosed?: boolean;
  writeClosed?: boolean;
  priority?: boolean;
}

function matches(events: Events, i: number, e: Expected): boolean {
  if (events.token(i) !== e.token) return false;
  if (e.readable && !events.isReadable(i)) return false;
  if (e.writable && !events.isWritable(i)) return false;
  if (e.error && !events.isError(i)) return false;
  if (e.readClosed && !events.isReadClosed(i)) return false;
  if (e.writeClosed && !events.isWriteClosed(i)) return false;
  if (e.priority && !events.isPriority(i)) return false;
  return true;
}

/**
 * Polls up to 3 x 500 ms until every expected event was seen (extra events
 * are tolerated, as readiness may be spurious). Fails the test otherwise.
 */
export function expectEvents(poll: Poll, events: Events, expected: Expected[]): void {
  const missing = [...expected];
  for (let round = 0; round < 3 && missing.length > 0; round++) {
    poll.poll(events, 500);
    for (let i = 0; i < events.length; i++) {
      const k = missing.findIndex((e) => matches(events, i, e));
      if (k >= 0) missing.splice(k, 1);
    }
  }
  expect(missing, 'expected events that never came').toEqual([]);
}

/** Polls once for 50 ms and fails if any event arrives. */
export function expectNoEvents(poll: Poll, events: Events): void {
  poll.poll(events, 50);
  const seen = [];
  for (let i = 0; i < events.length; i++) seen.push({ token: events.token(i), readiness: events.readiness(i) });
  expect(seen, 'unexpected events').toEqual([]);
}

/** A listener on 127.0.0.1 with a free port. */
export function localListener(): { listener: TcpListener; address: InetAddress } {
  const listener = TcpListener.bind('127.0.0.1:0');
  return { listener, address: listener.localAddress() };
}

/**
 * A connected TCP pair on loopback: `client` (connect side) and `server`
 * (accepted side). Blocks briefly on a private Poll until the accept works.
 */
export function tcpPair(): { client: TcpStream; server: TcpStream } {
  const { listener, address } = localListener();
  const client = TcpStream.connect(address);
  const deadline = Date.now() + 2000;
  let server: TcpStream | typeof WOULD_BLOCK = WOULD_BLOCK;
  while (server === WOULD_BLOCK && Date.now() < deadline) server = listener.accept();
  listener.close();
  if (server === WOULD_BLOCK) throw new Error('accept timed out');
  waitWritable(client);
  return { client, server };
}

/** Waits (up to 2 s) until a connecting stream is writable. */
export function waitWritable(stream: TcpStream): void {
  const poll = new Poll();
  const events = new Events(4);
  try {
    poll.register(stream, 0, 2);
    poll.poll(events, 2000);
    poll.deregister(stream);
  } finally {
    poll.close();
  }
}

/** Reads until WOULD_BLOCK or EOF; returns what was read. */
export function drain(stream: { read(b: Uint8Array): number }): Buffer {
  const chunks: Buffer[] = [];
  const buf = Buffer.alloc(64 * 1024);
  for (;;) {
    const n = stream.read(buf);
    if (n === WOULD_BLOCK || n === 0) break;
    chunks.push(Buffer.from(buf.subarray(0, n)));
  }
  return Buffer.concat(chunks);
}

/** Sleeps synchronously (the loop under test is blocking too). */
export function sleepMs(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** Number of open fds in this process. */
export function openFdCount(): number {
  return fs.readdirSync('/proc/self/fd').length;
}
