/**
 * The blocking pool's start-up and failures: prepare() starts every worker
 * and runs init tasks on each before it resolves; a worker that exits is
 * replaced, runs the init tasks again, and its cause reaches onWorkerError,
 * once for a cause that repeats.
 *
 * Workers load dist/ (`npm run build:ts` first). Every loop is closed after
 * its test; every wait is bounded.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { EventLoop, PoolError } from '../src/index';
import { later, runCleanups } from './cleanup';
import { idOf } from './ident-owners';
import { privateInstall } from './private-install';
import { skipUnlessRoot } from './root';
import { useTempDir } from './temp-dir';
import { waitFor, within } from './waits';

afterEach(runCleanups);

const tmp = useTempDir('edgeloop-pool-prepare-');

/** An attached loop with a pool of `size` workers, closed after the test. */
function attachedLoop(size: number, onWorkerError?: (e: PoolError) => void): EventLoop {
  const loop = new EventLoop({ pool: { size, onWorkerError } });
  later(() => loop.close());
  loop.attach();
  return loop;
}

/** A task that ends its worker thread with exit code 7. */
const exitWorker = (): never => process.exit(7);

describe('prepare()', () => {
  it('resolves once every worker has run the init task', async () => {
    const log = path.join(tmp.path, 'threads.log');
    const init = tmp.write(
      'record-thread.js',
      `exports.record = () => require('fs').appendFileSync(${JSON.stringify(log)}, require('worker_threads').threadId + '\\n');\n`,
    );
    const loop = attachedLoop(3);
    await within(loop.prepareBlocking([{ module: init, export: 'record' }]), 10000, 'prepareBlocking()');
    const threads = fs.readFileSync(log, 'utf8').split('\n').filter(Boolean);
    expect(new Set(threads).size).toBe(3);
  });

  it('gives later tasks the state an init task set up in their worker', async () => {
    const init = tmp.write('set-flag.js', "exports.set = () => { globalThis.preparedFlag = 'set'; };\n");
    const loop = attachedLoop(1);
    await within(loop.prepareBlocking([{ module: init, export: 'set' }]), 10000, 'prepareBlocking()');
    const flag = (globalThis as { preparedFlag?: string }).preparedFlag;
    expect(flag).toBeUndefined();
    expect(await within(loop.spawnBlocking(() => (globalThis as { preparedFlag?: string }).preparedFlag, null), 5000, 'task')).toBe('set');
  });

  it('rejects with the error of an init task that throws', async () => {
    const init = tmp.write('throws.js', "exports.fail = () => { throw new Error('init cannot run here'); };\n");
    const loop = attachedLoop(2);
    await expect(within(loop.prepareBlocking([{ module: init, export: 'fail' }]), 10000, 'prepareBlocking()')).rejects.toThrow(
      'init cannot run here',
    );
  });

  it('keeps the process waiting for the answer while the loop is not attached', () => {
    // Idle workers are unref'd; a process that awaits prepare() before
    // attaching must still live until the workers answer.
    const script = `
      const { EventLoop } = require(${JSON.stringify(path.join(__dirname, '..', 'dist', 'index.js'))});
      const loop = new EventLoop({ pool: { size: 2 } });
      loop.prepareBlocking().then(() => { console.log('prepared'); loop.close(); });
    `;
    const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 20000 });
    expect({ stdout: r.stdout, stderr: r.stderr, status: r.status }).toEqual({ stdout: 'prepared\n', stderr: '', status: 0 });
  });

  it('leaves no ref behind: a process with a prepared, idle pool ends by itself', () => {
    const script = `
      const { EventLoop } = require(${JSON.stringify(path.join(__dirname, '..', 'dist', 'index.js'))});
      const loop = new EventLoop({ pool: { size: 2 } });
      loop.prepareBlocking().then(() => console.log('prepared'));
    `;
    // The limit only stops a process that would never end.
    const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 20000, killSignal: 'SIGKILL' });
    expect({ stdout: r.stdout, signal: r.signal, status: r.status }).toEqual({ stdout: 'prepared\n', signal: null, status: 0 });
  });
});

describe('a worker that exits', () => {
  it('rejects its task with ERR_POOL_WORKER_EXITED naming the exit code', async () => {
    const loop = attachedLoop(1);
    const err = await within(loop.spawnBlocking(exitWorker, null), 10000, 'the exiting task').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PoolError);
    expect(err).toMatchObject({ code: 'ERR_POOL_WORKER_EXITED', message: expect.stringContaining('exit code 7') });
  });

  it('is replaced: the next task runs', async () => {
    const loop = attachedLoop(1);
    await within(loop.spawnBlocking(exitWorker, null), 10000, 'the exiting task').catch(() => undefined);
    expect(await within(loop.spawnBlocking((x: number) => x + 1, 41), 10000, 'the next task')).toBe(42);
  });

  it('is reported to onWorkerError with its cause', async () => {
    const reports: PoolError[] = [];
    const loop = attachedLoop(1, (e) => reports.push(e));
    await within(loop.spawnBlocking(exitWorker, null), 10000, 'the exiting task').catch(() => undefined);
    await waitFor(() => reports.length > 0, 5000, 'a report');
    expect(reports.map((e) => [e.code, e.message])).toEqual([['ERR_POOL_WORKER_EXITED', 'a blocking pool worker exited: exit code 7']]);
  });

  it('has its replacement run the init tasks before its first job', async () => {
    const init = tmp.write('set-flag-again.js', "exports.set = () => { globalThis.preparedFlag = 'again'; };\n");
    const loop = attachedLoop(1);
    await within(loop.prepareBlocking([{ module: init, export: 'set' }]), 10000, 'prepareBlocking()');
    await within(loop.spawnBlocking(exitWorker, null), 10000, 'the exiting task').catch(() => undefined);
    expect(await within(loop.spawnBlocking(() => (globalThis as { preparedFlag?: string }).preparedFlag, null), 10000, 'task')).toBe('again');
  });
});

