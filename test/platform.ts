/**
 * Which backend the suite runs against, for the few tests whose expectation
 * is backend-specific, and the gaps of libkqueue (kqueue emulated over epoll
 * on Linux, used to test the kqueue backend there; see the README).
 */
import { backend } from '../src/index';

/** The backend this platform and build should load. */
export const expectedBackend: 'epoll' | 'kqueue' =
  process.platform === 'linux' && process.env.EDGELOOP_BACKEND !== 'kqueue' ? 'epoll' : 'kqueue';

/** True when the build is the epoll backend. */
export const onEpoll = backend === 'epoll';

/**
 * True on the kqueue backend running over libkqueue (Linux). libkqueue
 * clears a socket's pending error (SO_ERROR) when it reports it, closes its
 * own fds from a background thread (so fd counts lag), and its kqueue fd is
 * the write end of a pipe, which uv_poll never sees readable (no attach()).
 * A BSD kernel does none of these.
 */
export const onLibkqueue = backend === 'kqueue' && process.platform === 'linux';
