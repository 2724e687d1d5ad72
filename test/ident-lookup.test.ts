/**
 * OwnerLookup under load: answers the kernel drops (ENOBUFS) are asked for
 * again, requests past the in-flight cap queue and all resolve, one sweep
 * timer expires requests that get no answer, and the uid-to-name cache is
 * bounded and cleared by clearNames().
 *
 * The connections asked about are this process's own (node:net on
 * 127.0.0.1), so every lookup must find this process's uid.
 */
import * as net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { EventLoop } from '../src/event-loop';
import { OwnerLookup, type ConnectionTuple, type OwnerLookupOptions } from '../src/ident/lookup';
import type { Owner } from '../src/ident/tasks';
import { later, runCleanups } from './cleanup';
import { waitFor, within } from './waits';

afterEach(runCleanups, 20000);

const UID = typeof process.getuid === 'function' ? process.getuid() : -1;
const LINUX = process.platform === 'linux';

/** An attached loop and a netlink lookup on it, closed after the test. */
function lookupOn(options: OwnerLookupOptions): { loop: EventLoop; lookup: OwnerLookup } {
  const loop = new EventLoop();
  const lookup = new OwnerLookup(loop, options);
  later(() => loop.close());
  later(() => lookup.close());
  loop.attach();
  return { loop, lookup };
}

/**
 * `n` connections over 127.0.0.1 between a node:net server and clients of
 * this process, as the tuples of their accepted ends.
 */
async function connections(n: number): Promise<ConnectionTuple[]> {
  const accepted: net.Socket[] = [];
  const server = net.createServer((s) => {
    s.on('error', () => {});
    accepted.push(s);
  });
  const clients: net.Socket[] = [];
  later(() => {
    for (const s of [...clients, ...accepted]) s.destroy();
    server.close();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as net.AddressInfo).port;
  await Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<void>((resolve, reject) => {
          const c = net.connect({ port, host: '127.0.0.1' }, () => resolve());
          c.once('error', reject);
          clients.push(c);
        }),
    ),
  );
  // Accepted: one still in the listen queue has no inode yet, and a lookup
  // reports it as orphaned.
  await waitFor(() => accepted.length === n, 5000, 'the server to accept every connection');
  return clients.map((c) => ({
    local: { family: 'IPv4', address: '127.0.0.1', port },
    remote: { family: 'IPv4', address: '127.0.0.1', port: c.localPort as number },
  }));
}

/** The owners of `tuples`, all asked for in one tick. */
function ownersOf(lookup: OwnerLookup, tuples: ConnectionTuple[]): Promise<(Owner | null)[]> {
  return Promise.all(tuples.map((t) => new Promise<Owner | null>((resolve) => lookup.owner(t).subscribe({ ok: resolve, err: () => resolve(null) }))));
}

describe.skipIf(!LINUX)('OwnerLookup over netlink', () => {
  it('finds every owner of a burst larger than a minimal receive buffer holds (answers dropped with ENOBUFS are asked for again)', async () => {
    // receiveBuffer 1: the kernel's minimum, a few answers. Without the
    // resend, the rest would wait out timeoutMs and resolve null.
    const { lookup } = lookupOn({ procFallback: false, receiveBuffer: 1, timeoutMs: 10000 });
    expect(lookup.usesNetlink).toBe(true);
    const tuples = await connections(64);
    const started = performance.now();
    const owners = await within(ownersOf(lookup, tuples), 8000, 'the burst of lookups');
    expect(owners.map((o) => o?.uid ?? null)).toEqual(tuples.map(() => UID));
    expect(performance.now() - started).toBeLessThan(5000);
    expect(lookup.inFlight).toBe(0);
  }, 20000);

  it('queues the queries past maxInFlight and resolves all of them, in order of arrival', async () => {
    const { lookup } = lookupOn({ procFallback: false, maxInFlight: 4, timeoutMs: 10000 });
    const tuples = await connections(40);
    const order: number[] = [];
    const all = Promise.all(
      tuples.map(
        (t, i) =>
          new Promise<Owner | null>((resolve) =>
            lookup.owner(t).subscribe({
              ok: (o) => {
                order.push(i);
                resolve(o);
              },
              err: () => resolve(null),
            }),
          ),
      ),
    );
    expect(lookup.inFlight).toBe(4);
    expect(lookup.queued).toBe(36);
    const owners = await within(all, 8000, 'the queued lookups');
    expect(owners.map((o) => o?.uid ?? null)).toEqual(tuples.map(() => UID));
    expect(order).toEqual(tuples.map((_, i) => i));
    expect(lookup.inFlight).toBe(0);
    expect(lookup.queued).toBe(0);
  }, 20000);

  it('expires a request whose answer was dropped after timeoutMs, as a miss (one sweep timer, no resends)', async () => {
    const { lookup } = lookupOn({ procFallback: false, receiveBuffer: 1, resends: 0, timeoutMs: 300 });
    const tuples = await connections(64);
    const started = performance.now();
    const settled: number[] = [];
    const owners = await within(
      Promise.all(
        tuples.map(
          (t) =>
            new Promise<Owner | null>((resolve) =>
              lookup.owner(t).subscribe({
                ok: (o) => {
                  settled.push(performance.now() - started);
                  resolve(o);
                },
                err: () => resolve(null),
              }),
            ),
        ),
      ),
      5000,
      'the lookups to answer or expire',
    );
    const missed = owners.filter((o) => o === null).length;
    // A minimal buffer holds a few answers of 64: the rest were dropped.
    expect(missed).toBeGreaterThan(0);
    expect(owners.filter((o) => o !== null).every((o) => o!.uid === UID)).toBe(true);
    const late = settled.filter((ms) => ms >= 250);
    expect(late.length).toBe(missed);
    expect(Math.max(...settled)).toBeLessThan(2000);
    expect(lookup.inFlight).toBe(0);
  }, 20000);
});

describe('OwnerLookup user names', () => {
  it('keeps at most nameCacheEntries names, and clearNames() forgets them all', async () => {
    const { loop, lookup } = lookupOn({ netlink: false, nameCacheEntries: 3 });
    await within(lookup.prepare(), 15000, 'the lookup workers');
    const name = (uid: number): Promise<string | null> =>
      new Promise((resolve, reject) => lookup.userName(uid).subscribe({ ok: resolve, err: reject }));
    for (let uid = 0; uid < 8; uid++) await within(name(uid), 5000, `the name of uid ${uid}`);
    expect(lookup.cachedNames).toBe(3);
    // The newest stay: a cached name resolves at once, in the same tick.
    let now: string | null | undefined;
    lookup.userName(7).subscribe({ ok: (n) => (now = n), err: () => undefined });
    expect(now).not.toBeUndefined();
    lookup.clearNames();
    expect(lookup.cachedNames).toBe(0);
    let after: string | null | undefined;
    const again = lookup.userName(7);
    again.subscribe({ ok: (n) => (after = n), err: () => undefined });
    expect(after).toBeUndefined(); // asked of the name service again
    await within(new Promise((resolve) => again.subscribe({ ok: resolve, err: resolve })), 5000, 'the name again');
    expect(after).toBe(now);
    expect(loop.state).not.toBe('closed');
  }, 30000);
});
