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
  /**
   * The clock read once after each turn's wait, while any connection has an
   * idle timeout: activity stamps. (Reading the clock allocates, so a loop
   * without idle timeouts does not read it per turn.)
   */
  batchTime: number;
  /** Connections with an idle timeout; `batchTime` is kept only while above 0. */
  idleWatches: number;
  /** The loop's pump: the connection's registration, corked writes. */
  readonly pump: LoopPump;
  /** The loop's timers. */
  readonly timers: LoopTimers;
  /** Takes a closing connection out of the registry and the counts. */
  release(conn: Connection): void;
  /** Reports an exception that is a handler's bug, not a network event. */
  reportHandlerError(err: unknown, conn?: Connection): void;
}
