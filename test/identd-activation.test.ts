/**
 * systemd socket activation of edgeloop-identd: the daemon serves the
 * listening sockets passed from fd 3 on when LISTEN_PID is its pid and
 * LISTEN_FDS counts them, checks each one, and takes the variables out of
 * its environment. Also TcpListener.adopt/TcpStream.adopt, which check an
 * inherited fd before taking it.
 *
 * Needs `npm run build:ts` first (the daemon is dist/cli/identd.js). Runs
 * as anyone: nothing binds port 113, the sockets are loopback ones on free
 * ports; the owner-lookup test needs root (the test users) and skips,
 * saying so, for other users.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { applyBackendFlag } from '../src/cli/backend-flag';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { TcpListener, TcpStream, UdpSocket, UnixListener } from '../src/index';
import { listenFds } from '../src/cli/activation';
import { native } from '../src/native';
import { later, own, runCleanups } from './cleanup';
import { ALICE, BOB, ensureUser, ownedConnection, stopOwners } from './ident-owners';
import { NetClient } from './net-client';
import { catchError } from './poll-fixtures';
import { setupAsRoot, skipUnlessRoot } from './root';
import { loopbackListener, spawnIdentd } from './identd-spawn';
import { tcpPair } from './util';

afterEach(runCleanups);

/** Starts the daemon the way systemd does, with `fd` as its fd 3. */
function activated(fd: number, args: string[] = [], env: Record<string, string> = {}) {
  return spawnIdentd(args, {
    stdio: ['ignore', 'pipe', 'pipe', fd],
    env: { LISTEN_FDS: '1', ...env },
    listenPid: true,
  });
}

/** One query; the reply lines once `n` arrived. */
async function query(port: number, text: string, n: number): Promise<string[]> {
  const c = await NetClient.connect(port);
  c.write(text);
  return c.lines(n);
}

describe('a daemon started with a listening socket as fd 3', () => {
  it('answers a query on it: no connection between those ports is NO-USER', async () => {
    const { listener, port } = loopbackListener();
    const d = activated(listener.fd);
    await d.line(/listening on/, 10000);
    expect(await query(port, '1, 2\r\n', 1)).toEqual(['1, 2 : ERROR : NO-USER']);
  });

  it('says it listens on that socket\'s address, by socket activation', async () => {
    const { listener, port } = loopbackListener();
    const d = activated(listener.fd);
    const line = await d.line(/listening on/, 10000);
    expect(line).toBe(`edgeloop-identd listening on 127.0.0.1:${port} (pid ${d.proc.pid}, ${applyBackendFlag(undefined)}, netlink, socket activation)`);
  });

  it('serves several passed sockets (LISTEN_FDS=2)', async () => {
    const a = loopbackListener();
    const b = loopbackListener();
    const d = spawnIdentd([], { stdio: ['ignore', 'pipe', 'pipe', a.listener.fd, b.listener.fd], env: { LISTEN_FDS: '2' }, listenPid: true });
    await d.line(/listening on/, 10000);
    expect(await query(b.port, '3, 4\r\n', 1)).toEqual(['3, 4 : ERROR : NO-USER']);
  });

  it('ignores the passed sockets when LISTEN_PID names another process, and binds --port', async () => {
    // The variables were meant for a parent: --address/--port are no usage error then.
    const { listener } = loopbackListener();
    const { port } = loopbackListener();
    const d = spawnIdentd(['--address', '127.0.0.1', '--port', String(port)], {
      stdio: ['ignore', 'pipe', 'pipe', listener.fd],
      env: { LISTEN_FDS: '1', LISTEN_PID: '1' },
    });
    const exit = await d.waitExit(10000);
    // The port is taken by the test's own listener: the daemon tried to bind it.
    expect(exit.code).toBe(1);
    expect(d.stderr).toMatch(/EADDRINUSE/);
  });

  it('answers with the owner of a connection end', async (ctx) => {
    skipUnlessRoot(ctx, OWNERS);
    const { listener, port } = loopbackListener();
    const d = activated(listener.fd);
    await d.line(/listening on/, 10000);
    const q = `${conn.serverPort}, ${conn.clientPort}`;
    expect(await query(port, `${q}\r\n`, 1)).toEqual([`${q} : USERID : UNIX : ${ALICE}`]);
  });
});

