/**
 * Poll: the readiness selector (epoll on Linux, kqueue on macOS/BSD).
 *
 * @packageDocumentation
 */
import { SysError, check, codedError } from './errors';
import { Events } from './events';
import { checkInterest, checkOpts, checkToken } from './interest';
import { native, type NativePoll } from './native';
import { fdOf, isTracked, type Source, type Tracked } from './source';

/** Largest timeout the kernel takes, in milliseconds (about 24.8 days). */
const MAX_TIMEOUT_MS = 0x7fffffff;

/**
 * Converts a poll timeout to the kernel's whole milliseconds: none or -1
 * blocks, fractions round up so a short timeout never becomes a busy poll.
 *
 * @internal
 */
export function toTimeoutMs(timeoutMs: number | undefined): number {
  if (timeoutMs === undefined || timeoutMs === -1 || timeoutMs === Infinity) return -1;
  if (typeof timeoutMs !== 'number' || Number.isNaN(timeoutMs)) {
    throw new TypeError('timeoutMs must be a number');
  }
  if (timeoutMs < 0) throw new RangeError('timeoutMs must be >= 0, or -1 to block');
  return timeoutMs >= MAX_TIMEOUT_MS ? MAX_TIMEOUT_MS : Math.ceil(timeoutMs);
}

/**
 * A readiness selector: register sources under tokens, then {@link poll}
 * to learn which are ready.
 *
 * This is mio 0.6's model. Each registration carries a caller-chosen
 * `token` (an unsigned 32-bit integer), an {@link Interest} set and
 * {@link PollOpt} options (level by default, edge, oneshot).
 *
 * Spurious events: readiness is a hint. A poll may report a source that turns
 * out not to be ready (the read returns WOULD_BLOCK), and the error and
 * closed flags may be missing even when the condition holds; but a flag that
 * is set is never false. Code must treat WOULD_BLOCK as "wait again".
 *
 * Draining: with `PollOpt.EDGE`, an event means "something changed". Read or
 * write until WOULD_BLOCK before waiting again, or the source may stay silent
 * forever.
 *
 * Portability: epoll (Linux) and kqueue (macOS, FreeBSD) behave the same for
 * everything documented here. kqueue watches reading and writing as two
 * filters; the backend merges them, so a source is reported at most once
 * per poll there too. `Interest.PRIORITY` is Linux only.
 *
 * Signals: a signal that interrupts the wait (EINTR) makes {@link poll}
 * return 0 early; the caller simply polls again.
 *
 * @example
 * ```ts
 * const poll = new Poll();
 * const events = new Events(128);
 * const listener = TcpListener.bind('127.0.0.1:0');
 * poll.register(listener, 0, Interest.READABLE);
 * for (;;) {
 *   poll.poll(events);
 *   for (let i = 0; i < events.length; i++) {
 *     if (events.token(i) === 0) acceptAll(listener);
 *   }
 * }
 * ```
 */
export class Poll {
  private readonly handle: NativePoll;
  private readonly tracked = new Set<Tracked>();
  private open = true;

  constructor() {
    this.handle = new native.Poll();
    const fd = this.handle.fd();
    if (fd < 0) throw new SysError(fd, native.backend === 'epoll' ? 'epoll_create1' : 'kqueue');
  }

  /** The selector's own fd (the epoll or kqueue descriptor), -1 once closed. */
  get fd(): number {
    return this.open ? this.handle.fd() : -1;
  }

  /** False once {@link close} ran. */
  get isOpen(): boolean {
    return this.open;
  }

