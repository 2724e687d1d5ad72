/**
 * Starting edgeloop-identd (dist/cli/identd.js) the ways a service manager
 * does: with listening sockets from fd 3 on and LISTEN_PID/LISTEN_FDS
 * (systemd socket activation), or with a connection as stdin and stdout
 * (inetd). Every child is killed by its pid after its test if still
 * running (LineChild); register `afterEach(runCleanups)`.
 */
import type { StdioOptions } from 'node:child_process';
import { WOULD_BLOCK } from '../src/index';
import { TcpListener, TcpStream } from '../src/net/tcp';
import { later } from './cleanup';
import { distCli, ROOT } from './dist';
import { LineChild } from './line-child';
import { NetClient } from './net-client';
import { sleep } from './waits';

/** The compiled daemon. */
export const BIN = distCli('identd');

/** This Node. */
export const NODE = process.execPath;

/** What a service manager sets up for the daemon. */
export interface SpawnOptions {
  /** The child's stdio, fds 0, 1, 2 and up. Default ignore, pipe, pipe. */
  stdio?: StdioOptions;
  /** Extra environment variables. */
  env?: Record<string, string>;
  /**
   * Sets LISTEN_PID to the daemon's own pid, as systemd does: the pid is
   * only known in the child, so a shell sets it and then execs Node.
   */
  listenPid?: boolean;
}

/** Spawns the daemon with `args`. */
export function spawnIdentd(args: string[], options: SpawnOptions = {}): LineChild {
  const stdio = options.stdio ?? ['ignore', 'pipe', 'pipe'];
  // The test runner's own LISTEN_* (if any) must not reach the daemon.
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of ['LISTEN_PID', 'LISTEN_FDS', 'LISTEN_FDNAMES']) delete env[name];
  Object.assign(env, options.env);
  if (options.listenPid === true) {
    return LineChild.spawn('edgeloop-identd', '/bin/sh', ['-c', 'LISTEN_PID=$$ exec "$@"', 'sh', NODE, BIN, ...args], { cwd: ROOT, stdio, env });
  }
  return LineChild.spawn('edgeloop-identd', NODE, [BIN, ...args], { cwd: ROOT, stdio, env });
}

/** A loopback TCP listener on a free port, closed after the test. */
export function loopbackListener(): { listener: TcpListener; port: number } {
  const listener = TcpListener.bind('127.0.0.1:0');
  later(() => listener.close());
  return { listener, port: listener.localAddress().port };
}

/**
 * A connected loopback pair: `client` (a node:net client collecting what
 * it receives) and the accepted end as a raw fd, `serverFd`, to hand to a
 * child; the caller closes `serverFd` (closeServer) once the child has it.
 */
export async function connectedPair(): Promise<{ client: NetClient; serverFd: number; closeServer: () => void }> {
  const { listener, port } = loopbackListener();
  const client = await NetClient.connect(port);
  const deadline = Date.now() + 3000;
  for (;;) {
    const fd = listener.acceptFd();
    if (fd !== WOULD_BLOCK) {
      // Close-on-exec, like every edgeloop fd: spawn's dup onto the
      // child's fd 0 and 1 clears that for the child's copies only.
      const server = TcpStream.fromFd(fd);
      later(() => server.close());
      listener.close();
      return { client, serverFd: fd, closeServer: () => server.close() };
    }
    if (Date.now() > deadline) throw new Error('accept timed out');
    await sleep(5);
  }
}
