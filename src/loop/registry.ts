/**
 * The loop's registrations: a Slab of entries keyed by the low bits of
 * their tokens, with a generation in the high bits so that an event for a
 * closed registration never reaches the one that took its key.
 *
 * @packageDocumentation
 */
import { Slab } from '../slab';

/** Bits of a token that hold the slab key; the rest hold a generation. */
export const KEY_BITS = 20;
const KEY_MASK = (1 << KEY_BITS) - 1;
const GEN_LIMIT = 1 << (32 - KEY_BITS);

/**
 * The most registrations (connections, listeners, sources) one loop holds.
 * The three highest keys are reserved for the loop's own tokens: the
 * waker's, Node's loop's, and the io_uring ring's eventfd while attached
 * (0xfffffffd, native/pump.h's kRingToken).
 */
export const MAX_REGISTRATIONS = KEY_MASK - 2;
/** The loop's own waker token: its key part is never a slab key. */
export const WAKER_TOKEN = 0xffffffff;
/** Node's own libuv loop, watched during run() in a worker. */
export const NODE_LOOP_TOKEN = 0xfffffffe;

/** What every registry entry carries. @internal */
export interface Registered {
  /** Slab key plus generation. */
  readonly token: number;
}

/**
 * Tokens, slab and generations in one place. A registration's token is its
 * slab key plus a generation bumped each time the key is freed, so an event
 * still in the current batch for a connection that was closed, and whose key
 * a new connection took, is recognised as stale and dropped (the ABA problem
 * of mio issues #219 and #935).
 *
 * @internal
 */
export class Registry<E extends Registered> {
  private readonly slab = new Slab<E>();
  private readonly generations: number[] = [];

  /** Registrations held. */
  get size(): number {
    return this.slab.length;
  }

  /** The token the next {@link insert} must carry. */
  nextToken(): number {
    const key = this.slab.nextKey;
    if (key >= MAX_REGISTRATIONS) throw new RangeError(`an EventLoop holds at most ${MAX_REGISTRATIONS} registrations`);
    const gen = this.generations[key] ?? 0;
    return ((gen << KEY_BITS) | key) >>> 0;
  }

  /** Stores an entry made with the token from {@link nextToken}. */
  insert(entry: E): void {
    const key = this.slab.insert(entry);
    if (((entry.token & KEY_MASK) >>> 0) !== key) throw new Error('slab key does not match the token');
  }

  /** The live entry for `token`, or undefined when it is stale or unknown. */
  lookup(token: number): E | undefined {
    const entry = this.slab.get(token & KEY_MASK);
    return entry !== undefined && entry.token === token ? entry : undefined;
  }

  /** True while `entry` is registered. */
  holds(entry: E): boolean {
    return this.slab.get(entry.token & KEY_MASK) === entry;
  }

  /** Removes `entry` if it is registered; its key gets a new generation. */
  remove(entry: E): void {
    const key = entry.token & KEY_MASK;
    if (this.slab.get(key) !== entry) return;
    this.slab.remove(key);
    this.generations[key] = ((this.generations[key] ?? 0) + 1) % GEN_LIMIT;
  }

  /** A snapshot of every entry, safe to close them while iterating. */
  snapshot(): E[] {
    const all: E[] = [];
    for (const [, entry] of this.slab) all.push(entry);
    return all;
  }
}