  /**
   * Starts watching `source`.
   *
   * @param source - an edgeloop socket, an object with `fd`, or a raw fd.
   *   Only edgeloop sockets are tracked: closing one deregisters it first.
   *   Deregister a raw fd yourself before closing it, or a duplicate of it
   *   (a forked child's) can keep delivering events under its token.
   * @param token - 0 .. 2^32-1; reported back in events. The Poll does not
   *   police tokens: two sources may share one.
   * @param interest - a non-empty {@link Interest} set
   * @param opts - {@link PollOpt} flags; LEVEL when omitted
   * @throws SysError EEXIST when the fd is already registered with this Poll
   */
  register(source: Source, token: number, interest: number, opts?: number): void {
    const fd = fdOf(source);
    const r = this.live().register(fd, checkToken(token), checkInterest(interest, native.backend === 'epoll'), checkOpts(opts));
    check(r, 'register');
    if (isTracked(source)) this.track(source);
  }

  /**
   * Replaces token, interest and options of a registered source in full.
   * A source that is ready now is reported on the next poll, in every mode;
   * this is how a ONESHOT registration is re-armed.
   *
   * @throws SysError ENOENT when the source is not registered with this Poll
   */
  reregister(source: Source, token: number, interest: number, opts?: number): void {
    const fd = fdOf(source);
    const r = this.live().reregister(fd, checkToken(token), checkInterest(interest, native.backend === 'epoll'), checkOpts(opts));
    check(r, 'reregister');
  }

  /**
   * Stops watching `source`. No later poll reports it (events already
   * returned by an earlier poll are the caller's to discard). The source
   * stays open and may be registered again.
   *
   * @throws SysError ENOENT when the source is not registered with this Poll
   */
  deregister(source: Source): void {
    const fd = fdOf(source);
    check(this.live().deregister(fd), 'deregister');
    this.untrackSource(source);
  }

  /**
   * Waits for readiness and fills `events`.
   *
   * @param events - the buffer to fill; at most `events.capacity` events are
   *   returned, the rest come on later polls
   * @param timeoutMs - omitted or -1: block until an event (even with nothing
   *   registered); 0: check and return at once; otherwise the most to wait,
   *   with fractions rounded up. An expired timeout returns 0.
   * @returns the number of events, also in `events.length`
   */
  poll(events: Events, timeoutMs?: number): number {
    const timeout = timeoutMs === undefined ? -1 : toTimeoutMs(timeoutMs);
    if (!(events instanceof Events)) throw new TypeError('events must be an Events');
    const n = this.live().wait(events.storage, timeout);
    if (n < 0) {
      events.length = 0;
      throw new SysError(n, native.backend === 'epoll' ? 'epoll_wait' : 'kevent');
    }
    events.length = n;
    return n;
  }

  /**
   * Closes the selector fd (and the Waker's, marking the Waker closed for
   * every thread). Registered sockets stay open.
   * Calling it twice is harmless.
   */
  close(): void {
    if (!this.open) return;
    this.open = false;
    for (const source of this.tracked) source.registeredIn?.delete(this);
    this.tracked.clear();
    this.handle.close();
  }

  /** @internal The native object, for Waker and the EventLoop. */
  get native(): NativePoll {
    return this.live();
  }

  /** @internal Called by a closing socket: deregister, ignoring errors. */
  deregisterFd(fd: number): void {
    if (this.open) this.handle.deregister(fd);
  }

  /**
   * @internal Records a source registered by the EventLoop's own control
   * path (which calls the native poll directly), so closing the source
   * still deregisters it first.
   */
  trackSource(source: Source): void {
    if (isTracked(source)) this.track(source);
  }

  /** @internal Undoes {@link trackSource} after a direct deregistration. */
  untrackSource(source: Source): void {
    if (isTracked(source)) {
      this.tracked.delete(source);
      source.registeredIn?.delete(this);
    }
  }

  /** @internal Called by a closing socket after it deregistered. */
  forget(source: Tracked): void {
    this.tracked.delete(source);
  }

  private track(source: Tracked): void {
    this.tracked.add(source);
    if (source.registeredIn === null) source.registeredIn = new Set();
    source.registeredIn.add(this);
  }

  private live(): NativePoll {
    if (!this.open) {
      throw codedError(TypeError, 'ERR_POLL_CLOSED', 'poll is closed');
    }
    return this.handle;
  }
}
