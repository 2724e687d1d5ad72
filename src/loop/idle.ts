/**
 * Idle timeouts: one loop timer per connection, moved only when it fires.
 *
 * @packageDocumentation
 */
import type { Connection } from '../connection';
import { codedError } from '../errors';
import type { LoopContext } from './context';

/**
 * Closes `conn` once no activity was seen for `timeoutMs`. Activity only
 * stamps `conn.lastActive` (from the turn's one clock reading), so a busy
 * connection costs nothing per event; the timer, when it fires early, moves
 * itself to lastActive + timeout. A connection with requests in work
 * (`busy` above 0) is never closed for idleness.
 *
 * @param setTimer - told each timer id, for the connection to cancel on close
 * @returns the first timer's id
 * @internal
 */
export function watchIdle(conn: Connection, loop: LoopContext, timeoutMs: number, setTimer: (id: number) => void): number {
  const timers = loop.timers;
  loop.batchTime = conn.lastActive = timers.now();
  const check = (): void => {
    if (conn.isClosed) return;
    const now = timers.now();
    const due = conn.busy > 0 ? now + timeoutMs : conn.lastActive + timeoutMs;
    if (due > now) {
      setTimer(timers.add(check, due - now, 0));
      return;
    }
    conn.close(codedError(Error, 'ERR_IDLE_TIMEOUT', `connection idle for ${timeoutMs} ms`));
  };
  return timers.add(check, timeoutMs, 0);
}
