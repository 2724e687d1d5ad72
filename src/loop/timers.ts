/**
 * The loop's timers: a heap on the loop's clock, and while attached one
 * Node timer armed for the earliest of them.
 *
 * @packageDocumentation
 */
import { performance } from 'node:perf_hooks';
import { TimerHeap } from '../timers';

/** Validates a delay in milliseconds. @internal */
export function checkDelay(ms: number): void {
  if (typeof ms !== 'number' || Number.isNaN(ms)) throw new TypeError('delay must be a number of milliseconds');
  if (ms < 0 || ms > 0x7fffffff) throw new RangeError('delay must be in 0..2^31-1 ms');
}

/**
 * Loop timers. In run() mode the driver waits on the poll until
 * {@link nextDeadline}; in attach() mode nothing polls in a loop, so one
 * Node timer stands for the earliest deadline and is moved whenever it
 * changes.
 *
 * @internal
 */
export class LoopTimers {
  private readonly heap = new TimerHeap();
  private nodeTimer: NodeJS.Timeout | null = null;
  private nodeTimerDeadline = Infinity;
  private attached = false;
  private referenced = true;

  /** @param onError - where a throwing callback's error goes */
  constructor(private readonly onError: (err: unknown) => void) {}

  /** The loop's clock: `performance.now()` milliseconds. */
  now(): number {
    return performance.now();
  }

  /** Pending timers. */
  get size(): number {
    return this.heap.size;
  }

  /** The earliest deadline, Infinity when none. */
  nextDeadline(): number {
    return this.heap.nextDeadline();
  }

  /** Milliseconds until the earliest deadline (0 if due), -1 when none. */
  timeout(): number {
    const deadline = this.heap.nextDeadline();
    return deadline === Infinity ? -1 : Math.max(0, deadline - this.now());
  }

  /** Adds a timer `ms` from now, repeating every `interval` ms unless 0. */
  add(callback: () => void, ms: number, interval: number): number {
    if (typeof callback !== 'function') throw new TypeError('callback must be a function');
    checkDelay(ms);
    const id = this.heap.add(this.now() + ms, interval, callback);
    this.armNodeTimer();
    return id;
  }

  /** Cancels a timer; unknown ids are ignored. */
  cancel(id: number): void {
    this.heap.cancel(id);
  }

  /** Moves a pending timer to `ms` from now; false when it already ran. */
  refresh(id: number, ms: number): boolean {
    checkDelay(ms);
    const ok = this.heap.reschedule(id, this.now() + ms);
    if (ok) this.armNodeTimer();
    return ok;
  }

  /** Runs every due timer. */
  runDue(): void {
    if (this.heap.size > 0) this.heap.runDue(this.now(), this.onError);
  }

  /** Drops every timer. */
  clear(): void {
    this.heap.clear();
    this.clearNodeTimer();
  }

  /** Attach mode on or off: on arms the Node timer, off clears it. */
  setAttached(on: boolean): void {
    this.attached = on;
    if (on) this.armNodeTimer();
    else this.clearNodeTimer();
  }

  /** Whether the Node timer keeps the process alive. */
  setReferenced(on: boolean): void {
    this.referenced = on;
    if (on) this.nodeTimer?.ref();
    else this.nodeTimer?.unref();
  }

  /** Keeps the Node timer on the earliest deadline while attached. */
  armNodeTimer(): void {
    if (!this.attached) return;
    const deadline = this.heap.nextDeadline();
    if (deadline === this.nodeTimerDeadline && this.nodeTimer !== null) return;
    this.clearNodeTimer();
    if (deadline === Infinity) return;
    this.nodeTimerDeadline = deadline;
    this.nodeTimer = setTimeout(() => {
      this.nodeTimer = null;
      this.nodeTimerDeadline = Infinity;
      if (!this.attached) return;
      this.runDue();
      this.armNodeTimer();
    }, Math.max(0, Math.ceil(deadline - this.now())));
    if (!this.referenced) this.nodeTimer.unref();
  }

  private clearNodeTimer(): void {
    if (this.nodeTimer !== null) clearTimeout(this.nodeTimer);
    this.nodeTimer = null;
    this.nodeTimerDeadline = Infinity;
  }
}
