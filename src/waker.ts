/**
 * Waker: makes a blocked poll return, from any thread.
 *
 * @packageDocumentation
 */
import { SysError, check, codedError } from './errors';
import { checkToken } from './interest';
import { native } from './native';
import type { Poll } from './poll';

/**
 * A structured-clonable reference to a {@link Waker}, for `postMessage` to a
 * worker thread. Turn it back into something with `wake()` with
 * {@link Waker.fromHandle}.
 */
export interface WakerHandle {
  /** The descriptor to signal (an eventfd on Linux, the kqueue on BSD). */
  readonly fd: number;
  /**
   * Shared state: [0] becomes 1 when the Waker or its Poll is closed (by
   * any path, worker exit included); [1] counts wakes in progress, which the
   * closing side waits for before it closes the descriptor.
   */
  readonly state: SharedArrayBuffer;
}

/** Something that can wake a Poll: a {@link Waker} or a {@link RemoteWaker}. */
export interface Wakeable {
  /** Makes the Poll's current or next poll return the waker's token. */
  wake(): void;
}

function wakeFd(fd: number, state: Int32Array): void {
  // The native call checks the shared closed flag and signals as one step
  // that the closing side waits for (see native/sys_waker.cc, Wake).
  const r = native.wake(fd, state);
  if (r === 0) return;
  if (Atomics.load(state, 0) !== 0) {
    throw codedError(TypeError, 'ERR_WAKER_CLOSED', 'waker is closed');
  }
  throw new SysError(r, 'wake');
}

/**
 * Wakes a {@link Poll} from this or another thread.
 *
 * `wake()` makes a poll that is blocked now, or the next one, return an event
 * with this waker's token that is readable. Several wakes before a poll
 * coalesce into one event, and a poll after that with no new wake returns
 * nothing for the waker. One Waker per Poll; creating a second throws.
 *
 * Backends: an eventfd on Linux, EVFILT_USER on kqueue.
 *
 * @example
 * ```ts
 * const waker = new Waker(poll, 99);
 * worker.postMessage(waker.handle());
 * // in the worker: Waker.fromHandle(handle).wake();
 * ```
 */
export class Waker implements Wakeable {
  /** The token the waker's events carry. */
  readonly token: number;
  private readonly fd: number;
  private readonly state: Int32Array;
  private readonly poll: Poll;

  /**
   * @param poll - the Poll to wake
   * @param token - the token its events carry (0 .. 2^32-1)
   * @throws SysError EEXIST when the Poll already has a Waker
   */
  constructor(poll: Poll, token: number) {
    this.token = checkToken(token);
    this.poll = poll;
    this.state = new Int32Array(new SharedArrayBuffer(8));
    this.fd = check(poll.native.addWaker(this.token, this.state), 'waker');
  }

  /** Wakes the Poll. Throws once the Waker or its Poll is closed. */
  wake(): void {
    wakeFd(this.fd, this.state);
  }

  /** A handle to post to a worker; see {@link Waker.fromHandle}. */
  handle(): WakerHandle {
    return { fd: this.fd, state: this.state.buffer as SharedArrayBuffer };
  }

  /**
   * Rebuilds a waker from a handle posted from another thread.
   *
   * Closing the Waker or its Poll, by any path (including the exit of the
   * worker that owns them), sets the shared flag, after which the remote
   * `wake()` throws instead of signalling a descriptor that may have been
   * reused; a wake racing with the close finishes before the descriptor
   * is closed.
   */
  static fromHandle(handle: WakerHandle): RemoteWaker {
    return new RemoteWaker(handle);
  }

  /** True until {@link close} (or the Poll's close). */
  get isOpen(): boolean {
    return Atomics.load(this.state, 0) === 0;
  }

  /** Releases the waker; the Poll may get a new one afterwards. */
  close(): void {
    if (Atomics.load(this.state, 0) !== 0) return;
    // The native side sets the shared flag and waits out racing wakes.
    if (this.poll.isOpen) this.poll.native.removeWaker();
  }
}

/** A Waker's other end, in another thread. */
export class RemoteWaker implements Wakeable {
  private readonly fd: number;
  private readonly state: Int32Array;

  /** @param handle - from {@link Waker.handle} */
  constructor(handle: WakerHandle) {
    if (
      typeof handle !== 'object' ||
      handle === null ||
      !Number.isInteger(handle.fd) ||
      handle.fd < 0 ||
      !(handle.state instanceof SharedArrayBuffer) ||
      handle.state.byteLength < 8
    ) {
      throw new TypeError('not a WakerHandle');
    }
    this.fd = handle.fd;
    this.state = new Int32Array(handle.state, 0, 2);
  }

  /** Wakes the Poll. Throws once the Waker or its Poll is closed. */
  wake(): void {
    wakeFd(this.fd, this.state);
  }
}
