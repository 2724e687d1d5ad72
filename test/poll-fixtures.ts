/**
 * Fixtures of the Poll and socket suites: sockets and polls that are closed
 * after the test (register `afterEach(runCleanups)` from ./cleanup), one-poll
 * snapshots of the events, and bounded waits on a private Poll.
 *
 * Every wait is bounded: a missing event fails the test instead of hanging
 * it. The raw, unowned primitives (tcpPair, expectEvents, drain...) are in
 * ./util.
 */
import { expect } from 'vitest';
import {
  Events,
  Interest,
  Poll,
  SysError,
  TcpListener,
  TcpStream,
  UdpSocket,
  WOULD_BLOCK,
} from '../src/index';
import { own } from './cleanup';
import { tcpPair } from './util';

// ------------------------------------------------------------------ owned

/** A Poll closed after the test. */
export function newPoll(): Poll {
  return own(new Poll());
}

/** A Poll closed after the test, with an Events buffer of `capacity`. */
export function pollWithEvents(capacity = 16): { poll: Poll; events: Events } {
  return { poll: newPoll(), events: new Events(capacity) };
}

/** A connected TCP pair on loopback whose ends are closed after the test. */
export function pair(): { client: TcpStream; server: TcpStream } {
  const p = tcpPair();
  own(p.client);
  own(p.server);
  return p;
}

/** Two UDP sockets on 127.0.0.1, each connected to the other; closed after the test. */
export function udpPair(): { a: UdpSocket; b: UdpSocket } {
  const a = own(UdpSocket.bind('127.0.0.1:0'));
  const b = own(UdpSocket.bind('127.0.0.1:0'));
  a.connect(b.localAddress());
  b.connect(a.localAddress());
  return { a, b };
}

/** `count` idle UDP sockets on 127.0.0.1 (each writable at once); closed after the test. */
export function udpSockets(count: number): UdpSocket[] {
  const out: UdpSocket[] = [];
  for (let i = 0; i < count; i++) out.push(own(UdpSocket.bind('127.0.0.1:0')));
  return out;
}

// ------------------------------------------------------------ one poll

/** One event as a plain object. */
export interface Seen {
  token: number;
  readiness: number;
}

/** One poll; the events it returned as plain objects (checking the count against `events.length`). */
export function pollOnce(poll: Poll, events: Events, timeoutMs: number): Seen[] {
  const n = poll.poll(events, timeoutMs);
  expect(events.length).toBe(n);
  const out: Seen[] = [];
  for (let i = 0; i < n; i++) out.push({ token: events.token(i), readiness: events.readiness(i) });
  return out;
}

/** Tokens of one poll of `timeoutMs`. */
export function pollTokens(poll: Poll, events: Events, timeoutMs: number): number[] {
  return pollOnce(poll, events, timeoutMs).map((e) => e.token);
}

/** Tokens seen over one short poll (50 ms). */
export function tokensNow(poll: Poll, events: Events): number[] {
  return pollTokens(poll, events, 50);
}

/**
 * Polls (at most 3 x 500 ms) until `token` shows up; returns the events of
 * that one poll which carry `token`. Fails the test when it never comes.
 */
export function waitTokenEvents(poll: Poll, events: Events, token: number): Seen[] {
  for (let round = 0; round < 3; round++) {
    const hits = pollOnce(poll, events, 500).filter((e) => e.token === token);
    if (hits.length > 0) return hits;
  }
  expect.fail(`token ${token} never reported`);
}

/** Like {@link waitTokenEvents}, for a token that must come once per poll; returns its event. */
export function waitToken(poll: Poll, events: Events, token: number): Seen {
  const hits = waitTokenEvents(poll, events, token);
  expect(hits.length, `token ${token} reported more than once in one poll`).toBe(1);
  return hits[0];
}

// ------------------------------------------------- waits on a private Poll

/**
 * Waits up to `timeoutMs` on a private Poll for `interest` on `source`;
 * returns the readiness bits of the first event, or 0 if none came.
 */
