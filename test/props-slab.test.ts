/**
 * Property tests for Slab (src/slab.ts) against simple models.
 *
 * slab.test.ts checks single operations; these run random sequences of
 * insert, remove, tryRemove, get, vacantEntry and clear and compare the slab
 * after every step with:
 *
 * - a Map from key to value (what is stored, what get/has/length/remove
 *   report, and the order iteration lists it in), and
 * - the documented key policy: the most recently freed key is reused first
 *   (LIFO), otherwise the next key is `capacity`, and clear starts again
 *   from 0, so the slab never grows while a freed key is waiting.
 *
 * Keys asked about include freed keys, keys past the end and keys that are
 * negative, fractional, NaN or huge.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Slab } from '../src/slab';
import { params } from './props';

/** Which key an operation is about. */
type Pick =
  | { from: 'live'; n: number } // one of the keys holding a value
  | { from: 'seen'; n: number } // any key handed out so far, live or freed
  | { from: 'odd'; key: number }; // not a key a slab can hand out

type Op =
  | { op: 'insert' }
  | { op: 'remove'; pick: Pick }
  | { op: 'tryRemove'; pick: Pick }
  | { op: 'get'; pick: Pick }
  | { op: 'vacant'; changeFirst: boolean }
  | { op: 'clear' };

const pick: fc.Arbitrary<Pick> = fc.oneof(
  { weight: 4, arbitrary: fc.nat({ max: 1023 }).map((n): Pick => ({ from: 'live', n })) },
  { weight: 3, arbitrary: fc.nat({ max: 1023 }).map((n): Pick => ({ from: 'seen', n })) },
  {
    weight: 1,
    arbitrary: fc
      .constantFrom(-1, -0.5, 0.5, 1.5, NaN, Infinity, -Infinity, 2 ** 31, 2 ** 32, Number.MAX_SAFE_INTEGER)
      .map((key): Pick => ({ from: 'odd', key })),
  },
);

const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 20, arbitrary: fc.constant<Op>({ op: 'insert' }) },
  { weight: 14, arbitrary: pick.map((p): Op => ({ op: 'remove', pick: p })) },
  { weight: 5, arbitrary: pick.map((p): Op => ({ op: 'tryRemove', pick: p })) },
  { weight: 8, arbitrary: pick.map((p): Op => ({ op: 'get', pick: p })) },
  { weight: 4, arbitrary: fc.boolean().map((changeFirst): Op => ({ op: 'vacant', changeFirst })) },
  { weight: 1, arbitrary: fc.constant<Op>({ op: 'clear' }) },
);
const ops = fc.array(op, { maxLength: 150, size: 'max' });

/** The documented behaviour: a Map, a LIFO free list and a capacity. */
class SlabModel {
  readonly values = new Map<number, object>();
  /** Every key handed out since the last clear. */
  readonly seen: number[] = [];
  private readonly free: number[] = [];
  capacity = 0;
  /** Most values held at once since the last clear. */
  peak = 0;

  nextKey(): number {
    return this.free.length > 0 ? this.free[this.free.length - 1] : this.capacity;
  }

  insert(value: object): number {
    const key = this.free.length > 0 ? (this.free.pop() as number) : this.capacity++;
    if (!this.seen.includes(key)) this.seen.push(key);
    this.values.set(key, value);
    this.peak = Math.max(this.peak, this.values.size);
    return key;
  }

  remove(key: number): void {
    this.values.delete(key);
    this.free.push(key);
  }

  clear(): void {
    this.values.clear();
    this.seen.length = 0;
    this.free.length = 0;
    this.capacity = 0;
    this.peak = 0;
  }

  keyOf(p: Pick): number {
    if (p.from === 'odd') return p.key;
    const pool = p.from === 'live' ? [...this.values.keys()] : this.seen;
    // Nothing to pick from: ask about a key past the end instead.
    return pool.length === 0 ? this.capacity + p.n : pool[p.n % pool.length];
  }

  /** Live [key, value] pairs in ascending key order. */
  sorted(): [number, object][] {
    return [...this.values].sort((a, b) => a[0] - b[0]);
  }
}

/** Every key worth asking about: handed out ones, the next two, odd ones. */
function probeKeys(model: SlabModel): number[] {
  return [...model.seen, model.capacity, model.capacity + 1, -1, 0.5, NaN, 2 ** 32];
}

