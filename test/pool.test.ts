/**
 * loop.spawnBlocking(): the blocking-work pool. Tasks run on worker threads;
 * results come back on the loop's thread through its Waker, as Pending
 * completions, in run() mode (where no Node event loop turn happens while
 * run() owns the thread) and in attach() mode.
 *
 * Long tasks block on a SharedArrayBuffer with Atomics.wait (bounded by a
 * timeout) and are released by the test, so nothing depends on timing.
 * Every run() has a loop timer as a safety stop; every loop is closed.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { EventLoop, Pending, PoolError } from '../src/index';
import { sleep, waitFor } from './waits';

// ---------------------------------------------------------------------------
// Helpers local to this file
// ---------------------------------------------------------------------------

const cleanups: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) {
    try {
      await fn();
    } catch {
      // already cleaned up by the test
    }
  }
});

let tmpDir = '';
beforeAll(() => {
  tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'edgeloop-pool-'));
});
afterAll(() => {
  fs.rmSync(tmpDir, { recursive: true, force: true });
});

/** Rejects with `what` if `p` does not settle within `ms`. */
function within<T>(p: PromiseLike<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    Promise.resolve(p),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** A loop closed after the test. */
function newLoop(options: ConstructorParameters<typeof EventLoop>[0] = {}): EventLoop {
  const loop = new EventLoop(options);
  cleanups.push(() => loop.close());
  return loop;
}

/**
 * Runs `loop` in run() mode until something calls loop.stop(), with a loop
 * timer stopping it after `safetyMs` regardless. Returns true when the
 * safety timer had to stop it.
 */
function runWithSafetyStop(loop: EventLoop, safetyMs = 5000): boolean {
  let timedOut = false;
  const timer = loop.setTimeout(() => {
    timedOut = true;
    loop.stop();
  }, safetyMs);
  loop.run();
  loop.clearTimer(timer);
  return timedOut;
}

/** Settles `p` into a plain record, synchronously if it is settled already. */
function outcome<T>(p: Pending<T>): { state: 'pending' | 'ok' | 'err'; value?: T; error?: unknown } {
  const o: { state: 'pending' | 'ok' | 'err'; value?: T; error?: unknown } = { state: 'pending' };
  p.then(
    (v) => {
      o.state = 'ok';
      o.value = v;
    },
    (e) => {
      o.state = 'err';
      o.error = e;
    },
  );
  return o;
}

/** A task that blocks its worker until `release(sab)` (or 3 s), then returns its input's tag. */
const blockUntilReleased = (input: { sab: SharedArrayBuffer; tag: string }): string => {
  Atomics.wait(new Int32Array(input.sab), 0, 0, 3000);
  return input.tag;
};

function release(sab: SharedArrayBuffer): void {
  const a = new Int32Array(sab);
  Atomics.store(a, 0, 1);
  Atomics.notify(a, 0);
}

/** Thread ids of this process. */
function threadIds(): Set<string> {
  return new Set(fs.readdirSync('/proc/self/task'));
}

/** Open descriptors of this process (numbers). */
function openFds(): Set<string> {
  return new Set(fs.readdirSync('/proc/self/fd'));
}

/** Members of `now` that are not in `before`. */
function added(before: Set<string>, now: Set<string>): string[] {
  return [...now].filter((x) => !before.has(x));
}

/**
 * The thread ids once threads of earlier tests' pools (terminated
 * asynchronously by loop.close()) are gone: the same count 5 times in a
 * row, 50 ms apart, within 5 s.
 */
async function settledThreadIds(): Promise<Set<string>> {
  let last = threadIds();
  let same = 0;
  const deadline = Date.now() + 5000;
  while (same < 5 && Date.now() < deadline) {
    await sleep(50);
    const now = threadIds();
    same = now.size === last.size ? same + 1 : 0;
    last = now;
  }
  return last;
}

// ---------------------------------------------------------------------------
// Function tasks
// ---------------------------------------------------------------------------

describe('spawnBlocking(): function tasks', () => {
  it('completes in run() mode: the then callback gets the result and stops the loop', () => {
    const loop = newLoop({ pool: { size: 1 } });
    let result: number | undefined;
    loop.spawnBlocking((x: number) => x * 2, 21).then((v) => {
      result = v;
      loop.stop();
    });
    const timedOut = runWithSafetyStop(loop);
    expect(timedOut).toBe(false);
    expect(result).toBe(42);
  });

  it('completes in attach() mode and can be awaited', async () => {
    const loop = newLoop({ pool: { size: 1 } });
    loop.attach();
    const result = await within(loop.spawnBlocking((s: string) => s.split('').reverse().join(''), 'abc'), 5000, 'the task');
    expect(result).toBe('cba');
  });

  it('awaits an async task function and delivers its resolved value', async () => {
    const loop = newLoop({ pool: { size: 1 } });
    loop.attach();
    const task = async (n: number): Promise<number> => {
      await new Promise((r) => setTimeout(r, 5));
      return n + 1;
    };
    expect(await within(loop.spawnBlocking(task, 1), 5000, 'the async task')).toBe(2);
  });

  it('runs the same function many times with different inputs', async () => {
    const loop = newLoop({ pool: { size: 2 } });
    loop.attach();
    const square = (n: number): number => n * n;
    const results = await within(
      Promise.all(Array.from({ length: 20 }, (_, i) => loop.spawnBlocking(square, i))),
      10000,
      '20 tasks',
    );
    expect(results).toEqual(Array.from({ length: 20 }, (_, i) => i * i));
  });

  it('clones structured inputs and results (objects, Maps, typed arrays)', async () => {
    const loop = newLoop({ pool: { size: 1 } });
    loop.attach();
    const task = (input: { m: Map<string, number>; bytes: Uint8Array }): { sum: number; keys: string[]; bytes: Uint8Array } => ({
      sum: [...input.m.values()].reduce((a, b) => a + b, 0),
      keys: [...input.m.keys()],
      bytes: input.bytes.map((b) => b + 1),
    });
    const out = await within(
      loop.spawnBlocking(task, { m: new Map([['a', 1], ['b', 2]]), bytes: new Uint8Array([1, 2, 3]) }),
      5000,
      'the task',
    );
    expect(out.sum).toBe(3);
    expect(out.keys).toEqual(['a', 'b']);
    expect([...out.bytes]).toEqual([2, 3, 4]);
  });
});

describe('spawnBlocking(): function tasks and require()', () => {
  it('lets a function task require() a built-in module', async () => {
    const loop = newLoop({ pool: { size: 1 } });
    loop.attach();
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const task = (): string => require('node:os').platform();
    expect(await within(loop.spawnBlocking(task, null), 5000, 'the task')).toBe(os.platform());
  });
});

// ---------------------------------------------------------------------------
// The worker module
// ---------------------------------------------------------------------------

describe('spawnBlocking(): the worker module', () => {
  const workerFile = path.join(__dirname, '..', 'dist', 'pool-worker.js');

  it('runs its workers from dist/pool-worker.js, not from evaluated source', async () => {
    const loop = newLoop({ pool: { size: 1 } });
    loop.attach();
    // A worker started from a file has that file as its script argument; one
    // started from a source string has '[worker eval]' there.
    expect(await within(loop.spawnBlocking(() => process.argv[1], null), 5000, 'the task')).toBe(workerFile);
  });

  it('finds the worker when the package is loaded through its ES module entry', () => {
    const script = [
      `import { EventLoop } from ${JSON.stringify(path.join(__dirname, '..', 'dist', 'index.mjs'))};`,
      'const loop = new EventLoop({ pool: { size: 1 } });',
      'loop.attach();',
      'const out = await loop.spawnBlocking((x) => [x * 2, process.argv[1]], 21);',
      'loop.close();',
      'console.log(JSON.stringify(out));',
    ].join('\n');
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: tmpDir, encoding: 'utf8', timeout: 30_000 });
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toEqual([42, workerFile]);
  });
});

