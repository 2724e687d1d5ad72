#!/usr/bin/env node
/**
 * edgeloop-echo: the echo server as a program.
 *
 * @packageDocumentation
 */
import { isIP } from 'node:net';
import * as path from 'node:path';
import { createEchoServer, type EchoStats } from '../echo/server';
import { LoopWorkers } from '../workers';
import { BACKEND_FLAG, applyBackendFlag } from './backend-flag';
import { choiceFlag, intFlag, parseFlags, runCli, secondsFlag, usage, UsageError, type FlagSpec } from './args';

const COMMAND = 'edgeloop-echo';

const FLAGS: Record<string, FlagSpec> = {
  host: { type: 'string', help: 'ADDR  address to listen on (default 127.0.0.1; :: for all IPv6)' },
  port: { type: 'string', short: 'p', help: 'PORT  port to listen on; 0 picks a free one (default 7007)' },
  mode: { type: 'string', help: 'MODE  run (blocking loops in worker threads) or attach (on Node\'s loop) (default attach)' },
  workers: { type: 'string', help: 'N  loops in N worker threads sharing the port with SO_REUSEPORT (default 1)' },
  'max-connections': { type: 'string', help: 'N  connections open at once; more are accepted and closed (default unlimited)' },
  'idle-timeout': { type: 'string', help: 'SECONDS  close connections idle this long (default never)' },
  backend: BACKEND_FLAG,
};

function describe(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

function printTotals(stats: EchoStats): void {
  process.stdout.write(
    `${COMMAND} stopped: ${stats.connections} connections, ${stats.bytes} bytes, ${stats.messages} messages\n`,
  );
}

async function main(): Promise<void> {
  const { values, help } = parseFlags(process.argv.slice(2), FLAGS);
  if (help) {
    process.stdout.write(`${usage(COMMAND, 'Echoes back every byte each TCP client sends, on an edgeloop EventLoop.', FLAGS)}\n`);
    return;
  }
  const host = (values.host as string | undefined) ?? '127.0.0.1';
  if (isIP(host) === 0) throw new UsageError(`--host must be a numeric IPv4 or IPv6 address, got '${host}'`);
  const port = intFlag('port', values.port as string | undefined, 7007, 0, 65535);
  const mode = choiceFlag('mode', values.mode as string | undefined, 'attach', ['run', 'attach'] as const);
  const workers = intFlag('workers', values.workers as string | undefined, 1, 1, 256);
  const maxConnections = values['max-connections'] === undefined
    ? undefined
    : intFlag('max-connections', values['max-connections'] as string, 0, 1, 1 << 20);
  const idleTimeoutMs = secondsFlag('idle-timeout', values['idle-timeout'] as string | undefined, undefined);
  const options = { host, maxConnections, idleTimeoutMs };
  const engine = applyBackendFlag(values.backend as string | undefined);

  if (mode === 'attach' && workers === 1) {
    const server = createEchoServer({ ...options, port });
    server.loop.attach();
    const stop = (): void => {
      server.close();
      printTotals(server.stats);
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    process.stdout.write(`${COMMAND} listening on ${describe(host, server.address.port)} (mode attach, ${engine}, pid ${process.pid})\n`);
    return;
  }

  // run() blocks its thread, and signals are delivered on Node's loop, so the
  // loops live in worker threads and this thread waits for signals.
  const filename = path.join(__dirname, '..', 'echo', 'worker.js');
  const totals: EchoStats = { connections: 0, bytes: 0, messages: 0 };
  let boundPort = port;
  const onMessage = (message: unknown): void => {
    const msg = message as { type?: string; stats?: EchoStats; port?: number };
    if (msg.type === 'listening' && msg.port !== undefined) boundPort = msg.port;
    if (msg.type === 'stats' && msg.stats !== undefined) {
      totals.connections += msg.stats.connections;
      totals.bytes += msg.stats.bytes;
      totals.messages += msg.stats.messages;
    }
  };
  // The first worker binds (resolving port 0); the others join its port.
  const first = await LoopWorkers.start({ count: 1, filename, onMessage, workerData: { ...options, port, mode } });
  const groups = [first];
  if (workers > 1) {
    groups.push(
      await LoopWorkers.start({ count: workers - 1, filename, onMessage, workerData: { ...options, port: boundPort, mode } }),
    );
  }
  let stopping = false;
  const stop = async (): Promise<void> => {
    if (stopping) return;
    stopping = true;
    await Promise.all(groups.map((g) => g.stop()));
    printTotals(totals);
  };
  process.once('SIGINT', () => void stop());
  process.once('SIGTERM', () => void stop());
  const plural = workers === 1 ? 'worker' : 'workers';
  process.stdout.write(
    `${COMMAND} listening on ${describe(host, boundPort)} (mode ${mode}, ${workers} ${plural}, ${engine}, pid ${process.pid})\n`,
  );
}

runCli(COMMAND, main);
