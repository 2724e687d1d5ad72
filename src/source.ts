/**
 * What can be registered with a Poll.
 *
 * @packageDocumentation
 */
import { codedError } from './errors';

/**
 * Something with a file descriptor that a Poll can watch: an edgeloop socket,
 * or any object exposing a numeric `fd`. A raw fd number is a source too.
 */
export interface Evented {
  /** The descriptor, or -1 once closed. */
  readonly fd: number;
}

/** A registrable thing: an {@link Evented} object or a raw fd. */
export type Source = Evented | number;

/**
 * Implemented by sources that must leave every Poll before their fd is
 * closed (rule: closing deregisters first, so a dup'ed fd cannot keep
 * delivering events under an old token).
 *
 * @internal
 */
export interface Tracked extends Evented {
  /** The polls this source is registered with. */
  registeredIn: Set<{ forget(source: Tracked): void; deregisterFd(fd: number): void }> | null;
}

/** @internal */
export function isTracked(source: Source): source is Tracked {
  return typeof source === 'object' && source !== null && 'registeredIn' in source;
}

/**
 * The fd of a source, validated.
 *
 * @internal
 */
export function fdOf(source: Source): number {
  const fd = typeof source === 'number' ? source : source?.fd;
  if (typeof fd !== 'number' || !Number.isInteger(fd)) {
    throw new TypeError('source must be an fd number or an object with a numeric fd');
  }
  if (fd < 0) {
    throw typeof source === 'number'
      ? codedError(TypeError, 'ERR_INVALID_FD', `invalid fd ${fd}`)
      : codedError(TypeError, 'ERR_SOCKET_CLOSED', 'source is closed');
  }
  if (fd > 0x7fffffff) throw new RangeError(`invalid fd ${fd}`);
  return fd;
}
