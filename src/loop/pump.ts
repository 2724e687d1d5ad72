/**
 * The loop's engine: one native call per turn sends the writes handlers
 * corked, waits, and reads every ready connection into a shared arena.
 *
 * @packageDocumentation
 */
import type { Connection } from '../connection';
import type { Outbox } from './outbox';
import { SysError } from '../errors';
import { native, type NativePump } from '../native';
import { toTimeoutMs, type Poll } from '../poll';
import { KEY_BITS } from './registry';

/** Words per result record: token, flags, offset, length, errno. */
export const RECORD_WORDS = 5;
/** Words per corked write: token, arena (0 write, 1 read), offset, length. */
const WRITE_WORDS = 4;

/** Record flag: `[offset, offset+length)` of the read arena holds new bytes. */
export const REC_DATA = 1 << 8;
/** Record flag: the peer finished sending (a read returned 0). */
export const REC_EOF = 1 << 9;
/** Record flag: a read or write failed; the errno is the record's last word. */
export const REC_ERROR = 1 << 10;
/** Record flag: a corked write fell short (offset = write index, length = bytes sent). */
const REC_SHORT = 1 << 11;
/** Record flag: a listener's ring accept; offset = the new fd (none with REC_ERROR). */
export const REC_ACCEPT = 1 << 14;
/** The record's low byte: readiness bits, as in {@link Ready}. */
export const READINESS_MASK = 0xff;
/** Flags that mean the pump read the connection itself. */
export const REC_READ = REC_DATA | REC_EOF | REC_ERROR;

/** Sizes of one loop's pump. Fixed at construction; nothing grows per turn. */
export interface PumpSizes {
  /** Bytes every turn's reads share (the view onData sees). */
  readArena: number;
  /** Bytes of small writes copied per turn before a flush is forced. */
  writeArena: number;
  /** Corked writes per turn before a flush is forced. */
  writes: number;
  /** Most bytes read from one connection per turn (fairness). */
  readBudget: number;
  /** Events one wait returns at most. */
  events: number;
  /** io_uring: bytes of one provided buffer (one recv completion at most). */
  ringBufferSize: number;
  /** io_uring: provided buffers, a power of two; they make the read arena. */
  ringBuffers: number;
}

/**
 * Defaults: 1 MiB of reads and 256 KiB of small writes per turn; on
 * io_uring, 1024 buffers of 4 KiB (a turn's recvs share them until the
 * next turn gives them back).
 */
export const DEFAULT_PUMP_SIZES: PumpSizes = {
  readArena: 1 << 20,
  writeArena: 256 << 10,
  writes: 4096,
  readBudget: 64 << 10,
  events: 1024,
  ringBufferSize: 4096,
  ringBuffers: 1024,
};

/**
 * One loop's native pump and the arrays it shares with C++.
 *
 * A turn's record list starts with one record per corked write that fell
 * short (settled here, before any handler runs: the unsent tail joins the
 * connection's queue) and continues with one record per ready event, which
 * the drivers walk from {@link eventStart}. While handlers run
 * ({@link corking}), writes to a connection with an empty queue are corked:
 * small ones copied into the write arena, views of the read arena (echo)
 * referenced as they are, and all of them sent by the next native call.
 *
 * @internal
 */
export class LoopPump {
  /** Where every turn's reads land; a record's bytes live until the next turn. */
  readonly readArena: Buffer;
  /** The records of the last turn. */
  readonly records: Uint32Array;
  /** Index of the first event record of the last turn. */
  eventStart = 0;
  /** True while a turn's handlers and timers run: writes are corked. */
  corking = false;

  private readonly writeArena: Buffer;
  private readonly writes: Uint32Array;
  private readonly writeOutboxes: Array<Outbox | null>;
  private readonly maxWrites: number;
  /** Events one wait returns at most. */
  readonly eventsCapacity: number;
  /** True on io_uring: listeners accept through the ring. */
  readonly ring: boolean;
  private readonly native: NativePump;
  /** The wait's syscall, for errors. */
  private readonly waitCall: string;
  private writeCount = 0;
  private writeCursor = 0;
  /** Outboxes whose corked write failed in the last flush (reused). */
  private readonly failed: Outbox[] = [];
  private failing = false;

