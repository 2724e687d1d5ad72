/**
 * TCP: listeners and streams.
 *
 * @packageDocumentation
 */
import { SysError } from '../errors';
import { native } from '../native';
import { encodeInet, type InetAddress, type InetAddressLike } from './address';
import { adoptInherited } from './inherit';
import { ListenerSocket } from './listener';
import { closeAndThrow, openSocket, setReuse } from './socket';
import { StreamSocket } from './stream';

const C = native.constants;

/** Options for {@link TcpListener.bind}. */
export interface TcpListenerOptions {
  /** SO_REUSEADDR, so a restarted server can rebind at once. Default true. */
  reuseAddress?: boolean;
  /** SO_REUSEPORT, so several listeners (e.g. worker threads) share a port. Default false. */
  reusePort?: boolean;
  /** Listen queue length. Default 1024. */
  backlog?: number;
  /** IPv6 only (no v4-mapped peers) for an IPv6 address. Default: the system's. */
  ipv6Only?: boolean;
}

/**
 * A TCP listening socket.
 *
 * @example
 * ```ts
 * const listener = TcpListener.bind('127.0.0.1:0');
 * console.log(listener.localAddress().port);
 * ```
 */
export class TcpListener extends ListenerSocket<TcpStream> {
  /**
   * Binds and listens on `addr` (port 0 picks a free port).
   *
   * @throws SysError EADDRINUSE, EACCES (ports below 1024 without privilege), ...
   */
  static override bind(addr: InetAddressLike, options: TcpListenerOptions = {}): TcpListener {
    const { slot, host, port, family } = encodeInet(addr);
    const backlog = options.backlog ?? 1024;
    if (!Number.isInteger(backlog) || backlog < 0) throw new RangeError('backlog must be a non-negative integer');
    const fd = openSocket(family, C.SOCK_STREAM);
    try {
      setReuse(fd, options.reuseAddress !== false, options.reusePort === true);
      if (options.ipv6Only !== undefined && family === C.AF_INET6) {
        const r = native.setSockOptInt(fd, C.IPPROTO_IPV6, C.IPV6_V6ONLY, options.ipv6Only ? 1 : 0);
        if (r < 0) throw new SysError(r, 'setsockopt IPV6_V6ONLY');
      }
      let r = native.bind(fd, slot);
      if (r < 0) throw new SysError(r, 'bind', host, port);
      r = native.listen(fd, backlog);
      if (r < 0) throw new SysError(r, 'listen', host, port);
    } catch (err) {
      closeAndThrow(fd, err);
    }
    return new TcpListener(fd);
  }

  /** Takes ownership of an fd that is already a listening TCP socket. */
  static fromFd(fd: number): TcpListener {
    return new TcpListener(fd);
  }

  /**
   * Takes over a listening TCP socket this process inherited (systemd
   * socket activation passes them from fd 3 on): checks that the fd is
   * one, then makes it non-blocking and close-on-exec.
   *
   * @throws an Error with code `ERR_INHERITED_SOCKET` when the fd is not
   *   open, not a socket, not TCP over IPv4 or IPv6, or not listening
   */
  static adopt(fd: number): TcpListener {
    adoptInherited(fd, { type: C.SOCK_STREAM, listening: true, families: [C.AF_INET, C.AF_INET6] });
    return new TcpListener(fd);
  }

  /** The bound address (with the port the kernel picked for port 0). */
  override localAddress(): InetAddress {
    return super.localAddress() as InetAddress;
  }

  protected override wrap(fd: number): TcpStream {
    return TcpStream.fromFd(fd);
  }
}

/**
 * A TCP connection.
 *
 * @example
 * ```ts
 * const stream = TcpStream.connect('127.0.0.1:8080');
 * poll.register(stream, 1, Interest.WRITABLE);
 * // on the writable event:
 * const err = stream.takeError();
 * if (err) throw err; // e.g. ECONNREFUSED
 * ```
 */
export class TcpStream extends StreamSocket {
  /**
   * Starts a non-blocking connect and returns at once. The connection is
   * complete when the stream turns writable; then {@link takeError} is null
   * on success or holds the failure (ECONNREFUSED, ETIMEDOUT, ...).
   *
   * @throws SysError when the connect fails at once (e.g. EADDRNOTAVAIL)
   */
  static connect(addr: InetAddressLike): TcpStream {
    const { slot, host, port, family } = encodeInet(addr);
    const fd = openSocket(family, C.SOCK_STREAM);
    const r = native.connect(fd, slot);
    if (r < 0 && r !== -C.EINPROGRESS) closeAndThrow(fd, new SysError(r, 'connect', host, port));
    return new TcpStream(fd);
  }

  /** Takes ownership of an fd that is a connected TCP socket. */
  static fromFd(fd: number): TcpStream {
    return new TcpStream(fd);
  }

  /**
   * Takes over a TCP connection this process inherited (inetd passes it as
   * fd 0): checks that the fd is one, then makes it non-blocking and
   * close-on-exec.
   *
   * @throws an Error with code `ERR_INHERITED_SOCKET` when the fd is not
   *   open, not a socket, not TCP over IPv4 or IPv6, listening, or not
   *   connected
   */
  static adopt(fd: number): TcpStream {
    adoptInherited(fd, { type: C.SOCK_STREAM, listening: false, families: [C.AF_INET, C.AF_INET6] });
    return new TcpStream(fd);
  }

  /** TCP_NODELAY: send small writes at once instead of coalescing (Nagle). */
  setNoDelay(noDelay = true): void {
    this.setIntOption(C.IPPROTO_TCP, C.TCP_NODELAY, noDelay ? 1 : 0, 'TCP_NODELAY');
  }

  /** Whether TCP_NODELAY is set. */
  noDelay(): boolean {
    return this.getIntOption(C.IPPROTO_TCP, C.TCP_NODELAY, 'TCP_NODELAY') !== 0;
  }

  /**
   * SO_KEEPALIVE, and optionally the idle time before the first probe.
   *
   * @param enable - turn keep-alive probes on or off
   * @param initialDelaySeconds - idle seconds before probing (TCP_KEEPIDLE)
   */
  setKeepAlive(enable = true, initialDelaySeconds?: number): void {
    if (initialDelaySeconds !== undefined && (!Number.isInteger(initialDelaySeconds) || initialDelaySeconds < 1)) {
      throw new RangeError('initialDelaySeconds must be a positive integer');
    }
    this.setIntOption(C.SOL_SOCKET, C.SO_KEEPALIVE, enable ? 1 : 0, 'SO_KEEPALIVE');
    if (enable && initialDelaySeconds !== undefined) {
      if (C.TCP_KEEPIDLE !== undefined) {
        this.setIntOption(C.IPPROTO_TCP, C.TCP_KEEPIDLE, initialDelaySeconds, 'TCP_KEEPIDLE');
      }
    }
  }

  /** Whether SO_KEEPALIVE is set. */
  keepAlive(): boolean {
    return this.getIntOption(C.SOL_SOCKET, C.SO_KEEPALIVE, 'SO_KEEPALIVE') !== 0;
  }

  /** The local address. */
  override localAddress(): InetAddress {
    return super.localAddress() as InetAddress;
  }

  /** The peer's address. */
  override peerAddress(): InetAddress {
    return super.peerAddress() as InetAddress;
  }
}
