/**
 * Listening sockets (TCP and Unix): accept without blocking.
 *
 * @packageDocumentation
 */
import { closedError, failure, WOULD_BLOCK, type WouldBlock } from '../errors';
import { native } from '../native';
import { Socket } from './socket';

const ECONNABORTED = native.constants.ECONNABORTED;

/**
 * A listening socket. Register it for `Interest.READABLE`; on each event,
 * accept until WOULD_BLOCK.
 */
export abstract class ListenerSocket<S> extends Socket {
  /** Wraps an accepted fd in this listener's stream type. */
  protected abstract wrap(fd: number): S;

  /**
   * Accepts one pending connection as a raw fd (non-blocking,
   * close-on-exec), allocating nothing: for event loops that keep their own
   * connection objects.
   *
   * A connection that was reset while still queued (ECONNABORTED) is
   * skipped. EMFILE/ENFILE throw; the caller decides how to back off.
   *
   * @returns the new fd, or WOULD_BLOCK when the queue is empty
   */
  acceptFd(): number | WouldBlock {
    return this.acceptInto(undefined);
  }

  /** {@link acceptFd}, with the peer's address written into `peerSlot` when given. */
  protected acceptInto(peerSlot: Uint8Array | undefined): number | WouldBlock {
    const fd = this.fd;
    if (fd < 0) throw closedError('listener');
    for (;;) {
      const c = native.accept(fd, peerSlot);
      if (c >= 0) return c;
      if (c === -ECONNABORTED) continue;
      return failure(c, 'accept');
    }
  }

  /**
   * Wraps a connection this listener's socket accepted some other way (the
   * io_uring backend accepts in the ring) in its stream type.
   *
   * @internal
   */
  wrapAccepted(fd: number): S {
    return this.wrap(fd);
  }

  /**
   * Accepts one pending connection.
   *
   * @returns the stream, or WOULD_BLOCK when the queue is empty
   */
  accept(): S | WouldBlock {
    const c = this.acceptFd();
    return c === WOULD_BLOCK ? WOULD_BLOCK : this.wrap(c);
  }
}
