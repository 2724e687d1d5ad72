/**
 * Property tests for TimerHeap (src/timers.ts) against a sorted-array model.
 *
 * timers.test.ts pins single behaviours; these run random sequences of add,
 * cancel, reschedule and runDue (with a clock that only moves forward, and
 * deadlines in the past as well as the future) and check the heap against a
 * model that keeps the pending timers in an array and takes the earliest:
 *
 * - runDue runs a timer only when it is due and no pending timer has an
 *   earlier deadline, and returns with no due timer left behind.
 * - size, has and nextDeadline agree with the model after every step.
 * - cancel and reschedule return true exactly for pending timers, and a
 *   cancelled timer never runs.
 * - Callbacks that cancel, reschedule or add timers during a pass keep all
 *   of that true; a timer a callback adds or reschedules with a deadline
 *   that is already due waits for the next runDue (so runDue always
 *   returns, even when intervals keep moving each other into the past).
 * - Every error thrown by a callback reaches onError once, and the timers
 *   after it still run.
 *
 * The order of timers with the same deadline is not specified, and many
 * generated deadlines tie, so the model does not pick among ties itself:
 * it checks that each timer the heap runs is one of the earliest, then
 * follows. Intervals are re-armed as documented: from the previous deadline,
 * or to now + interval when that would not be after now.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TimerHeap } from '../src/timers';
import { params } from './props';

/** What a timer's callback does when it runs. Targets index timers by creation order. */
type Action =
  | { kind: 'none' }
  | { kind: 'throw' }
  | { kind: 'cancel'; target: number }
  | { kind: 'reschedule'; target: number; offset: number }
  | { kind: 'add'; offset: number; interval: number };

type Step =
  | { op: 'add'; offset: number; interval: number; action: Action }
  | { op: 'cancel'; target: number }
  | { op: 'reschedule'; target: number; offset: number }
  | { op: 'run'; advance: number };

/** Deadline offsets from the clock: past, now and future, small enough to tie often. */
const offset = fc.integer({ min: -5, max: 40 });
const interval = fc.oneof({ weight: 3, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 20 }) });
/** Which timer, by creation order (taken modulo the number created). */
const target = fc.nat({ max: 255 });

const noAction = fc.constant<Action>({ kind: 'none' });
const anyAction = fc.oneof(
  { weight: 3, arbitrary: noAction },
  { weight: 2, arbitrary: target.map((t): Action => ({ kind: 'cancel', target: t })) },
  { weight: 2, arbitrary: fc.tuple(target, offset).map(([t, o]): Action => ({ kind: 'reschedule', target: t, offset: o })) },
  { weight: 2, arbitrary: fc.tuple(offset, interval).map(([o, i]): Action => ({ kind: 'add', offset: o, interval: i })) },
);
const throwOrNot = fc.oneof(noAction, fc.constant<Action>({ kind: 'throw' }));

/** Step sequences whose callbacks do what `action` draws. */
function steps(action: fc.Arbitrary<Action>): fc.Arbitrary<Step[]> {
  const step: fc.Arbitrary<Step> = fc.oneof(
    { weight: 8, arbitrary: fc.tuple(offset, interval, action).map(([o, i, a]): Step => ({ op: 'add', offset: o, interval: i, action: a })) },
    { weight: 3, arbitrary: target.map((t): Step => ({ op: 'cancel', target: t })) },
    { weight: 2, arbitrary: fc.tuple(target, offset).map(([t, o]): Step => ({ op: 'reschedule', target: t, offset: o })) },
    { weight: 2, arbitrary: fc.integer({ min: 0, max: 15 }).map((a): Step => ({ op: 'run', advance: a })) },
  );
  // Long enough for heaps of a few dozen timers, where a cancel from the
  // middle has to move the last timer up as well as down.
  return fc.array(step, { maxLength: 120, size: 'max' });
}

/** A pending timer as the model keeps it. */
interface ModelTimer {
  handle: number;
  deadline: number;
  interval: number;
  /** The model pass that added or last rescheduled it, 0 outside runDue. */
  born: number;
}

