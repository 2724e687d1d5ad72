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
  timer: number;
}

/** Options for {@link OwnerLookup}. */
export interface OwnerLookupOptions {
  /** Use netlink sock_diag (Linux). Default true where available. */
  netlink?: boolean;
  /** Fall back to scanning /proc/net/tcp{,6}. Default true on Linux. */
  procFallback?: boolean;
  /** How long a uid's name stays cached, ms. Default 60000. */
  nameCacheMs?: number;
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
  private readonly onError: ((error: Error) => void) | undefined;

  /**
   * Opens the netlink socket now (so it can happen before privileges are
   * dropped) and registers it with the loop.
   */
  constructor(loop: EventLoop, options: OwnerLookupOptions = {}) {
    this.loop = loop;
    this.procFallback = options.procFallback ?? process.platform === 'linux';
    this.nameCacheMs = options.nameCacheMs ?? 60000;
    this.onError = options.onError;
    if (options.netlink !== false) {
      const fd = native.diagOpen();
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
    const seq = this.seq;
    this.seq = this.seq === 0xffffffff ? 1 : this.seq + 1;
    const r = native.diagQuery(this.fd, seq, encodeInet(tuple.local, localSlot).slot, encodeInet(tuple.remote, remoteSlot).slot);
    if (r < 0) return this.fromProc(tuple);
    const done = new Pending<Owner | null>();
    const timer = this.loop.setTimeout(() => this.settle(seq, null), DIAG_TIMEOUT_MS);
    this.waiting.set(seq, { tuple, done, timer });
    return done;
  }

  /** The user name for `uid` (null when the system has none), cached. */
  userName(uid: number): Pending<string | null> {
    const now = this.loop.now();
    const hit = this.names.get(uid);
    if (hit !== undefined && hit.expires > now) return Pending.resolved(hit.name);
    return this.loop.spawnBlocking<number, string | null>({ module: TASKS, export: 'userName' }, uid).then((name) => {
      this.names.set(uid, { name, expires: this.loop.now() + this.nameCacheMs });
      return name;
    });
  }

  /** Closes the netlink socket; pending lookups resolve to null. */
  close(): void {
    for (const [seq] of this.waiting) this.settle(seq, null);
    if (this.registration !== null) {
      this.registration.deregister();
      this.registration = null;
    }
    if (this.fd >= 0) {
      native.close(this.fd);
      this.fd = -1;
    }
  }

  private receive(): void {
    for (;;) {
      const n = native.diagReceive(this.fd, this.records);
      // EAGAIN: all read. Anything else (ENOBUFS after an overrun) loses
      // answers; their timers turn them into misses for the fallback.
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
          this.settle(seq, uid === 0 && inode === 0 ? null : { uid, inode }, true);
        } else {
          this.settle(seq, null); // ENOENT, the listener, or an error
        }
      }
    }
  }

  /** Resolves a netlink lookup; a miss goes to the /proc fallback. */
  private settle(seq: number, owner: Owner | null, final = false): void {
    const w = this.waiting.get(seq);
    if (w === undefined) return;
    this.waiting.delete(seq);
    this.loop.clearTimer(w.timer);
    if (owner !== null || final || !this.procFallback) {
      w.done.resolve(owner);
      return;
    }
    this.fromProc(w.tuple).subscribe({ ok: (o) => w.done.resolve(o), err: () => w.done.resolve(null) });
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

