/**
 * Helpers shared by the test/event-loop-*.test.ts files.
 *
 * Every loop a test drives is bounded: turn() loops stop after a count and a
 * deadline, and run() is always started through {@link runBounded}, whose
 * watchdog worker stops the loop from another thread if the test's own stop
 * never comes (a blocked run() would otherwise hang the whole suite, since
 * vitest cannot time out a thread that never yields).
 *
 * Workers load the compiled package from dist/: run `npx tsc -p .` first.
 */
import * as fs from 'node:fs';
import { Worker } from 'node:worker_threads';
import {
  EventLoop,
  Interest,
  TcpStream,
  WOULD_BLOCK,
  backend,
  type Connection,
  type ConnectionHandler,
  type EventLoopOptions,
  type InetAddress,
  type LoopListener,
} from '../src/index';
import { later, own } from './cleanup';
import { DIST_INDEX } from './dist';
import { sleepMs, tcpPair, waitWritable } from './util';

/** Bits of a token that hold the slab key (the rest is the generation). */
export const KEY_MASK = 0xfffff;

/** A loop that is closed after the test. */
export function newLoop(options?: EventLoopOptions): EventLoop {
  return own(new EventLoop(options));
}

/** A loop connection (server side of a fresh TCP pair) with `handler`, and its raw peer; both closed after the test. */
export function adoptPair(loop: EventLoop, handler: ConnectionHandler): { conn: Connection; peer: TcpStream } {
  const { client, server } = tcpPair();
  own(client);
  own(server);
  return { conn: loop.adopt(server, handler), peer: client };
}

/** The TCP address a loop listener is bound to. */
export function addressOf(listener: LoopListener): InetAddress {
  const address = listener.socket.localAddress();
  if (!('port' in address)) throw new Error('not a TCP listener');
  return address;
}

/** The peer's TCP port of a loop connection. */
export function peerPort(conn: Connection): number {
  const address = conn.peerAddress();
  if (!('port' in address)) throw new Error('not a TCP connection');
  return address.port;
}

/** A connected client stream to `address` (not in any loop), closed after the test. */
export function connectRaw(address: InetAddress): TcpStream {
  const stream = own(TcpStream.connect(address));
  waitWritable(stream);
  return stream;
}

// ------------------------------------------------------------------ driving

/**
 * Turns the loop (10 ms polls) until `done()` holds, at most `maxTurns`
 * times and `ms` milliseconds. `between` runs before every turn (a raw peer
 * reading, say). Returns whether `done()` held.
 */
export function turnUntil(
  loop: EventLoop,
  done: () => boolean,
  between?: () => void,
  maxTurns = 2000,
  ms = 5000,
): boolean {
  const deadline = Date.now() + ms;
  for (let i = 0; i < maxTurns && Date.now() < deadline; i++) {
    between?.();
    if (done()) return true;
    loop.turn(10);
  }
  between?.();
  return done();
}

/** Turns with a zero timeout until a turn returns no event (at most 20 turns). */
export function settle(loop: EventLoop): boolean {
  for (let i = 0; i < 20; i++) if (loop.turn(0) === 0) return true;
  return false;
}

/**
 * The ABA scene (mio issues #219, #935): connections X and A open on a
 * quiet loop, then {@link AbaScene.burst} makes X send, a third client B
 * connect and A send, in that order, so that one turn sees all three. A
 * handler that closes A on X's event frees A's key for B's accept; A's
 * event, still ahead in the turn, must then reach no one.
 */
export interface AbaScene {
  /** The first connection (its handler typically closes A). */
  readonly x: Connection;
  /** The second connection, whose key B takes. */
  readonly a: Connection;
  /** The third connection, once accepted (in the burst's turn). */
  b: Connection | null;
  /** 'accept B' when B is accepted; handlers add their own lines. */
  readonly log: string[];
  /** The client ends of X and A, and B's once the burst made it. */
  readonly peers: { x: TcpStream; a: TcpStream; b: TcpStream | null };
  /** X sends, B connects, A sends: ready for one turn. */
  burst(): void;
}

/**
 * Sets up an {@link AbaScene} on `loop`. `handler` serves every connection
 * and may read the scene (its x and a are set before any burst).
 */
