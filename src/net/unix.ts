/**
 * Unix-domain sockets: stream listeners and connections, and datagrams.
 * Paths are filesystem names; on Linux a name starting with NUL (`'\0x'`)
 * or `{ path, abstract: true }` is an abstract name with no file.
 *
 * @packageDocumentation
 */
import { SysError, check } from '../errors';
import { native } from '../native';
import { encodeUnix, type UnixAddress, type UnixAddressLike } from './address';
import { DatagramSocket } from './datagram';
import { ListenerSocket } from './listener';
import { closeAndThrow, openSocket } from './socket';
import { StreamSocket } from './stream';

const C = native.constants;

function bound(type: number, addr: UnixAddressLike): number {
  const { slot, display } = encodeUnix(addr);
  const fd = openSocket(C.AF_UNIX, type);
  const r = native.bind(fd, slot);
  if (r < 0) closeAndThrow(fd, new SysError(r, 'bind', display));
  return fd;
}

function pair(type: number): [number, number] {
  const out = new Int32Array(2);
  check(native.socketpair(C.AF_UNIX, type, out), 'socketpair');
  return [out[0], out[1]];
}

/**
 * A Unix stream listener. Closing it does not remove the socket file;
 * unlink it yourself (binding an existing path fails with EADDRINUSE).
 */
export class UnixListener extends ListenerSocket<UnixStream> {
  /** Binds and listens at `addr`. */
  static override bind(addr: UnixAddressLike, backlog = 1024): UnixListener {
    if (!Number.isInteger(backlog) || backlog < 0) throw new RangeError('backlog must be a non-negative integer');
    const fd = bound(C.SOCK_STREAM, addr);
    const r = native.listen(fd, backlog);
    if (r < 0) closeAndThrow(fd, new SysError(r, 'listen'));
    return new UnixListener(fd);
  }

  /** The bound path. */
  override localAddress(): UnixAddress {
    return super.localAddress() as UnixAddress;
  }

  protected override wrap(fd: number): UnixStream {
    return UnixStream.fromFd(fd);
  }
}

/** A Unix stream connection. */
export class UnixStream extends StreamSocket {
  /**
   * Connects to `addr`. Unix connects usually complete at once; if the
   * listener's queue is full it fails with EAGAIN, as the kernel says.
   */
  static connect(addr: UnixAddressLike): UnixStream {
    const { slot, display } = encodeUnix(addr, 'connect');
    const fd = openSocket(C.AF_UNIX, C.SOCK_STREAM);
    const r = native.connect(fd, slot);
    if (r < 0 && r !== -C.EINPROGRESS) closeAndThrow(fd, new SysError(r, 'connect', display));
    return new UnixStream(fd);
  }

  /** Two connected streams (socketpair). */
  static pair(): [UnixStream, UnixStream] {
    const [a, b] = pair(C.SOCK_STREAM);
    return [new UnixStream(a), new UnixStream(b)];
  }

  /** Takes ownership of an fd that is a connected Unix stream socket. */
  static fromFd(fd: number): UnixStream {
    return new UnixStream(fd);
  }

  /** The local address (often unnamed: path `''`). */
  override localAddress(): UnixAddress {
    return super.localAddress() as UnixAddress;
  }

  /** The peer's address. */
  override peerAddress(): UnixAddress {
    return super.peerAddress() as UnixAddress;
  }
}

/** A Unix datagram socket. */
export class UnixDatagram extends DatagramSocket<UnixAddress> {
  /** Binds to `addr`. */
  static override bind(addr: UnixAddressLike): UnixDatagram {
    return new UnixDatagram(bound(C.SOCK_DGRAM, addr));
  }

  /** An unbound socket, for sending with sendTo or after connect. */
  static unbound(): UnixDatagram {
    return new UnixDatagram(openSocket(C.AF_UNIX, C.SOCK_DGRAM));
  }

  /** Two connected datagram sockets (socketpair). */
  static pair(): [UnixDatagram, UnixDatagram] {
    const [a, b] = pair(C.SOCK_DGRAM);
    return [new UnixDatagram(a), new UnixDatagram(b)];
  }

  /** The bound address. */
  override localAddress(): UnixAddress {
    return super.localAddress() as UnixAddress;
  }

  /** Sends one datagram to `addr`. */
  override sendTo(buf: Uint8Array, addr: UnixAddressLike, offset?: number, length?: number): number {
    return super.sendTo(buf, addr, offset, length);
  }

  /** Sets the default peer. */
  override connect(addr: UnixAddressLike): void {
    super.connect(addr);
  }

  protected override encode(addr: unknown, syscall: string): Uint8Array {
    return encodeUnix(addr as UnixAddressLike, syscall).slot;
  }
}
