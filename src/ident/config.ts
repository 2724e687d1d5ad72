/**
 * The ident daemon's system config file (`--config PATH`): a default rule
 * and rules per user, by name or uid, each an answer and the powers a
 * user's own file gets. The format is in docs/IDENTD-CONFIG.md.
 *
 * @packageDocumentation
 */
import * as fs from 'node:fs';
import { ConfigError, configLines } from './config-line';
import { userIdProblem } from './protocol';

/** What a rule answers for a user's connection. */
export type IdentAction =
  | {
      /** The user's name (the uid when the system has no name for it). */
      type: 'name';
    }
  | {
      /** The uid as a decimal number. */
      type: 'numeric';
    }
  | {
      /** ERROR : HIDDEN-USER. */
      type: 'hide';
    }
  | {
      /** A new random token per query (see {@link RANDOM_ID_LENGTH}). */
      type: 'random';
    }
  | {
      /** This text, the same for every query. */
      type: 'reply';
      /** The user id to send. */
      userId: string;
    };

/** The answer types, which are also the powers a user file can be granted. */
export type IdentPower = IdentAction['type'];

/** Every power, in the order the docs list them. */
export const POWERS: readonly IdentPower[] = ['name', 'numeric', 'hide', 'random', 'reply'];

/** Longest user id a `reply` answer may give, in characters. */
export const MAX_REPLY_TEXT = 128;

/** Largest system config file read, in bytes. */
export const MAX_CONFIG_BYTES = 1 << 20;

/** Highest uid a rule may name (2^32 - 2: -1 is "no uid" to the kernel). */
const MAX_UID = 0xfffffffe;

/** One scope's lines (`default` or one `user`), before inheritance. */
export interface RuleSpec {
  /** The answer, when the scope sets one. */
  answer?: IdentAction;
  /** Powers granted by `allow` lines. */
  allow: Set<IdentPower>;
  /** Powers withdrawn by `deny` lines (user scopes only). */
  deny: Set<IdentPower>;
}

/** A parsed system config. */
export interface SystemConfig {
  /** The file it was read from. */
  file: string;
  /** The `default` lines: what every user without a rule of their own gets, and what user rules inherit. */
  defaults: RuleSpec;
  /** `user NAME` rules. */
  byName: Map<string, RuleSpec>;
  /** `user UID` rules. */
  byUid: Map<number, RuleSpec>;
}

/** A config with no lines: every user answered by name, no user files read. */
export function emptyConfig(file = '(none)'): SystemConfig {
  return { file, defaults: newSpec(), byName: new Map(), byUid: new Map() };
}

function newSpec(): RuleSpec {
  return { answer: undefined, allow: new Set(), deny: new Set() };
}

const NAME = /^[A-Za-z0-9_.][A-Za-z0-9_.@-]*\$?$/;

/**
 * Parses the answer words after `answer` (`name`, `numeric`, `hide`,
 * `random`, or `reply TEXT`). Throws an Error naming the problem; shared
 * with the user files, which use the same words.
 */
export function parseAction(words: string[]): IdentAction {
  const [word, ...rest] = words;
  if (word === undefined) throw new Error(`'answer' needs one of ${POWERS.slice(0, -1).join(', ')} or reply TEXT`);
  let action: IdentAction;
  if (word === 'reply') {
    const text = rest.shift();
    if (text === undefined || text === '') throw new Error("'reply' needs the user id to send");
    if (text.length > MAX_REPLY_TEXT) throw new Error(`the reply is ${text.length} characters; at most ${MAX_REPLY_TEXT}`);
    const problem = userIdProblem(text);
    if (problem !== null) throw new Error(`the reply ${problem}`);
    action = { type: 'reply', userId: text };
  } else if (word === 'name' || word === 'numeric' || word === 'hide' || word === 'random') {
    action = { type: word };
  } else {
    throw new Error(`unknown answer '${word}' (expected ${POWERS.slice(0, -1).join(', ')} or reply TEXT)`);
  }
  if (rest.length > 0) {
    throw new Error(`unexpected '${rest[0]}' after the answer '${word}'`);
  }
  return action;
}