// ---------------------------------------------------------------------------
// Module tasks
// ---------------------------------------------------------------------------

describe('spawnBlocking(): module tasks', () => {
  it('runs a named export of a module given by absolute path', async () => {
    const file = path.join(tmpDir, 'tasks-named.js');
    fs.writeFileSync(file, "'use strict';\nexports.triple = (x) => x * 3;\nexports.other = () => 'wrong';\n");
    const loop = newLoop({ pool: { size: 1 } });
    loop.attach();
    expect(await within(loop.spawnBlocking({ module: file, export: 'triple' }, 5), 5000, 'module task')).toBe(15);
  });

  it('runs a module task in run() mode', () => {
    const file = path.join(tmpDir, 'tasks-run.js');
    fs.writeFileSync(file, "'use strict';\nexports.hello = (name) => 'hello ' + name;\n");
    const loop = newLoop({ pool: { size: 1 } });
    let result: string | undefined;
    loop.spawnBlocking<string, string>({ module: file, export: 'hello' }, 'run').then((v) => {
      result = v;
      loop.stop();
    });
    expect(runWithSafetyStop(loop)).toBe(false);
    expect(result).toBe('hello run');
  });

  it('rejects when the module does not export that function', async () => {
    const file = path.join(tmpDir, 'tasks-missing.js');
    fs.writeFileSync(file, "'use strict';\nexports.present = () => 1;\n");
    const loop = newLoop({ pool: { size: 1 } });
    loop.attach();
    await expect(within(loop.spawnBlocking({ module: file, export: 'absent' }, null), 5000, 'module task')).rejects.toThrow(
      /absent/,
    );
  });

  it('refuses a relative module path synchronously', () => {
    const loop = newLoop({ pool: { size: 1 } });
    expect(() => loop.spawnBlocking({ module: './relative.js', export: 'x' }, null)).toThrow(TypeError);
  });
});

