/**
 * edgeloop-identd's --config: the rules loaded at start (a bad file is
 * exit code 2) and reloaded on SIGHUP (a bad file keeps the rules in
 * force). See docs/IDENTD-CONFIG.md.
 *
 * @packageDocumentation
 */
import { readSystemConfig } from '../ident/config';
import { ConfigError } from '../ident/config-line';
import { IdentRules } from '../ident/policy';

/** Where the daemon's config messages go (the daemon's log, console or syslog). */
export interface ConfigLog {
  /** Progress, e.g. a reload that took effect. */
  info(message: string): void;
  /** Problems, e.g. a reload that was refused. */
  error(message: string): void;
}


/**
 * Rules from `file`, with user-file problems going to `onProblem`. When
 * the file cannot be read or is invalid, writes its `file:line: problem`
 * to `log.error` and exits with code 2, as for a bad flag: a daemon must
 * not start with rules other than the ones written.
 */
export function startRules(file: string, onProblem: (error: Error) => void, log: ConfigLog): IdentRules {
  try {
    return new IdentRules(readSystemConfig(file), { onProblem });
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    log.error(err.message);
    process.exit(2);
  }
}

/** Counts a config's rules for the reload message. */
function describe(rules: IdentRules): string {
  const n = rules.config.byName.size + rules.config.byUid.size;
  return `${n} user rule${n === 1 ? '' : 's'}`;
}

/**
 * Re-reads `file` into `rules` (for SIGHUP). Open connections and queries
 * in flight are untouched: the next query uses the new rules. A file that
 * cannot be read or is invalid leaves the rules as they were, and
 * `log.error` says where the file went wrong.
 */
export function reloadRules(file: string, rules: IdentRules, log: ConfigLog): void {
  try {
    rules.config = readSystemConfig(file);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    log.error(`${err.message}; keeping the rules in force`);
    return;
  }
  log.info(`reloaded ${file} (${describe(rules)})`);
}
