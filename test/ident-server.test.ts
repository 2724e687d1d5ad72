/**
 * createIdentServer (src/ident/server.ts) in attach() mode, driven by
 * node:net clients over loopback, with real socket owners.
 *
 * Two system users (edgeloop-alice, edgeloop-bob) own the two ends of real
 * TCP connections: a small node child runs as each through runuser, one
 * listening and one connecting, and both keep their sockets open. The
 * server must name the right user for each end, with netlink sock_diag,
 * with netlink alone (no /proc fallback), and with the /proc fallback alone.
 *
 * The tests that ask about those users' sockets need root (useradd,
 * runuser, setpriv) and skip, saying so, for other users; the rest run as
 * anyone. Needs `npx tsc -p .` first (the lookup's worker tasks load from
 * dist/ident/tasks.js). Loopback only; every wait is
 * bounded; every child is killed by its pid in afterAll.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { EventLoop } from '../src/event-loop';
import type { OwnerLookupOptions } from '../src/ident/lookup';
import { MAX_REPLY_OCTETS } from '../src/ident/protocol';
import { createIdentServer, DEFAULT_IDLE_TIMEOUT_MS, type IdentLogEntry, type IdentServer, type IdentServerOptions } from '../src/ident/server';
import { later, runCleanups } from './cleanup';
import { ALICE, BOB, ensureUser, namelessConnection, ownedConnection, stopOwners, unnamedUid, type OwnedConnection } from './ident-owners';
import { NetClient } from './net-client';
import { setupAsRoot, skipUnlessRoot } from './root';
import { sleep, within } from './waits';

const NODE = process.execPath;

// ---------------------------------------------------------------------------
// Cleanup
// ---------------------------------------------------------------------------

afterEach(runCleanups, 20000);

// ---------------------------------------------------------------------------
// Ident servers and clients
// ---------------------------------------------------------------------------

/** A started server and its ports: v4 on 127.0.0.1, v6 on ::1, extra on 127.0.0.3. */
interface Started {
  server: IdentServer;
  v4: number;
  v6: number;
  alt: number;
}

/**
 * An attached ident server on 127.0.0.1, ::1 and 127.0.0.3 (port 0),
 * closed after the test.
 */
function startServer(options: IdentServerOptions = {}): Started {
  const server = createIdentServer({ addresses: ['127.0.0.1', '::1', '127.0.0.3'], port: 0, ...options });
  later(async () => {
    await workersLoaded(server);
    server.close();
  });
  server.loop.attach();
  const port = (address: string): number => {
    const a = server.addresses.find((x) => x.address === address);
    if (a === undefined) throw new Error(`server not bound on ${address}: ${JSON.stringify(server.addresses)}`);
    return a.port;
  };
  return { server, v4: port('127.0.0.1'), v6: port('::1'), alt: port('127.0.0.3') };
}

/**
 * Waits until every worker of the server's blocking pool has loaded (one
 * trivial task per worker, all at once: each idle worker takes one). Closing
 * the pool while a worker still loads the addon aborts the process (see the
 * 'server lifetime' test), which would take this whole file down with it.
 */
async function workersLoaded(server: IdentServer): Promise<void> {
  if (server.loop.state === 'closed') return;
  const tasks = Array.from(
    { length: 4 },
    () => new Promise<void>((resolve) => server.loop.spawnBlocking((x: number) => x, 0).subscribe({ ok: () => resolve(), err: () => resolve() })),
  );
  await within(Promise.all(tasks), 15000, 'the blocking pool workers to load').catch(() => undefined);
}

/** Sends `query` CR LF on a new connection and returns the one reply line. */
async function ask(host: string, port: number, query: string, localAddress?: string): Promise<string> {
  const c = await NetClient.connect(port, { host, localAddress });
  c.write(`${query}\r\n`);
  const [reply] = await c.lines(1);
  c.destroy();
  return reply;
}

// ---------------------------------------------------------------------------
// The owned connections, made once
// ---------------------------------------------------------------------------

let v4: OwnedConnection; // alice listens on 127.0.0.1, bob connects
let v6: OwnedConnection; // alice listens on ::1, bob connects
let mapped: OwnedConnection; // alice listens on :: (dual-stack), bob connects to 127.0.0.1
let elsewhere: OwnedConnection; // alice listens on 127.0.0.3, bob connects from 127.0.0.2
let nameless: OwnedConnection; // listener runs as a uid with no passwd entry
let namelessUid = 0;
let aliceUid = 0;
let bobUid = 0;

/** Why the tests that ask about the owned connections need root. */
const OWNERS =
  'asks about sockets held by the test users edgeloop-alice and edgeloop-bob (or a uid with no passwd entry), made by creating them (useradd) and running processes as them (runuser, setpriv)';

beforeAll(() => {
  if (!fs.existsSync(`${__dirname}/../dist/ident/tasks.js`)) {
    throw new Error('dist/ident/tasks.js is missing: run `npx tsc -p .` before these tests');
  }
});

