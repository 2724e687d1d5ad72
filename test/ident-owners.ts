/**
 * Real socket owners for the ident suites: the test users edgeloop-alice
 * and edgeloop-bob (created here when missing; .ci/run creates them too)
 * and small node children that run as them (runuser) or as a bare uid
 * (setpriv) and keep a listening or a connected socket open, so an ident
 * lookup has a real owner to find.
 *
 * Making users and switching to them needs root; the suites make their
 * owners in a setup that runs only as root (test/root.ts) and skip the
 * tests that use them for other users. The owners live for the whole
 * file: {@link stopOwners} in afterAll ends them by their own pids.
 */
import { execFileSync, spawn } from 'node:child_process';
import * as net from 'node:net';
import { later } from './cleanup';
import { LineChild } from './line-child';
import { within } from './waits';

/** The user that owns the listening ends. */
export const ALICE = 'edgeloop-alice';
/** The user that owns the connecting ends. */
export const BOB = 'edgeloop-bob';

/** The uid (`-u`) or gid (`-g`) of `user`, or null when there is no such user. */
export function idOf(flag: '-u' | '-g', user: string): number | null {
  try {
    return Number(execFileSync('id', [flag, user], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim());
  } catch {
    return null;
  }
}

/** Creates the system user `user` unless it exists; returns its uid. */
export function ensureUser(user: string): number {
  if (idOf('-u', user) === null) {
    execFileSync('useradd', ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', user], { stdio: 'pipe', timeout: 10000 });
  }
  const uid = idOf('-u', user);
  if (uid === null) throw new Error(`could not create user ${user}`);
  return uid;
}

/**
 * The owner script. `listen HOST PORT` listens (dual-stack when HOST is
 * '::'), keeps every accepted socket and reports each; `connect HOST PORT
 * [LOCAL]` connects from LOCAL and keeps the socket. Each reports its pid
 * and uid; it exits when its stdin closes.
 */
const OWNER_SCRIPT = `
const net = require('net');
const [mode, host, port, local] = process.argv.slice(1);
const keep = new Set();
const say = (o) => process.stdout.write(JSON.stringify(o) + '\\n');
process.stdin.on('end', () => process.exit(0));
process.stdin.on('error', () => process.exit(0));
process.stdin.resume();
if (mode === 'listen') {
  const s = net.createServer((c) => {
    keep.add(c);
    c.on('error', () => {});
    c.on('close', () => keep.delete(c));
    say({ accepted: c.remotePort, local: c.localAddress, remote: c.remoteAddress });
  });
  s.on('error', (e) => { say({ error: e.message }); process.exit(1); });
  s.listen({ host, port: Number(port), ipv6Only: false }, () => say({ pid: process.pid, uid: process.getuid(), port: s.address().port }));
} else {
  const c = net.connect({ host, port: Number(port), localAddress: local || undefined }, () =>
    say({ pid: process.pid, uid: process.getuid(), localPort: c.localPort, local: c.localAddress }));
  c.on('error', (e) => { say({ error: e.message }); process.exit(1); });
  keep.add(c);
}
`;

type Message = Record<string, unknown>;

/** Every owner started, for {@link stopOwners}. */
const owners: SocketOwner[] = [];

/** One owner child: the node process runs under runuser or setpriv. */
export class SocketOwner {
  private constructor(readonly child: LineChild) {}

  /** Starts the owner script as `user` (runuser). */
  static start(user: string, args: string[]): SocketOwner {
    return SocketOwner.startWith(['runuser', '-u', user, '--'], user, args);
  }

  /** Starts the owner script under `prefix` (runuser, setpriv...); `label` names it in errors. */
  static startWith(prefix: string[], label: string, args: string[]): SocketOwner {
    const proc = spawn(prefix[0], [...prefix.slice(1), process.execPath, '-e', OWNER_SCRIPT, ...args], {
      cwd: '/',
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const owner = new SocketOwner(new LineChild(`${label} socket owner`, proc));
    owners.push(owner);
    return owner;
  }

  /** The node process's own pid (runuser's child), once it reported it. */
  get innerPid(): number {
    const m = this.child.messages().find((x) => typeof x.pid === 'number');
    return m === undefined ? 0 : (m.pid as number);
  }

  /** The first report matching `pred`; rejects on a reported error, the exit, or after `ms`. */
  async wait(pred: (m: Message) => boolean, ms: number, what: string): Promise<Message> {
    const m = await this.child.message((x) => pred(x) || typeof x.error === 'string', ms, what);
    if (!pred(m)) throw new Error(`${this.child.name} failed waiting for ${what}: ${JSON.stringify(m)} ${this.child.stderr}`);
    return m;
  }

  /** Ends the child by its own pids: stdin EOF, then SIGKILL if it lingers. */
  async stop(): Promise<void> {
    if (this.child.exit !== null) return;
    this.child.proc.stdin?.end();
    if (await within(this.child.exited, 2000, `${this.child.name} exit`).then(() => true, () => false)) return;
    for (const pid of [this.innerPid, this.child.proc.pid]) {
      try {
        if (pid) process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    await within(this.child.exited, 2000, `${this.child.name} exit after SIGKILL`).catch(() => undefined);
  }
}

/** For afterAll: stops every owner started in this file. */
export async function stopOwners(): Promise<void> {
  await Promise.all(owners.splice(0).map((o) => o.stop()));
}

/** A live connection between two owners. */
export interface OwnedConnection {
  /** Port of the accepting (listening) side. */
  serverPort: number;
  /** Port of the connecting side. */
  clientPort: number;
}

/**
 * Starts a listener (as `listenUser`, or under `listenPrefix`) on
 * `listenHost` and a client as `connectUser` connecting to `connectHost`
 * (from `localAddress`), and waits until the connection is accepted.
 */
export async function ownedConnection(opts: {
  listenUser: string;
  listenHost: string;
  connectUser: string;
  connectHost: string;
  localAddress?: string;
  listenPrefix?: string[];
}): Promise<OwnedConnection> {
  const listenArgs = ['listen', opts.listenHost, '0'];
  const listener =
    opts.listenPrefix === undefined
      ? SocketOwner.start(opts.listenUser, listenArgs)
      : SocketOwner.startWith(opts.listenPrefix, opts.listenUser, listenArgs);
  const serverPort = (await listener.wait((m) => typeof m.port === 'number', 10000, 'listening')).port as number;
  const client = SocketOwner.start(opts.connectUser, ['connect', opts.connectHost, String(serverPort), opts.localAddress ?? '']);
  const clientPort = (await client.wait((m) => typeof m.localPort === 'number', 10000, 'connected')).localPort as number;
  await listener.wait((m) => m.accepted === clientPort, 10000, `accept of port ${clientPort}`);
  return { serverPort, clientPort };
}

/**
 * A loopback connection owned by this process (root when the suites run as
 * root), closed after the test: the query `LISTEN_PORT, CONNECT_PORT`.
 */
export async function ownConnection(): Promise<string> {
  const accepted: net.Socket[] = [];
  const srv = net.createServer((s) => {
    accepted.push(s);
    s.on('error', () => {});
  });
  await within(new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r())), 3000, 'listen');
  const port = (srv.address() as net.AddressInfo).port;
  const c = net.connect({ host: '127.0.0.1', port });
  c.on('error', () => {});
  await within(new Promise<void>((r) => c.once('connect', () => r())), 3000, 'connect');
  later(() => {
    c.destroy();
    for (const s of accepted) s.destroy();
    srv.close();
  });
  return `${port}, ${c.localPort}`;
}

/** A uid from 54321 up that has no passwd entry. */
export function unnamedUid(): number {
  for (let uid = 54321; uid < 54400; uid++) {
    try {
      execFileSync('id', ['-nu', String(uid)], { stdio: 'ignore' });
    } catch {
      return uid;
    }
  }
  throw new Error('no uid without a passwd entry in 54321..54399');
}

/** A listener run as `uid` (setpriv, no passwd entry) on 127.0.0.1 and a bob client. */
export function namelessConnection(uid: number): Promise<OwnedConnection> {
  return ownedConnection({
    listenUser: `uid ${uid}`,
    listenPrefix: ['setpriv', `--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', '--'],
    listenHost: '127.0.0.1',
    connectUser: BOB,
    connectHost: '127.0.0.1',
  });
}
