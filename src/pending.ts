/**
 * Pending: a completion that works without the microtask queue.
 *
 * @packageDocumentation
 */

type Settle<T> = { ok: (value: T) => void; err: (error: unknown) => void };

const PENDING = 0;
const FULFILLED = 1;
const REJECTED = 2;

/**
 * A value that arrives later, delivered by direct callback.
 *
 * A Promise settles through the microtask queue, which never drains while a
 * blocking `loop.run()` owns the thread. A Pending calls its callbacks as
 * soon as it settles (or at once, if it already has), so it works in run()
 * mode as well as attach() mode. It is a thenable: `await` works on it where
 * microtasks run (attach mode, ordinary async code).
 *
 * Callbacks therefore run synchronously inside `resolve`/`reject` or `then`;
 * do not rely on Promise/A+ asynchrony.
 */
export class Pending<T> implements PromiseLike<T> {
  private state = PENDING;
  private value: unknown = undefined;
  private waiters: Settle<T>[] | null = null;

  /** A Pending already fulfilled with `value`. */
  static resolved<T>(value: T): Pending<T> {
    const p = new Pending<T>();
    p.resolve(value);
    return p;
  }

  /** A Pending already rejected with `error`. */
  static rejected<T = never>(error: unknown): Pending<T> {
    const p = new Pending<T>();
    p.reject(error);
    return p;
  }

  /** True once fulfilled or rejected. */
  get settled(): boolean {
    return this.state !== PENDING;
  }

  /** Fulfils with `value`; later calls are ignored. */
  resolve(value: T): void {
    if (this.state !== PENDING) return;
    this.state = FULFILLED;
    this.value = value;
    this.flush();
  }

  /** Rejects with `error`; later calls are ignored. */
  reject(error: unknown): void {
    if (this.state !== PENDING) return;
    this.state = REJECTED;
    this.value = error;
    this.flush();
  }

  /**
   * Subscribes; the callback runs at once if already settled. Returns a new
   * Pending for the callback's result (a thrown error rejects it).
   */
  then<R1 = T, R2 = never>(
    onFulfilled?: ((value: T) => R1 | PromiseLike<R1>) | null,
    onRejected?: ((error: unknown) => R2 | PromiseLike<R2>) | null,
  ): Pending<R1 | R2> {
    const next = new Pending<R1 | R2>();
    const adopt = (r: unknown): void => {
      if (r !== null && typeof r === 'object' && typeof (r as PromiseLike<unknown>).then === 'function') {
        (r as PromiseLike<R1 | R2>).then(
          (v) => next.resolve(v),
          (e) => next.reject(e),
        );
      } else {
        next.resolve(r as R1 | R2);
      }
    };
    this.subscribe({
      ok: (v) => {
        if (onFulfilled == null) return next.resolve(v as unknown as R1);
        try {
          adopt(onFulfilled(v));
        } catch (e) {
          next.reject(e);
        }
      },
      err: (e) => {
        if (onRejected == null) return next.reject(e);
        try {
          adopt(onRejected(e));
        } catch (e2) {
          next.reject(e2);
        }
      },
    });
    return next;
  }

  /** Subscribes to failure only. */
  catch<R = never>(onRejected: (error: unknown) => R | PromiseLike<R>): Pending<T | R> {
    return this.then(undefined, onRejected);
  }

  /**
   * Calls `ok` or `err` when settled, without creating a chained Pending.
   *
   * @internal
   */
  subscribe(settle: Settle<T>): void {
    if (this.state === FULFILLED) settle.ok(this.value as T);
    else if (this.state === REJECTED) settle.err(this.value);
    else (this.waiters ??= []).push(settle);
  }

  private flush(): void {
    const waiters = this.waiters;
    this.waiters = null;
    if (waiters === null) return;
    for (const w of waiters) {
      if (this.state === FULFILLED) w.ok(this.value as T);
      else w.err(this.value);
    }
  }
}
