/**
 * UDP sockets.
 *
 * @packageDocumentation
 */
import { SysError } from '../errors';
import { native } from '../native';
import { encodeInet, type InetAddress, type InetAddressLike } from './address';
import { DatagramSocket } from './datagram';
import { closeAndThrow, openSocket, setReuse } from './socket';

const C = native.constants;

/** Options for {@link UdpSocket.bind}. */
export interface UdpSocketOptions {
  /** SO_REUSEADDR. Default false. */
  reuseAddress?: boolean;
  /** SO_REUSEPORT. Default false. */
  reusePort?: boolean;
}

/**
 * A UDP socket.
 *
 * @example
 * ```ts
 * const a = UdpSocket.bind('127.0.0.1:0');
 * const b = UdpSocket.bind('127.0.0.1:0');
 * a.sendTo(Buffer.from('hi'), b.localAddress());
 * ```
 */
export class UdpSocket extends DatagramSocket<InetAddress> {
  /** Binds to `addr` (port 0 picks a free port). */
  static override bind(addr: InetAddressLike, options: UdpSocketOptions = {}): UdpSocket {
    const { slot, host, port, family } = encodeInet(addr);
    const fd = openSocket(family, C.SOCK_DGRAM);
    try {
      setReuse(fd, options.reuseAddress === true, options.reusePort === true);
      const r = native.bind(fd, slot);
      if (r < 0) throw new SysError(r, 'bind', host, port);
    } catch (err) {
      closeAndThrow(fd, err);
    }
    return new UdpSocket(fd);
  }

  /** Takes ownership of an fd that is a UDP socket. */
  static fromFd(fd: number): UdpSocket {
    return new UdpSocket(fd);
  }

  /** SO_BROADCAST. */
  setBroadcast(on = true): void {
    this.setIntOption(C.SOL_SOCKET, C.SO_BROADCAST, on ? 1 : 0, 'SO_BROADCAST');
  }

  /** The bound address. */
  override localAddress(): InetAddress {
    return super.localAddress() as InetAddress;
  }

  /** Sends one datagram to `addr`. */
  override sendTo(buf: Uint8Array, addr: InetAddressLike, offset?: number, length?: number): number {
    return super.sendTo(buf, addr, offset, length);
  }

  /** Sets the default peer. */
  override connect(addr: InetAddressLike): void {
    super.connect(addr);
  }

  protected override encode(addr: unknown, _syscall: string): Uint8Array {
    return encodeInet(addr as InetAddressLike).slot;
  }
}
