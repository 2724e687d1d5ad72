/**
 * `--backend` for the demo binaries: which engine their loops run on.
 *
 * @packageDocumentation
 */
import { chooseBackend, type BackendOption } from '../loop/backend';
import { choiceFlag, type FlagSpec } from './args';

/** The flag's spec, the same in every binary. */
export const BACKEND_FLAG: FlagSpec = {
  type: 'string',
  help: 'NAME  auto, epoll, kqueue or io_uring (default $EDGELOOP_LOOP_BACKEND, else the build\'s selector; docs/IO_URING.md)',
};

/**
 * Applies `--backend`: every loop made after this in the process, worker
 * threads included (they inherit the environment), runs on it.
 *
 * @returns how the binary says it in its start-up line, for example
 *   `backend io_uring` or `backend epoll (io_uring unavailable: ...)`
 * @throws UsageError for an unknown name; the loop's own error
 *   (`ERR_IO_URING_UNAVAILABLE`, `ERR_BACKEND_UNAVAILABLE`) when the asked
 *   backend cannot run here
 */
export function applyBackendFlag(value: string | undefined): string {
  if (value !== undefined) {
    const name: BackendOption = choiceFlag('backend', value, 'auto', ['auto', 'epoll', 'kqueue', 'io_uring'] as const);
    process.env.EDGELOOP_LOOP_BACKEND = name;
  }
  const choice = chooseBackend(undefined);
  return choice.fallback === null ? `backend ${choice.name}` : `backend ${choice.name} (io_uring unavailable: ${choice.fallback})`;
}