/**
 * Runs `sequence` on a slab and on the model side by side. The model
 * follows the slab's keys (it does not predict them), so a property about
 * key choice can compare the two; `afterStep` sees both after every step.
 */
function run(sequence: readonly Op[], afterStep: (slab: Slab<object>, model: SlabModel, step: Op, result: unknown) => void): void {
  const slab = new Slab<object>();
  const model = new SlabModel();
  const follow = (key: number, value: object): void => {
    // Keep the model on the slab's key so later steps compare like with like.
    model.values.set(key, value);
    if (!model.seen.includes(key)) model.seen.push(key);
  };
  for (const step of sequence) {
    let result: unknown;
    switch (step.op) {
      case 'insert': {
        const value = {};
        const predicted = model.nextKey();
        const key = slab.insert(value);
        result = { key, predicted, wasLive: model.values.has(key) };
        if (key === predicted) model.insert(value);
        else follow(key, value);
        break;
      }
      case 'remove': {
        const key = model.keyOf(step.pick);
        const live = model.values.has(key);
        const expected = model.values.get(key);
        try {
          result = { returned: slab.remove(key), expected, live };
        } catch (err) {
          result = { threw: err, expected, live };
        }
        if (live) model.remove(key);
        break;
      }
      case 'tryRemove': {
        const key = model.keyOf(step.pick);
        const expected = model.values.get(key);
        result = { returned: slab.tryRemove(key), expected };
        if (model.values.has(key)) model.remove(key);
        break;
      }
      case 'get': {
        const key = model.keyOf(step.pick);
        result = { returned: slab.get(key), has: slab.has(key), expected: model.values.get(key), live: model.values.has(key) };
        break;
      }
      case 'vacant': {
        const entry = slab.vacantEntry();
        const announced = entry.key;
        if (step.changeFirst) {
          // Any change makes the entry stale: an insert does.
          const value = {};
          const predicted = model.nextKey();
          const key = slab.insert(value);
          if (key === predicted) model.insert(value);
          else follow(key, value);
        }
        const before = [...slab.entries()];
        const value = {};
        try {
          const key = entry.insert(value);
          result = { announced, key, threw: null, before };
          model.insert(value);
        } catch (err) {
          result = { announced, key: null, threw: err, before };
        }
        break;
      }
      case 'clear':
        slab.clear();
        model.clear();
        break;
    }
    afterStep(slab, model, step, result);
  }
}

/**
 * Runs `sequence`, calling `check` after every step with a `fail` that
 * records a mismatch; returns the first few. (Plain comparisons per step and
 * one expect per case keep a case cheap enough to run and shrink often.)
 */
function mismatches(
  sequence: readonly Op[],
  check: (fail: (what: string) => void, slab: Slab<object>, model: SlabModel, step: Op, result: unknown) => void,
): string[] {
  const found: string[] = [];
  run(sequence, (slab, model, step, result) => {
    if (found.length < 5) check((what) => found.push(`after ${step.op}: ${what}`), slab, model, step, result);
  });
  return found;
}

const sameList = <T>(a: readonly T[], b: readonly T[]): boolean => a.length === b.length && a.every((x, i) => x === b[i]);

