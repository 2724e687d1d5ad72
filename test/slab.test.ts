/**
 * Slab unit tests, after Rust's slab crate (tests/slab.rs): many small
 * tests, one property each.
 */
import { describe, expect, it } from 'vitest';
import { Slab } from '../src/slab';

/** A slab holding `values` under keys 0, 1, 2, ... */
function slabOf<T>(...values: T[]): Slab<T> {
  const slab = new Slab<T>();
  for (const v of values) slab.insert(v);
  return slab;
}

describe('Slab: insert and get', () => {
  it('insert on a fresh slab returns keys 0, 1, 2', () => {
    const slab = new Slab<string>();
    expect(slab.insert('a')).toBe(0);
    expect(slab.insert('b')).toBe(1);
    expect(slab.insert('c')).toBe(2);
  });

  it('get returns the value stored under each key', () => {
    const slab = new Slab<string>();
    const a = slab.insert('a');
    const b = slab.insert('b');
    expect(slab.get(a)).toBe('a');
    expect(slab.get(b)).toBe('b');
  });

  it('get returns the same object that was inserted', () => {
    const slab = new Slab<{ n: number }>();
    const obj = { n: 1 };
    const key = slab.insert(obj);
    expect(slab.get(key)).toBe(obj);
  });

  it('get of a removed (vacant) key returns undefined', () => {
    const slab = slabOf('a', 'b');
    slab.remove(0);
    expect(slab.get(0)).toBeUndefined();
  });

  it('get of a key past the end returns undefined', () => {
    const slab = slabOf('a', 'b');
    expect(slab.get(2)).toBeUndefined();
    expect(slab.get(1000)).toBeUndefined();
  });

  it('get on an empty slab returns undefined', () => {
    expect(new Slab<string>().get(0)).toBeUndefined();
  });

  it('get of a negative key returns undefined', () => {
    const slab = slabOf('a');
    expect(slab.get(-1)).toBeUndefined();
  });

  it('get of a fractional key returns undefined', () => {
    const slab = slabOf('a', 'b');
    expect(slab.get(0.5)).toBeUndefined();
  });

  it('get of NaN returns undefined', () => {
    const slab = slabOf('a');
    expect(slab.get(Number.NaN)).toBeUndefined();
  });
});

describe('Slab: has', () => {
  it('has is true for an occupied key', () => {
    const slab = slabOf('a');
    expect(slab.has(0)).toBe(true);
  });

  it('has is false for a removed key', () => {
    const slab = slabOf('a', 'b');
    slab.remove(1);
    expect(slab.has(1)).toBe(false);
  });

  it('has is false for a key past the end', () => {
    const slab = slabOf('a');
    expect(slab.has(1)).toBe(false);
  });

  it('has is false for a negative key', () => {
    const slab = slabOf('a');
    expect(slab.has(-1)).toBe(false);
  });

  it('has is false for a fractional key', () => {
    const slab = slabOf('a', 'b');
    expect(slab.has(0.5)).toBe(false);
  });

  it('has is false for NaN and Infinity', () => {
    const slab = slabOf('a');
    expect(slab.has(Number.NaN)).toBe(false);
    expect(slab.has(Infinity)).toBe(false);
  });
});