// ---------------------------------------------------------------------------
// Failures
// ---------------------------------------------------------------------------

describe('spawnBlocking(): failures', () => {
  it('rejects with the same message and code when the task throws', async () => {
    const loop = newLoop({ pool: { size: 1 } });
    loop.attach();
    const task = (x: number): never => {
      const err = new Error(`bad input ${x}`) as Error & { code: string };
      err.code = 'E_BAD_INPUT';
      throw err;
    };
    let caught: unknown;
    try {
      await within(loop.spawnBlocking(task, 7), 5000, 'the failing task');
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(Error);
    expect((caught as Error).message).toBe('bad input 7');
    expect((caught as Error & { code?: string }).code).toBe('E_BAD_INPUT');
  });

  it('keeps the error name of the thrown error', async () => {
    const loop = newLoop({ pool: { size: 1 } });
    loop.attach();
    const task = (): never => {
      throw new RangeError('out of range');
    };
    let caught: unknown;
    try {
      await within(loop.spawnBlocking(task, null), 5000, 'the failing task');
    } catch (e) {
      caught = e;
    }
    expect((caught as Error).name).toBe('RangeError');
    expect((caught as Error).message).toBe('out of range');
  });

  it('rejects with the same message and code in run() mode', () => {
    const loop = newLoop({ pool: { size: 1 } });
    const task = (): never => {
      const err = new Error('run-mode failure') as Error & { code: string };
      err.code = 'E_RUN';
      throw err;
    };
    let caught: unknown;
    loop.spawnBlocking(task, null).then(
      () => loop.stop(),
      (e) => {
        caught = e;
        loop.stop();
      },
    );
    expect(runWithSafetyStop(loop)).toBe(false);
    expect((caught as Error).message).toBe('run-mode failure');
    expect((caught as Error & { code?: string }).code).toBe('E_RUN');
  });

  it('rejects when the task returns something that cannot be cloned', async () => {
    const loop = newLoop({ pool: { size: 1 } });
    loop.attach();
    const task = (): unknown => ({ fn: () => 1 });
    let caught: unknown;
    try {
      await within(loop.spawnBlocking(task, null), 5000, 'the unclonable task');
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(Error);
    expect((caught as Error).message).toMatch(/clone|cannot be sent/i);
  });

  it('keeps serving tasks after one returned something unclonable', async () => {
    const loop = newLoop({ pool: { size: 1 } });
    loop.attach();
    const bad = loop.spawnBlocking(() => Symbol('nope') as unknown, null);
    const good = loop.spawnBlocking((x: number) => x + 1, 1);
    await expect(within(bad, 5000, 'the unclonable task')).rejects.toThrow();
    expect(await within(good, 5000, 'the next task')).toBe(2);
  });
});

// ---------------------------------------------------------------------------
// The bounded queue and close()
// ---------------------------------------------------------------------------

describe('spawnBlocking(): queue bound', () => {
  it('rejects the 4th spawn with ERR_POOL_QUEUE_FULL when one task runs and two wait (size 1, maxQueue 2)', async () => {
    const loop = newLoop({ pool: { size: 1, maxQueue: 2 } });
    loop.attach();
    const sab = new SharedArrayBuffer(4);
    cleanups.push(() => release(sab));
    const running = loop.spawnBlocking(blockUntilReleased, { sab, tag: 'first' });
    const queued1 = loop.spawnBlocking(blockUntilReleased, { sab, tag: 'second' });
    const queued2 = loop.spawnBlocking(blockUntilReleased, { sab, tag: 'third' });
    const fourth = outcome(loop.spawnBlocking(blockUntilReleased, { sab, tag: 'fourth' }));
    expect(fourth.state).toBe('err');
    expect(fourth.error).toBeInstanceOf(PoolError);
    expect((fourth.error as PoolError).code).toBe('ERR_POOL_QUEUE_FULL');
    release(sab);
    expect(await within(Promise.all([running, queued1, queued2]), 10000, 'the three accepted tasks')).toEqual([
      'first',
      'second',
      'third',
    ]);
  });

  it('accepts new tasks again once the queue has room', async () => {
    const loop = newLoop({ pool: { size: 1, maxQueue: 1 } });
    loop.attach();
    const sab = new SharedArrayBuffer(4);
    cleanups.push(() => release(sab));
    const a = loop.spawnBlocking(blockUntilReleased, { sab, tag: 'a' });
    const b = loop.spawnBlocking(blockUntilReleased, { sab, tag: 'b' });
    expect(outcome(loop.spawnBlocking(blockUntilReleased, { sab, tag: 'c' })).state).toBe('err');
    release(sab);
    await within(Promise.all([a, b]), 10000, 'a and b');
    expect(await within(loop.spawnBlocking((x: string) => x, 'later'), 5000, 'a later task')).toBe('later');
  });
});

describe('spawnBlocking(): loop.close()', () => {
  it('rejects queued and running tasks with ERR_POOL_CLOSED', () => {
    const loop = new EventLoop({ pool: { size: 1, maxQueue: 4 } });
    cleanups.push(() => loop.close());
    const sab = new SharedArrayBuffer(4);
    cleanups.push(() => release(sab));
    const running = outcome(loop.spawnBlocking(blockUntilReleased, { sab, tag: 'running' }));
    const queued = [1, 2, 3].map((i) => outcome(loop.spawnBlocking(blockUntilReleased, { sab, tag: `q${i}` })));
    loop.close();
    for (const o of [running, ...queued]) {
      expect(o.state).toBe('err');
      expect(o.error).toBeInstanceOf(PoolError);
      expect((o.error as PoolError).code).toBe('ERR_POOL_CLOSED');
    }
  });

  it('leaves no worker threads running and no fds open once the workers have exited', async () => {
    // libuv's threadpool starts all its threads on first use: start it now
    // so its threads are not mistaken for the pool's.
    await fs.promises.readFile(__filename);
    const threadsBefore = await settledThreadIds();
    const fdsBefore = openFds();
    const resourcesBefore = process.getActiveResourcesInfo().filter((r) => r === 'Worker' || r === 'MessagePort').length;
    const loop = new EventLoop({ pool: { size: 2, maxQueue: 4 } });
    cleanups.push(() => loop.close());
    const sab = new SharedArrayBuffer(4);
    cleanups.push(() => release(sab));
    loop.attach();
    // Both workers busy (blocked), two more waiting.
    const results = [0, 1, 2, 3].map((i) => outcome(loop.spawnBlocking(blockUntilReleased, { sab, tag: `t${i}` })));
    // The pool's threads and descriptors: what appeared since the baseline.
    await waitFor(() => added(threadsBefore, threadIds()).length >= 2, 5000, 'the two pool threads to start');
    const poolThreads = added(threadsBefore, threadIds());
    const poolFds = added(fdsBefore, openFds());
    expect(poolFds.length).toBeGreaterThan(0); // the loop's own epoll fd and eventfd at least
    loop.close();
    expect(results.map((r) => r.state)).toEqual(['err', 'err', 'err', 'err']);
    const live = (): string[] => poolThreads.filter((t) => threadIds().has(t));
    await waitFor(() => live().length === 0, 5000, `the pool threads to exit (still running: ${live().join(', ')})`);
    const open = (): string[] => poolFds.filter((fd) => openFds().has(fd));
    await waitFor(() => open().length === 0, 5000, `the pool's and loop's fds to close (still open: ${open().join(', ')})`);
    // No worker or message port of the pool is left as an active resource.
    // Node drops a Worker's handle only when its 'exit' event is delivered on
    // this thread, which can come a turn after the OS thread is gone.
    const handles = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Worker' || r === 'MessagePort').length;
    await waitFor(() => handles() === resourcesBefore, 5000, "the pool's Worker and MessagePort handles to go");
  });

  it('refuses spawnBlocking on a closed loop', () => {
    const loop = new EventLoop({ pool: { size: 1 } });
    loop.close();
    expect(() => loop.spawnBlocking((x: number) => x, 1)).toThrow(/closed/);
  });
});

// ---------------------------------------------------------------------------
// The Waker path: results without a Node event loop turn
// ---------------------------------------------------------------------------

describe('spawnBlocking(): the Waker path', () => {
  it('delivers results inside run() with no Node event loop turn in between', () => {
    const loop = newLoop({ pool: { size: 2 } });
    let nodeTurned = false;
    const immediate = setImmediate(() => {
      nodeTurned = true;
    });
    cleanups.push(() => clearImmediate(immediate));
    // A chain of five tasks, each spawned from the previous one's callback:
    // every hop needs the Waker, since no Node callback can run meanwhile.
    const seen: number[] = [];
    const step = (n: number): void => {
      loop.spawnBlocking((x: number) => x + 1, n).then((v) => {
        seen.push(v);
        if (v < 5) step(v);
        else loop.stop();
      });
    };
    step(0);
    expect(runWithSafetyStop(loop)).toBe(false);
    expect(seen).toEqual([1, 2, 3, 4, 5]);
    expect(nodeTurned).toBe(false);
  });

  it('delivers results of many concurrent tasks in run() mode', () => {
    const loop = newLoop({ pool: { size: 2 } });
    const got = new Map<number, number>();
    for (let i = 0; i < 30; i++) {
      loop.spawnBlocking((x: number) => x * 10, i).then((v) => {
        got.set(i, v);
        if (got.size === 30) loop.stop();
      });
    }
    expect(runWithSafetyStop(loop)).toBe(false);
    expect([...got.entries()].sort((a, b) => a[0] - b[0])).toEqual(Array.from({ length: 30 }, (_, i) => [i, i * 10]));
  });
});

// ---------------------------------------------------------------------------
// onWake
// ---------------------------------------------------------------------------

describe('onWake()', () => {
  it('runs a hook in run() mode when the loop is woken', () => {
    const loop = newLoop();
    let calls = 0;
    loop.onWake(() => {
      calls++;
      loop.stop();
    });
    loop.setTimeout(() => loop.wake(), 10);
    expect(runWithSafetyStop(loop, 3000)).toBe(false);
    expect(calls).toBeGreaterThanOrEqual(1);
  });

  it('no longer runs a hook after the function it returned was called', () => {
    const loop = newLoop();
    let removedCalls = 0;
    let keptCalls = 0;
    const remove = loop.onWake(() => {
      removedCalls++;
    });
    loop.onWake(() => {
      keptCalls++;
      loop.stop();
    });
    remove();
    loop.setTimeout(() => loop.wake(), 10);
    expect(runWithSafetyStop(loop, 3000)).toBe(false);
    expect(keptCalls).toBeGreaterThanOrEqual(1);
    expect(removedCalls).toBe(0);
  });

  it('runs a hook in attach() mode when the loop is woken', async () => {
    const loop = newLoop();
    let calls = 0;
    loop.onWake(() => {
      calls++;
    });
    loop.attach();
    loop.wake();
    await waitFor(() => calls >= 1, 3000, 'the wake hook');
  });
});