export function waitReady(source: { fd: number }, interest: number, timeoutMs = 2000): number {
  const poll = new Poll();
  const events = new Events(2);
  try {
    poll.register(source.fd, 1, interest);
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (poll.poll(events, Math.max(1, deadline - Date.now())) > 0) return events.readiness(0);
    }
    return 0;
  } finally {
    poll.close();
  }
}

/**
 * Waits (up to `timeoutMs`) until `source` is readable, so a test can create
 * readiness before registering without racing the kernel. Fails the test
 * when it never becomes readable.
 */
export function waitReadable(source: { fd: number }, timeoutMs = 2000): void {
  expect(waitReady(source, Interest.READABLE, timeoutMs), 'never became readable').not.toBe(0);
}

/** Accepts one connection (closed after the test), waiting up to 2 s for it. */
export function acceptOne<S extends { close(): unknown }>(listener: { fd: number; accept(): S | typeof WOULD_BLOCK }): S {
  const deadline = Date.now() + 2000;
  while (Date.now() < deadline) {
    const s = listener.accept();
    if (s !== WOULD_BLOCK) return own(s);
    waitReady(listener, Interest.READABLE, Math.max(1, deadline - Date.now()));
  }
  throw new Error('no connection to accept within 2 s');
}

/** A stream socket as {@link readExactly} reads it (TcpStream, UnixStream). */
export interface StreamLike {
  readonly fd: number;
  read(buf: Uint8Array, offset?: number, length?: number): number | typeof WOULD_BLOCK;
}

/** Reads exactly `n` bytes (or until EOF), waiting for readability, bounded by `timeoutMs`. */
export function readExactly(stream: StreamLike, n: number, timeoutMs = 3000): Buffer {
  const out = Buffer.alloc(n);
  let got = 0;
  const deadline = Date.now() + timeoutMs;
  while (got < n && Date.now() < deadline) {
    const r = stream.read(out, got, n - got);
    if (r === 0) break;
    if (r === WOULD_BLOCK) {
      waitReady(stream, Interest.READABLE, Math.max(1, deadline - Date.now()));
      continue;
    }
    got += r;
  }
  return out.subarray(0, got);
}

// --------------------------------------------------------------- buffers

/** Writes until WOULD_BLOCK; returns the bytes the kernel took. Bounded. */
export function fillSendBuffer(stream: TcpStream): number {
  const chunk = Buffer.alloc(64 * 1024, 0x61);
  let total = 0;
  for (let i = 0; i < 4096; i++) {
    const n = stream.write(chunk);
    if (n === WOULD_BLOCK) return total;
    total += n;
  }
  throw new Error(`send buffer never filled after ${total} bytes`);
}

/** Reads datagrams until WOULD_BLOCK; returns how many. Bounded. */
export function drainUdp(sock: UdpSocket): number {
  const buf = Buffer.alloc(2048);
  for (let count = 0; count < 10000; count++) {
    if (sock.recv(buf) === WOULD_BLOCK) return count;
  }
  expect.fail('datagram socket never drained');
}

// ---------------------------------------------------------------- errors

/** An error with the fields the library's system errors carry. */
export type CodedError = Error & { code?: string; syscall?: string };

/** Runs `fn`, expecting it to throw (an Error, or an instance of `kind`); returns the error. */
export function catchError(fn: () => unknown): CodedError;
export function catchError<E extends Error>(fn: () => unknown, kind: abstract new (...args: never[]) => E): E;
export function catchError(fn: () => unknown, kind: abstract new (...args: never[]) => Error = Error): Error {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(kind);
    return err as Error;
  }
  throw new Error(`expected a ${kind.name}, nothing was thrown`);
}

/** Runs `fn`, expecting a SysError; returns it. */
export function catchSysError(fn: () => unknown): SysError {
  return catchError(fn, SysError);
}

/** Runs `fn` and checks that it throws a SysError with `code`. */
export function expectSysError(fn: () => unknown, code: string): void {
  expect(catchSysError(fn).code).toBe(code);
}

// --------------------------------------------------------------- addresses

/** A loopback port with no listener (bound once, then released). */
export function unusedPort(): number {
  const l = TcpListener.bind('127.0.0.1:0');
  const port = l.localAddress().port;
  l.close();
  return port;
}
