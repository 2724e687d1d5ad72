/**
 * Byte-stream sockets (TCP and Unix stream): the calls both share.
 *
 * @packageDocumentation
 */
import { check, closedError, failure, type WouldBlock } from '../errors';
import { native } from '../native';
import type { InetAddress, UnixAddress } from './address';
import { Socket } from './socket';

const C = native.constants;

/** Which half of a connection {@link StreamSocket.shutdown} closes. */
export type ShutdownHow = 'read' | 'write' | 'both';

const SHUTDOWN: Record<ShutdownHow, number> = { read: C.SHUT_RD, write: C.SHUT_WR, both: C.SHUT_RDWR };

/**
 * A connected byte stream. Reads and writes are non-blocking: they return
 * the bytes transferred, 0 for EOF (reads), or {@link WOULD_BLOCK}; any other
 * failure throws a SysError (ECONNRESET, EPIPE, ...). Offsets and lengths
 * outside the buffer throw RangeError; nothing is read or written past it.
 */
export abstract class StreamSocket extends Socket {
  /**
   * Reads into `buf[offset .. offset+length)`.
   *
   * @returns bytes read, 0 at EOF, or WOULD_BLOCK
   */
  read(buf: Uint8Array, offset = 0, length = buf.length - offset): number | WouldBlock {
    const fd = this.fd;
    if (fd < 0) throw closedError('socket');
    const n = native.read(fd, buf, offset, length);
    return n >= 0 ? n : failure(n, 'read');
  }

  /**
   * Writes from `buf[offset .. offset+length)`. A short count means the
   * kernel buffer filled: keep the rest and wait for writable.
   *
   * @returns bytes written, or WOULD_BLOCK
   */
  write(buf: Uint8Array, offset = 0, length = buf.length - offset): number | WouldBlock {
    const fd = this.fd;
    if (fd < 0) throw closedError('socket');
    const n = native.write(fd, buf, offset, length);
    return n >= 0 ? n : failure(n, 'write');
  }

  /** Scatter read into several buffers, in order (at most 1024). */
  readv(buffers: readonly Uint8Array[]): number | WouldBlock {
    const n = native.readv(this.liveFd(), buffers);
    return n >= 0 ? n : failure(n, 'readv');
  }

  /** Gather write from several buffers, in order (at most 1024). */
  writev(buffers: readonly Uint8Array[]): number | WouldBlock {
    const n = native.writev(this.liveFd(), buffers);
    return n >= 0 ? n : failure(n, 'writev');
  }

  /** Reads without consuming: the next read returns the same bytes. */
  peek(buf: Uint8Array, offset = 0, length = buf.length - offset): number | WouldBlock {
    const n = native.peek(this.liveFd(), buf, offset, length);
    return n >= 0 ? n : failure(n, 'recv');
  }

  /**
   * Shuts down one or both halves. After `'write'` the peer reads EOF; the
   * socket stays open for reading until {@link close}.
   */
  shutdown(how: ShutdownHow = 'write'): void {
    const value = SHUTDOWN[how];
    if (value === undefined) throw new TypeError(`how must be 'read', 'write' or 'both', got ${String(how)}`);
    check(native.shutdown(this.liveFd(), value), 'shutdown');
  }

  /** The address of the connected peer. */
  peerAddress(): InetAddress | UnixAddress {
    return this.connectedPeer();
  }
}