/** Thrown from a callback (and rethrown by onError) to end a runDue that would not return. */
const RUNAWAY = new Error('runDue does not return');

/** What went wrong, by kind, so each property can look at its own. */
type Problem = { kind: 'order' | 'return' | 'state' | 'error'; what: string };

/**
 * A TimerHeap and the model, driven together. Timers are known by handle
 * (creation order); `ids` maps a handle to the heap's id.
 */
class Harness {
  readonly heap = new TimerHeap();
  /** The model: pending timers by handle, unsorted; the earliest is looked up. */
  readonly pending = new Map<number, ModelTimer>();
  readonly ids: number[] = [];
  readonly problems: Problem[] = [];
  clock = 0;
  private pass = 0;
  /** Callbacks run in the current pass: each timer runs at most once per pass. */
  private firedInPass = 0;
  private passes = 0;
  private thrown: unknown[] = [];
  private reported: unknown[] = [];

  apply(step: Step): void {
    switch (step.op) {
      case 'add':
        this.add(step.offset, step.interval, step.action);
        break;
      case 'cancel':
        this.cancel(step.target);
        break;
      case 'reschedule':
        this.reschedule(step.target, step.offset);
        break;
      case 'run':
        this.run(step.advance);
        break;
    }
    this.checkState();
  }

  private add(off: number, iv: number, action: Action): void {
    const handle = this.ids.length;
    const deadline = this.clock + off;
    this.ids.push(this.heap.add(deadline, iv, () => this.fired(handle, action)));
    this.pending.set(handle, { handle, deadline, interval: iv, born: this.pass });
  }

  private cancel(t: number): void {
    if (this.ids.length === 0) return;
    const handle = t % this.ids.length;
    const got = this.heap.cancel(this.ids[handle]);
    const was = this.pending.delete(handle);
    if (got !== was) this.problems.push({ kind: 'return', what: `cancel(#${handle}) returned ${got}, pending: ${was}` });
  }

  private reschedule(t: number, off: number): void {
    if (this.ids.length === 0) return;
    const handle = t % this.ids.length;
    const deadline = this.clock + off;
    const got = this.heap.reschedule(this.ids[handle], deadline);
    const m = this.pending.get(handle);
    if (m !== undefined) {
      m.deadline = deadline;
      // Moved by a callback: held back like a timer added there.
      if (this.pass !== 0) m.born = this.pass;
    }
    if (got !== (m !== undefined)) {
      this.problems.push({ kind: 'return', what: `reschedule(#${handle}) returned ${got}, pending: ${m !== undefined}` });
    }
  }

  /** The earliest deadline among timers this pass may run. */
  private earliestRunnable(): number {
    let min = Infinity;
    for (const t of this.pending.values()) if (t.born !== this.pass && t.deadline < min) min = t.deadline;
    return min;
  }

  private run(advance: number): void {
    this.clock += advance;
    this.pass = ++this.passes;
    this.firedInPass = 0;
    try {
      this.heap.runDue(this.clock, (err) => {
        if (err === RUNAWAY) throw err;
        this.reported.push(err);
      });
    } catch (err) {
      if (err !== RUNAWAY) throw err;
      this.problems.push({ kind: 'order', what: `runDue(${this.clock}) ran more callbacks than there are timers` });
      this.thrown = [];
      this.reported = [];
    }
    const left = this.earliestRunnable();
    if (left <= this.clock) this.problems.push({ kind: 'order', what: `runDue(${this.clock}) left a timer due at ${left}` });
    this.pass = 0;
    if (this.reported.length !== this.thrown.length || this.reported.some((e, i) => e !== this.thrown[i])) {
      this.problems.push({ kind: 'error', what: `thrown ${this.thrown.length}, reported ${this.reported.length}, or not the same errors` });
    }
    this.thrown = [];
    this.reported = [];
  }

