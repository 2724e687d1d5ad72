/**
 * The ident daemon's rules at run time: the system config in force (which
 * a reload replaces), users' own files read through the blocking pool,
 * and each query's answer.
 *
 * @packageDocumentation
 */
import type { EventLoop } from '../event-loop';
import { Pending } from '../pending';
import type { SystemConfig } from './config';
import { ConfigError } from './config-line';
import { TASKS } from './lookup';
import { permits, render, systemRule, type AnswerRules, type IdentAnswer, type RuleOwner, type SystemRule } from './rules';
import { parseUserFile, type UserFileRead } from './user-file';

/** How long a user file read may take before the system rule answers instead. */
export const USER_FILE_TIMEOUT_MS = 1000;

/** Options for {@link IdentRules}. */
export interface IdentRulesOptions {
  /**
   * Called when a user's file is refused, invalid, asks for an answer its
   * user may not give, or cannot be read in time; the query is then
   * answered by the system rule. Called on every such query: a program
   * that logs them should drop repeats.
   */
  onProblem?: (error: Error) => void;
  /**
   * Reads `uid`'s file. Default: the `userFile` task on `loop`'s blocking
   * pool (home directory from the passwd entry).
   */
  readUserFile?: (uid: number, loop: EventLoop) => Pending<UserFileRead>;
  /** See {@link USER_FILE_TIMEOUT_MS}. */
  userFileTimeoutMs?: number;
}

/** The pool task that reads `uid`'s file. */
function poolRead(uid: number, loop: EventLoop): Pending<UserFileRead> {
  return loop.spawnBlocking<number, UserFileRead>({ module: TASKS, export: 'userFile' }, uid);
}

/**
 * Answers queries by a system config and, where it grants powers, by
 * users' own files. Assign {@link IdentRules.config} to switch to a new
 * config: queries already waiting for a user file finish under the rule
 * they started with.
 */
export class IdentRules implements AnswerRules {
  /** The system config in force. */
  config: SystemConfig;
  private readonly onProblem: (error: Error) => void;
  private readonly read: (uid: number, loop: EventLoop) => Pending<UserFileRead>;
  private readonly timeoutMs: number;

  /** Rules from `config`. */
  constructor(config: SystemConfig, options: IdentRulesOptions = {}) {
    this.config = config;
    this.onProblem = options.onProblem ?? (() => {});
    this.read = options.readUserFile ?? poolRead;
    this.timeoutMs = options.userFileTimeoutMs ?? USER_FILE_TIMEOUT_MS;
  }

  /**
   * The answer for a connection owned by `owner`: the system rule's, or
   * the user file's when the rule grants it. Never rejects: any problem
   * with the user file means the system rule answers.
   */
  answer(owner: RuleOwner, loop: EventLoop): IdentAnswer | Pending<IdentAnswer> {
    const rule = systemRule(this.config, owner.uid, owner.name);
    // No powers: the file could not change the answer, so it is not read.
    if (rule.powers.size === 0) return render(rule.answer, owner, 'system');
    return this.readBounded(owner.uid, loop).then(
      (read) => this.decide(rule, owner, read),
      (err: unknown) => {
        this.problem(`cannot read the ident file of uid ${owner.uid} (${err instanceof Error ? err.message : String(err)})`, rule);
        return render(rule.answer, owner, 'system');
      },
    );
  }

  /** The read, or a rejection once it took longer than the timeout (the late result is dropped). */
  private readBounded(uid: number, loop: EventLoop): Pending<UserFileRead> {
    const done = new Pending<UserFileRead>();
    const timer = loop.setTimeout(() => done.reject(new Error(`no result within ${this.timeoutMs} ms`)), this.timeoutMs);
    this.read(uid, loop).subscribe({
      ok: (r) => {
        loop.clearTimer(timer);
        done.resolve(r);
      },
      err: (e) => {
        loop.clearTimer(timer);
        done.reject(e);
      },
    });
    return done;
  }

  private decide(rule: SystemRule, owner: RuleOwner, read: UserFileRead): IdentAnswer {
    if (read.status === 'none') return render(rule.answer, owner, 'system');
    if (read.status === 'refused') {
      this.problem(`${read.file}: ${read.reason}`, rule);
      return render(rule.answer, owner, 'system');
    }
    let choice;
    try {
      choice = parseUserFile(read.data, read.file);
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      this.problem(err.message, rule);
      return render(rule.answer, owner, 'system');
    }
    if (choice === null) return render(rule.answer, owner, 'system');
    if (!permits(rule, choice.answer)) {
      const granted = [...rule.powers].join(', ');
      this.problem(`${read.file}:${choice.line}: '${choice.answer.type}' is not allowed by '${rule.label}' (allowed: ${granted})`, rule);
      return render(rule.answer, owner, 'system');
    }
    return render(choice.answer, owner, 'user');
  }

  private problem(message: string, rule: SystemRule): void {
    this.onProblem(new Error(`${message}; answering by the system rule '${rule.label}'`));
  }
}