export function abaScene(loop: EventLoop, handler: (scene: AbaScene) => ConnectionHandler): AbaScene {
  const accepted: Connection[] = [];
  const scene = { x: null, a: null, b: null, log: [], peers: { b: null }, burst: () => {} } as unknown as AbaScene & {
    x: Connection;
    a: Connection;
    peers: { x: TcpStream; a: TcpStream; b: TcpStream | null };
  };
  const serve = handler(scene);
  const listener = loop.listen('127.0.0.1:0', (conn) => {
    accepted.push(conn);
    if (accepted.length === 3) {
      scene.b = conn;
      scene.log.push('accept B');
    }
    return serve;
  });
  const address = addressOf(listener);
  const open = (count: number): TcpStream => {
    const peer = connectRaw(address);
    if (!turnUntil(loop, () => accepted.length === count)) throw new Error(`connection ${count} was not accepted`);
    return peer;
  };
  scene.peers.x = open(1);
  scene.peers.a = open(2);
  const byPort = (port: number): Connection => accepted.find((c) => peerPort(c) === port)!;
  scene.x = byPort(scene.peers.x.localAddress().port);
  scene.a = byPort(scene.peers.a.localAddress().port);
  if (!settle(loop)) throw new Error('the loop should be quiet before the burst');
  scene.burst = () => {
    scene.peers.x.write(Buffer.from('x'));
    sleepMs(10);
    scene.peers.b = connectRaw(address);
    sleepMs(10);
    scene.peers.a.write(Buffer.from('a'));
    sleepMs(20);
  };
  return scene;
}

/**
 * Starts a worker from plain JS source; `dist` is always in workerData.
 * Terminated after the test. `errors` collects what the worker throws (the
 * events arrive once this thread is back in Node's loop).
 */
export function startWorker(code: string, data: Record<string, unknown>): { worker: Worker; errors: Error[] } {
  const worker = new Worker(code, { eval: true, workerData: { dist: DIST_INDEX, ...data } });
  const errors: Error[] = [];
  worker.on('error', (err) => void errors.push(err));
  later(() => worker.terminate());
  return { worker, errors };
}

/**
 * The watchdog does what EventLoop.stopRemote does (set the shared stop word,
 * signal the waker) without loading the addon on Linux, where the waker is an
 * eventfd: a safety net must not depend on dist/ or build/ being loadable
 * (a rebuild in progress would otherwise leave run() blocked for ever).
 */
const WATCHDOG = `
const { workerData } = require('node:worker_threads');
const flag = new Int32Array(workerData.flag);
Atomics.wait(flag, 0, 0, workerData.ms);
if (Atomics.compareExchange(flag, 0, 0, 2) === 0) {
  const { handle } = workerData;
  try {
    if (process.platform === 'linux') {
      if (Atomics.load(new Int32Array(handle.waker.state), 0) === 0) {
        Atomics.store(new Int32Array(handle.control), 0, 1);
        const one = Buffer.alloc(8);
        one.writeBigUInt64LE(1n);
        require('node:fs').writeSync(handle.waker.fd, one);
      }
    } else {
      require(workerData.dist).EventLoop.stopRemote(handle);
    }
  } catch {}
}
`;

/**
 * Calls loop.run() with a watchdog: a worker that stops the loop from
 * another thread after `ms`. Returns true when run() returned on its own,
 * false when the watchdog had to stop it.
 */
export function runBounded(loop: EventLoop, ms = 5000): boolean {
  const flag = new Int32Array(new SharedArrayBuffer(4));
  startWorker(WATCHDOG, { flag: flag.buffer, handle: loop.handle(), ms });
  try {
    loop.run();
  } finally {
    // 1 = cancelled by us; a 2 already there means the watchdog fired.
    Atomics.compareExchange(flag, 0, 0, 1);
    Atomics.notify(flag, 0);
  }
  return Atomics.load(flag, 0) === 1;
}

/** One poll the loop made: the timeout it passed and the event count it got. */
export interface PollRecord {
  timeout: number | undefined;
  returned: number;
}

/**
/** The loop's pump, as the spies below wrap it (internal: tests only). */
interface PumpLike {
  eventStart: number;
  turn(timeoutMs: number): number;
}

function pumpOf(loop: EventLoop): PumpLike {
  return (loop as unknown as { core: { pump: PumpLike } }).core.pump;
}

/**
 * Records every wait the loop makes, in order, once it has returned: wraps
 * the turn of this loop's pump (its one native call per turn); the library
 * is untouched.
 */
