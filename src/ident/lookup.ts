/**
 * Who owns a TCP connection: netlink sock_diag through the loop's Poll, the
 * /proc/net/tcp fallback and the uid-to-name lookup through the blocking
 * pool, so no lookup ever blocks the loop.
 *
 * @packageDocumentation
 */
import * as path from 'node:path';
import type { EventLoop, SourceRegistration } from '../event-loop';
import { Interest } from '../interest';
import { native } from '../native';
import { encodeInet, newSlot, type InetAddress } from '../net/address';
import { Pending } from '../pending';
import type { Owner, ProcQuery } from './tasks';

/**
 * The worker-side task module. It resolves to dist/ident/tasks.js from both
 * the compiled package and the TypeScript sources, so tests running the
 * sources need `tsc` to have run.
 */
export const TASKS = path.resolve(__dirname, '..', '..', 'dist', 'ident', 'tasks.js');
const RECORD = 7;
/** Reused for every query: the native call copies them at once. */
const localSlot = newSlot();
const remoteSlot = newSlot();
/** A netlink answer that does not come within this long counts as a miss. */
const DIAG_TIMEOUT_MS = 1000;
/** Default cap on netlink requests awaiting an answer; the rest queue. */
const MAX_IN_FLIGHT = 256;
/** Default receive buffer asked for on the netlink socket, bytes. */
const RECEIVE_BUFFER = 2 * 1024 * 1024;
/** How often a request whose answer was dropped (ENOBUFS) is sent again. */
const MAX_RESENDS = 2;
/** Default bound on the uid-to-name cache, entries. */
const NAME_CACHE_ENTRIES = 1024;
const ENOBUFS = native.constants.ENOBUFS;

/** The 4-tuple of the connection asked about. */
export interface ConnectionTuple {
  /** This host's end: the query connection's local address, the port asked about. */
  local: InetAddress;
  /** The querier's end: its address, the port it named. */
  remote: InetAddress;
}

interface Waiting {
  tuple: ConnectionTuple;
  done: Pending<Owner | null>;
  /** When it was first sent (the loop's clock); it expires DIAG_TIMEOUT_MS later. */
  sent: number;
  /** How often it has been sent again after an ENOBUFS. */
  resends: number;
}

interface Queued {
  tuple: ConnectionTuple;
  done: Pending<Owner | null>;
}

/** Options for {@link OwnerLookup}. */
export interface OwnerLookupOptions {
  /** Use netlink sock_diag (Linux). Default true where available. */
  netlink?: boolean;
  /** Fall back to scanning /proc/net/tcp{,6}. Default true on Linux. */
  procFallback?: boolean;
  /** How long a uid's name stays cached, ms. Default 60000. */
  nameCacheMs?: number;
  /** How many uids' names stay cached at most (the oldest go first). Default 1024. */
  nameCacheEntries?: number;
  /**
   * How many netlink requests may await an answer at once; further queries
   * queue, first in first out, and are sent as answers arrive. Default 256.
   */
  maxInFlight?: number;
  /**
   * The receive buffer asked for on the netlink socket, bytes (the kernel
   * may clamp it; 0 keeps the system default). Answers that find it full are
   * dropped, and those requests are sent again. Default 2 MiB.
   */
  receiveBuffer?: number;
  /** How long a netlink answer may take before the query counts as a miss, ms. Default 1000. */
  timeoutMs?: number;
  /**
   * How often a request whose answer the kernel dropped (the receive buffer
   * was full: ENOBUFS) is sent again before it is left to time out. Default 2.
   */
  resends?: number;
  /**
   * Called with the error when a /proc fallback scan fails (the lookup then
   * counts as a miss), so the cause is not lost.
   */
  onError?: (error: Error) => void;
}

/**
 * Finds the uid owning a TCP socket by exact 4-tuple, and user names for
 * uids, without blocking the loop.
 */
export class OwnerLookup {
  private readonly loop: EventLoop;
  private fd = -1;
  private registration: SourceRegistration | null = null;
  private readonly waiting = new Map<number, Waiting>();
  private readonly records = new Uint32Array(RECORD * 64);
  private seq = 1;
  private readonly procFallback: boolean;
  private readonly names = new Map<number, { name: string | null; expires: number }>();
  private readonly nameCacheMs: number;
  private readonly nameCacheEntries: number;
  private readonly onError: ((error: Error) => void) | undefined;
  private readonly maxInFlight: number;
  private readonly timeoutMs: number;
  private readonly resends: number;
  /** Queries past the in-flight cap, oldest at `queueHead`. */
  private queue: Queued[] = [];
  private queueHead = 0;
  /** The one timer that expires requests, or -1 while none waits. */
  private sweepTimer = -1;

