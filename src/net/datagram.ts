/**
 * Datagram sockets (UDP and Unix datagram): the calls both share.
 *
 * @packageDocumentation
 */
import { check, closedError, failure, type WouldBlock } from '../errors';
import { native } from '../native';
import { decodeSlot, newSlot, type InetAddress, type UnixAddress } from './address';
import { Socket } from './socket';

/** What {@link DatagramSocket.recvFrom} returns for one datagram. */
export interface Received<A> {
  /** Bytes copied into the buffer (a longer datagram is truncated). */
  readonly bytes: number;
  /** The sender. */
  readonly address: A;
}

/**
 * A datagram socket. `send`/`recv` need a connected peer; `sendTo`/`recvFrom`
 * name it per datagram. A zero-length datagram reads as 0, which here is not
 * EOF. Each call returns {@link WOULD_BLOCK} instead of blocking.
 */
export abstract class DatagramSocket<A extends InetAddress | UnixAddress> extends Socket {
  private readonly recvSlot = newSlot();

  /** Encodes an address the way this socket's family needs. */
  protected abstract encode(addr: unknown, syscall: string): Uint8Array;

  /** Sends one datagram to the connected peer. */
  send(buf: Uint8Array, offset = 0, length = buf.length - offset): number | WouldBlock {
    const fd = this.fd;
    if (fd < 0) throw closedError('socket');
    const n = native.write(fd, buf, offset, length);
    return n >= 0 ? n : failure(n, 'send');
  }

  /** Receives one datagram from the connected peer. */
  recv(buf: Uint8Array, offset = 0, length = buf.length - offset): number | WouldBlock {
    const fd = this.fd;
    if (fd < 0) throw closedError('socket');
    const n = native.read(fd, buf, offset, length);
    return n >= 0 ? n : failure(n, 'recv');
  }

  /** Sends one datagram to `addr`. */
  sendTo(buf: Uint8Array, addr: unknown, offset = 0, length = buf.length - offset): number | WouldBlock {
    const fd = this.liveFd();
    const n = native.sendTo(fd, buf, offset, length, this.encode(addr, 'sendto'));
    return n >= 0 ? n : failure(n, 'sendto');
  }

  /** Receives one datagram and says who sent it. */
  recvFrom(buf: Uint8Array, offset = 0, length = buf.length - offset): Received<A> | WouldBlock {
    const fd = this.liveFd();
    const n = native.recvFrom(fd, buf, offset, length, this.recvSlot);
    if (n < 0) return failure(n, 'recvfrom');
    return { bytes: n, address: decodeSlot(this.recvSlot) as A };
  }

  /** Sets the default peer for send/recv and filters what recv sees. */
  connect(addr: unknown): void {
    check(native.connect(this.liveFd(), this.encode(addr, 'connect')), 'connect');
  }

  /** The connected peer. */
  peerAddress(): A {
    return this.connectedPeer() as A;
  }
}
