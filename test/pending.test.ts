/**
 * Pending: a completion delivered by direct callback (no microtask queue),
 * so it works inside a blocking loop.run(). Settles once; then() on a
 * settled Pending runs its callback synchronously; it chains like a
 * Promise, adopts thenables, and can be awaited.
 */
import { describe, expect, it } from 'vitest';
import { Pending } from '../src/index';

describe('Pending settling', () => {
  it('starts unsettled and becomes settled on resolve', () => {
    const p = new Pending<number>();
    expect(p.settled).toBe(false);
    p.resolve(1);
    expect(p.settled).toBe(true);
  });

  it('resolves once: later resolve and reject calls are ignored', () => {
    const p = new Pending<number>();
    const seen: unknown[] = [];
    p.then(
      (v) => seen.push(['ok', v]),
      (e) => seen.push(['err', e]),
    );
    p.resolve(1);
    p.resolve(2);
    p.reject(new Error('late'));
    expect(seen).toEqual([['ok', 1]]);
    // A subscriber after settling sees the first value too.
    p.then((v) => seen.push(['later', v]));
    expect(seen).toEqual([['ok', 1], ['later', 1]]);
  });

  it('rejects once: later reject and resolve calls are ignored', () => {
    const p = new Pending<number>();
    const first = new Error('first');
    const seen: unknown[] = [];
    p.then(
      (v) => seen.push(['ok', v]),
      (e) => seen.push(['err', e]),
    );
    p.reject(first);
    p.reject(new Error('second'));
    p.resolve(3);
    expect(seen).toEqual([['err', first]]);
  });

  it('calls every waiter exactly once, in subscription order, synchronously inside resolve()', () => {
    const p = new Pending<string>();
    const order: string[] = [];
    p.then((v) => order.push(`a:${v}`));
    p.then((v) => order.push(`b:${v}`));
    p.then((v) => order.push(`c:${v}`));
    expect(order).toEqual([]);
    p.resolve('x');
    expect(order).toEqual(['a:x', 'b:x', 'c:x']);
  });

  it('calls rejection handlers synchronously inside reject()', () => {
    const p = new Pending<string>();
    const seen: unknown[] = [];
    p.then(undefined, (e) => seen.push(e));
    p.reject('boom');
    expect(seen).toEqual(['boom']);
  });

  it('runs then() callbacks synchronously when already fulfilled', () => {
    const p = Pending.resolved(7);
    let got: number | undefined;
    p.then((v) => {
      got = v;
    });
    expect(got).toBe(7);
  });

  it('runs then() rejection callbacks synchronously when already rejected', () => {
    const err = new Error('already');
    const p = Pending.rejected<number>(err);
    let got: unknown;
    p.then(undefined, (e) => {
      got = e;
    });
    expect(got).toBe(err);
  });

  it('Pending.resolved and Pending.rejected are settled at once', () => {
    expect(Pending.resolved('v').settled).toBe(true);
    const r = Pending.rejected(new Error('x'));
    expect(r.settled).toBe(true);
    r.catch(() => undefined); // handled
  });
});

describe('Pending chaining', () => {
  it('passes the callback result to the next Pending', () => {
    const p = new Pending<number>();
    const seen: number[] = [];
    p.then((v) => v + 1)
      .then((v) => v * 10)
      .then((v) => seen.push(v));
    p.resolve(1);
    expect(seen).toEqual([20]);
  });

  it('then() returns a Pending', () => {
    const chained = Pending.resolved(1).then((v) => v);
    expect(chained).toBeInstanceOf(Pending);
    expect(chained.settled).toBe(true);
  });

  it('passes a value through a then() without a fulfilment handler', () => {
    const seen: number[] = [];
    Pending.resolved(5)
      .then(undefined, () => -1)
      .then((v) => seen.push(v));
    expect(seen).toEqual([5]);
  });

  it('passes a rejection through a then() without a rejection handler', () => {
    const err = new Error('passes');
    const seen: unknown[] = [];
    Pending.rejected<number>(err)
      .then((v) => v + 1)
      .then(undefined, (e) => seen.push(e));
    expect(seen).toEqual([err]);
  });

  it('rejects the chained Pending when a fulfilment callback throws', () => {
    const err = new Error('thrown in then');
    const seen: unknown[] = [];
    Pending.resolved(1)
      .then(() => {
        throw err;
      })
      .then(
        () => seen.push('ok'),
        (e) => seen.push(e),
      );
    expect(seen).toEqual([err]);
  });

  it('rejects the chained Pending when a rejection callback throws', () => {
    const err2 = new Error('second');
    const seen: unknown[] = [];
    Pending.rejected(new Error('first'))
      .then(undefined, () => {
        throw err2;
      })
      .catch((e) => seen.push(e));
    expect(seen).toEqual([err2]);
  });

  it('recovers: a rejection callback return value fulfils the chained Pending', () => {
    const seen: unknown[] = [];
    Pending.rejected<string>(new Error('x'))
      .then(undefined, () => 'recovered')
      .then((v) => seen.push(v));
    expect(seen).toEqual(['recovered']);
  });
});