/** Why the owner test needs root. */
const OWNERS = 'asks about a connection between the test users edgeloop-alice and edgeloop-bob, made by creating them (useradd) and running processes as them (runuser)';
let conn = { serverPort: 0, clientPort: 0 };
setupAsRoot(async () => {
  ensureUser(ALICE);
  ensureUser(BOB);
  conn = await ownedConnection({ listenUser: ALICE, listenHost: '127.0.0.1', connectUser: BOB, connectHost: '127.0.0.1' });
}, 30000);
afterAll(stopOwners, 20000);

describe('a bad activation setup', () => {
  it('--address with activation is a usage error (exit 2) naming both', async () => {
    const { listener } = loopbackListener();
    const d = activated(listener.fd, ['--address', '127.0.0.1']);
    expect((await d.waitExit(10000)).code).toBe(2);
    expect(d.stderr).toMatch(/^edgeloop-identd: --address and --port cannot be used with socket activation/);
  });

  it('--port with activation is a usage error (exit 2)', async () => {
    const { listener } = loopbackListener();
    const d = activated(listener.fd, ['--port', '1113']);
    expect((await d.waitExit(10000)).code).toBe(2);
    expect(d.stderr).toMatch(/socket activation/);
  });

  it('a connection as fd 3 (Accept=yes) exits 1 saying fd 3 is not listening and Accept=no', async () => {
    const { server } = tcpPair();
    own(server);
    const d = activated(server.fd);
    expect((await d.waitExit(10000)).code).toBe(1);
    expect(d.stderr).toMatch(/fd 3 is not a listening socket; the \.socket unit needs Accept=no/);
  });

  it('a UDP socket as fd 3 (ListenDatagram=) exits 1 saying it is not a stream socket', async () => {
    const udp = own(UdpSocket.bind('127.0.0.1:0'));
    const d = activated(udp.fd);
    expect((await d.waitExit(10000)).code).toBe(1);
    expect(d.stderr).toMatch(/fd 3 is a datagram socket, not a stream socket/);
  });

  it('names the socket from LISTEN_FDNAMES in the error', async () => {
    const { server } = tcpPair();
    own(server);
    const d = activated(server.fd, [], { LISTEN_FDNAMES: 'ident' });
    await d.waitExit(10000);
    expect(d.stderr).toMatch(/fd 3 \('ident'\) is not a listening socket/);
  });
});

describe('listenFds()', () => {
  it('returns fds 3.. when LISTEN_PID is this pid', () => {
    expect(listenFds({ LISTEN_PID: '42', LISTEN_FDS: '2' }, 42)).toEqual({ fds: [3, 4], names: null });
  });

  it('returns the LISTEN_FDNAMES names', () => {
    expect(listenFds({ LISTEN_PID: '42', LISTEN_FDS: '2', LISTEN_FDNAMES: 'a:b' }, 42)?.names).toEqual(['a', 'b']);
  });

  it('removes LISTEN_PID, LISTEN_FDS and LISTEN_FDNAMES from the environment', () => {
    const env: NodeJS.ProcessEnv = { LISTEN_PID: '42', LISTEN_FDS: '1', LISTEN_FDNAMES: 'a', PATH: '/bin' };
    listenFds(env, 42);
    expect(env).toEqual({ PATH: '/bin' });
  });

  it('removes them even when LISTEN_PID is another process', () => {
    const env: NodeJS.ProcessEnv = { LISTEN_PID: '7', LISTEN_FDS: '1' };
    expect(listenFds(env, 42)).toBeNull();
    expect(env).toEqual({});
  });

  it('is null without LISTEN_PID', () => {
    expect(listenFds({ LISTEN_FDS: '1' }, 42)).toBeNull();
  });

  it('is null for LISTEN_FDS=0', () => {
    expect(listenFds({ LISTEN_PID: '42', LISTEN_FDS: '0' }, 42)).toBeNull();
  });

  it('throws on a LISTEN_FDS that is not a number', () => {
    expect(() => listenFds({ LISTEN_PID: '42', LISTEN_FDS: 'x' }, 42)).toThrow(/LISTEN_FDS/);
  });

  it('throws when LISTEN_FDNAMES names a different number of sockets', () => {
    expect(() => listenFds({ LISTEN_PID: '42', LISTEN_FDS: '2', LISTEN_FDNAMES: 'a' }, 42)).toThrow(/LISTEN_FDNAMES/);
  });
});

