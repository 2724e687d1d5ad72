/**
 * The buffer a poll fills.
 *
 * @packageDocumentation
 */
import { Ready } from './interest';

/** Largest capacity accepted, to keep one poll's storage within reason. */
export const MAX_EVENTS_CAPACITY = 1 << 20;

/**
 * Storage for the events one {@link Poll.poll} returns.
 *
 * The storage is one `Uint32Array` of `[token, readiness]` pairs, allocated
 * once here and written by the kernel-facing C++ directly, so polling
 * allocates nothing per call or per event. Read events with the index
 * accessors below, for `i` in `0 .. length - 1`; an index outside that range
 * reads stale or zeroed data (the accessors are not bounds-checked, to stay
 * cheap on the hot path).
 *
 * Readiness is a hint: an event may be spurious, and the closed/error flags
 * may be missing, but a flag that is set is true. Always handle WOULD_BLOCK.
 *
 * @example
 * ```ts
 * const events = new Events(1024);
 * const n = poll.poll(events);
 * for (let i = 0; i < n; i++) {
 *   if (events.isReadable(i)) handleRead(events.token(i));
 * }
 * ```
 */
export class Events {
  /** The shared storage: token at 2i, readiness bits at 2i+1. */
  readonly storage: Uint32Array;
  /** How many events the last poll wrote. */
  length = 0;

  /**
   * @param capacity - the most events one poll returns (1 .. 2^20); the rest
   *   wait for later polls.
   */
  constructor(capacity: number) {
    checkEventsCapacity(capacity);
    this.storage = new Uint32Array(capacity * 2);
  }

  /** The most events one poll can return. */
  get capacity(): number {
    return this.storage.length >>> 1;
  }

  /** The token of event `i`. */
  token(i: number): number {
    return this.storage[i * 2];
  }

  /** The readiness bits of event `i` (see {@link Ready}). */
  readiness(i: number): number {
    return this.storage[i * 2 + 1];
  }

  /** Bytes, a connection or EOF can be read. */
  isReadable(i: number): boolean {
    return (this.storage[i * 2 + 1] & Ready.READABLE) !== 0;
  }

  /** Bytes can be written (or a connect completed). */
  isWritable(i: number): boolean {
    return (this.storage[i * 2 + 1] & Ready.WRITABLE) !== 0;
  }

  /** The source has a pending error (read it with `takeError()`). */
  isError(i: number): boolean {
    return (this.storage[i * 2 + 1] & Ready.ERROR) !== 0;
  }

  /** The peer will send no more (shutdown, close or reset). */
  isReadClosed(i: number): boolean {
    return (this.storage[i * 2 + 1] & Ready.READ_CLOSED) !== 0;
  }

  /** Writing can no longer succeed. */
  isWriteClosed(i: number): boolean {
    return (this.storage[i * 2 + 1] & Ready.WRITE_CLOSED) !== 0;
  }

  /** Priority data is available (Linux only). */
  isPriority(i: number): boolean {
    return (this.storage[i * 2 + 1] & Ready.PRIORITY) !== 0;
  }
}

/**
 * Throws unless `capacity` is a valid count of events per poll.
 *
 * @internal
 */
export function checkEventsCapacity(capacity: number): void {
  if (typeof capacity !== 'number' || !Number.isInteger(capacity)) {
    throw new TypeError('capacity must be an integer');
  }
  if (capacity < 1 || capacity > MAX_EVENTS_CAPACITY) {
    throw new RangeError(`capacity must be in 1..${MAX_EVENTS_CAPACITY}, got ${capacity}`);
  }
}