  /**
   * @param ring - drive connections through io_uring (the native side
   *   throws `ERR_IO_URING_UNAVAILABLE` when it cannot)
   */
  constructor(poll: Poll, sizes: PumpSizes = DEFAULT_PUMP_SIZES, ring = false) {
    // The ring's arena is over a SharedArrayBuffer, which cannot be
    // detached: the kernel writes into it between calls (the native side
    // refuses anything else).
    this.readArena = ring
      ? Buffer.from(new SharedArrayBuffer(sizes.ringBufferSize * sizes.ringBuffers))
      : Buffer.allocUnsafeSlow(sizes.readArena);
    this.writeArena = Buffer.allocUnsafeSlow(sizes.writeArena);
    this.maxWrites = sizes.writes;
    this.eventsCapacity = sizes.events;
    this.ring = ring;
    this.writes = new Uint32Array(sizes.writes * WRITE_WORDS);
    this.writeOutboxes = new Array<Outbox | null>(sizes.writes).fill(null);
    // Room for a turn's short writes and events, and below them the short
    // writes of a flush forced while the turn's records are being walked.
    this.records = new Uint32Array((2 * sizes.writes + sizes.events) * RECORD_WORDS);
    this.waitCall = ring ? 'io_uring_enter' : native.backend === 'epoll' ? 'epoll_wait' : 'kevent';
    this.native = new native.Pump(
      poll.native,
      this.readArena,
      this.writeArena,
      this.writes,
      this.records,
      KEY_BITS,
      sizes.readBudget,
      sizes.events,
      ring ? sizes.ringBufferSize : undefined,
    );
  }

  /** `'epoll'`, `'kqueue'` or `'io_uring (<setup mode>)'`. */
  get engine(): string {
    return this.native.backend();
  }

  /** Tells the ring that uv_poll (attach()) watches the loop now, or no longer. */
  setAttached(on: boolean): void {
    const r = this.native.setAttached(on);
    if (r < 0) throw new SysError(r, 'register');
  }

  /** Ends the io_uring ring, if any; its pending requests go with it. */
  close(): void {
    this.native.close();
  }

  /**
   * Enters `conn` in the native table with `interest` (0: in the table,
   * watched for nothing). `autoRead`: the pump reads it (an onData handler).
   *
   * @throws SysError when the kernel refuses the registration
   */
  add(conn: Connection, interest: number, autoRead: boolean): void {
    const r = this.native.add(conn.token, conn.stream.fd, interest, autoRead);
    if (r < 0) throw new SysError(r, 'register');
  }

  /** Changes what `conn` is watched for. @throws SysError when the kernel refuses */
  modify(conn: Connection, interest: number, autoRead: boolean): void {
    const r = this.native.modify(conn.token, interest, autoRead);
    if (r < 0) throw new SysError(r, 'reregister');
  }

  /** Takes `conn` out of the table (and the kernel's interest list) before its fd closes. */
  remove(conn: Connection): void {
    this.native.remove(conn.token);
  }

  /**
   * io_uring: enters a listener in the native table and starts its
   * multishot accept; each connection then arrives as a {@link REC_ACCEPT}
   * record of a turn.
   *
   * @throws SysError when the ring refuses the request
   */
  addListener(token: number, fd: number): void {
    const r = this.native.add(token, fd, 0, false);
    if (r < 0) throw new SysError(r, 'register');
    try {
      this.setAccepting(token, true);
    } catch (err) {
      this.native.remove(token);
      throw err;
    }
  }

  /** io_uring: starts or stops a listener's accept. @throws SysError when the ring refuses */
  setAccepting(token: number, on: boolean): void {
    const r = this.native.accept(token, on);
    if (r < 0) throw new SysError(r, 'io_uring accept');
  }

  /** Takes a listener (or anything added by token) out of the table before its fd closes. */
  removeToken(token: number): void {
    this.native.remove(token);
  }