// As root, every test fails with the setup's error (never skips) when it fails.
setupAsRoot(async () => {
  aliceUid = ensureUser(ALICE);
  bobUid = ensureUser(BOB);
  v4 = await ownedConnection({ listenUser: ALICE, listenHost: '127.0.0.1', connectUser: BOB, connectHost: '127.0.0.1' });
  v6 = await ownedConnection({ listenUser: ALICE, listenHost: '::1', connectUser: BOB, connectHost: '::1' });
  mapped = await ownedConnection({ listenUser: ALICE, listenHost: '::', connectUser: BOB, connectHost: '127.0.0.1' });
  elsewhere = await ownedConnection({
    listenUser: ALICE,
    listenHost: '127.0.0.3',
    connectUser: BOB,
    connectHost: '127.0.0.3',
    localAddress: '127.0.0.2',
  });
  namelessUid = unnamedUid();
  nameless = await namelessConnection(namelessUid);
}, 60000);

afterAll(stopOwners, 20000);

/** A connection in the test process (owned by root), kept open until the test ends. */
async function rootConnection(): Promise<{ serverPort: number; clientPort: number; close: () => Promise<number> }> {
  const accepted: net.Socket[] = [];
  const srv = net.createServer((s) => {
    accepted.push(s);
    s.on('error', () => {});
  });
  await within(new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r())), 3000, 'listen');
  const serverPort = (srv.address() as net.AddressInfo).port;
  const c = net.connect({ host: '127.0.0.1', port: serverPort });
  c.on('error', () => {});
  await within(new Promise<void>((r) => c.once('connect', () => r())), 3000, 'connect');
  const clientPort = c.localPort as number;
  later(() => {
    c.destroy();
    for (const s of accepted) s.destroy();
    srv.close();
  });
  return {
    serverPort,
    clientPort,
    // The client closes first, so its end (127.0.0.1:clientPort) goes to TIME_WAIT.
    close: async () => {
      await within(
        new Promise<void>((r) => {
          c.once('close', () => r());
          c.end();
        }),
        3000,
        'client close',
      );
      await within(
        (async () => {
          while (accepted.length === 0) await sleep(10);
          accepted[0].end();
        })(),
        3000,
        'accepted socket',
      );
      return clientPort;
    },
  };
}

/** The /proc/net/tcp state (hex) of the socket local 127.0.0.1:lport -> 127.0.0.1:rport, or null. */
function procState(lport: number, rport: number): string | null {
  const hex = (p: number): string => p.toString(16).toUpperCase().padStart(4, '0');
  const want = [`0100007F:${hex(lport)}`, `0100007F:${hex(rport)}`];
  for (const line of fs.readFileSync('/proc/net/tcp', 'latin1').split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f[1] === want[0] && f[2] === want[1]) return f[3];
  }
  return null;
}

// ---------------------------------------------------------------------------
// Owner lookups, in every lookup configuration
// ---------------------------------------------------------------------------

const lookups: [string, OwnerLookupOptions][] = [
  ['default lookup (netlink with /proc fallback)', {}],
  ['netlink only (procFallback: false)', { procFallback: false }],
  ['/proc only (netlink: false)', { netlink: false }],
];

