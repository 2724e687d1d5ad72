/**
 * The EventLoop's timers: a binary min-heap keyed by deadline.
 *
 * @packageDocumentation
 */

/** A timer as the heap keeps it. */
export interface Timer {
  /** Identifies the timer to {@link TimerHeap.cancel} and friends. */
  readonly id: number;
  /** Absolute deadline, in `performance.now()` milliseconds. */
  deadline: number;
  /** Repeat period for intervals; 0 for one-shot timers. */
  readonly interval: number;
  /** What to run. */
  readonly callback: () => void;
  /** Position in the heap, -1 when not in it. */
  index: number;
  /** The runDue pass that added or last rescheduled it (0 outside one): such timers wait. */
  born: number;
}

/**
 * Timers ordered by deadline. `push`, `cancel` and `reschedule` are
 * O(log n); the earliest deadline is O(1), which is what the loop needs to
 * pick its poll timeout.
 */
export class TimerHeap {
  private readonly heap: Timer[] = [];
  private readonly byId = new Map<number, Timer>();
  private nextId = 1;
  private pass = 0;
  /** The pass runDue is in, 0 when it is not running. */
  private runningPass = 0;
  /** Timers added during the current pass and already due: held back. */
  private readonly deferred: Timer[] = [];

  /** Number of pending timers. */
  get size(): number {
    return this.heap.length;
  }

  /** The earliest deadline, or Infinity when there is none. */
  nextDeadline(): number {
    return this.heap.length === 0 ? Infinity : this.heap[0].deadline;
  }

  /** Adds a timer; returns its id. */
  add(deadline: number, interval: number, callback: () => void): number {
    const timer: Timer = {
      id: this.nextId++,
      deadline,
      interval,
      callback,
      index: this.heap.length,
      born: this.runningPass,
    };
    this.heap.push(timer);
    this.byId.set(timer.id, timer);
    this.up(timer.index);
    return timer.id;
  }

  /** Removes a timer; false when it was not pending. */
  cancel(id: number): boolean {
    const timer = this.byId.get(id);
    if (timer === undefined) return false;
    if (timer.index < 0) {
      // Held back by the running pass: just forget it.
      this.byId.delete(id);
      const i = this.deferred.indexOf(timer);
      if (i >= 0) this.deferred.splice(i, 1);
      return true;
    }
    this.removeAt(timer.index);
    return true;
  }

  /** Moves a pending timer's deadline; false when it was not pending. */
  reschedule(id: number, deadline: number): boolean {
    const timer = this.byId.get(id);
    if (timer === undefined) return false;
    const old = timer.deadline;
    timer.deadline = deadline;
    // Moved by a callback of the running pass: like a timer added there, it
    // waits for the next runDue when it is due, so an interval that moves
    // itself (or two that move each other) into the past cannot keep runDue
    // from returning.
    if (this.runningPass !== 0) timer.born = this.runningPass;
    if (timer.index < 0) return true; // held back; re-inserted after the pass
    if (deadline < old) this.up(timer.index);
    else this.down(timer.index);
    return true;
  }

  /** True while the timer is pending. */
  has(id: number): boolean {
    return this.byId.has(id);
  }

  /**
   * Runs every timer due at `now`, in deadline order. Intervals are re-armed
   * from their previous deadline (no drift), but never into the past.
   * Timers added or rescheduled by a callback with a deadline of `now` or
   * earlier wait for the next call, so a timer that re-adds or reschedules
   * itself cannot starve I/O.
   */
  runDue(now: number, onError: (err: unknown) => void): void {
    const pass = ++this.pass;
    this.runningPass = pass;
    try {
      this.runPass(pass, now, onError);
    } finally {
      this.runningPass = 0;
      for (const timer of this.deferred.splice(0)) {
        timer.born = 0;
        timer.index = this.heap.length;
        this.heap.push(timer);
        this.up(timer.index);
      }
    }
  }

  private runPass(pass: number, now: number, onError: (err: unknown) => void): void {
    while (this.heap.length > 0 && this.heap[0].deadline <= now) {
      const timer = this.heap[0];
      if (timer.born === pass) {
        // Added by a callback of this pass: hold it back for the next call.
        this.detachTop();
        this.deferred.push(timer);
        continue;
      }
      if (timer.interval > 0) {
        const next = timer.deadline + timer.interval;
        this.reschedule(timer.id, next > now ? next : now + timer.interval);
      } else {
        this.removeAt(0);
      }
      try {
        timer.callback();
      } catch (err) {
        onError(err);
      }
    }
  }

  /** Drops every timer. */
  clear(): void {
    for (const t of this.heap) t.index = -1;
    this.heap.length = 0;
    this.deferred.length = 0;
    this.byId.clear();
  }

  /** Takes the top timer out of the heap but keeps it known by id. */
  private detachTop(): void {
    const timer = this.heap[0];
    const last = this.heap.pop() as Timer;
    timer.index = -1;
    if (this.heap.length > 0) {
      this.heap[0] = last;
      last.index = 0;
      this.down(0);
    }
  }

  private removeAt(i: number): void {
    const timer = this.heap[i];
    const last = this.heap.pop() as Timer;
    this.byId.delete(timer.id);
    timer.index = -1;
    if (i < this.heap.length) {
      this.heap[i] = last;
      last.index = i;
      this.up(i);
      this.down(last.index);
    }
  }

  private up(i: number): void {
    const h = this.heap;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (h[parent].deadline <= h[i].deadline) break;
      this.swap(i, parent);
      i = parent;
    }
  }

  private down(i: number): void {
    const h = this.heap;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < h.length && h[l].deadline < h[m].deadline) m = l;
      if (r < h.length && h[r].deadline < h[m].deadline) m = r;
      if (m === i) return;
      this.swap(i, m);
      i = m;
    }
  }

  private swap(a: number, b: number): void {
    const h = this.heap;
    const t = h[a];
    h[a] = h[b];
    h[b] = t;
    h[a].index = a;
    h[b].index = b;
  }
}
