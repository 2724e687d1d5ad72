/**
 * Slab: a store of values under small integer keys that are reused.
 *
 * @packageDocumentation
 */

const OCCUPIED = -2;
const END = -1;

/**
 * A handle on the slot the next {@link Slab.insert} will use, so a value can
 * learn its key before it is stored (e.g. to build a token from it).
 */
export interface VacantEntry<T> {
  /** The key the value will get. */
  readonly key: number;
  /** Stores `value` under {@link key}; returns the key. */
  insert(value: T): number;
}

/**
 * Values under small integer keys, after Rust's slab crate.
 *
 * Keys are indexes into one array. A removed key goes on a free list and is
 * handed out again: the most recently removed key is reused first (LIFO), and
 * when nothing is free the next key is `capacity` (so a fresh slab hands out
 * 0, 1, 2, ...). The free list lives in a number array beside the values,
 * so once the slab has grown to its working size, insert and remove allocate
 * nothing.
 *
 * @example
 * ```ts
 * const slab = new Slab<string>();
 * const a = slab.insert('a'); // 0
 * const b = slab.insert('b'); // 1
 * slab.remove(a);
 * slab.insert('c');           // 0 again
 * ```
 */
export class Slab<T> implements Iterable<[number, T]> {
  private readonly values: (T | undefined)[] = [];
  /** Per slot: OCCUPIED, or the next free key (END closes the list). */
  private readonly next: number[] = [];
  private freeHead = END;
  private count = 0;
  /** Bumped by every change, so a vacant entry can tell it went stale. */
  private version = 0;

  /** Number of stored values. */
  get length(): number {
    return this.count;
  }

  /** Slots allocated so far (occupied or free). */
  get capacity(): number {
    return this.values.length;
  }

  /** The key the next insert will use. */
  get nextKey(): number {
    return this.freeHead === END ? this.values.length : this.freeHead;
  }

  /** Stores `value` and returns its key. */
  insert(value: T): number {
    this.version++;
    const key = this.freeHead;
    if (key === END) {
      this.values.push(value);
      this.next.push(OCCUPIED);
      this.count++;
      return this.values.length - 1;
    }
    this.freeHead = this.next[key];
    this.next[key] = OCCUPIED;
    this.values[key] = value;
    this.count++;
    return key;
  }

  /**
   * The next free slot, to learn the key before inserting. The entry is valid
   * until the slab is next changed; inserting through a stale entry throws.
   */
  vacantEntry(): VacantEntry<T> {
    const key = this.nextKey;
    const version = this.version;
    return {
      key,
      insert: (value: T): number => {
        if (this.version !== version) throw new Error(`vacant entry ${key} is stale: the slab changed since it was taken`);
        return this.insert(value);
      },
    };
  }

  /** True when `key` holds a value. */
  has(key: number): boolean {
    return Number.isInteger(key) && key >= 0 && key < this.next.length && this.next[key] === OCCUPIED;
  }

  /** The value under `key`, or undefined when the key is vacant or out of range. */
  get(key: number): T | undefined {
    return this.next[key] === OCCUPIED ? this.values[key] : undefined;
  }

  /**
   * Removes and returns the value under `key`.
   *
   * @throws RangeError when the key holds no value
   */
  remove(key: number): T {
    if (!this.has(key)) throw new RangeError(`slab has no value under key ${key}`);
    return this.take(key);
  }

  /** Removes and returns the value under `key`, or undefined when vacant. */
  tryRemove(key: number): T | undefined {
    return this.has(key) ? this.take(key) : undefined;
  }

  /** Removes every value; keys start again from 0. */
  clear(): void {
    this.version++;
    this.values.length = 0;
    this.next.length = 0;
    this.freeHead = END;
    this.count = 0;
  }

  /** `[key, value]` pairs in key order. */
  *entries(): IterableIterator<[number, T]> {
    for (let key = 0; key < this.values.length; key++) {
      if (this.next[key] === OCCUPIED) yield [key, this.values[key] as T];
    }
  }

  /** Keys in ascending order. */
  *keys(): IterableIterator<number> {
    for (const [key] of this.entries()) yield key;
  }

  /** Values in key order. */
  *valuesInOrder(): IterableIterator<T> {
    for (const [, value] of this.entries()) yield value;
  }

  /** Same as {@link entries}. */
  [Symbol.iterator](): IterableIterator<[number, T]> {
    return this.entries();
  }

  private take(key: number): T {
    this.version++;
    const value = this.values[key] as T;
    this.values[key] = undefined;
    this.next[key] = this.freeHead;
    this.freeHead = key;
    this.count--;
    return value;
  }
}
