/**
 * EMFILE on accept must not spin the CPU, and accepting must resume once
 * descriptors are free again.
 *
 * The server runs in a child process whose RLIMIT_NOFILE is lowered to 64
 * (`sh -c 'ulimit -n 64 && exec node child.js'`), so the test's own process
 * is untouched. The parent (this process, whose limit is not lowered) opens
 * more connections than the child has descriptors for. Run `npx tsc -p .`
 * first: the child requires dist/. Loopback only; every wait is
 * bounded; the child is killed by its pid at the end.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ECHO_HANDLER_JS } from './scripts';
import { later, runCleanups } from './cleanup';
import { DIST } from './dist';
import { LineChild } from './line-child';
import { useTempDir } from './temp-dir';
import { sleep, waitFor } from './waits';
import { onLibkqueue } from './platform';

const FD_LIMIT = 64;
/** Far more connections than the child can hold at FD_LIMIT. */
const CONNECTIONS = 120;

afterEach(runCleanups);

const tmp = useTempDir('edgeloop-emfile-');
let childScript = '';
beforeAll(() => {
  childScript = tmp.write(
    'emfile-child.js',
    `'use strict';
const { EventLoop, WOULD_BLOCK } = require(${JSON.stringify(DIST)});
const mode = process.argv[2];
const loop = new EventLoop();
const listener = loop.listen('127.0.0.1:0', ${ECHO_HANDLER_JS});
// stdout is a pipe: synchronous on Linux, so this line is out before run() blocks.
process.stdout.write(JSON.stringify({ event: 'listening', port: listener.socket.localAddress().port }) + '\\n');
if (mode === 'run') loop.run();
else loop.attach();
`,
  );
});

const CLK_TCK = ((): number => {
  try {
    const v = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    return Number.isInteger(v) && v > 0 ? v : 100;
  } catch {
    return 100;
  }
})();

/** utime + stime of `pid`, in seconds, from /proc/<pid>/stat. */
function cpuSeconds(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name, which is in parentheses and may hold spaces.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // rest[0] is field 3 (state); utime is field 14, stime field 15.
  return (Number(rest[11]) + Number(rest[12])) / CLK_TCK;
}

/**
 * Descriptor slots in use below the limit: the ones accept() competes for.
 * (A descriptor inherited above the limit, open but not CLOEXEC in some
 * ancestor, would make a plain count exceed it.)
 */
function slotsInUse(pid: number): number {
  return fs.readdirSync(`/proc/${pid}/fd`).filter((f) => Number(f) < FD_LIMIT).length;
}

/** The child server, with its limit lowered; SIGKILLed by pid after the test. */
function startServer(mode: 'attach' | 'run'): LineChild {
  return LineChild.spawn('emfile child', 'sh', ['-c', `ulimit -n ${FD_LIMIT} && exec "$0" "$1" "$2"`, process.execPath, childScript, mode]);
}

/** A node:net client that sends `msg` on connect and records whether it came back. */
interface Probe {
  sock: net.Socket;
  echoed: boolean;
  closed: boolean;
}

function probe(port: number, msg: string): Probe {
  const sock = net.connect({ host: '127.0.0.1', port });
  const p: Probe = { sock, echoed: false, closed: false };
  let got = '';
  sock.setEncoding('latin1');
  sock.on('connect', () => sock.write(msg));
  sock.on('data', (d: string) => {
    got += d;
    if (got === msg) p.echoed = true;
  });
  sock.on('error', () => {});
  sock.on('close', () => (p.closed = true));
  later(() => sock.destroy());
  return p;
}

describe('EMFILE on accept', () => {
  for (const mode of ['attach', 'run'] as const) {
    // libkqueue's kqueue fd never turns readable for uv_poll: no attach() there.
    it.skipIf(onLibkqueue && mode === 'attach')(`${mode}(): backs off instead of spinning, then resumes accepting`, async () => {
      const server = startServer(mode);
      const port = (await server.message('listening')).port as number;
      const pid = server.proc.pid!;
      const limits = fs.readFileSync(`/proc/${pid}/limits`, 'utf8');
      expect(limits).toMatch(new RegExp(`Max open files\\s+${FD_LIMIT}\\s`));

      // Sanity: it serves.
      const first = probe(port, 'first');
      await waitFor(() => first.echoed, 5000, 'the first echo');

      // Exhaust the child's descriptors. The kernel completes every
      // handshake into the backlog (1024) whether or not the child accepts.
      const probes: Probe[] = [];
      for (let i = 0; i < CONNECTIONS; i++) probes.push(probe(port, `c${i};`));
      // Wait until the child is full and the echo count has settled.
      let last = -1;
      let stableSince = Date.now();
      await waitFor(
        () => {
          const n = probes.filter((p) => p.echoed).length;
          if (n !== last) {
            last = n;
            stableSince = Date.now();
          }
          return slotsInUse(pid) >= FD_LIMIT && Date.now() - stableSince > 300;
        },
        10000,
        'the child to run out of descriptors',
      );
      const served = probes.filter((p) => p.echoed).length;
      expect(served).toBeGreaterThan(0);
      expect(served).toBeLessThan(CONNECTIONS); // some are stuck in the backlog
      expect(slotsInUse(pid)).toBe(FD_LIMIT);
      expect(server.alive).toBe(true);

      // While exhausted, the child's CPU time over ~1 s of wall time.
      // A server that retries accept() on a level-triggered listener would
      // burn a whole core (~100%). The bound is a liveness bound, not a
      // performance figure: 30% of one core leaves room for a slow or busy
      // machine while still telling "backing off" from "spinning".
      const cpu0 = cpuSeconds(pid);
      const t0 = process.hrtime.bigint();
      await sleep(1000);
      const cpu1 = cpuSeconds(pid);
      const wall = Number(process.hrtime.bigint() - t0) / 1e9;
      const share = (cpu1 - cpu0) / wall;
      expect(share, `child used ${(share * 100).toFixed(1)}% of a core while out of fds`).toBeLessThan(0.3);
      expect(server.alive).toBe(true);

      // Free the descriptors: close every client; the child sees EOF on the
      // accepted ones, and the backlogged ones are accepted and closed too.
      for (const p of probes) p.sock.destroy();
      first.sock.destroy();
      await waitFor(() => probes.every((p) => p.closed) && first.closed, 5000, 'the parent to close its clients');

      // Accepting resumed on its own (the backoff is at most 1 s): a new
      // connection is accepted and served.
      const again = probe(port, 'after-emfile');
      await waitFor(() => again.echoed, 5000, 'an echo after the descriptors were freed');
      expect(slotsInUse(pid)).toBeLessThan(FD_LIMIT);
      // And the accept path is whole again: several more at once.
      const more = Array.from({ length: 10 }, (_, i) => probe(port, `more${i};`));
      await waitFor(() => more.every((p) => p.echoed), 5000, 'ten more echoes');
      expect(server.alive).toBe(true);
      expect(server.stderr).toBe('');
    });
  }
});