describe.each(lookups)('owner lookup: %s', (_name, lookup) => {
  it('uses netlink exactly when it is enabled', () => {
    const { server } = startServer({ lookup });
    expect(server.lookup.usesNetlink).toBe(lookup.netlink !== false);
  });

  it('names edgeloop-alice for the listening end of an alice<->bob connection over 127.0.0.1', async (ctx) => {
    skipUnlessRoot(ctx, OWNERS);
    const { v4: port } = startServer({ lookup });
    const q = `${v4.serverPort}, ${v4.clientPort}`;
    expect(await ask('127.0.0.1', port, q)).toBe(`${q} : USERID : UNIX : ${ALICE}`);
  });

  it('names edgeloop-bob for the connecting end of the same connection', async (ctx) => {
    skipUnlessRoot(ctx, OWNERS);
    const { v4: port } = startServer({ lookup });
    const q = `${v4.clientPort}, ${v4.serverPort}`;
    expect(await ask('127.0.0.1', port, q)).toBe(`${q} : USERID : UNIX : ${BOB}`);
  });

  it('names both ends of a ::1 connection when queried over ::1', async (ctx) => {
    skipUnlessRoot(ctx, OWNERS);
    const { v6: port } = startServer({ lookup });
    const c = await NetClient.connect(port, { host: '::1' });
    c.write(`${v6.serverPort}, ${v6.clientPort}\r\n${v6.clientPort}, ${v6.serverPort}\r\n`);
    expect(await c.lines(2)).toEqual([
      `${v6.serverPort}, ${v6.clientPort} : USERID : UNIX : ${ALICE}`,
      `${v6.clientPort}, ${v6.serverPort} : USERID : UNIX : ${BOB}`,
    ]);
  });

  it('names edgeloop-alice for a v4-mapped end (dual-stack :: listener, client from 127.0.0.1)', async (ctx) => {
    skipUnlessRoot(ctx, OWNERS);
    const { v4: port } = startServer({ lookup });
    const q = `${mapped.serverPort}, ${mapped.clientPort}`;
    expect(await ask('127.0.0.1', port, q)).toBe(`${q} : USERID : UNIX : ${ALICE}`);
  });

  it('names edgeloop-bob for the plain IPv4 end of that v4-mapped connection', async (ctx) => {
    skipUnlessRoot(ctx, OWNERS);
    const { v4: port } = startServer({ lookup });
    const q = `${mapped.clientPort}, ${mapped.serverPort}`;
    expect(await ask('127.0.0.1', port, q)).toBe(`${q} : USERID : UNIX : ${BOB}`);
  });

  it('answers NO-USER about a 127.0.0.2 -> 127.0.0.3 connection asked from 127.0.0.1 (RFC 1413 section 3)', async (ctx) => {
    skipUnlessRoot(ctx, OWNERS);
    const { v4: port } = startServer({ lookup });
    const q = `${elsewhere.serverPort}, ${elsewhere.clientPort}`;
    expect(await ask('127.0.0.1', port, q)).toBe(`${q} : ERROR : NO-USER`);
  });

  it('answers a querier at the connection own addresses (127.0.0.2 asking 127.0.0.3) with the owner', async (ctx) => {
    skipUnlessRoot(ctx, OWNERS);
    const { alt } = startServer({ lookup });
    const q = `${elsewhere.serverPort}, ${elsewhere.clientPort}`;
    expect(await ask('127.0.0.3', alt, q, '127.0.0.2')).toBe(`${q} : USERID : UNIX : ${ALICE}`);
  });

  it('answers NO-USER about a 127.0.0.1 connection asked over ::1 (addresses are the query connection own)', async (ctx) => {
    skipUnlessRoot(ctx, OWNERS);
    const { v6: port } = startServer({ lookup });
    const q = `${v4.serverPort}, ${v4.clientPort}`;
    expect(await ask('::1', port, q)).toBe(`${q} : ERROR : NO-USER`);
  });

  it('answers NO-USER, not the listener owner, for a listening port paired with an unconnected client port', async (ctx) => {
    skipUnlessRoot(ctx, OWNERS);
    const { v4: port } = startServer({ lookup });
    // The kernel's exact sock_diag lookup falls back to the listener here.
    const unused = v4.clientPort === 65000 ? 65001 : 65000;
    const q = `${v4.serverPort}, ${unused}`;
    expect(await ask('127.0.0.1', port, q)).toBe(`${q} : ERROR : NO-USER`);
  });

  it('answers a live connection owned by root as root (uid 0 with an inode is an owner)', async (ctx) => {
    skipUnlessRoot(ctx, 'expects a connection of the test process itself to be owned by root');
    const { v4: port } = startServer({ lookup });
    const rc = await rootConnection();
    const q = `${rc.serverPort}, ${rc.clientPort}`;
    expect(await ask('127.0.0.1', port, q)).toBe(`${q} : USERID : UNIX : root`);
  });

  it('answers the numeric uid for an owner with no passwd entry', async (ctx) => {
    skipUnlessRoot(ctx, OWNERS);
    const { v4: port } = startServer({ lookup });
    const q = `${nameless.serverPort}, ${nameless.clientPort}`;
    expect(await ask('127.0.0.1', port, q)).toBe(`${q} : USERID : UNIX : ${namelessUid}`);
  });

  it('answers NO-USER for a connection end in TIME_WAIT (uid 0, inode 0: no owner)', async () => {
    const { v4: port } = startServer({ lookup });
    const rc = await rootConnection();
    await rc.close();
    const deadline = Date.now() + 3000;
    while (procState(rc.clientPort, rc.serverPort) !== '06' && Date.now() < deadline) await sleep(20);
    expect(procState(rc.clientPort, rc.serverPort), 'the client end is in TIME_WAIT').toBe('06');
    const q = `${rc.clientPort}, ${rc.serverPort}`;
    expect(await ask('127.0.0.1', port, q)).toBe(`${q} : ERROR : NO-USER`);
  });
});

// ---------------------------------------------------------------------------
// Framing and pipelining
// ---------------------------------------------------------------------------