  /**
   * Opens the netlink socket now (so it can happen before privileges are
   * dropped) and registers it with the loop.
   */
  constructor(loop: EventLoop, options: OwnerLookupOptions = {}) {
    this.loop = loop;
    this.procFallback = options.procFallback ?? process.platform === 'linux';
    this.nameCacheMs = options.nameCacheMs ?? 60000;
    this.nameCacheEntries = Math.max(1, options.nameCacheEntries ?? NAME_CACHE_ENTRIES);
    this.onError = options.onError;
    this.maxInFlight = Math.max(1, options.maxInFlight ?? MAX_IN_FLIGHT);
    this.timeoutMs = options.timeoutMs ?? DIAG_TIMEOUT_MS;
    this.resends = options.resends ?? MAX_RESENDS;
    if (options.netlink !== false) {
      const fd = native.diagOpen(options.receiveBuffer ?? RECEIVE_BUFFER);
      if (fd >= 0) {
        this.fd = fd;
        this.registration = loop.register(fd, { onReady: () => this.receive() }, Interest.READABLE);
      }
    }
  }

  /**
   * Starts the loop's worker threads and has each load the lookup tasks and
   * what they need (the addon, the name service); resolves once all have.
   * Call it before dropping privileges: the workers load those files as
   * they start, and a process that can no longer read them cannot.
   */
  prepare(): Promise<void> {
    return this.loop.prepareBlocking([{ module: TASKS, export: 'prepare' }]);
  }

  /** True when netlink sock_diag is in use. */
  get usesNetlink(): boolean {
    return this.fd >= 0;
  }

  /**
   * The owner of the TCP socket whose local end is `tuple.local` and remote
   * end `tuple.remote`, or null when there is none (or it is orphaned).
   */
  owner(tuple: ConnectionTuple): Pending<Owner | null> {
    if (tuple.local.family !== tuple.remote.family) return Pending.resolved<Owner | null>(null);
    if (this.fd < 0) return this.fromProc(tuple);
    const done = new Pending<Owner | null>();
    if (this.waiting.size >= this.maxInFlight) {
      this.queue.push({ tuple, done });
    } else {
      this.send(tuple, done);
    }
    return done;
  }

  /** Netlink requests awaiting an answer now (at most `maxInFlight`). */
  get inFlight(): number {
    return this.waiting.size;
  }

  /** Queries waiting for room under the in-flight cap. */
  get queued(): number {
    return this.queue.length - this.queueHead;
  }

  /** The user name for `uid` (null when the system has none), cached. */
  userName(uid: number): Pending<string | null> {
    const now = this.loop.now();
    const hit = this.names.get(uid);
    if (hit !== undefined && hit.expires > now) return Pending.resolved(hit.name);
    return this.loop.spawnBlocking<number, string | null>({ module: TASKS, export: 'userName' }, uid).then((name) => {
      // Reinserted, so the Map's order stays oldest first.
      this.names.delete(uid);
      this.names.set(uid, { name, expires: this.loop.now() + this.nameCacheMs });
      while (this.names.size > this.nameCacheEntries) {
        this.names.delete(this.names.keys().next().value as number);
      }
      return name;
    });
  }

  /** How many uids' names are cached now. */
  get cachedNames(): number {
    return this.names.size;
  }

  /**
   * Forgets every cached user name, so the next query for each uid asks the
   * name service again (after the administrator has changed users, say; the
   * identd command calls it on SIGHUP). Lookups under way are not affected.
   */
  clearNames(): void {
    this.names.clear();
  }

  /** Closes the netlink socket; pending and queued lookups resolve to null. */
  close(): void {
    const queued = this.queue.slice(this.queueHead);
    this.queue = [];
    this.queueHead = 0;
    for (const q of queued) q.done.resolve(null);
    for (const [seq] of this.waiting) this.settle(seq, null, true);
    if (this.sweepTimer !== -1) {
      this.loop.clearTimer(this.sweepTimer);
      this.sweepTimer = -1;
    }
    if (this.registration !== null) {
      this.registration.deregister();
      this.registration = null;
    }
    if (this.fd >= 0) {
      native.close(this.fd);
      this.fd = -1;
    }
  }

  /** Sends the request for `tuple`; a send that fails goes to the fallback. */
  private send(tuple: ConnectionTuple, done: Pending<Owner | null>): void {
    const seq = this.seq;
    this.seq = this.seq === 0xffffffff ? 1 : this.seq + 1;
    if (this.query(seq, tuple) < 0) {
      this.fromProc(tuple).subscribe({ ok: (o) => done.resolve(o), err: () => done.resolve(null) });
      return;
    }
    this.waiting.set(seq, { tuple, done, sent: this.loop.now(), resends: 0 });
    if (this.sweepTimer === -1) this.armSweep(this.timeoutMs);
  }

  private query(seq: number, tuple: ConnectionTuple): number {
    return native.diagQuery(this.fd, seq, encodeInet(tuple.local, localSlot).slot, encodeInet(tuple.remote, remoteSlot).slot);
  }

  private armSweep(ms: number): void {
    this.sweepTimer = this.loop.setTimeout(() => this.sweep(), Math.max(0, ms));
  }