describe('Slab: remove and tryRemove', () => {
  it('remove returns the value that was stored', () => {
    const slab = slabOf('a', 'b');
    expect(slab.remove(1)).toBe('b');
  });

  it('remove leaves the other values in place', () => {
    const slab = slabOf('a', 'b', 'c');
    slab.remove(1);
    expect(slab.get(0)).toBe('a');
    expect(slab.get(2)).toBe('c');
  });

  it('remove of a never-used key throws RangeError', () => {
    const slab = slabOf('a');
    expect(() => slab.remove(5)).toThrow(RangeError);
  });

  it('remove of the same key twice throws RangeError the second time', () => {
    const slab = slabOf('a');
    slab.remove(0);
    expect(() => slab.remove(0)).toThrow(RangeError);
  });

  it('remove of a negative key throws RangeError', () => {
    const slab = slabOf('a');
    expect(() => slab.remove(-1)).toThrow(RangeError);
  });

  it('a failed remove does not change length', () => {
    const slab = slabOf('a', 'b');
    slab.remove(1);
    expect(() => slab.remove(1)).toThrow(RangeError);
    expect(slab.length).toBe(1);
  });

  it('a failed remove does not disturb the free list', () => {
    const slab = slabOf('a', 'b', 'c');
    slab.remove(1);
    expect(() => slab.remove(1)).toThrow(RangeError);
    expect(slab.insert('x')).toBe(1);
    expect(slab.insert('y')).toBe(3);
  });

  it('tryRemove returns the value for an occupied key', () => {
    const slab = slabOf('a', 'b');
    expect(slab.tryRemove(0)).toBe('a');
    expect(slab.has(0)).toBe(false);
  });

  it('tryRemove returns undefined for a vacant key', () => {
    const slab = slabOf('a');
    slab.remove(0);
    expect(slab.tryRemove(0)).toBeUndefined();
  });

  it('tryRemove returns undefined for an out-of-range key', () => {
    const slab = slabOf('a');
    expect(slab.tryRemove(7)).toBeUndefined();
    expect(slab.tryRemove(-1)).toBeUndefined();
  });

  it('tryRemove of a vacant key does not change length', () => {
    const slab = slabOf('a', 'b');
    slab.remove(0);
    slab.tryRemove(0);
    expect(slab.length).toBe(1);
  });
});

describe('Slab: key reuse', () => {
  it('a removed key is handed out again by the next insert', () => {
    const slab = slabOf('a', 'b', 'c');
    slab.remove(1);
    expect(slab.insert('x')).toBe(1);
  });

  it('keys are reused LIFO: most recently removed first', () => {
    const slab = slabOf('a', 'b', 'c', 'd');
    slab.remove(0);
    slab.remove(2);
    slab.remove(1);
    expect(slab.insert('x')).toBe(1);
    expect(slab.insert('y')).toBe(2);
    expect(slab.insert('z')).toBe(0);
  });

  it('after the free list is used up, insert continues at capacity', () => {
    const slab = slabOf('a', 'b', 'c');
    slab.remove(1);
    slab.insert('x');
    expect(slab.insert('y')).toBe(3);
  });

  it('a reused key holds the new value, not the old one', () => {
    const slab = slabOf('a', 'b');
    slab.remove(0);
    const key = slab.insert('x');
    expect(key).toBe(0);
    expect(slab.get(0)).toBe('x');
  });
});

describe('Slab: length and capacity', () => {
  it('length is 0 on a fresh slab', () => {
    expect(new Slab<number>().length).toBe(0);
  });

  it('length counts inserted values', () => {
    const slab = slabOf(1, 2, 3);
    expect(slab.length).toBe(3);
  });

  it('length drops by one on remove', () => {
    const slab = slabOf(1, 2, 3);
    slab.remove(1);
    expect(slab.length).toBe(2);
  });

  it('length rises by one when a free key is reused', () => {
    const slab = slabOf(1, 2, 3);
    slab.remove(1);
    slab.insert(4);
    expect(slab.length).toBe(3);
  });

  it('capacity does not shrink on remove', () => {
    const slab = slabOf(1, 2, 3);
    slab.remove(2);
    slab.remove(0);
    slab.remove(1);
    expect(slab.capacity).toBe(3);
  });

  it('capacity does not grow when a free key is reused', () => {
    const slab = slabOf(1, 2, 3);
    slab.remove(0);
    slab.insert(4);
    expect(slab.capacity).toBe(3);
  });

  it('once warm, reinserting the same number of values does not grow capacity', () => {
    const N = 64;
    const slab = new Slab<number>();
    for (let i = 0; i < N; i++) slab.insert(i);
    for (let k = 0; k < N; k++) slab.remove(k);
    for (let i = 0; i < N; i++) slab.insert(i);
    expect(slab.capacity).toBe(N);
    expect(slab.length).toBe(N);
  });

  it('once warm, reinsertion hands back exactly the keys 0..N-1', () => {
    const N = 64;
    const slab = new Slab<number>();
    for (let i = 0; i < N; i++) slab.insert(i);
    for (let k = 0; k < N; k++) slab.remove(k);
    const keys: number[] = [];
    for (let i = 0; i < N; i++) keys.push(slab.insert(i));
    expect([...keys].sort((a, b) => a - b)).toEqual(Array.from({ length: N }, (_, i) => i));
  });
});