describe('queries on one connection', () => {
  /** 50 queries mixing lookups that hit, miss and do not parse, with their expected replies. */
  function fiftyQueries(): { text: string; expected: string[] } {
    const queries: string[] = [];
    const expected: string[] = [];
    for (let i = 0; i < 50; i++) {
      switch (i % 5) {
        case 0:
          queries.push(`${v4.serverPort}, ${v4.clientPort}`);
          expected.push(`${v4.serverPort}, ${v4.clientPort} : USERID : UNIX : ${ALICE}`);
          break;
        case 1:
          queries.push(`${v4.clientPort}, ${v4.serverPort}`);
          expected.push(`${v4.clientPort}, ${v4.serverPort} : USERID : UNIX : ${BOB}`);
          break;
        case 2:
          queries.push(`${1000 + i}, ${2000 + i}`);
          expected.push(`${1000 + i}, ${2000 + i} : ERROR : NO-USER`);
          break;
        case 3:
          queries.push(`${70000 + i}, 5`);
          expected.push(`${70000 + i}, 5 : ERROR : INVALID-PORT`);
          break;
        default:
          queries.push(`${mapped.serverPort} ,\t${mapped.clientPort}`);
          expected.push(`${mapped.serverPort}, ${mapped.clientPort} : USERID : UNIX : ${ALICE}`);
      }
    }
    return { text: queries.map((q) => `${q}\r\n`).join(''), expected };
  }

  it('answers 50 pipelined queries sent in one write, in order', async (ctx) => {
    skipUnlessRoot(ctx, OWNERS);
    const { v4: port } = startServer();
    const c = await NetClient.connect(port);
    const { text, expected } = fiftyQueries();
    c.write(text);
    expect(await c.lines(50, 10000)).toEqual(expected);
  });

  it('keeps the connection open after answering pipelined queries', async (ctx) => {
    skipUnlessRoot(ctx, OWNERS);
    const { v4: port } = startServer();
    const c = await NetClient.connect(port);
    const { text } = fiftyQueries();
    c.write(text);
    await c.lines(50, 10000);
    c.write(`${v4.serverPort}, ${v4.clientPort}\r\n`);
    expect((await c.lines(51))[50]).toBe(`${v4.serverPort}, ${v4.clientPort} : USERID : UNIX : ${ALICE}`);
  });

  it('answers all 50 pipelined queries when the client half-closes right after writing them', async (ctx) => {
    skipUnlessRoot(ctx, OWNERS);
    const { v4: port } = startServer();
    const c = await NetClient.connect(port);
    const { text, expected } = fiftyQueries();
    c.sock.end(text);
    await c.waitClosed(10000);
    expect(c.text.split('\r\n').slice(0, -1)).toEqual(expected);
  });

  it('answers a query split across several writes', async () => {
    const { v4: port } = startServer();
    const c = await NetClient.connect(port);
    const q = '40123, 50123';
    for (const part of [q.slice(0, 2), q.slice(2, 5), q.slice(5), '\r', '\n']) {
      c.write(part);
      await sleep(30);
    }
    expect(await c.lines(1)).toEqual([`${q} : ERROR : NO-USER`]);
  });

  it('does not answer before the line ends', async () => {
    const { v4: port } = startServer();
    const c = await NetClient.connect(port);
    c.write('1, 2');
    await sleep(300);
    expect(c.text).toBe('');
  });

  it('accepts LF-only line ends and answers with CR LF', async () => {
    const { v4: port } = startServer();
    const c = await NetClient.connect(port);
    c.write('1, 2\n3, 4\n');
    await c.lines(2);
    expect(c.text).toBe('1, 2 : ERROR : NO-USER\r\n3, 4 : ERROR : NO-USER\r\n');
  });

  it('answers an empty line with INVALID-PORT and keeps serving the connection', async () => {
    const { v4: port } = startServer();
    const c = await NetClient.connect(port);
    c.write('\r\n1, 2\r\n');
    expect(await c.lines(2)).toEqual(['0, 0 : ERROR : INVALID-PORT', '1, 2 : ERROR : NO-USER']);
  });

  it('answers "4295022882, 5000" with INVALID-PORT, never as port 55586', async () => {
    const { v4: port } = startServer();
    expect(await ask('127.0.0.1', port, '4295022882, 5000')).toBe('4295022882, 5000 : ERROR : INVALID-PORT');
  });

  it('answers a 1000-byte line and keeps the connection open', async () => {
    const { v4: port } = startServer();
    const c = await NetClient.connect(port);
    c.write(`${'x'.repeat(1000)}\r\n`);
    const [reply] = await c.lines(1);
    expect(reply).toMatch(/ : ERROR : INVALID-PORT$/);
    c.write('1, 2\r\n');
    expect((await c.lines(2))[1]).toBe('1, 2 : ERROR : NO-USER');
  });

  it('answers a 1200-byte line with one INVALID-PORT reply, then closes the connection', async () => {
    const { v4: port } = startServer();
    const c = await NetClient.connect(port);
    c.write(`${'9'.repeat(1200)}\r\n`);
    await c.waitClosed(3000);
    expect(c.text).toBe('0, 0 : ERROR : INVALID-PORT\r\n');
  });

  it('never truncates a 1200-byte line into a valid query (valid ports padded with blanks)', async () => {
    const { v4: port } = startServer();
    const c = await NetClient.connect(port);
    const q = '40123, 50123';
    c.write(`${q}${' \t'.repeat((1200 - q.length) / 2 + 1)}`.slice(0, 1200) + '\r\n');
    await c.waitClosed(3000);
    expect(c.text).toBe('0, 0 : ERROR : INVALID-PORT\r\n');
  });

  it('answers the queries before a 1200-byte line, then INVALID-PORT, then closes', async (ctx) => {
    skipUnlessRoot(ctx, OWNERS);
    const { v4: port } = startServer();
    const c = await NetClient.connect(port);
    c.write(`${v4.serverPort}, ${v4.clientPort}\r\n${'9'.repeat(1200)}\r\n`);
    await c.waitClosed(3000);
    expect(c.text).toBe(`${v4.serverPort}, ${v4.clientPort} : USERID : UNIX : ${ALICE}\r\n0, 0 : ERROR : INVALID-PORT\r\n`);
  });

  it('keeps serving other connections after closing one for an over-long line', async () => {
    const { v4: port } = startServer();
    const other = await NetClient.connect(port);
    const bad = await NetClient.connect(port);
    bad.write('9'.repeat(1200));
    await bad.waitClosed(3000);
    other.write('1, 2\r\n');
    expect(await other.lines(1)).toEqual(['1, 2 : ERROR : NO-USER']);
    expect(await ask('127.0.0.1', port, '3, 4')).toBe('3, 4 : ERROR : NO-USER');
  });
});

