/**
 * What every socket shares: an fd, options, addresses, and a close that
 * leaves every Poll first.
 *
 * @packageDocumentation
 */
import { SysError, check, closedError } from '../errors';
import { native } from '../native';
import type { Tracked } from '../source';
import { decodeSlot, scratchSlot, type InetAddress, type UnixAddress } from './address';

const C = native.constants;

/**
 * Opens a non-blocking, close-on-exec socket.
 *
 * @internal
 */
export function openSocket(domain: number, type: number): number {
  return check(native.socket(domain, type, 0), 'socket');
}

/**
 * Base of every edgeloop socket.
 *
 * All sockets are non-blocking and close-on-exec, and writes never raise
 * SIGPIPE. {@link close} deregisters the socket from every Poll it is
 * registered with before closing the fd, so a duplicate of the fd (held by a
 * forked child, say) cannot keep delivering events under the old token.
 */
export abstract class Socket {
  /** The descriptor; -1 once closed. Treat as read-only. */
  fd: number;
  /** @internal */
  registeredIn: Tracked['registeredIn'] = null;

  /** @param fd - an open, non-blocking socket descriptor this object now owns */
  protected constructor(fd: number) {
    this.fd = fd;
  }

  /** True once {@link close} ran. */
  get isClosed(): boolean {
    return this.fd < 0;
  }

  /**
   * Deregisters from every Poll, then closes the fd. Calling it twice is
   * harmless.
   */
  close(): void {
    const fd = this.fd;
    if (fd < 0) return;
    const polls = this.registeredIn;
    if (polls !== null) {
      for (const poll of polls) {
        poll.deregisterFd(fd);
        poll.forget(this);
      }
      this.registeredIn = null;
    }
    this.fd = -1;
    native.close(fd);
  }

  /** The address this socket is bound to. */
  localAddress(): InetAddress | UnixAddress {
    const slot = scratchSlot();
    check(native.getSockName(this.liveFd(), slot), 'getsockname');
    return decodeSlot(slot);
  }

  /** The connected peer's address (for the stream and datagram subclasses). */
  protected connectedPeer(): InetAddress | UnixAddress {
    const slot = scratchSlot();
    check(native.getPeerName(this.liveFd(), slot), 'getpeername');
    return decodeSlot(slot);
  }

  /**
   * Reads and clears the socket's pending error (SO_ERROR): how a
   * non-blocking connect reports failure once the socket turns writable.
   *
   * @returns the error, or null when there is none
   */
  takeError(): SysError | null {
    const out = new Int32Array(1);
    check(native.getSockOptInt(this.liveFd(), C.SOL_SOCKET, C.SO_ERROR, out), 'getsockopt');
    return out[0] === 0 ? null : new SysError(out[0], 'connect');
  }

  /** Sets an integer socket option; throws SysError on failure. */
  protected setIntOption(level: number, name: number, value: number, what: string): void {
    check(native.setSockOptInt(this.liveFd(), level, name, value), `setsockopt ${what}`);
  }

  /** Reads an integer socket option. */
  protected getIntOption(level: number, name: number, what: string): number {
    const out = new Int32Array(1);
    check(native.getSockOptInt(this.liveFd(), level, name, out), `getsockopt ${what}`);
    return out[0];
  }

  /** The fd, or a TypeError if the socket is closed. */
  protected liveFd(): number {
    const fd = this.fd;
    if (fd < 0) throw closedError('socket');
    return fd;
  }
}

/**
 * Sets the address-reuse options of a socket about to bind; throws SysError
 * (or RangeError where SO_REUSEPORT does not exist).
 *
 * @internal
 */
export function setReuse(fd: number, reuseAddress: boolean, reusePort: boolean): void {
  const set = (name: number, what: string): void => {
    const r = native.setSockOptInt(fd, C.SOL_SOCKET, name, 1);
    if (r < 0) throw new SysError(r, `setsockopt ${what}`);
  };
  if (reuseAddress) set(C.SO_REUSEADDR, 'SO_REUSEADDR');
  if (reusePort) {
    if (C.SO_REUSEPORT === undefined) throw new RangeError('reusePort is not supported on this platform');
    set(C.SO_REUSEPORT, 'SO_REUSEPORT');
  }
}

/**
 * Closes `fd` and rethrows: for constructors that fail halfway.
 *
 * @internal
 */
export function closeAndThrow(fd: number, err: unknown): never {
  native.close(fd);
  throw err;
}