describe('Pending adopting thenables', () => {
  it('adopts a Pending returned from a callback and settles when it does', () => {
    const inner = new Pending<string>();
    const seen: string[] = [];
    Pending.resolved(1)
      .then(() => inner)
      .then((v) => seen.push(v));
    expect(seen).toEqual([]);
    inner.resolve('inner value');
    expect(seen).toEqual(['inner value']);
  });

  it('adopts the rejection of a returned Pending', () => {
    const inner = new Pending<string>();
    const err = new Error('inner failed');
    const seen: unknown[] = [];
    Pending.resolved(1)
      .then(() => inner)
      .catch((e) => seen.push(e));
    inner.reject(err);
    expect(seen).toEqual([err]);
  });

  it('adopts a foreign thenable returned from a callback', () => {
    let settle: ((v: string) => void) | undefined;
    const thenable: PromiseLike<string> = {
      then(onOk) {
        settle = (v) => onOk?.(v);
        return thenable as never;
      },
    };
    const seen: string[] = [];
    Pending.resolved(0)
      .then(() => thenable)
      .then((v) => seen.push(v));
    expect(settle).toBeTypeOf('function');
    expect(seen).toEqual([]);
    settle?.('from thenable');
    expect(seen).toEqual(['from thenable']);
  });

  it('adopts a real Promise returned from a callback (settling after microtasks)', async () => {
    const chained = Pending.resolved(1).then((v) => Promise.resolve(v + 41));
    expect(chained.settled).toBe(false);
    await expect(chained).resolves.toBe(42);
  });

  it('adopts a real rejected Promise returned from a callback', async () => {
    const chained = Pending.resolved(1).then(() => Promise.reject(new Error('promise rejected')));
    await expect(chained).rejects.toThrow('promise rejected');
  });
});

describe('Pending with await', () => {
  it('can be awaited in an async function when resolved later', async () => {
    const p = new Pending<string>();
    const timer = setTimeout(() => p.resolve('later'), 5);
    try {
      expect(await p).toBe('later');
    } finally {
      clearTimeout(timer);
    }
  });

  it('can be awaited when already resolved', async () => {
    expect(await Pending.resolved(3)).toBe(3);
  });

  it('throws the rejection reason from await', async () => {
    const p = new Pending<string>();
    const err = new Error('awaited failure');
    setTimeout(() => p.reject(err), 5);
    let caught: unknown;
    try {
      await p;
    } catch (e) {
      caught = e;
    }
    expect(caught).toBe(err);
  });

  it('works with Promise.all and Promise.resolve', async () => {
    const a = new Pending<number>();
    const b = new Pending<number>();
    const all = Promise.all([a, b, Promise.resolve(a)]);
    b.resolve(2);
    a.resolve(1);
    expect(await all).toEqual([1, 2, 1]);
  });
});

describe('Pending.catch', () => {
  it('handles a rejection and fulfils with the handler result', () => {
    const seen: unknown[] = [];
    Pending.rejected<number>(new Error('c'))
      .catch(() => 99)
      .then((v) => seen.push(v));
    expect(seen).toEqual([99]);
  });

  it('does not run for a fulfilled Pending and passes the value on', () => {
    const seen: unknown[] = [];
    let called = false;
    Pending.resolved(4)
      .catch(() => {
        called = true;
        return -1;
      })
      .then((v) => seen.push(v));
    expect(called).toBe(false);
    expect(seen).toEqual([4]);
  });

  it('runs when the Pending is rejected later', () => {
    const p = new Pending<number>();
    const seen: unknown[] = [];
    p.catch((e) => seen.push(e));
    expect(seen).toEqual([]);
    p.reject('late');
    expect(seen).toEqual(['late']);
  });
});