  /**
   * Expires the requests sent `timeoutMs` ago or earlier (misses, for the
   * fallback) and re-arms for the oldest left. The Map keeps send order, so
   * the oldest come first.
   */
  private sweep(): void {
    this.sweepTimer = -1;
    const deadline = this.loop.now() - this.timeoutMs;
    for (const [seq, w] of this.waiting) {
      if (w.sent > deadline) break;
      this.settle(seq, null);
    }
    const first = this.waiting.values().next();
    if (!first.done && this.sweepTimer === -1) this.armSweep(first.value.sent + this.timeoutMs - this.loop.now());
  }

  /** Sends queued queries while there is room under the cap. */
  private pump(): void {
    while (this.queueHead < this.queue.length && this.waiting.size < this.maxInFlight && this.fd >= 0) {
      const q = this.queue[this.queueHead];
      this.queue[this.queueHead++] = undefined as unknown as Queued;
      this.send(q.tuple, q.done);
    }
    if (this.queueHead === this.queue.length) {
      this.queue = [];
      this.queueHead = 0;
    } else if (this.queueHead >= 1024 && this.queueHead * 2 >= this.queue.length) {
      this.queue = this.queue.slice(this.queueHead);
      this.queueHead = 0;
    }
  }

  private receive(): void {
    for (;;) {
      this.drain();
      if (!this.overrun || this.fd < 0) break;
      this.overrun = false;
      this.resend();
    }
    this.pump();
  }

  /**
   * After ENOBUFS: every request still waiting once the socket is drained
   * may have lost its answer, so each is sent again (at most `resends`
   * times; after that its timer makes it a miss). The kernel answers while
   * the request is sent, so each answer is read at once, before the next
   * request can push it out of a full buffer. A duplicate answer finds its
   * request settled and is ignored.
   */
  private resend(): void {
    const again: [number, Waiting][] = [];
    for (const entry of this.waiting) if (entry[1].resends < this.resends) again.push(entry);
    for (const [seq, w] of again) {
      if (this.fd < 0) return;
      if (!this.waiting.has(seq)) continue;
      w.resends++;
      if (this.query(seq, w.tuple) < 0) continue; // its timer makes it a miss
      this.drain();
    }
  }

  /** Set when a read fails with ENOBUFS: answers were dropped. */
  private overrun = false;

  /** Reads and settles answers until the socket is empty. */
  private drain(): void {
    for (;;) {
      if (this.fd < 0) return;
      const n = native.diagReceive(this.fd, this.records);
      if (n === -ENOBUFS) {
        // The buffer overflowed and answers were lost; the ones queued
        // before are still there to read.
        this.overrun = true;
        continue;
      }
      // EAGAIN: all read. Anything else: nothing more to read now.
      if (n < 0) return;
      for (let i = 0; i < n; i++) {
        const base = i * RECORD;
        const seq = this.records[base];
        const w = this.waiting.get(seq);
        if (w === undefined) continue;
        const status = this.records[base + 1];
        const localPort = this.records[base + 4];
        const remotePort = this.records[base + 5];
        // An exact lookup that finds no connection may return the listening
        // socket on that port instead: only an exact 4-tuple counts.
        const exact = status === 0 && localPort === w.tuple.local.port && remotePort === w.tuple.remote.port;
        if (exact) {
          const uid = this.records[base + 2];
          const inode = this.records[base + 3];
          this.settle(seq, uid === 0 && inode === 0 ? null : { uid, inode }, true, false);
        } else {
          this.settle(seq, null, false, false); // ENOENT, the listener, or an error
        }
      }
    }
  }

  /**
   * Resolves a netlink lookup; a miss goes to the /proc fallback. With
   * `pump`, a queued query takes its place at once; the receive path pumps
   * once it has read everything instead.
   */
  private settle(seq: number, owner: Owner | null, final = false, pump = true): void {
    const w = this.waiting.get(seq);
    if (w === undefined) return;
    this.waiting.delete(seq);
    if (owner !== null || final || !this.procFallback) {
      w.done.resolve(owner);
    } else {
      this.fromProc(w.tuple).subscribe({ ok: (o) => w.done.resolve(o), err: () => w.done.resolve(null) });
    }
    if (pump) this.pump();
  }

  private fromProc(tuple: ConnectionTuple): Pending<Owner | null> {
    if (!this.procFallback) return Pending.resolved<Owner | null>(null);
    const q: ProcQuery = {
      localAddress: tuple.local.address,
      localPort: tuple.local.port,
      remoteAddress: tuple.remote.address,
      remotePort: tuple.remote.port,
    };
    return this.loop.spawnBlocking<ProcQuery, Owner | null>({ module: TASKS, export: 'procLookup' }, q).then(
      (owner) => (owner !== null && owner.uid === 0 && owner.inode === 0 ? null : owner),
      (err: unknown) => {
        this.onError?.(err instanceof Error ? err : new Error(String(err)));
        return null;
      },
    );
  }
}

