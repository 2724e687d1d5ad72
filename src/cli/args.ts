/**
 * Flag parsing shared by the demo binaries: every flag validated, one-line
 * errors, exit code 2.
 *
 * @packageDocumentation
 */
import { parseArgs } from 'node:util';

/** One flag of a command. */
export interface FlagSpec {
  /** Value kind: a string, a boolean switch, or a repeatable string. */
  type: 'string' | 'boolean' | 'list';
  /** Text for --help, with the value's name first, e.g. 'PORT  port to listen on'. */
  help: string;
  /** One-letter alias. */
  short?: string;
}

/** A flag-parsing failure: print the message, exit with code 2. */
export class UsageError extends Error {}

/**
 * Parses argv against `specs`. Unknown flags and stray arguments throw
 * UsageError; --help is returned as `help: true`.
 */
export function parseFlags(
  argv: string[],
  specs: Record<string, FlagSpec>,
): { values: Record<string, string | boolean | string[] | undefined>; help: boolean } {
  const options: Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }> = {
    help: { type: 'boolean', short: 'h' },
  };
  for (const [name, spec] of Object.entries(specs)) {
    options[name] = { type: spec.type === 'boolean' ? 'boolean' : 'string', multiple: spec.type === 'list' };
    if (spec.short !== undefined) options[name].short = spec.short;
  }
  try {
    const { values, positionals } = parseArgs({ args: argv, options, strict: true, allowPositionals: true });
    if (positionals.length > 0) throw new UsageError(`unexpected argument '${positionals[0]}'`);
    return { values: values as Record<string, string | boolean | string[] | undefined>, help: values.help === true };
  } catch (err) {
    if (err instanceof UsageError) throw err;
    // parseArgs says e.g. "Unknown option '--x'"; keep its first sentence.
    throw new UsageError((err as Error).message.split('\n')[0].split('. ')[0].replace(/\.$/, ''));
  }
}

/** Renders --help text. */
export function usage(command: string, summary: string, specs: Record<string, FlagSpec>): string {
  const lines = [`Usage: ${command} [options]`, '', summary, '', 'Options:'];
  const rows = Object.entries(specs).map(([name, spec]) => {
    const [arg, ...rest] = spec.help.split('  ');
    const flag = `${spec.short ? `-${spec.short}, ` : '    '}--${name}${spec.type === 'boolean' ? '' : ` ${arg}`}`;
    return [flag, spec.type === 'boolean' ? spec.help : rest.join('  ').trim()];
  });
  rows.push(['-h, --help', 'show this help and exit']);
  const width = Math.max(...rows.map(([f]) => f.length)) + 2;
  for (const [flag, text] of rows) lines.push(`  ${flag.padEnd(width)}${text}`);
  return lines.join('\n');
}

/** An integer flag in [min, max]. */
export function intFlag(name: string, value: string | undefined, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  if (!/^[0-9]+$/.test(value)) throw new UsageError(`--${name} must be an integer, got '${value}'`);
  const n = Number(value);
  if (n < min || n > max) throw new UsageError(`--${name} must be between ${min} and ${max}, got ${value}`);
  return n;
}

/** A duration flag in seconds (decimals allowed), returned in milliseconds. */
export function secondsFlag(name: string, value: string | undefined, fallbackMs: number | undefined): number | undefined {
  if (value === undefined) return fallbackMs;
  if (!/^[0-9]+(\.[0-9]+)?$/.test(value)) throw new UsageError(`--${name} must be a number of seconds, got '${value}'`);
  const ms = Math.round(Number(value) * 1000);
  if (ms < 1 || ms > 0x7fffffff) throw new UsageError(`--${name} must be between 0.001 and 2147483 seconds, got ${value}`);
  return ms;
}

/** One of a fixed set of words. */
export function choiceFlag<T extends string>(name: string, value: string | undefined, fallback: T, choices: readonly T[]): T {
  if (value === undefined) return fallback;
  if (!(choices as readonly string[]).includes(value)) {
    throw new UsageError(`--${name} must be one of ${choices.join(', ')}, got '${value}'`);
  }
  return value as T;
}

/**
 * Runs a CLI main: a UsageError prints `command: message` and exits 2; any
 * other startup error prints one line and exits 1.
 */
export function runCli(command: string, main: () => void | Promise<void>): void {
  const fail = (err: unknown): void => {
    if (err instanceof UsageError) {
      process.stderr.write(`${command}: ${err.message}\n(see ${command} --help)\n`);
      process.exit(2);
    }
    const e = err as Error & { code?: string };
    process.stderr.write(`${command}: ${e.message ?? String(err)}\n`);
    process.exit(1);
  };
  try {
    const r = main();
    if (r instanceof Promise) r.catch(fail);
  } catch (err) {
    fail(err);
  }
}
