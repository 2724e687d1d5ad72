/**
 * LoopContext: everything a connection may ask of its loop.
 *
 * @packageDocumentation
 */
import type { Connection } from '../connection';
import type { LoopPump } from './pump';
import type { LoopTimers } from './timers';

/**
 * The loop as a connection sees it. A connection runs its own life (reads,
 * queue, half-close, close) and needs the loop only for these: arming
 * interest and corking writes through the pump, timers, a scratch buffer, leaving the registry, and reporting
 * a handler's bug.
 *
 * @internal
 */
export interface LoopContext {
  /** Scratch for input a connection discards (after end()). */
  readonly readBuffer: Buffer;
  /** The clock read once after each poll: activity stamps for idle timeouts. */
  readonly batchTime: number;
  /** The loop's pump: the connection's registration, corked writes. */
  readonly pump: LoopPump;
  /** The loop's timers. */
  readonly timers: LoopTimers;
  /** Takes a closing connection out of the registry and the counts. */
  release(conn: Connection): void;
  /** Reports an exception that is a handler's bug, not a network event. */
  reportHandlerError(err: unknown, conn?: Connection): void;
}