describe('Slab: clear', () => {
  it('clear empties the slab', () => {
    const slab = slabOf('a', 'b', 'c');
    slab.clear();
    expect(slab.length).toBe(0);
    expect(slab.has(0)).toBe(false);
    expect(slab.get(1)).toBeUndefined();
    expect([...slab]).toEqual([]);
  });

  it('clear restarts keys from 0', () => {
    const slab = slabOf('a', 'b', 'c');
    slab.remove(1);
    slab.clear();
    expect(slab.insert('x')).toBe(0);
    expect(slab.insert('y')).toBe(1);
  });

  it('clear forgets the free list', () => {
    const slab = slabOf('a', 'b', 'c');
    slab.remove(2);
    slab.clear();
    expect(slab.nextKey).toBe(0);
  });
});

describe('Slab: nextKey', () => {
  it('nextKey is 0 on a fresh slab', () => {
    expect(new Slab<string>().nextKey).toBe(0);
  });

  it('nextKey is capacity when nothing is free', () => {
    const slab = slabOf('a', 'b');
    expect(slab.nextKey).toBe(2);
  });

  it('nextKey is the most recently removed key', () => {
    const slab = slabOf('a', 'b', 'c');
    slab.remove(0);
    slab.remove(2);
    expect(slab.nextKey).toBe(2);
  });

  it('nextKey equals the key the following insert returns', () => {
    const slab = slabOf('a', 'b', 'c');
    slab.remove(1);
    const predicted = slab.nextKey;
    expect(slab.insert('x')).toBe(predicted);
  });

  it('reading nextKey does not change the slab', () => {
    const slab = slabOf('a');
    void slab.nextKey;
    void slab.nextKey;
    expect(slab.insert('b')).toBe(1);
  });
});

describe('Slab: vacantEntry', () => {
  it('vacantEntry().key equals the key its insert returns', () => {
    const slab = slabOf('a', 'b');
    const entry = slab.vacantEntry();
    expect(entry.insert('c')).toBe(entry.key);
  });

  it('vacantEntry().key is a reused key when one is free', () => {
    const slab = slabOf('a', 'b', 'c');
    slab.remove(1);
    const entry = slab.vacantEntry();
    expect(entry.key).toBe(1);
    expect(entry.insert('x')).toBe(1);
  });

  it('a value inserted through a vacant entry is stored under its key', () => {
    const slab = new Slab<{ key: number }>();
    const entry = slab.vacantEntry();
    const value = { key: entry.key };
    entry.insert(value);
    expect(slab.get(entry.key)).toBe(value);
  });

  it('taking a vacant entry does not insert anything', () => {
    const slab = slabOf('a');
    slab.vacantEntry();
    expect(slab.length).toBe(1);
    expect(slab.nextKey).toBe(1);
  });

  it('inserting through a vacant entry after a direct insert throws', () => {
    const slab = slabOf('a');
    const entry = slab.vacantEntry();
    slab.insert('b');
    expect(() => entry.insert('c')).toThrow(/stale/);
  });

  it('inserting through a vacant entry after a remove throws', () => {
    const slab = slabOf('a', 'b');
    const entry = slab.vacantEntry();
    slab.remove(0);
    expect(() => entry.insert('c')).toThrow(/stale/);
  });

  it('inserting twice through the same vacant entry throws the second time', () => {
    const slab = slabOf('a');
    const entry = slab.vacantEntry();
    entry.insert('b');
    expect(() => entry.insert('c')).toThrow(/stale/);
  });

  it('a stale vacant entry does not store its value', () => {
    const slab = slabOf('a');
    const entry = slab.vacantEntry();
    slab.insert('b');
    expect(() => entry.insert('c')).toThrow();
    expect(slab.length).toBe(2);
    expect([...slab.valuesInOrder()]).toEqual(['a', 'b']);
  });

  // The docs say the entry "is valid until the slab is next changed; inserting
  // through a stale entry throws". The check compares only nextKey, so a change
  // that leaves nextKey where it was (insert + remove of the same key) is not
  // detected.
  it('inserting through a vacant entry after an insert and remove of its key throws', () => {
    const slab = slabOf('a');
    const entry = slab.vacantEntry(); // key 1
    const k = slab.insert('b'); // key 1
    slab.remove(k); // nextKey is 1 again: the slab changed, the entry is stale
    expect(() => entry.insert('c')).toThrow(/stale/);
  });
});

