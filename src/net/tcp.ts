/**
 * TCP: listeners and streams.
 *
 * @packageDocumentation
 */
import { SysError, WOULD_BLOCK, type WouldBlock } from '../errors';
import { native } from '../native';
import { decodeSlot, encodeInet, scratchSlot, type InetAddress, type InetAddressLike } from './address';
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

  /**
   * The address every accepted connection has as its local one: the bound
   * address when it is a specific one, null for a wildcard (each
   * connection's own then depends on the interface it came in on).
   * Settled at the first accept by asking the kernel for that
   * connection's, so no spelling of "any address" needs to be known here.
   */
  private acceptedLocal: InetAddress | null | undefined;

  /**
   * Accepts one pending connection. Its peer's address comes with the
   * accept, and its local address from the listener when it is bound to a
   * specific one, so neither costs a syscall later.
   *
   * @returns the stream, or WOULD_BLOCK when the queue is empty
   */
  override accept(): TcpStream | WouldBlock {
    const slot = scratchSlot();
    const fd = this.acceptInto(slot);
    if (fd === WOULD_BLOCK) return WOULD_BLOCK;
    const stream = TcpStream.fromFd(fd);
    // Decoded first: the listener's own getsockname below reuses the slot.
    const peer = decodeSlot(slot) as InetAddress;
    if (this.acceptedLocal === undefined) {
      const bound = this.localAddress();
      const first = stream.localAddress();
      this.acceptedLocal = first.address === bound.address && first.port === bound.port ? bound : null;
    }
    stream.knowAddresses(this.acceptedLocal, peer);
    return stream;
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

  /** Addresses learnt at accept, or null to ask the kernel. */
  private knownLocal: InetAddress | null = null;
  private knownPeer: InetAddress | null = null;

  /** @internal Records the addresses a listener learnt while accepting. */
  knowAddresses(local: InetAddress | null, peer: InetAddress): void {
    this.knownLocal = local;
    this.knownPeer = peer;
  }

  /** The local address. */
  override localAddress(): InetAddress {
    const known = this.knownLocal;
    return known === null || this.fd < 0 ? (super.localAddress() as InetAddress) : copyInet(known);
  }

  /** The peer's address. */
  override peerAddress(): InetAddress {
    const known = this.knownPeer;
    return known === null || this.fd < 0 ? (super.peerAddress() as InetAddress) : copyInet(known);
  }
}

/** A copy the caller may change without changing the stream's record. */
function copyInet(a: InetAddress): InetAddress {
  return { family: a.family, address: a.address, port: a.port };
}