  /**
   * Corks `data[offset .. offset+length)` for `out`'s connection, to be sent by the next
   * native call, forcing a flush first when the write list or arena is full.
   *
   * @returns false when the bytes do not fit a turn's write arena: the caller
   *   writes them itself (nothing of its connection is corked then, so
   *   order holds), unless the forced flush closed that connection
   */
  cork(out: Outbox, data: Uint8Array, offset: number, length: number): boolean {
    const byReference = data === this.readArena;
    if (!byReference && length > this.writeArena.length) {
      if (out.corkedBytes > 0) this.flush();
      return false;
    }
    if (this.writeCount === this.maxWrites || (!byReference && this.writeCursor + length > this.writeArena.length)) {
      this.flush();
      // The flush may have queued part of this connection's earlier writes
      // (this one must go behind them) or failed one and closed it.
      if (out.queued > 0 || out.conn.isClosed) return false;
    }
    let where = offset;
    if (!byReference) {
      where = this.writeCursor;
      const whole = offset === 0 && length === data.length;
      this.writeArena.set(whole ? data : data.subarray(offset, offset + length), where);
      this.writeCursor += length;
    }
    const w = this.writeCount * WRITE_WORDS;
    this.writes[w] = out.conn.token;
    this.writes[w + 1] = byReference ? 1 : 0;
    this.writes[w + 2] = where;
    this.writes[w + 3] = length;
    this.writeOutboxes[this.writeCount++] = out;
    return true;
  }

  /**
   * One turn: sends the corked writes, waits up to `timeoutMs` (-1: until
   * an event), reads. Short writes are settled before this returns.
   *
   * @returns the end of the event records, which start at {@link eventStart}
   */
  turn(timeoutMs: number): number {
    const n = this.native.turn(toTimeoutMs(timeoutMs), this.writeCount);
    if (n < 0) throw new SysError(n, this.waitCall);
    this.eventStart = this.settle(0, n);
    return n;
  }

  /** Sends the corked writes now (no wait); a no-op when nothing is corked. */
  flush(): void {
    if (this.writeCount === 0) return;
    // Below the records of the turn being walked, which must stay intact.
    const base = this.records.length / RECORD_WORDS - this.maxWrites;
    const end = this.native.flush(this.writeCount, base);
    this.settle(base, end);
  }

  /**
   * Hands every short-write record from `from` on to its connection (its
   * unsent bytes, in order, join the queue) and empties the write list;
   * then fails the connections whose write failed. No handler runs before
   * the list is empty, so one that writes again starts a fresh list.
   *
   * @returns the index of the first record that is not a short write
   */
  private settle(from: number, end: number): number {
    const records = this.records;
    let i = from;
    for (; i < end; i++) {
      const r = i * RECORD_WORDS;
      const flags = records[r + 1];
      if ((flags & REC_SHORT) === 0) break;
      const index = records[r + 2];
      const out = this.writeOutboxes[index];
      if (out === null || out.conn.isClosed) continue;
      if ((flags & REC_ERROR) !== 0) {
        if (out.writeErrno === 0) this.failed.push(out);
        out.writeErrno = records[r + 4];
        continue;
      }
      const w = index * WRITE_WORDS;
      const arena = this.writes[w + 1] === 0 ? this.writeArena : this.readArena;
      const sent = records[r + 3];
      out.queueUnsent(arena, this.writes[w + 2] + sent, this.writes[w + 3] - sent);
    }
    for (let k = 0; k < this.writeCount; k++) {
      const out = this.writeOutboxes[k];
      if (out !== null) {
        out.corkedBytes = 0;
        this.writeOutboxes[k] = null;
      }
    }
    this.writeCount = 0;
    this.writeCursor = 0;
    if (!this.failing) this.failQueued();
    return i;
  }

  /** Closes every connection whose corked write failed, with its errno. */
  private failQueued(): void {
    this.failing = true;
    try {
      // A handler run here may force another flush, which appends.
      for (let k = 0; k < this.failed.length; k++) this.failed[k].failWrite();
    } finally {
      this.failed.length = 0;
      this.failing = false;
    }
  }
}
