/**
 * The loop's state errors, one code per state.
 *
 * @packageDocumentation
 */
import { codedError, type CodedError } from '../errors';
import type { LoopState } from './types';

/**
 * The error for an operation the loop's state does not allow:
 * - closed: TypeError `ERR_LOOP_CLOSED` (the loop cannot be used again);
 * - running: Error `ERR_LOOP_RUNNING` (run() is on the stack);
 * - attached: Error `ERR_LOOP_ATTACHED` (detach() first).
 *
 * @internal
 */
export function loopStateError(operation: string, state: LoopState): CodedError {
  if (state === 'closed') return codedError(TypeError, 'ERR_LOOP_CLOSED', `cannot ${operation}: event loop is closed`);
  const code = state === 'running' ? 'ERR_LOOP_RUNNING' : 'ERR_LOOP_ATTACHED';
  return codedError(Error, code, `cannot ${operation} a loop that is ${state}`);
}