  /** A callback ran: check it was allowed to, follow it in the model, then act. */
  private fired(handle: number, action: Action): void {
    const now = this.clock;
    // More runs than timers: runDue would not return. Get out through onError.
    if (++this.firedInPass > this.ids.length) throw RUNAWAY;
    const m = this.pending.get(handle);
    if (m === undefined) {
      this.problems.push({ kind: 'order', what: `#${handle} ran but is not pending` });
      return;
    }
    const earliest = this.earliestRunnable();
    if (m.born === this.pass) this.problems.push({ kind: 'order', what: `#${handle}, added or rescheduled in this pass, ran in it` });
    if (m.deadline > now) this.problems.push({ kind: 'order', what: `#${handle} ran at ${now} before its deadline ${m.deadline}` });
    if (m.deadline !== earliest) this.problems.push({ kind: 'order', what: `#${handle} (deadline ${m.deadline}) ran while ${earliest} was pending` });
    if (m.interval > 0) {
      const next = m.deadline + m.interval;
      m.deadline = next > now ? next : now + m.interval;
    } else {
      this.pending.delete(handle);
    }
    switch (action.kind) {
      case 'none':
        return;
      case 'throw': {
        const err = new Error(`#${handle} throws`);
        this.thrown.push(err);
        throw err;
      }
      case 'cancel':
        return this.cancel(action.target);
      case 'reschedule':
        return this.reschedule(action.target, action.offset);
      case 'add':
        return this.add(action.offset, action.interval, { kind: 'none' });
    }
  }

  private checkState(): void {
    const h = this.heap;
    let min = Infinity;
    for (const t of this.pending.values()) if (t.deadline < min) min = t.deadline;
    if (h.size !== this.pending.size) this.problems.push({ kind: 'state', what: `size ${h.size}, model ${this.pending.size}` });
    if (h.nextDeadline() !== min) this.problems.push({ kind: 'state', what: `nextDeadline ${h.nextDeadline()}, model ${min}` });
    this.ids.forEach((id, handle) => {
      const want = this.pending.has(handle);
      if (h.has(id) !== want) this.problems.push({ kind: 'state', what: `has(#${handle}) ${h.has(id)}, model ${want}` });
    });
  }
}

/** Runs `sequence` up to the first step with problems of `kinds`, and returns those. */
function problemsOf(sequence: readonly Step[], ...kinds: Problem['kind'][]): string[] {
  const harness = new Harness();
  const found = (): Problem[] => harness.problems.filter((p) => kinds.includes(p.kind));
  for (const step of sequence) {
    harness.apply(step);
    if (found().length > 0) break;
  }
  return found().map((p) => `${p.kind}: ${p.what}`);
}

describe('TimerHeap properties', () => {
  it('runDue runs only due timers, earliest deadline first, and leaves none due behind', () => {
    fc.assert(
      fc.property(steps(noAction), (sequence) => {
        expect(problemsOf(sequence, 'order')).toEqual([]);
      }),
      params(),
    );
  });

  it('size, has and nextDeadline agree with the model after every step', () => {
    fc.assert(
      fc.property(steps(noAction), (sequence) => {
        expect(problemsOf(sequence, 'state')).toEqual([]);
      }),
      params(),
    );
  });

  it('cancel and reschedule return true exactly for pending timers, and a cancelled timer never runs', () => {
    fc.assert(
      fc.property(steps(noAction), (sequence) => {
        expect(problemsOf(sequence, 'return', 'order')).toEqual([]);
      }),
      params(),
    );
  });

  it('callbacks that cancel, reschedule and add timers during a pass keep order and state as the model says', () => {
    fc.assert(
      fc.property(steps(anyAction), (sequence) => {
        expect(problemsOf(sequence, 'order', 'state', 'return')).toEqual([]);
      }),
      params(),
    );
  });

  it('every error a callback throws reaches onError once, and the timers after it still run', () => {
    fc.assert(
      fc.property(steps(throwOrNot), (sequence) => {
        expect(problemsOf(sequence, 'error', 'order')).toEqual([]);
      }),
      params(),
    );
  });
});