function parsePower(word: string): IdentPower {
  if ((POWERS as readonly string[]).includes(word)) return word as IdentPower;
  throw new Error(`unknown power '${word}' (expected ${POWERS.join(', ')})`);
}

/** A `user` rule's subject: a uid when all digits, else a name. */
function parseWho(word: string | undefined): number | string {
  if (word === undefined) throw new Error("'user' needs a user name or uid");
  if (/^[0-9]+$/.test(word)) {
    const uid = Number(word);
    if (uid > MAX_UID) throw new Error(`uid ${word} is out of range (0 to ${MAX_UID})`);
    return uid;
  }
  if (!NAME.test(word) || word.length > 256) throw new Error(`'${word}' is not a valid user name`);
  return word;
}

/**
 * Parses a system config. Every line is `default STATEMENT` or
 * `user NAME|UID STATEMENT`, where STATEMENT is `answer ACTION`,
 * `allow POWER...` or `deny POWER...` (user rules only). Each scope sets
 * its answer at most once and names each power at most once. Throws a
 * {@link ConfigError} naming the first bad line.
 */
export function parseSystemConfig(data: Buffer | string, file: string): SystemConfig {
  const config = emptyConfig(file);
  // Where each scope's answer and powers were set, for "already on line N".
  const seen = new Map<string, number>();
  for (const { line, words } of configLines(typeof data === 'string' ? Buffer.from(data) : data, file)) {
    try {
      parseLine(config, words, line, seen);
    } catch (err) {
      throw new ConfigError(file, line, (err as Error).message);
    }
  }
  return config;
}

function parseLine(config: SystemConfig, words: string[], line: number, seen: Map<string, number>): void {
  const [scope, ...rest] = words;
  let spec: RuleSpec;
  let label: string;
  if (scope === 'default') {
    spec = config.defaults;
    label = 'default';
  } else if (scope === 'user') {
    const who = parseWho(rest.shift());
    const map: Map<number | string, RuleSpec> = typeof who === 'number' ? config.byUid : config.byName;
    spec = map.get(who) ?? newSpec();
    map.set(who, spec);
    label = `user ${who}`;
  } else {
    throw new Error(`expected 'default' or 'user', got '${scope}'`);
  }
  const [verb, ...args] = rest;
  if (verb === 'answer') {
    const first = seen.get(`${label} answer`);
    if (first !== undefined) throw new Error(`'${label}' already has an answer, on line ${first}`);
    spec.answer = parseAction(args);
    seen.set(`${label} answer`, line);
  } else if (verb === 'allow' || verb === 'deny') {
    if (verb === 'deny' && scope === 'default') {
      throw new Error("'deny' belongs in user rules: the default grants only what it allows");
    }
    if (args.length === 0) throw new Error(`'${verb}' needs at least one of ${POWERS.join(', ')}`);
    for (const word of args) {
      const power = parsePower(word);
      const first = seen.get(`${label} power ${power}`);
      if (first !== undefined) throw new Error(`'${label}' already names '${power}', on line ${first}`);
      seen.set(`${label} power ${power}`, line);
      (verb === 'allow' ? spec.allow : spec.deny).add(power);
    }
  } else {
    const where = label === 'default' ? "'default'" : `'${label}'`;
    throw new Error(verb === undefined ? `${where} needs answer, allow or deny` : `expected answer, allow or deny after ${where}, got '${verb}'`);
  }
}

/**
 * Reads and parses the system config at `file` (synchronously: it is read
 * at start and on SIGHUP, from the administrator's own directory). Throws
 * a {@link ConfigError}: line 0 when the file cannot be read or is too big.
 */
export function readSystemConfig(file: string): SystemConfig {
  let data: Buffer;
  try {
    const size = fs.statSync(file).size;
    if (size > MAX_CONFIG_BYTES) throw new ConfigError(file, 0, `${size} bytes; at most ${MAX_CONFIG_BYTES}`);
    data = fs.readFileSync(file);
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    const e = err as NodeJS.ErrnoException;
    throw new ConfigError(file, 0, `cannot read it (${e.code ?? e.message})`);
  }
  if (data.length > MAX_CONFIG_BYTES) throw new ConfigError(file, 0, `more than ${MAX_CONFIG_BYTES} bytes`);
  return parseSystemConfig(data, file);
}
