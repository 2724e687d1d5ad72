/**
 * A child process for the suites that run programs (the CLIs, scripts that
 * hold loops, socket owners running as the test users): stdout collected
 * line by line, stderr as text, the exit recorded, and bounded waits on all
 * three. Each child is killed by its own pid after the test if it is still
 * running (register `afterEach(runCleanups)` from ./cleanup), never by name.
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { later } from './cleanup';
import { Waitable, within } from './waits';

/** How a child ended. */
export interface ChildExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** A running child whose output is collected. */
export class LineChild extends Waitable {
  /** Complete stdout lines, in order. */
  readonly lines: string[] = [];
  stderr = '';
  /** Set once the child exited. */
  exit: ChildExit | null = null;
  /** Resolves once the child exited. */
  readonly exited: Promise<ChildExit>;
  /** Resolves once its output pipes closed too (after the exit): all output is in. */
  readonly drained: Promise<void>;
  private partial = '';

  constructor(
    readonly name: string,
    readonly proc: ChildProcess,
  ) {
    super();
    proc.stdout?.setEncoding('utf8');
    proc.stdout?.on('data', (d: string) => {
      const parts = (this.partial + d).split('\n');
      this.partial = parts.pop()!;
      this.lines.push(...parts);
      this.notify();
    });
    proc.stderr?.setEncoding('utf8');
    proc.stderr?.on('data', (d: string) => {
      this.stderr += d;
      this.notify();
    });
    this.exited = new Promise((resolve) => {
      proc.once('exit', (code, signal) => {
        this.exit = { code, signal };
        this.notify();
        resolve(this.exit);
      });
    });
    this.drained = new Promise((resolve) => {
      proc.once('close', () => {
        if (this.partial !== '') this.lines.push(this.partial);
        this.partial = '';
        this.notify();
        resolve();
      });
    });
  }

  /**
   * Spawns `command args` with stdout and stderr piped (stdin ignored unless
   * `options.stdio` says otherwise); killed after the test.
   */
  static spawn(name: string, command: string, args: string[], options: SpawnOptions = {}): LineChild {
    const child = new LineChild(name, spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options }));
    later(() => child.kill());
    return child;
  }

  /** Runs a script (or program) with this Node; killed after the test. */
  static node(name: string, scriptAndArgs: string[], options: SpawnOptions = {}): LineChild {
    return LineChild.spawn(name, process.execPath, scriptAndArgs, options);
  }

  /** Whether it is still running. */
  get alive(): boolean {
    return this.exit === null;
  }

  protected describeState(): string {
    return `${this.name}: exit=${JSON.stringify(this.exit)} stdout=${JSON.stringify(this.lines)} stderr=${JSON.stringify(this.stderr)}`;
  }

  /** The first stdout line matching `re`; rejects when the child exits without one, or after `ms`. */
  async line(re: RegExp, ms: number): Promise<string> {
    const find = (): string | undefined => this.lines.find((l) => re.test(l));
    await this.until(() => find() !== undefined || this.exit !== null, ms, `a line matching ${re}`);
    const hit = find();
    if (hit === undefined) throw new Error(`exited before printing ${re} (${this.describeState()})`);
    return hit;
  }

  /** Waits until `n` stdout lines match `re`. */
  count(re: RegExp, n: number, ms: number): Promise<void> {
    return this.until(() => this.lines.filter((l) => re.test(l)).length >= n, ms, `${n} lines matching ${re}`);
  }

  /** The stdout lines that parse as JSON objects. */
  messages(): Record<string, unknown>[] {
    const out: Record<string, unknown>[] = [];
    for (const l of this.lines) {
      if (!l.startsWith('{')) continue;
      try {
        out.push(JSON.parse(l) as Record<string, unknown>);
      } catch {
        // not a JSON line
      }
    }
    return out;
  }

  /**
   * The first JSON line whose `event` is `match` (or that `match` accepts);
   * rejects when the child exits without one, or after `ms`.
   */
  async message(match: string | ((m: Record<string, unknown>) => boolean), ms = 5000, what?: string): Promise<Record<string, unknown>> {
    const pred = typeof match === 'string' ? (m: Record<string, unknown>) => m.event === match : match;
    const label = what ?? (typeof match === 'string' ? `the child event ${match}` : 'a matching JSON line');
    const find = (): Record<string, unknown> | undefined => this.messages().find(pred);
    await this.until(() => find() !== undefined || this.exit !== null, ms, label);
    const hit = find();
    if (hit === undefined) throw new Error(`exited before ${label} (${this.describeState()})`);
    return hit;
  }

  /** Sends `signal` to this child's pid, if it is still running. */
  signal(signal: NodeJS.Signals): void {
    if (this.exit === null && this.proc.pid !== undefined) process.kill(this.proc.pid, signal);
  }

  /** Waits for the exit; returns it. */
  async waitExit(ms = 15000): Promise<ChildExit> {
    return within(this.exited, ms, `${this.name} to exit (${this.describeState()})`);
  }

  /**
   * Waits (up to `ms`) for the child to finish on its own and for its
   * output; kills it by pid when it does not. `killed` says which.
   */
  async runToEnd(ms: number): Promise<ChildExit & { killed: boolean }> {
    let killed = false;
    try {
      await within(this.exited, ms, `${this.name} to finish`);
    } catch {
      killed = true;
      await this.kill();
    }
    await within(this.drained, 5000, `${this.name} output`).catch(() => undefined);
    return { ...(this.exit ?? { code: null, signal: null }), killed };
  }

  /** SIGKILL to this child's pid only, if it is still running; waits (bounded) for the exit. */
  async kill(): Promise<void> {
    if (this.exit !== null || this.proc.pid === undefined) return;
    try {
      process.kill(this.proc.pid, 'SIGKILL');
    } catch {
      // already gone
    }
    await within(this.exited, 5000, `${this.name} exit after SIGKILL`).catch(() => undefined);
  }
}