// ---------------------------------------------------------------------------
// Idle timeout
// ---------------------------------------------------------------------------

describe('idle timeout', () => {
  it('closes a connection that sends nothing after idleTimeoutMs (300 ms)', async () => {
    const { v4: port } = startServer({ idleTimeoutMs: 300 });
    const start = Date.now();
    const first = await NetClient.connect(port);
    await sleep(50);
    // A second silent connection, opened after the first: its deadline is later.
    const second = await NetClient.connect(port);
    const order: string[] = [];
    first.sock.once('close', () => order.push('first'));
    second.sock.once('close', () => order.push('second'));
    await Promise.all([first.waitClosed(10000), second.waitClosed(10000)]);
    // The server closed both (its FIN, not the client's), not before the
    // timeout, and in the order their idle deadlines fall.
    expect(first.ended && second.ended).toBe(true);
    expect(first.closedAt - start).toBeGreaterThanOrEqual(250);
    expect(order).toEqual(['first', 'second']);
  });

  it('closes a connection that falls idle after a query, a timeout after that query', async () => {
    const { v4: port } = startServer({ idleTimeoutMs: 300 });
    const c = await NetClient.connect(port);
    await sleep(200);
    const sent = Date.now();
    c.write('1, 2\r\n');
    await c.lines(1);
    // Opened after the reply: its idle deadline falls after the queried one's.
    const later = await NetClient.connect(port);
    const order: string[] = [];
    c.sock.once('close', () => order.push('queried'));
    later.sock.once('close', () => order.push('later'));
    await Promise.all([c.waitClosed(10000), later.waitClosed(10000)]);
    // The reply came before the close, and the close before that of a
    // connection opened after the reply: the query's deadline, not a later one.
    expect(c.text).toBe('1, 2 : ERROR : NO-USER\r\n');
    expect(order).toEqual(['queried', 'later']);
    // The query at 200 ms moved the deadline: not closed at 300 ms after connecting.
    expect(c.closedAt - sent).toBeGreaterThanOrEqual(250);
  });

  // Idle time counts readiness events, and a query whose answer takes
  // longer than idleTimeoutMs (slow NSS such as LDAP in real life) must
  // still be answered: the connection is busy, not idle. The lookup is held
  // up here behind a task that blocks the pool's one worker until released.
  it('answers a query whose lookup outlasts the idle timeout before closing the connection', async (ctx) => {
    skipUnlessRoot(ctx, OWNERS);
    const loop = new EventLoop({ pool: { size: 1 } });
    later(() => loop.close());
    const { server, v4: port } = startServer({ loop, idleTimeoutMs: 300, lookup: { netlink: false } });
    await workersLoaded(server);
    const gate = new SharedArrayBuffer(4);
    const open = (): void => {
      Atomics.store(new Int32Array(gate), 0, 1);
      Atomics.notify(new Int32Array(gate), 0);
    };
    later(open);
    loop.spawnBlocking((sab: SharedArrayBuffer) => Atomics.wait(new Int32Array(sab), 0, 0, 20000), gate);
    const c = await NetClient.connect(port);
    c.write(`${v4.serverPort}, ${v4.clientPort}\r\n`);
    await sleep(1200); // four idle timeouts, the lookup waiting in the pool's queue
    expect(c.closed, 'closed with the query in flight').toBe(false);
    open();
    expect(await c.lines(1)).toEqual([`${v4.serverPort}, ${v4.clientPort} : USERID : UNIX : ${ALICE}`]);
  });

  it('does not close a connection that keeps sending queries for well past the timeout', async () => {
    const { v4: port } = startServer({ idleTimeoutMs: 300 });
    const c = await NetClient.connect(port);
    const q = '1, 2\r\n';
    for (let i = 0; i < 12; i++) {
      c.write(q);
      await sleep(100);
      expect(c.closed, `closed after ${(i + 1) * 100} ms of steady queries`).toBe(false);
    }
    expect(await c.lines(12)).toHaveLength(12);
  });

  it('defaults to an idle timeout within RFC 1413 range of 60-180 s', () => {
    expect(DEFAULT_IDLE_TIMEOUT_MS).toBeGreaterThanOrEqual(60000);
    expect(DEFAULT_IDLE_TIMEOUT_MS).toBeLessThanOrEqual(180000);
  });

  it('does not close an idle connection after 1 s by default', async () => {
    const { v4: port } = startServer();
    const c = await NetClient.connect(port);
    await sleep(1000);
    expect(c.closed).toBe(false);
  });
});

// ---------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------

