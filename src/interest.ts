/**
 * What a registration waits for, and how it triggers.
 *
 * @packageDocumentation
 */

/**
 * Readiness a registration is interested in. Combine with `|`; an empty set
 * is rejected with a RangeError, so a registration always waits for
 * something.
 *
 * Portability: `PRIORITY` (out-of-band data, EPOLLPRI) exists on Linux only;
 * registering it on kqueue throws.
 */
export const Interest = {
  /** The source has bytes, a connection to accept, or a peer close to read. */
  READABLE: 1,
  /** The source can take bytes (or a non-blocking connect finished). */
  WRITABLE: 2,
  /** Priority data (Linux only). */
  PRIORITY: 4,
} as const;

/**
 * How a registration triggers, after mio 0.6's `PollOpt`. No option means
 * {@link PollOpt.LEVEL}.
 *
 * - `LEVEL`: reported on every poll while the condition holds.
 * - `EDGE`: reported once per transition; the handler must drain the source
 *   until it returns WOULD_BLOCK, or it may never hear of it again.
 * - `ONESHOT`: reported once, then disarmed until `reregister`. Combines with
 *   either of the two above.
 */
export const PollOpt = {
  /** One event per readiness transition. */
  EDGE: 1,
  /** An event on every poll while ready (the default). */
  LEVEL: 2,
  /** Disarm after the first event until reregistered. */
  ONESHOT: 4,
} as const;

/**
 * The readiness bits in {@link Events.readiness}; the `is*` predicates on
 * Events test them one at a time.
 */
export const Ready = {
  /** Bytes, a connection or EOF can be read. */
  READABLE: 1,
  /** Bytes can be written, or a connect finished. */
  WRITABLE: 2,
  /** A socket error is pending (read it with `takeError()`). */
  ERROR: 4,
  /** The peer will send nothing more. */
  READ_CLOSED: 8,
  /** Writing can no longer succeed. */
  WRITE_CLOSED: 16,
  /** Priority data is readable (Linux only). */
  PRIORITY: 32,
} as const;

const ALL_INTEREST = Interest.READABLE | Interest.WRITABLE | Interest.PRIORITY;
const ALL_OPTS = PollOpt.EDGE | PollOpt.LEVEL | PollOpt.ONESHOT;

/**
 * Validates an interest set and returns it.
 *
 * @internal
 */
export function checkInterest(interest: number, priorityAllowed: boolean): number {
  if (typeof interest !== 'number' || !Number.isInteger(interest)) {
    throw new TypeError('interest must be a combination of Interest flags');
  }
  if (interest === 0) throw new RangeError('interest must not be empty');
  if ((interest & ~ALL_INTEREST) !== 0 || interest < 0) {
    throw new RangeError(`unknown interest bits in ${interest}`);
  }
  if (!priorityAllowed && (interest & Interest.PRIORITY) !== 0) {
    throw new RangeError('Interest.PRIORITY is supported on Linux (epoll) only');
  }
  return interest;
}

/**
 * Validates options; returns them with LEVEL made explicit when absent.
 *
 * @internal
 */
export function checkOpts(opts: number | undefined): number {
  if (opts === undefined) return PollOpt.LEVEL;
  if (typeof opts !== 'number' || !Number.isInteger(opts)) {
    throw new TypeError('opts must be a combination of PollOpt flags');
  }
  if ((opts & ~ALL_OPTS) !== 0 || opts < 0) throw new RangeError(`unknown PollOpt bits in ${opts}`);
  if ((opts & PollOpt.EDGE) !== 0 && (opts & PollOpt.LEVEL) !== 0) {
    throw new RangeError('PollOpt.EDGE and PollOpt.LEVEL are mutually exclusive');
  }
  return (opts & PollOpt.EDGE) === 0 ? opts | PollOpt.LEVEL : opts;
}

/** Largest token value: tokens are unsigned 32-bit integers. */
export const MAX_TOKEN = 0xffffffff;

/**
 * Validates a token and returns it.
 *
 * @internal
 */
export function checkToken(token: number): number {
  if (typeof token !== 'number' || !Number.isInteger(token)) {
    throw new TypeError(`token must be an integer, got ${String(token)}`);
  }
  if (token < 0 || token > MAX_TOKEN) {
    throw new RangeError(`token must be in 0..${MAX_TOKEN}, got ${token}`);
  }
  return token;
}
