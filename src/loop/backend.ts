/**
 * Which engine drives a loop's connections: the readiness selector this
 * build has (epoll or kqueue), or io_uring where the kernel allows it.
 *
 * @packageDocumentation
 */
import { codedError } from '../errors';
import { native } from '../native';

/** What {@link EventLoopOptions.backend} accepts. */
export type BackendOption = 'auto' | 'epoll' | 'kqueue' | 'io_uring';
/** The backend a loop runs on: see {@link EventLoop.backend}. */
export type BackendName = 'epoll' | 'kqueue' | 'io_uring';

/** The error for an io_uring backend that cannot run here (code `ERR_IO_URING_UNAVAILABLE`). */
export interface IoUringUnavailableError extends Error {
  /** `'ERR_IO_URING_UNAVAILABLE'`. */
  code: string;
  /** What this kernel, build or sandbox lacks, for example "kernel lacks multishot recv". */
  reason: string;
}

/** A resolved choice: the backend, and why `auto` did not take io_uring (null: it did, or was not asked). */
export interface BackendChoice {
  name: BackendName;
  fallback: string | null;
}

const OPTIONS: readonly string[] = ['auto', 'epoll', 'kqueue', 'io_uring'];
let probed: string | undefined;

/**
 * Why io_uring cannot run here ('' when it can): a ring is set up, its ops
 * probed and a multishot recv tried once per process.
 */
export function ioUringUnavailableReason(): string {
  if (probed === undefined) probed = native.probeIoUring();
  return probed;
}

/** The coded error for an io_uring loop that cannot be made. @internal */
export function ioUringUnavailable(reason: string): IoUringUnavailableError {
  const err = codedError(Error, 'ERR_IO_URING_UNAVAILABLE', `io_uring backend unavailable: ${reason}`) as IoUringUnavailableError;
  err.reason = reason;
  return err;
}

/**
 * Resolves the option. Unset, the environment variable
 * `EDGELOOP_LOOP_BACKEND` decides (the test suites run once per backend
 * through it), else the build's selector.
 *
 * @throws TypeError `ERR_INVALID_ARG_VALUE` for an unknown name
 * @throws Error `ERR_BACKEND_UNAVAILABLE` for the selector this build lacks
 * @throws Error `ERR_IO_URING_UNAVAILABLE` for io_uring where it cannot run
 * @internal
 */
export function chooseBackend(option: unknown): BackendChoice {
  const fromEnv = option === undefined && !!process.env.EDGELOOP_LOOP_BACKEND;
  const asked = option ?? (process.env.EDGELOOP_LOOP_BACKEND || native.backend);
  if (typeof asked !== 'string' || !OPTIONS.includes(asked)) {
    // Named, when it came from the environment: the caller passed nothing.
    const what = fromEnv ? 'the environment variable EDGELOOP_LOOP_BACKEND' : 'backend';
    throw codedError(TypeError, 'ERR_INVALID_ARG_VALUE', `${what} must be one of ${OPTIONS.join(', ')}; got ${String(asked)}`);
  }
  if (asked === 'epoll' || asked === 'kqueue') {
    if (asked !== native.backend) {
      throw codedError(Error, 'ERR_BACKEND_UNAVAILABLE', `backend ${asked} unavailable: this build uses ${native.backend}`);
    }
    return { name: asked, fallback: null };
  }
  const reason = ioUringUnavailableReason();
  if (reason === '') return { name: 'io_uring', fallback: null };
  if (asked === 'io_uring') throw ioUringUnavailable(reason);
  return { name: native.backend, fallback: reason };
}