describe('options', () => {
  it('fixedReply answers every valid query with that user, without a lookup', async (ctx) => {
    skipUnlessRoot(ctx, OWNERS);
    const { v4: port } = startServer({ fixedReply: 'nobody-here' });
    const c = await NetClient.connect(port);
    c.write(`${v4.serverPort}, ${v4.clientPort}\r\n1, 2\r\n`);
    expect(await c.lines(2)).toEqual([`${v4.serverPort}, ${v4.clientPort} : USERID : UNIX : nobody-here`, '1, 2 : USERID : UNIX : nobody-here']);
  });

  it('fixedReply still answers an invalid query with INVALID-PORT', async () => {
    const { v4: port } = startServer({ fixedReply: 'nobody-here' });
    expect(await ask('127.0.0.1', port, '0, 80')).toBe('0, 80 : ERROR : INVALID-PORT');
  });

  it('failReply answers a lookup miss with that user instead of NO-USER', async () => {
    const { v4: port } = startServer({ failReply: 'guest' });
    expect(await ask('127.0.0.1', port, '1, 2')).toBe('1, 2 : USERID : UNIX : guest');
  });

  it('failReply leaves a found owner alone', async (ctx) => {
    skipUnlessRoot(ctx, OWNERS);
    const { v4: port } = startServer({ failReply: 'guest' });
    const q = `${v4.serverPort}, ${v4.clientPort}`;
    expect(await ask('127.0.0.1', port, q)).toBe(`${q} : USERID : UNIX : ${ALICE}`);
  });

  it('unknownErrorOnly turns NO-USER into UNKNOWN-ERROR', async () => {
    const { v4: port } = startServer({ unknownErrorOnly: true });
    expect(await ask('127.0.0.1', port, '1, 2')).toBe('1, 2 : ERROR : UNKNOWN-ERROR');
  });

  it('unknownErrorOnly turns INVALID-PORT into UNKNOWN-ERROR', async () => {
    const { v4: port } = startServer({ unknownErrorOnly: true });
    expect(await ask('127.0.0.1', port, '70000, 2')).toBe('70000, 2 : ERROR : UNKNOWN-ERROR');
  });

  it('unknownErrorOnly turns HIDDEN-USER into UNKNOWN-ERROR', async (ctx) => {
    skipUnlessRoot(ctx, OWNERS);
    const { v4: port } = startServer({ unknownErrorOnly: true, hiddenUsers: [ALICE] });
    const q = `${v4.serverPort}, ${v4.clientPort}`;
    expect(await ask('127.0.0.1', port, q)).toBe(`${q} : ERROR : UNKNOWN-ERROR`);
  });

  it('unknownErrorOnly leaves USERID replies alone', async (ctx) => {
    skipUnlessRoot(ctx, OWNERS);
    const { v4: port } = startServer({ unknownErrorOnly: true });
    const q = `${v4.clientPort}, ${v4.serverPort}`;
    expect(await ask('127.0.0.1', port, q)).toBe(`${q} : USERID : UNIX : ${BOB}`);
  });

  it('hiddenUsers by name answers HIDDEN-USER for that user', async (ctx) => {
    skipUnlessRoot(ctx, OWNERS);
    const { v4: port } = startServer({ hiddenUsers: [ALICE] });
    const q = `${v4.serverPort}, ${v4.clientPort}`;
    expect(await ask('127.0.0.1', port, q)).toBe(`${q} : ERROR : HIDDEN-USER`);
  });

  it('hiddenUsers by name does not hide other users', async (ctx) => {
    skipUnlessRoot(ctx, OWNERS);
    const { v4: port } = startServer({ hiddenUsers: [ALICE] });
    const q = `${v4.clientPort}, ${v4.serverPort}`;
    expect(await ask('127.0.0.1', port, q)).toBe(`${q} : USERID : UNIX : ${BOB}`);
  });

  it('hiddenUsers by numeric uid answers HIDDEN-USER for that uid', async (ctx) => {
    skipUnlessRoot(ctx, OWNERS);
    const { v4: port } = startServer({ hiddenUsers: [bobUid] });
    const q = `${v4.clientPort}, ${v4.serverPort}`;
    expect(await ask('127.0.0.1', port, q)).toBe(`${q} : ERROR : HIDDEN-USER`);
  });

  it('hiddenUsers by uid does not hide other uids', async (ctx) => {
    skipUnlessRoot(ctx, OWNERS);
    const { v4: port } = startServer({ hiddenUsers: [bobUid] });
    const q = `${v4.serverPort}, ${v4.clientPort}`;
    expect(aliceUid).not.toBe(bobUid);
    expect(await ask('127.0.0.1', port, q)).toBe(`${q} : USERID : UNIX : ${ALICE}`);
  });

  it('writes the configured opsys and charset into USERID replies', async (ctx) => {
    skipUnlessRoot(ctx, OWNERS);
    const { v4: port } = startServer({ opsys: 'OTHER', charset: 'UTF-8' });
    const q = `${v4.serverPort}, ${v4.clientPort}`;
    expect(await ask('127.0.0.1', port, q)).toBe(`${q} : USERID : OTHER,UTF-8 : ${ALICE}`);
  });

  it('maxConnections 1 closes a second concurrent connection without an answer', async () => {
    const { v4: port } = startServer({ maxConnections: 1 });
    const first = await NetClient.connect(port);
    first.write('1, 2\r\n');
    await first.lines(1);
    const second = await NetClient.connect(port);
    second.write('1, 2\r\n');
    await second.waitClosed(3000);
    expect(second.text).toBe('');
  });

  it('maxConnections 1 keeps serving the first connection while refusing a second', async (ctx) => {
    skipUnlessRoot(ctx, OWNERS);
    const { v4: port } = startServer({ maxConnections: 1 });
    const first = await NetClient.connect(port);
    first.write('1, 2\r\n');
    await first.lines(1);
    const second = await NetClient.connect(port);
    await second.waitClosed(3000);
    first.write(`${v4.serverPort}, ${v4.clientPort}\r\n`);
    expect((await first.lines(2))[1]).toBe(`${v4.serverPort}, ${v4.clientPort} : USERID : UNIX : ${ALICE}`);
  });

  it('maxConnections 1 serves a new connection once the first has closed', async () => {
    const { v4: port } = startServer({ maxConnections: 1 });
    const first = await NetClient.connect(port);
    first.write('1, 2\r\n');
    await first.lines(1);
    first.destroy();
    await first.waitClosed(1000);
    const deadline = Date.now() + 3000;
    let reply = '';
    while (reply === '' && Date.now() < deadline) {
      // The server may still count the first connection for a moment.
      reply = await ask('127.0.0.1', port, '1, 2').catch(() => '');
      if (reply === '') await sleep(50);
    }
    expect(reply).toBe('1, 2 : ERROR : NO-USER');
  });

  it('onQuery receives the querier, the query and the reply of each answered query', async (ctx) => {
    skipUnlessRoot(ctx, OWNERS);
    const log: IdentLogEntry[] = [];
    const { v4: port } = startServer({ onQuery: (e) => log.push(e) });
    const q = `${v4.serverPort}, ${v4.clientPort}`;
    await ask('127.0.0.1', port, q);
    expect(log).toHaveLength(1);
    expect(log[0]).toMatchObject({
      peer: { address: '127.0.0.1' },
      query: q,
      reply: `${q} : USERID : UNIX : ${ALICE}`,
    });
  });

  // Entries come as answers complete (a failed parse before an earlier
  // lookup), so only the set is checked, not the order.
  it('onQuery gets exactly one entry per pipelined query', async (ctx) => {
    skipUnlessRoot(ctx, OWNERS);
    const log: IdentLogEntry[] = [];
    const { v4: port } = startServer({ onQuery: (e) => log.push(e) });
    const c = await NetClient.connect(port);
    c.write(`${v4.serverPort}, ${v4.clientPort}\r\n1, 2\r\nx\r\n`);
    await c.lines(3);
    await sleep(50);
    expect(log.map((e) => e.reply).sort()).toEqual([
      `${v4.serverPort}, ${v4.clientPort} : USERID : UNIX : ${ALICE}`,
      '1, 2 : ERROR : NO-USER',
      'x : ERROR : INVALID-PORT',
    ].sort());
  });

  it('onQuery logs a query stripped of control characters', async () => {
    const log: IdentLogEntry[] = [];
    const { v4: port } = startServer({ onQuery: (e) => log.push(e) });
    await ask('127.0.0.1', port, '1\u001b[2J\u0000, 2');
    expect(log).toHaveLength(1);
    expect(log[0].query).toBe('1[2J, 2');
  });

  it('onError receives the cause of a failed user-name lookup, which is answered UNKNOWN-ERROR', async (ctx) => {
    skipUnlessRoot(ctx, OWNERS);
    // A pool whose one worker exits in its init task, every time it starts.
    const loop = new EventLoop({ pool: { size: 1 } });
    later(() => loop.close());
    await within(loop.prepareBlocking([() => process.exit(3)]), 10000, 'prepareBlocking()').catch(() => undefined);
    const errors: Error[] = [];
    const { v4: port } = startServer({ loop, onError: (e) => errors.push(e) });
    const q = `${v4.serverPort}, ${v4.clientPort}`;
    expect(await ask('127.0.0.1', port, q)).toBe(`${q} : ERROR : UNKNOWN-ERROR`);
    expect(errors.map((e) => e.message)).toEqual([expect.stringContaining('exit code 3')]);
  });

  it('onQuery reports an IPv6 querier by its ::1 address', async () => {
    const log: IdentLogEntry[] = [];
    const { v6: port } = startServer({ onQuery: (e) => log.push(e) });
    await ask('::1', port, '1, 2');
    expect(log[0]?.peer.address).toBe('::1');
  });
});