describe('a worker that cannot start', () => {
  /**
   * An init task that counts its runs in a file and ends its worker: once
   * it is an init task, every replacement fails to start the same way.
   */
  function exitingInit(): { module: string; export: string; runs: () => number } {
    const count = path.join(tmp.path, `runs-${Date.now()}-${Math.random()}.log`);
    const module = tmp.write(
      `exit-init-${path.basename(count)}.js`,
      `exports.run = () => { require('fs').appendFileSync(${JSON.stringify(count)}, 'x'); process.exit(3); };\n`,
    );
    const runs = (): number => (fs.existsSync(count) ? fs.readFileSync(count, 'utf8').length : 0);
    return { module, export: 'run', runs };
  }

  it('is started again, and reported once while it keeps failing the same way', async () => {
    const reports: PoolError[] = [];
    const loop = attachedLoop(1, (e) => reports.push(e));
    const init = exitingInit();
    await within(loop.prepareBlocking([init]), 10000, 'prepareBlocking()').catch(() => undefined);
    // The first run exits a started worker; the next ones are replacements
    // failing to start, retried after 100 ms, then 200 ms.
    await waitFor(() => init.runs() >= 4, 10000, 'three replacements to fail');
    expect(reports.map((e) => [e.code, e.message])).toEqual([
      ['ERR_POOL_WORKER_EXITED', 'a blocking pool worker exited: exit code 3'],
      ['ERR_POOL_WORKER_START', 'a blocking pool worker could not start: exit code 3'],
    ]);
  });

  it('makes prepare() reject, naming why', async () => {
    const loop = attachedLoop(1);
    const init = exitingInit();
    await expect(within(loop.prepareBlocking([init]), 10000, 'prepareBlocking()')).rejects.toThrow(/exit code 3/);
  });

  it('makes tasks reject with the cause while no worker runs', async () => {
    const loop = attachedLoop(1);
    const init = exitingInit();
    await within(loop.prepareBlocking([init]), 10000, 'prepareBlocking()').catch(() => undefined);
    await waitFor(() => init.runs() >= 2, 10000, 'a replacement to fail');
    const err = await within(loop.spawnBlocking((x: number) => x, 1), 10000, 'a task').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PoolError);
    expect((err as PoolError).message).toMatch(/exit code 3/);
  });
});

describe('after dropping privileges, installed where only root can read', () => {
  /**
   * Prepares a one-worker pool from `install`, becomes nobody, ends the
   * worker, waits until replacements have failed to start `attempts` times,
   * and prints each onWorkerError report, the ended task's code and then
   * the code of a task spawned while no worker runs, one JSON line each.
   */
  const script = (install: string, uid: number, gid: number, attempts: number): string => `
    const { EventLoop } = require(${JSON.stringify(path.join(install, 'dist', 'index.js'))});
    const say = (o) => console.log(JSON.stringify(o));
    // Counted before the pool sees each exit: its listener comes after this one.
    let exited = 0;
    process.on('worker', (w) => w.once('exit', () => exited++));
    const loop = new EventLoop({ pool: { size: 1, onWorkerError: (e) => say({ report: e.message, code: e.code }) } });
    loop.attach();
    (async () => {
      await loop.prepareBlocking();
      process.setgroups([${gid}]);
      process.setgid(${gid});
      process.setuid(${uid});
      await loop.spawnBlocking(() => process.exit(7), null).catch((e) => say({ task: e.code }));
      // The first worker and ${attempts} replacements have exited; the
      // next attempt waits for its delay, so no worker runs now.
      while (exited < ${1 + attempts}) await new Promise((r) => setTimeout(r, 20));
      await loop.spawnBlocking((x) => x, 1).then(() => say({ later: 'ran' }), (e) => say({ later: e.code }));
      loop.close();
    })();
  `;

  it('replaces the worker that exits, and reports once why its replacements cannot start', async (ctx) => {
    skipUnlessRoot(ctx, 'drops privileges to nobody (setuid) in a child process');
    const uid = idOf('-u', 'nobody');
    const gid = idOf('-g', 'nobody');
    expect(uid, 'the system has a user nobody').not.toBeNull();
    const install = privateInstall();
    const r = spawnSync(process.execPath, ['-e', script(install, uid as number, gid as number, 3)], {
      cwd: '/',
      encoding: 'utf8',
      timeout: 30000,
      killSignal: 'SIGKILL',
    });
    const out = r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, string>);
    expect(r.stderr).toBe('');
    expect(out.filter((o) => 'report' in o).map((o) => o.code)).toEqual(['ERR_POOL_WORKER_EXITED', 'ERR_POOL_WORKER_START']);
    expect(out.find((o) => o.code === 'ERR_POOL_WORKER_START')?.report).toBe(
      `a blocking pool worker could not start: the pool's worker ${path.join(install, 'dist', 'pool-worker.js')} cannot be read (EACCES): ` +
        'start the pool (loop.prepareBlocking()) before dropping privileges',
    );
    expect(out.filter((o) => !('report' in o))).toEqual([{ task: 'ERR_POOL_WORKER_EXITED' }, { later: 'ERR_POOL_WORKER_START' }]);
  });
});
