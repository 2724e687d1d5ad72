/**
 * The entry module of every worker thread in the blocking pool (pool.ts).
 * It runs tasks as they arrive and posts each result on its own port before
 * signalling the loop's Waker, so the loop's wake hook finds the message with
 * receiveMessageOnPort even while run() owns the thread and no message event
 * could be delivered. The addon is loaded only to signal that Waker.
 *
 * Before taking jobs it runs the pool's init tasks (see BlockingPool.prepare)
 * and reports on its parent port that it has started; prepare requests that
 * come later are answered there too.
 *
 * @packageDocumentation
 * @internal
 */
import { Module, createRequire } from 'node:module';
import * as path from 'node:path';
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { native } from './native';
import type { WakerHandle } from './waker';

/** What the pool hands each worker as `workerData`. */
export interface PoolWorkerData {
  /** The loop's Waker, signalled after every posted result. */
  waker: WakerHandle;
  /** The port results go to (transferred to the worker). */
  results: MessagePort;
  /** Tasks to run once, in order, before reporting started. */
  init: WireTask[];
}

/**
 * A task as it crosses to the worker: a function, known by key, whose source
 * comes along the first time a worker sees it; or a module's export.
 */
export type WireTask = { fnKey: number; source?: string } | { module: string; export: string };

/** Asks the worker to run `init` once and answer with {@link ControlMessage} `prepared: seq`. */
export interface PrepareMessage {
  /** Echoed in the answer. */
  prepare: number;
  /** Tasks to run, in order, each with no input. */
  init: WireTask[];
}

/**
 * What a worker tells the pool on its parent port: it has started (its code,
 * the addon and the init tasks are loaded), or it has run a prepare
 * request. `error` is the first init task's failure, if one failed.
 */
export type ControlMessage = { started: true; error?: ErrorRecord } | { prepared: number; error?: ErrorRecord };

/** One job posted to a worker. */
export interface JobMessage {
  /** The pool's id for the job, echoed in its result. */
  id: number;
  /** What to run. */
  task: WireTask;
  /** The argument, structured-cloned. */
  input: unknown;
}

/** The error fields that survive the trip back. */
export interface ErrorRecord {
  /** The error's name, e.g. `'RangeError'`. */
  name: string;
  /** Its message. */
  message: string;
  /** Its stack, as the worker saw it. */
  stack?: string;
  /** Its `code` property, if it had one. */
  code?: unknown;
}

/** A job's outcome, posted on the results port. */
export type ResultMessage = { id: number; ok: true; value: unknown } | { id: number; ok: false; error: ErrorRecord };

type TaskFunction = (input: unknown) => unknown;

/**
 * Function tasks are compiled from source in this thread's global scope.
 * Give that scope what Node gives code evaluated as a worker script, so a
 * task may call require() (resolved from the working directory) and see
 * module, exports, __dirname and __filename, under the names Node uses.
 */
function defineScriptGlobals(): void {
  const name = '[worker eval]';
  const filename = path.join(process.cwd(), name);
  const scriptModule = new Module(name);
  scriptModule.filename = filename;
  Object.assign(globalThis, {
    require: createRequire(filename),
    module: scriptModule,
    exports: scriptModule.exports,
    __dirname: '.',
    __filename: name,
  });
}

function errorRecord(err: unknown): ErrorRecord {
  const e = err instanceof Error ? err : new Error(String(err));
  return { name: e.name, message: e.message, stack: e.stack, code: (e as Error & { code?: unknown }).code };
}

function serve(port: MessagePort, data: PoolWorkerData): void {
  const state = new Int32Array(data.waker.state, 0, 2);
  const fns = new Map<number, TaskFunction>();

  // A closed waker answers -EBADF: the loop is gone, nobody waits for it.
  const wake = (): void => void native.wake(data.waker.fd, state);

  const post = (msg: ResultMessage): void => {
    try {
      data.results.postMessage(msg);
    } catch (err) {
      const message = `task result cannot be sent back: ${(err as Error).message}`;
      data.results.postMessage({ id: msg.id, ok: false, error: { name: 'DataCloneError', message } });
    }
    wake();
  };

  const taskFunction = (task: WireTask): TaskFunction => {
    if ('module' in task) {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const fn: unknown = require(task.module)[task.export];
      if (typeof fn !== 'function') throw new TypeError(`${task.module} exports no function ${task.export}`);
      return fn as TaskFunction;
    }
    // Indirect eval: global scope, so the task sees no binding of this module.
    if (task.source !== undefined) fns.set(task.fnKey, (0, eval)(`(${task.source})`) as TaskFunction);
    return fns.get(task.fnKey) as TaskFunction;
  };

  const runInit = async (init: WireTask[]): Promise<ErrorRecord | undefined> => {
    try {
      for (const task of init) await taskFunction(task)(undefined);
      return undefined;
    } catch (err) {
      return errorRecord(err);
    }
  };

  const runJob = async (job: JobMessage): Promise<void> => {
    try {
      post({ id: job.id, ok: true, value: await taskFunction(job.task)(job.input) });
    } catch (err) {
      post({ id: job.id, ok: false, error: errorRecord(err) });
    }
  };

  const control = (msg: ControlMessage): void => port.postMessage(msg);

  void runInit(data.init).then((error) => {
    control(error === undefined ? { started: true } : { started: true, error });
    // Listening only now keeps every job and request behind the init tasks:
    // the port holds messages until a listener is attached.
    port.on('message', (msg: JobMessage | PrepareMessage) => {
      if ('prepare' in msg) {
        const seq = msg.prepare;
        void runInit(msg.init).then((e) => control(e === undefined ? { prepared: seq } : { prepared: seq, error: e }));
      } else {
        void runJob(msg);
      }
    });
  });
}

if (parentPort === null) throw new Error('pool-worker is the entry of a blocking pool worker thread, not a module to import');
defineScriptGlobals();
serve(parentPort, workerData as PoolWorkerData);
