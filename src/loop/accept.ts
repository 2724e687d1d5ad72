/**
 * Listeners: accepting until would-block, per-listener limits, and the
 * backoff after EMFILE/ENFILE.
 *
 * @packageDocumentation
 */
import type { Connection } from '../connection';
import { SysError, WOULD_BLOCK } from '../errors';
import { Interest } from '../interest';
import type { StreamSocket } from '../net/stream';
import { TcpListener, type TcpStream } from '../net/tcp';
import type { UnixListener } from '../net/unix';
import { fdOf } from '../source';
import type { LoopCore } from './core';
import { native } from '../native';
import { REC_ERROR } from './pump';
import { MAX_REGISTRATIONS } from './registry';
import type { HandlerFactory, ListenOptions, LoopListener } from './types';

/** Slab entry kind of a listener. @internal */
export const KIND_LISTENER = 1;

const { ECONNABORTED, EINTR, EMFILE, ENFILE } = native.constants;

/** Accept backoff after EMFILE/ENFILE, first and longest pause. */
const ACCEPT_BACKOFF_MIN_MS = 10;
const ACCEPT_BACKOFF_MAX_MS = 1000;

/** A listener as the registry holds it. @internal */
export interface ListenerEntry extends LoopListener {
  readonly kind: typeof KIND_LISTENER;
  readonly token: number;
  readonly factory: HandlerFactory;
  readonly options: ListenOptions;
  open: number;
  backoffMs: number;
  paused: boolean;
}

/** Checks listen() options before anything is bound. @internal */
export function checkListenOptions(options: ListenOptions): void {
  const max = options.maxConnections;
  if (max !== undefined && (!Number.isInteger(max) || max < 0)) {
    throw new RangeError('maxConnections must be a non-negative integer');
  }
  const idle = options.idleTimeoutMs;
  if (idle !== undefined && (typeof idle !== 'number' || !(idle > 0) || idle > 0x7fffffff)) {
    throw new RangeError('idleTimeoutMs must be a positive number of milliseconds');
  }
}

/** Registers `socket` as a listener of `core`. @internal */
export function addListener(
  core: LoopCore,
  socket: TcpListener | UnixListener,
  factory: HandlerFactory,
  options: ListenOptions,
): LoopListener {
  const entry: ListenerEntry = {
    kind: KIND_LISTENER,
    token: core.registry.nextToken(),
    socket,
    factory,
    options,
    open: 0,
    backoffMs: 0,
    paused: false,
    get connections(): number {
      return entry.open;
    },
    close(): void {
      core.registry.remove(entry);
      // The ring's accept lets go of the socket first, so the port is free at once.
      if (core.pump.ring && core.poll.isOpen) core.pump.removeToken(entry.token);
      socket.close();
    },
  };
  fdOf(socket); // a closed listener: ERR_SOCKET_CLOSED, as Poll.register says
  core.registry.insert(entry);
  try {
    if (core.pump.ring) core.pump.addListener(entry.token, fdOf(socket));
    else core.interest.change(socket, entry.token, 0, Interest.READABLE);
  } catch (err) {
    core.registry.remove(entry);
    throw err;
  }
  return entry;
}

/** Accepts until WOULD_BLOCK, giving each connection its handler. @internal */
export function acceptAll(core: LoopCore, entry: ListenerEntry): void {
  for (;;) {
    let stream: StreamSocket | typeof WOULD_BLOCK;
    try {
      stream = entry.socket.accept() as StreamSocket | typeof WOULD_BLOCK;
    } catch (err) {
      // Out of fds: back off quietly and retry. Anything else the kernel
      // says (ENOBUFS, ENOMEM, EPERM from a firewall, EINVAL from a listener
      // shut down under the loop) backs off the same way and is reported:
      // thrown out of the turn it would end run() and every connection's
      // service with it. The ring's accept does the same (acceptRecord).
      if (!(err instanceof SysError)) throw err;
      pauseAccepting(core, entry);
      if (err.code !== 'EMFILE' && err.code !== 'ENFILE') core.reportHandlerError(err);
      return;
    }
    if (stream === WOULD_BLOCK) break;
    takeConnection(core, entry, stream);
  }
}

/**
 * One record of a listener's accept in the io_uring ring: a new
 * connection (`fd`), or the error that ended the accept. A connection
 * reset while queued re-arms at once; anything else pauses accepting with
 * the EMFILE backoff, and an error other than EMFILE/ENFILE goes to the
 * loop's handler-error report too (on epoll, accept() throws it).
 *
 * @internal
 */
export function acceptRecord(core: LoopCore, entry: ListenerEntry, flags: number, fd: number, errno: number): void {
  if ((flags & REC_ERROR) === 0) {
    takeConnection(core, entry, entry.socket.wrapAccepted(fd) as StreamSocket);
    return;
  }
  if (errno === ECONNABORTED || errno === EINTR) {
    core.pump.setAccepting(entry.token, true);
    return;
  }
  pauseAccepting(core, entry);
  if (errno !== EMFILE && errno !== ENFILE) core.reportHandlerError(new SysError(-errno, 'accept'));
}

/** Gives an accepted stream its Connection and handler, or closes it over the limits. */
function takeConnection(core: LoopCore, entry: ListenerEntry, stream: StreamSocket): void {
  entry.backoffMs = 0;
  if (entry.open >= (entry.options.maxConnections ?? Infinity) || core.registry.size >= MAX_REGISTRATIONS) {
    stream.close();
    return;
  }
  if (entry.options.noDelay !== false && entry.socket instanceof TcpListener) (stream as TcpStream).setNoDelay(true);
  const idleMs = entry.options.idleTimeoutMs;
  let conn: Connection | null = null;
  try {
    conn = core.addConnection(stream, {}, entry);
    conn.handler = entry.factory(conn);
    if (idleMs !== undefined) conn.watchIdle(idleMs);
    conn.open();
  } catch (err) {
    if (conn !== null) conn.fail(err);
    else stream.close();
  }
}

/**
 * Out of fds: stop watching the listener for a while rather than spin on a
 * readiness the loop cannot act on; the pause doubles while it repeats.
 */
function pauseAccepting(core: LoopCore, entry: ListenerEntry): void {
  if (entry.paused) return;
  entry.paused = true;
  entry.backoffMs = Math.min(ACCEPT_BACKOFF_MAX_MS, Math.max(ACCEPT_BACKOFF_MIN_MS, entry.backoffMs * 2));
  watchListener(core, entry, false);
  core.timers.add(
    () => {
      if (!core.registry.holds(entry)) return; // closed meanwhile
      entry.paused = false;
      watchListener(core, entry, true);
    },
    entry.backoffMs,
    0,
  );
}

/** Starts or stops accepting: the ring's accept on io_uring, readiness otherwise. */
function watchListener(core: LoopCore, entry: ListenerEntry, on: boolean): void {
  if (core.pump.ring) core.pump.setAccepting(entry.token, on);
  else core.interest.change(entry.socket, entry.token, on ? 0 : Interest.READABLE, on ? Interest.READABLE : 0);
}