describe('TcpListener.adopt and TcpStream.adopt', () => {
  const code = (fn: () => unknown): { code?: string; message: string } => catchError(fn) as { code?: string; message: string };

  it('TcpListener.adopt takes a listening TCP socket and accepts on it', () => {
    const { listener } = loopbackListener();
    const adopted = TcpListener.adopt(listener.fd);
    expect(adopted.localAddress()).toEqual(listener.localAddress());
  });

  it('TcpListener.adopt rejects a connected TCP socket', () => {
    const { server } = tcpPair();
    own(server);
    expect(code(() => TcpListener.adopt(server.fd))).toMatchObject({ code: 'ERR_INHERITED_SOCKET', message: `fd ${server.fd} is not a listening socket` });
  });

  it('TcpListener.adopt rejects a Unix listener', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'edgeloop-adopt-'));
    later(() => fs.rmSync(dir, { recursive: true, force: true }));
    const unix = own(UnixListener.bind(path.join(dir, 's')));
    expect(code(() => TcpListener.adopt(unix.fd)).message).toBe(`fd ${unix.fd} is a Unix socket, not IPv4 or IPv6`);
  });

  it('TcpListener.adopt rejects a file', () => {
    const fd = fs.openSync(__filename, 'r');
    later(() => fs.closeSync(fd));
    expect(code(() => TcpListener.adopt(fd)).message).toBe(`fd ${fd} is not a socket`);
  });

  it('leaves a rejected fd open', () => {
    const fd = fs.openSync(__filename, 'r');
    later(() => fs.closeSync(fd));
    code(() => TcpListener.adopt(fd));
    expect(() => fs.fstatSync(fd)).not.toThrow();
  });

  it('TcpStream.adopt takes a connected TCP socket', () => {
    const { client, server } = tcpPair();
    own(client);
    const adopted = own(TcpStream.adopt(server.fd));
    expect(adopted.peerAddress()).toEqual(client.localAddress());
  });

  it('TcpStream.adopt rejects a listening socket', () => {
    const { listener } = loopbackListener();
    expect(code(() => TcpStream.adopt(listener.fd)).message).toBe(`fd ${listener.fd} is a listening socket, not a connection`);
  });
});

describe('native inspectSocket and adoptFd', () => {
  it('inspectSocket throws TypeError for an output array shorter than 3', () => {
    const { listener } = loopbackListener();
    expect(() => native.inspectSocket(listener.fd, new Int32Array(2))).toThrow(TypeError);
  });

  it('inspectSocket reports IPv4, stream, listening for a TCP listener', () => {
    const { listener } = loopbackListener();
    const out = new Int32Array(3);
    expect(native.inspectSocket(listener.fd, out)).toBe(0);
    expect([...out]).toEqual([native.constants.AF_INET, native.constants.SOCK_STREAM, 1]);
  });

  it('adoptFd throws RangeError for a negative fd', () => {
    expect(() => native.adoptFd(-1)).toThrow(RangeError);
  });
});