export function recordPolls(loop: EventLoop): PollRecord[] {
  const records: PollRecord[] = [];
  const pump = pumpOf(loop);
  const original = pump.turn.bind(pump);
  pump.turn = (timeoutMs) => {
    const end = original(timeoutMs);
    records.push({ timeout: timeoutMs, returned: end - pump.eventStart });
    return end;
  };
  return records;
}

/**
 * Records the timeout of every wait the loop makes, as soon as it starts
 * (wraps the pump's turn like {@link recordPolls}). `onPoll` runs before
 * each wait with its timeout.
 */
export function spyPolls(loop: EventLoop, onPoll?: (timeoutMs: number) => void): number[] {
  const timeouts: number[] = [];
  const pump = pumpOf(loop);
  const original = pump.turn.bind(pump);
  pump.turn = (timeoutMs) => {
    timeouts.push(timeoutMs);
    onPoll?.(timeoutMs);
    return original(timeoutMs);
  };
  return timeouts;
}

// ---------------------------------------------------------------- handlers

/** Echoes everything back; ends after the peer's EOF. Bounded per event. */
export function echoHandler(loop: EventLoop): ConnectionHandler {
  return {
    onReadable(conn) {
      const buf = loop.readBuffer;
      for (let i = 0; i < 64; i++) {
        const n = conn.read(buf);
        if (n === WOULD_BLOCK) return;
        if (n === 0) return conn.end();
        conn.write(buf, 0, n);
      }
    },
  };
}

/**
 * A loop-driven client: collects what it reads; calls `onData(total)` after
 * each read and records EOF.
 */
export function collector(loop: EventLoop, onData?: (total: number) => void): ConnectionHandler & {
  chunks: Buffer[];
  total: number;
  eof: boolean;
  received(): Buffer;
} {
  const h = {
    chunks: [] as Buffer[],
    total: 0,
    eof: false,
    received: (): Buffer => Buffer.concat(h.chunks),
    onReadable(conn: Connection): void {
      const buf = loop.readBuffer;
      for (let i = 0; i < 64; i++) {
        const n = conn.read(buf);
        if (n === WOULD_BLOCK) return;
        if (n === 0) {
          h.eof = true;
          return conn.close();
        }
        h.chunks.push(Buffer.from(buf.subarray(0, n)));
        h.total += n;
        onData?.(h.total);
      }
    },
  };
  return h;
}

// ------------------------------------------------------------------- bytes

/** `length` bytes of a stream whose byte at position p is p % 251. */
export function pattern(start: number, length: number): Buffer {
  const b = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i++) b[i] = (start + i) % 251;
  return b;
}

/** Reads everything available now from a raw stream; notes EOF. */
export class RawReader {
  readonly chunks: Buffer[] = [];
  total = 0;
  eof = false;
  private readonly buf = Buffer.allocUnsafe(256 * 1024);

  constructor(readonly stream: TcpStream) {}

  /** Reads until WOULD_BLOCK or EOF (at most 1024 reads). */
  pump(): void {
    if (this.eof) return;
    for (let i = 0; i < 1024; i++) {
      const n = this.stream.read(this.buf);
      if (n === WOULD_BLOCK) return;
      if (n === 0) {
        this.eof = true;
        return;
      }
      this.chunks.push(Buffer.from(this.buf.subarray(0, n)));
      this.total += n;
    }
  }

  received(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

// ---------------------------------------------------------------- interest

/**
 * What the kernel has registered for a connection: read from
 * /proc/self/fdinfo of the epoll fd on Linux (so it checks the real
 * registration, not the loop's bookkeeping); elsewhere from the loop's
 * record. null when the connection's socket is not registered at all.
 */
export function armedInterest(loop: EventLoop, conn: Connection): { readable: boolean; writable: boolean } | null {
  if (backend === 'epoll') {
    const info = fs.readFileSync(`/proc/self/fdinfo/${loop.poll.fd}`, 'utf8');
    for (const line of info.split('\n')) {
      const m = /^tfd:\s*(\d+)\s+events:\s*([0-9a-f]+)/.exec(line);
      if (m !== null && Number(m[1]) === conn.stream.fd) {
        const events = parseInt(m[2], 16);
        return { readable: (events & 0x1) !== 0, writable: (events & 0x4) !== 0 };
      }
    }
    return null;
  }
  const r = conn.registeredInterest;
  return r === 0 ? null : { readable: (r & Interest.READABLE) !== 0, writable: (r & Interest.WRITABLE) !== 0 };
}
