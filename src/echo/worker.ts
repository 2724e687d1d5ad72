/**
 * One echo server in a worker thread (started by edgeloop-echo --workers).
 *
 * @packageDocumentation
 */
import { parentPort, workerData } from 'node:worker_threads';
import { runLoopInWorker } from '../workers';
import { createEchoServer, type EchoServerOptions } from './server';

/** What the parent passes in workerData. */
export interface EchoWorkerData extends EchoServerOptions {
  mode: 'run' | 'attach';
}

const data = workerData as EchoWorkerData;
const server = createEchoServer({ ...data, reusePort: true });
parentPort?.postMessage({ type: 'listening', port: server.address.port });
runLoopInWorker(server.loop, data.mode, () => parentPort?.postMessage({ type: 'stats', stats: server.stats }));