describe('Slab: iteration', () => {
  it('iterating a fresh slab yields nothing', () => {
    expect([...new Slab<string>()]).toEqual([]);
  });

  it('iteration yields [key, value] pairs', () => {
    const slab = slabOf('a', 'b');
    expect([...slab]).toEqual([
      [0, 'a'],
      [1, 'b'],
    ]);
  });

  it('iteration skips vacant keys', () => {
    const slab = slabOf('a', 'b', 'c', 'd');
    slab.remove(1);
    slab.remove(3);
    expect([...slab]).toEqual([
      [0, 'a'],
      [2, 'c'],
    ]);
  });

  it('iteration is in key order, not insertion order', () => {
    const slab = slabOf('a', 'b', 'c');
    slab.remove(0);
    slab.insert('z'); // reuses key 0, inserted last
    expect([...slab]).toEqual([
      [0, 'z'],
      [1, 'b'],
      [2, 'c'],
    ]);
  });

  it('entries() yields the same pairs as the iterator', () => {
    const slab = slabOf('a', 'b', 'c');
    slab.remove(1);
    expect([...slab.entries()]).toEqual([...slab]);
  });

  it('keys() yields occupied keys in ascending order', () => {
    const slab = slabOf('a', 'b', 'c', 'd');
    slab.remove(2);
    slab.remove(0);
    slab.insert('x'); // key 0
    expect([...slab.keys()]).toEqual([0, 1, 3]);
  });

  it('valuesInOrder() yields values in key order', () => {
    const slab = slabOf('a', 'b', 'c');
    slab.remove(0);
    slab.insert('z');
    expect([...slab.valuesInOrder()]).toEqual(['z', 'b', 'c']);
  });
});

describe('Slab: undefined and null values', () => {
  it('a stored undefined makes has() true', () => {
    const slab = new Slab<undefined>();
    const key = slab.insert(undefined);
    expect(slab.has(key)).toBe(true);
  });

  it('a stored null makes has() true and get() returns null', () => {
    const slab = new Slab<null>();
    const key = slab.insert(null);
    expect(slab.has(key)).toBe(true);
    expect(slab.get(key)).toBeNull();
  });

  it('a stored undefined counts in length', () => {
    const slab = new Slab<undefined>();
    slab.insert(undefined);
    slab.insert(undefined);
    expect(slab.length).toBe(2);
  });

  it('a stored undefined can be removed with remove()', () => {
    const slab = new Slab<undefined>();
    const key = slab.insert(undefined);
    expect(slab.remove(key)).toBeUndefined();
    expect(slab.has(key)).toBe(false);
    expect(slab.length).toBe(0);
  });

  it('iteration yields keys that hold undefined', () => {
    const slab = new Slab<string | undefined>();
    slab.insert(undefined);
    slab.insert('b');
    expect([...slab]).toEqual([
      [0, undefined],
      [1, 'b'],
    ]);
  });

  it('a key holding undefined is not reused by insert', () => {
    const slab = new Slab<string | undefined>();
    slab.insert(undefined);
    expect(slab.insert('b')).toBe(1);
  });
});
