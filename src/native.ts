/**
 * The one place that loads the compiled addon.
 *
 * node-gyp-build looks for a prebuild matching this platform and ABI under
 * prebuilds/, then for build/Release, so the same line works from a source
 * checkout and from an installed package.
 *
 * The environment variable `EDGELOOP_PREBUILD=<dir>` (node-gyp-build's own
 * override, named after the package) makes it look in `<dir>` instead of
 * the package folder, that is at `<dir>/build/Release/edgeloop.node` first.
 * `npm run test:kqueue` (build/kqueue) and `npm run test:sanitize`
 * (build/sanitize, the ASan/UBSan build) point it at their own builds;
 * worker threads and child processes inherit it, so every addon instance
 * of a test run is the same build.
 *
 * @packageDocumentation
 * @internal
 */
import * as path from 'node:path';

/** The native Poll object (native/poll.cc). All results are counts or -errno. */
export interface NativePoll {
  register(fd: number, token: number, interest: number, opts: number): number;
  reregister(fd: number, token: number, interest: number, opts: number): number;
  deregister(fd: number): number;
  wait(events: Uint32Array, timeoutMs: number): number;
  addWaker(token: number, state: Int32Array): number;
  removeWaker(): number;
  fd(): number;
  close(): void;
  attach(onReady: (status: number) => void, resource: object): number;
  detach(): void;
  ref(): void;
  unref(): void;
}

/**
 * The native Pump (native/pump.cc): the EventLoop's connection table and its
 * one call per turn. Results are record counts or -errno.
 */
export interface NativePump {
  add(token: number, fd: number, interest: number, autoRead: boolean): number;
  modify(token: number, interest: number, autoRead: boolean): number;
  remove(token: number): number;
  turn(timeoutMs: number, writeCount: number): number;
  flush(writeCount: number, recordStart: number): number;
  /** io_uring only: a listener added with no interest accepts through the ring while `on`. */
  accept(token: number, on: boolean): number;
  /** io_uring only: puts the ring's fd in the selector while uv_poll watches it. */
  setAttached(on: boolean): number;
  /** Ends the ring, if any (the selector is the Poll's to close). */
  close(): void;
  /** `'epoll'`, `'kqueue'` or `'io_uring (<setup mode>)'`. */
  backend(): string;
}

/** The constants native/sys_constants.cc exports, read from the platform's headers. */
export interface NativeConstants {
  SLOT_SIZE: number;
  /** Bytes before the sockaddr in an address slot (its length word). */
  SLOT_HEADER: number;
  AF_INET: number;
  AF_INET6: number;
  AF_UNIX: number;
  SOCK_STREAM: number;
  SOCK_DGRAM: number;
  SHUT_RD: number;
  SHUT_WR: number;
  SHUT_RDWR: number;
  SOL_SOCKET: number;
  IPPROTO_TCP: number;
  IPPROTO_IPV6: number;
  SO_REUSEADDR: number;
  SO_REUSEPORT?: number;
  SO_KEEPALIVE: number;
  SO_ERROR: number;
  SO_RCVBUF: number;
  SO_SNDBUF: number;
  SO_BROADCAST: number;
  TCP_NODELAY: number;
  TCP_KEEPIDLE?: number;
  IPV6_V6ONLY: number;
  EAGAIN: number;
  EWOULDBLOCK: number;
  EINPROGRESS: number;
  EINTR: number;
  ECONNABORTED: number;
  EMFILE: number;
  ENFILE: number;
  ENOBUFS: number;
}

/** A decoded address slot (see native/sys_address.cc). */
export type NativeAddress =
  | { family: 'IPv4'; address: string; port: number }
  | { family: 'IPv6'; address: string; port: number; flowinfo: number; scopeid: number }
  | { family: 'unix'; path: Buffer; abstract: boolean };

/** The addon's exports. */
export interface Native {
  Poll: new () => NativePoll;
  /**
   * The loop's pump (src/loop/pump.ts makes it). `writes` and `records`
   * must be over an ArrayBuffer, and with `ringBufferSize` (the io_uring
   * backend) `readArena` over a SharedArrayBuffer, which cannot be
   * detached while the kernel writes into it.
   */
  Pump: new (
    poll: NativePoll,
    readArena: Uint8Array,
    writeArena: Uint8Array,
    writes: Uint32Array,
    records: Uint32Array,
    keyBits: number,
    readBudget: number,
    eventsCapacity: number,
    ringBufferSize?: number,
  ) => NativePump;
  probeIoUring(): string;
  backend: 'epoll' | 'kqueue';
  constants: NativeConstants;
  socket(domain: number, type: number, protocol: number): number;
  socketpair(domain: number, type: number, out: Int32Array): number;
  bind(fd: number, slot: Uint8Array): number;
  connect(fd: number, slot: Uint8Array): number;
  listen(fd: number, backlog: number): number;
  accept(fd: number, peerSlot?: Uint8Array): number;
  read(fd: number, buf: Uint8Array, offset: number, length: number): number;
  write(fd: number, buf: Uint8Array, offset: number, length: number): number;
  peek(fd: number, buf: Uint8Array, offset: number, length: number): number;
  readv(fd: number, bufs: readonly Uint8Array[]): number;
  writev(fd: number, bufs: readonly Uint8Array[]): number;
  /**
   * Bytes read, or -errno. The sender goes into `slot`; a Unix sender that
   * is not bound comes out as an unnamed Unix address, and a socket that
   * names no sender at all (a connected TCP stream) leaves the slot empty,
   * which {@link Native.decodeAddress} returns as null.
   */
  recvFrom(fd: number, buf: Uint8Array, offset: number, length: number, slot: Uint8Array): number;
  sendTo(fd: number, buf: Uint8Array, offset: number, length: number, slot: Uint8Array): number;
  shutdown(fd: number, how: number): number;
  close(fd: number): number;
  setSockOptInt(fd: number, level: number, name: number, value: number): number;
  getSockOptInt(fd: number, level: number, name: number, out: Int32Array): number;
  inspectSocket(fd: number, out: Int32Array): number;
  adoptFd(fd: number): number;
  getSockName(fd: number, slot: Uint8Array): number;
  getPeerName(fd: number, slot: Uint8Array): number;
  /**
   * 0, or -EINVAL for a host that is not a numeric IPv4 or IPv6 address in
   * full (a NUL anywhere, or a %scope that is neither decimal digits nor an
   * interface name).
   */
  encodeInet(host: string, port: number, slot: Uint8Array): number;
  encodeUnix(path: Uint8Array, abstract: boolean, slot: Uint8Array): number;
  /** The slot's address; null when it holds none (length 0) or one of another family. */
  decodeAddress(slot: Uint8Array): NativeAddress | null;
  wake(fd: number, state: Int32Array): number;
  uvBackendFd(): number;
  diagOpen(rcvbuf?: number): number;
  diagQuery(fd: number, seq: number, local: Uint8Array, peer: Uint8Array): number;
  diagReceive(fd: number, out: Uint32Array): number;
  getpwuidName(uid: number): string | null | number;
  getpwuidDir(uid: number): string | null | number;
  errnoName(errno: number): string;
  errnoMessage(errno: number): string;
}

// eslint-disable-next-line @typescript-eslint/no-require-imports
const load = require('node-gyp-build') as (dir: string) => unknown;

/** The loaded addon, shared by every module of the package. */
export const native = load(path.join(__dirname, '..')) as Native;