// ---------------------------------------------------------------------------
// Replies on the wire: one line, at most 512 octets
// ---------------------------------------------------------------------------

describe('replies on the wire', () => {
  /** The reply octets of one query, split on LF (so an injected line shows). */
  async function wireReply(options: IdentServerOptions, query = '1, 2'): Promise<Buffer> {
    const { v4: port } = startServer(options);
    const c = await NetClient.connect(port);
    c.write(`${query}\r\n`);
    await c.lines(1);
    await sleep(100); // anything injected after the first line would arrive too
    return c.bytes;
  }

  /** Octets of CR, LF or NUL in `b`, except a final CR LF. */
  function breaksBeforeEnd(b: Buffer): number[] {
    const body = b.subarray(0, b.length - 2);
    const at: number[] = [];
    body.forEach((x, i) => {
      if (x === 0x0d || x === 0x0a || x === 0x00) at.push(i);
    });
    return at;
  }

  it('sends a fixedReply containing CR LF and NUL as a single line', async () => {
    const b = await wireReply({ fixedReply: 'alice\r\n1, 2 : USERID : UNIX : root\u0000' });
    expect(b.subarray(-2).toString('latin1')).toBe('\r\n');
    expect(breaksBeforeEnd(b)).toEqual([]);
  });

  it('sends a failReply containing CR LF as a single line', async () => {
    const b = await wireReply({ failReply: 'guest\r\n1, 2 : USERID : UNIX : root' });
    expect(breaksBeforeEnd(b)).toEqual([]);
  });

  it('sends an opsys and charset containing CR LF as a single line', async () => {
    const b = await wireReply({ fixedReply: 'x', opsys: 'UNIX\r\nX', charset: 'UTF-8\n\u0000' });
    expect(breaksBeforeEnd(b)).toEqual([]);
    expect(b.toString('latin1')).toBe('1, 2 : USERID : UNIXX,UTF-8 : x\r\n');
  });

  it('caps the reply to a 2000-character fixedReply at 512 octets including CR LF', async () => {
    const b = await wireReply({ fixedReply: 'u'.repeat(2000) });
    expect(b.length).toBeLessThanOrEqual(MAX_REPLY_OCTETS);
    expect(b.subarray(-2).toString('latin1')).toBe('\r\n');
    expect(breaksBeforeEnd(b)).toEqual([]);
  });

  // BUG: the LineCodec encodes replies as latin1, which keeps only the low
  // octet of each UTF-16 unit: U+010A becomes 0x0A (LF) and U+010D becomes
  // 0x0D (CR) after clean() has checked the string. A configured reply
  // (fixedReply/failReply/opsys/charset, e.g. `--reply` on the CLI) can so
  // inject a second reply line, the oidentd flaw IDENT.md says edgeloop fixes.
  it('never puts CR or LF on the wire for a fixedReply with U+010A/U+010D (latin1 truncation)', async () => {
    const b = await wireReply({ fixedReply: 'alice\u010d\u010a1, 2 : USERID : UNIX : root' });
    expect(breaksBeforeEnd(b)).toEqual([]);
  });

  it('never puts NUL on the wire for a fixedReply with U+0100 (latin1 truncation)', async () => {
    const b = await wireReply({ fixedReply: 'al\u0100ice' });
    expect(breaksBeforeEnd(b)).toEqual([]);
  });

  // The reply cap counts UTF-8 octets (protocol.ts), so the wire must carry
  // the UTF-8 the cap measured; latin1 sends '€' as the single octet 0xAC.
  it('sends a non-ASCII fixedReply as the UTF-8 octets the 512-octet cap counts', async () => {
    const b = await wireReply({ fixedReply: 'jürgen€' });
    expect(b.equals(Buffer.from('1, 2 : USERID : UNIX : jürgen€\r\n', 'utf8'))).toBe(true);
  });
});

