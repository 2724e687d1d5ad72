/**
 * Errors, and the would-block value that is not one.
 *
 * @packageDocumentation
 */
import { native } from './native';

/**
 * Returned by `read`, `write`, `accept`, `recv` and friends when the kernel
 * has nothing to give or no room to take (EAGAIN/EWOULDBLOCK). It is a plain
 * number so that the common case on the hot path allocates nothing and throws
 * nothing. Any other negative outcome throws a {@link SysError}.
 *
 * @example
 * ```ts
 * const n = stream.read(buf);
 * if (n === WOULD_BLOCK) return; // wait for the next readable event
 * if (n === 0) stream.close();   // EOF
 * ```
 */
export const WOULD_BLOCK = -1;

/** The type of {@link WOULD_BLOCK}. */
export type WouldBlock = typeof WOULD_BLOCK;

/**
 * A failed system call, shaped like Node's own errors: `code` is the errno
 * name (`'ECONNREFUSED'`), `errno` the negated errno number as Node reports
 * it, `syscall` the call that failed.
 */
export class SysError extends Error {
  /** The errno name, e.g. `'ECONNRESET'`. */
  readonly code: string;
  /** The negated errno number, as in Node's `err.errno` (e.g. `-104`). */
  readonly errno: number;
  /** The failing call, e.g. `'connect'`. */
  readonly syscall: string;
  /** The address involved, when there was one. */
  readonly address?: string;
  /** The port involved, when there was one. */
  readonly port?: number;

  /**
   * @param errno - the errno value, positive or negative
   * @param syscall - the failing call's name
   * @param address - an address to name in the message
   * @param port - a port to name in the message
   */
  constructor(errno: number, syscall: string, address?: string, port?: number) {
    const positive = Math.abs(errno);
    const code = native.errnoName(positive);
    const where = address === undefined ? '' : port === undefined ? ` ${address}` : ` ${address}:${port}`;
    super(`${syscall} ${code}${where}: ${native.errnoMessage(positive)}`);
    this.name = 'SysError';
    this.code = code;
    this.errno = -positive;
    this.syscall = syscall;
    if (address !== undefined) this.address = address;
    if (port !== undefined) this.port = port;
  }
}

/** True when `value` is {@link WOULD_BLOCK} or a SysError for EAGAIN. */
export function isWouldBlock(value: unknown): boolean {
  if (value === WOULD_BLOCK) return true;
  return value instanceof SysError && (value.code === 'EAGAIN' || value.code === 'EWOULDBLOCK');
}

const EAGAIN = native.constants.EAGAIN;
const EWOULDBLOCK = native.constants.EWOULDBLOCK;

/**
 * Turns a negative native result into WOULD_BLOCK or a thrown SysError.
 * Callers test `r >= 0` first, so this is only reached off the fast path.
 *
 * @internal
 */
export function failure(r: number, syscall: string): WouldBlock {
  if (r === -EAGAIN || r === -EWOULDBLOCK) return WOULD_BLOCK;
  throw new SysError(r, syscall);
}

/**
 * Throws a SysError for a negative native result; returns it otherwise.
 *
 * @internal
 */
export function check(r: number, syscall: string, address?: string, port?: number): number {
  if (r < 0) throw new SysError(r, syscall, address, port);
  return r;
}

/** An Error (or TypeError, RangeError) with a stable, documented `code`. */
export type CodedError<E extends Error = Error> = E & { code: string };

/**
 * Makes an error of class `Kind` whose `code` says which condition it is,
 * the way Node's own errors carry `code` ('ERR_SOCKET_CLOSED'). Every coded
 * error in the library is made here, so the same condition has the same
 * class and code wherever it is detected.
 *
 * @internal
 */
export function codedError<E extends Error>(Kind: new (message: string) => E, code: string, message: string): CodedError<E> {
  const err = new Kind(message) as CodedError<E>;
  err.code = code;
  return err;
}

/**
 * The error thrown when a closed socket is used.
 *
 * @internal
 */
export function closedError(what: string): CodedError<TypeError> {
  return codedError(TypeError, 'ERR_SOCKET_CLOSED', `${what} is closed`);
}