describe('Slab properties', () => {
  it('get, has, length, remove and tryRemove agree with a Map after every step', () => {
    fc.assert(
      fc.property(ops, (sequence) => {
        const found = mismatches(sequence, (fail, slab, model, step, result) => {
          const r = result as Record<string, unknown>;
          if (step.op === 'insert' && r.wasLive) fail(`insert handed out key ${String(r.key)}, which holds a value`);
          if (step.op === 'remove') {
            if (r.live && r.returned !== r.expected) fail('remove returned another value');
            if (!r.live && !(r.threw instanceof RangeError)) fail('remove of a vacant key did not throw RangeError');
          }
          if (step.op === 'tryRemove' && r.returned !== r.expected) fail('tryRemove returned another value');
          if (step.op === 'get' && (r.returned !== r.expected || r.has !== r.live)) fail('get/has disagree with the Map');
          if (slab.length !== model.values.size) fail(`length ${slab.length}, Map size ${model.values.size}`);
          for (const key of probeKeys(model)) {
            if (slab.get(key) !== model.values.get(key)) fail(`get(${key}) disagrees with the Map`);
            if (slab.has(key) !== model.values.has(key)) fail(`has(${key}) is ${slab.has(key)}`);
          }
        });
        expect(found).toEqual([]);
      }),
      params(),
    );
  });

  it('insert takes the most recently freed key first, else capacity, and nextKey says which', () => {
    fc.assert(
      fc.property(ops, (sequence) => {
        const found = mismatches(sequence, (fail, slab, model, step, result) => {
          if (step.op === 'insert') {
            const r = result as { key: number; predicted: number };
            if (r.key !== r.predicted) fail(`insert returned key ${r.key}, the policy says ${r.predicted}`);
          }
          if (slab.nextKey !== model.nextKey()) fail(`nextKey ${slab.nextKey}, the policy says ${model.nextKey()}`);
        });
        expect(found).toEqual([]);
      }),
      params(),
    );
  });

  it('a failed remove (vacant, out-of-range or non-integer key) changes nothing', () => {
    fc.assert(
      fc.property(ops, pick, (sequence, bad) => {
        const found = mismatches(sequence, (fail, slab, model) => {
          const key = model.keyOf(bad);
          if (model.values.has(key)) return;
          const snapshot = (): string => JSON.stringify({ keys: [...slab.keys()], nextKey: slab.nextKey, capacity: slab.capacity, length: slab.length });
          const values = [...slab.valuesInOrder()];
          const before = snapshot();
          let threw: unknown = null;
          try {
            slab.remove(key);
          } catch (err) {
            threw = err;
          }
          if (!(threw instanceof RangeError)) fail(`remove(${key}) of a vacant key did not throw RangeError`);
          if (slab.tryRemove(key) !== undefined) fail(`tryRemove(${key}) of a vacant key returned a value`);
          if (snapshot() !== before || !sameList([...slab.valuesInOrder()], values)) fail(`remove(${key}) changed the slab`);
        });
        expect(found).toEqual([]);
      }),
      params(),
    );
  });

  it('entries, keys and valuesInOrder list exactly the live values in ascending key order', () => {
    fc.assert(
      fc.property(ops, (sequence) => {
        const found = mismatches(sequence, (fail, slab, model) => {
          const expected = model.sorted();
          const keys = expected.map(([k]) => k);
          const values = expected.map(([, v]) => v);
          const entries = [...slab];
          if (!sameList(entries.map(([k]) => k), keys) || !sameList(entries.map(([, v]) => v), values)) fail('entries differ');
          if (!sameList([...slab.keys()], keys)) fail(`keys ${[...slab.keys()]}, expected ${keys}`);
          if (!sameList([...slab.valuesInOrder()], values)) fail('valuesInOrder differs');
        });
        expect(found).toEqual([]);
      }),
      params(),
    );
  });

  it('a vacant entry inserts under the key it announced, and once the slab changed it throws and inserts nothing', () => {
    fc.assert(
      fc.property(ops, (sequence) => {
        const found = mismatches(sequence, (fail, slab, _model, step, result) => {
          if (step.op !== 'vacant') return;
          const r = result as { announced: number; key: number | null; threw: unknown; before: [number, object][] };
          if (step.changeFirst) {
            if (!(r.threw instanceof Error)) fail('a stale vacant entry inserted');
            const now = [...slab.entries()];
            if (!sameList(now.map(([k]) => k), r.before.map(([k]) => k))) fail('a stale vacant entry changed the slab');
          } else {
            if (r.threw !== null) fail(`a fresh vacant entry threw: ${String(r.threw)}`);
            if (r.key !== r.announced) fail(`vacant entry announced key ${r.announced}, inserted under ${r.key}`);
          }
        });
        expect(found).toEqual([]);
      }),
      params(),
    );
  });

  it('capacity is the most values held at once since the last clear: freed keys are used before the slab grows', () => {
    fc.assert(
      fc.property(ops, (sequence) => {
        const found = mismatches(sequence, (fail, slab, model) => {
          if (slab.capacity !== model.peak) fail(`capacity ${slab.capacity}, most held at once ${model.peak}`);
        });
        expect(found).toEqual([]);
      }),
      params(),
    );
  });
});