// ---------------------------------------------------------------------------
// Lifetime
// ---------------------------------------------------------------------------

describe('server lifetime', () => {
  // BUG (native addon): when a blocking-pool worker is terminated while it
  // is still loading edgeloop.node, a napi call in the addon's init fails on
  // the terminating environment, node-addon-api's
  // Error::ThrowAsJavaScriptException cannot throw, and the whole process
  // aborts with "FATAL ERROR: Error::ThrowAsJavaScriptException napi_throw"
  // (exit 134). IdentServer.close() (EventLoop.close() -> pool.close() ->
  // worker.terminate()) soon after a first query hits it; so can the CLI's
  // SIGTERM. node-addon-api's documented remedy is the define
  // NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS (or not throwing during init).
  // Run in a child so an abort cannot take the test runner down.
  const CLOSE_DURING_WORKER_START = `
const net = require('node:net');
const { createIdentServer } = require(${JSON.stringify(`${__dirname}/../dist/ident/server.js`)});
let online = null;
process.on('worker', (w) => w.once('online', () => online && online()));
(async () => {
  const until = Date.now() + 25000;
  let i = 0;
  for (; i < 1500 && Date.now() < until; i++) {
    const server = createIdentServer({ addresses: ['127.0.0.1'], port: 0, lookup: { netlink: false } });
    server.loop.attach();
    const up = new Promise((r) => (online = r));
    const c = net.connect(server.addresses[0].port, '127.0.0.1', () => c.write('1, 2\\r\\n'));
    c.on('error', () => {});
    await Promise.race([up, new Promise((r) => setTimeout(r, 2000))]);
    await new Promise((r) => setTimeout(r, Math.random() * 3));
    server.close();
    c.destroy();
  }
  console.log('survived ' + i);
})();
`;

  it('closing a server while its lookup worker starts never aborts the process', async () => {
    const child = spawn(NODE, ['-e', CLOSE_DURING_WORKER_START], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
    const exited = new Promise<number | string>((resolve) =>
      child.once('exit', (code, signal) => resolve(code ?? String(signal))),
    );
    later(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    });
    const code = await within(exited, 50000, 'the close-during-worker-start child');
    expect(out).not.toMatch(/FATAL ERROR/);
    expect(code).toBe(0);
    expect(out).toMatch(/survived \d+/);
  }, 60000);
});
