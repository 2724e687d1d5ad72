#!/usr/bin/env node
/**
 * edgeloop-identd: the RFC 1413 ident server as a program.
 *
 * @packageDocumentation
 */
import { execFileSync } from 'node:child_process';
import { isIP } from 'node:net';
import { SysError } from '../errors';
import { createIdentServer, DEFAULT_IDLE_TIMEOUT_MS, type IdentServer } from '../ident/server';
import { fieldProblem, userIdProblem } from '../ident/protocol';
import { formatAddress } from '../net/address';
import { adoptListeners, listenFds } from './activation';
import { intFlag, parseFlags, runCli, secondsFlag, usage, UsageError, type FlagSpec } from './args';
import { reloadRules, startRules } from './identd-config';
import { queryLine } from './identd-log';
import { adoptInetdConnection, isConnection } from './inetd';
import { consoleLog, syslogLog, type Log } from './log';
import { onceWriter } from './once';
import { DEFAULT_SYSLOG_SOCKET } from './syslog';
import { BACKEND_FLAG, applyBackendFlag } from './backend-flag';

const COMMAND = 'edgeloop-identd';

const FLAGS: Record<string, FlagSpec> = {
  address: { type: 'list', short: 'a', help: 'ADDR  address to listen on; repeat for several (default 0.0.0.0 and ::)' },
  port: { type: 'string', short: 'p', help: 'PORT  port to listen on (default 113; below 1024 needs root)' },
  'idle-timeout': { type: 'string', short: 't', help: `SECONDS  close a connection idle this long (default ${DEFAULT_IDLE_TIMEOUT_MS / 1000})` },
  'max-connections': { type: 'string', short: 'l', help: 'N  connections open at once per address (default unlimited)' },
  opsys: { type: 'string', short: 'o', help: 'NAME  operating system field of replies (default UNIX)' },
  charset: { type: 'string', short: 'c', help: 'NAME  character set field of replies (default none)' },
  reply: { type: 'string', short: 'R', help: 'USER  reply this user id to every query, without a lookup' },
  'fail-reply': { type: 'string', short: 'r', help: 'USER  reply this user id when the lookup finds no owner' },
  'unknown-error': { type: 'boolean', short: 'e', help: 'answer every error as UNKNOWN-ERROR' },
  hide: { type: 'list', help: 'USER|UID  answer HIDDEN-USER for this user; repeat for several' },
  config: { type: 'string', short: 'C', help: 'PATH  answer by the rules in this file (docs/IDENTD-CONFIG.md); re-read on SIGHUP' },
  user: { type: 'string', short: 'u', help: 'USER  drop privileges to this user after binding' },
  group: { type: 'string', short: 'g', help: 'GROUP  drop privileges to this group after binding (default the user\'s)' },
  quiet: { type: 'boolean', short: 'q', help: 'do not log a line per query' },
  backend: BACKEND_FLAG,
  inetd: { type: 'boolean', help: 'answer the one connection on stdin (as inetd passes it), then exit; logs to syslog' },
  syslog: { type: 'boolean', help: 'log to syslog (facility daemon) instead of stdout and stderr' },
  'syslog-socket': { type: 'string', help: `PATH  the syslog socket --syslog writes to (default ${DEFAULT_SYSLOG_SOCKET})` },
};

/** The gid of `user`'s primary group, asked of the system at startup. */
function primaryGroup(user: string): number {
  try {
    return Number(execFileSync('id', ['-g', user], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim());
  } catch {
    throw new UsageError(`--user: no such user '${user}'`);
  }
}

/** Who to become after binding: the flags, with the group resolved. */
interface Target {
  user: string | undefined;
  group: string | undefined;
  gid: number | string;
}

/**
 * Checks --user/--group before anything starts (so a wrong name is a usage
 * error, not a half-started daemon) and resolves the group; null without them.
 */
function privilegeTarget(user: string | undefined, group: string | undefined): Target | null {
  if (user === undefined && group === undefined) return null;
  if (typeof process.setuid !== 'function' || typeof process.setgid !== 'function') {
    throw new UsageError('--user/--group are not supported on this platform');
  }
  return { user, group, gid: group ?? primaryGroup(user as string) };
}

function dropPrivileges({ user, group, gid }: Target): void {
  // Supplementary groups too: root's would otherwise survive the switch.
  const proc = process as NodeJS.Process & { initgroups?: (user: string, group: number | string) => void };
  try {
    if (user !== undefined && proc.initgroups !== undefined) proc.initgroups(user, gid);
    else process.setgroups?.([gid]);
    // privilegeTarget() checked that both exist on this platform.
    process.setgid!(gid);
    if (user !== undefined) process.setuid!(user);
  } catch (err) {
    throw new Error(`cannot drop privileges to ${user ?? ''}${group ? `:${group}` : ''}: ${(err as Error).message}`);
  }
}

/**
 * Logs each distinct failure once: a cause that is still there (a worker
 * that cannot start) would otherwise fill the log with one line per query.
 */
function errorLog(log: Log): (error: Error) => void {
  const write = onceWriter((message) => log.error(message));
  return (error) => write(error.message);
}

/**
 * The log the flags ask for. Under inetd, stdout and stderr are usually the
 * client's connection, so --inetd always logs to syslog, and falls back to
 * stderr only when stderr is something else.
 */
function openLog(values: Record<string, unknown>, inetd: boolean): Log {
  const toStderr = (line: string): void => void process.stderr.write(line);
  const socketPath = (values['syslog-socket'] as string | undefined) ?? DEFAULT_SYSLOG_SOCKET;
  if (inetd) return syslogLog(COMMAND, socketPath, isConnection(2) ? () => {} : toStderr);
  if (values.syslog === true) return syslogLog(COMMAND, socketPath, toStderr);
  return consoleLog(COMMAND, (line) => void process.stdout.write(line), toStderr);
}

async function main(): Promise<void> {
  const { values, help } = parseFlags(process.argv.slice(2), FLAGS);
  if (help) {
    process.stdout.write(
      `${usage(COMMAND, 'Answers RFC 1413 ident queries about connections between this host and the querier.', FLAGS)}\n`,
    );
    return;
  }
  // Read (and removed from the environment) before anything can start a child.
  const activation = listenFds();
  const engine = applyBackendFlag(values.backend as string | undefined);
  const inetd = values.inetd === true;
  if (values.address !== undefined || values.port !== undefined) {
    if (inetd) throw new UsageError('--address and --port cannot be used with --inetd: inetd passes the connection on stdin');
    if (activation !== null) {
      throw new UsageError('--address and --port cannot be used with socket activation (LISTEN_FDS is set): the .socket unit chooses the addresses');
    }
  }
  if (values['syslog-socket'] !== undefined && values.syslog !== true && !inetd) {
    throw new UsageError('--syslog-socket needs --syslog');
  }
  const port = intFlag('port', values.port as string | undefined, 113, 1, 65535);
  const idleTimeoutMs = secondsFlag('idle-timeout', values['idle-timeout'] as string | undefined, DEFAULT_IDLE_TIMEOUT_MS);
  const maxConnections = values['max-connections'] === undefined
    ? undefined
    : intFlag('max-connections', values['max-connections'] as string, 0, 1, 1 << 20);
  const addresses = (values.address as string[] | undefined) ?? ['0.0.0.0', '::'];
  for (const a of addresses) {
    if (isIP(a) === 0) throw new UsageError(`--address must be a numeric IPv4 or IPv6 address, got '${a}'`);
  }
  const hide = ((values.hide as string[] | undefined) ?? []).map((h) => (/^[0-9]+$/.test(h) ? Number(h) : h));
  // The same rules a config file's `reply` follows: no reply the protocol
  // does not allow, and nothing changed behind the operator's back.
  const text = (name: string, problemOf: (v: string) => string | null): string | undefined => {
    const v = values[name] as string | undefined;
    const problem = v === undefined ? null : problemOf(v);
    if (problem !== null) throw new UsageError(`--${name} ${problem}, got ${JSON.stringify(v)}`);
    return v;
  };
  const target = privilegeTarget(values.user as string | undefined, values.group as string | undefined);
  const quiet = values.quiet === true;
  let queries = 0;
  // The connection first: a wrong fd 0 is then the one message.
  const stream = inetd ? adoptInetdConnection() : null;
  const log = openLog(values, inetd);
  const logError = errorLog(log);
  const configFile = values.config as string | undefined;
  const rules = configFile === undefined ? undefined : startRules(configFile, logError, log);

  let server: IdentServer;
  try {
    server = createIdentServer({
      // No listener at all under inetd: the one connection is served below.
      listeners: inetd ? [] : activation === null ? undefined : adoptListeners(activation),
      addresses,
      port,
      idleTimeoutMs,
      maxConnections,
      opsys: text('opsys', fieldProblem),
      charset: text('charset', fieldProblem),
      fixedReply: text('reply', userIdProblem),
      failReply: text('fail-reply', userIdProblem),
      unknownErrorOnly: values['unknown-error'] === true,
      hiddenUsers: hide,
      rules,
      onError: logError,
      onQuery: (q) => {
        queries++;
        if (!quiet) log.info(queryLine(q));
      },
    });
  } catch (err) {
    stream?.close();
    if (err instanceof SysError && err.code === 'EACCES' && port < 1024) {
      throw new Error(`${err.message} (ports below 1024 need root; try --port 1113)`);
    }
    throw err;
  }
  try {
    // The lookup's worker threads load their code, the addon and the name
    // service's libraries as they start: before the drop, while this
    // process can still read them wherever the package is installed.
    await server.prepare();
    if (target !== null) dropPrivileges(target);
  } catch (err) {
    server.close();
    stream?.close();
    throw err;
  }
  server.loop.attach();
  if (stream !== null) {
    // One connection, then exit 0 once the loop and the lookup are closed.
    let over = false;
    const done = (): void => {
      if (over) return;
      over = true;
      server.close();
      log.close();
    };
    server.serveConnection(stream, done);
    process.once('SIGINT', done);
    process.once('SIGTERM', done);
    return;
  }
  const stop = (): void => {
    server.close();
    log.announce(`stopped: ${queries} queries answered`);
    log.close();
  };
  // Handlers first: a signal sent the moment the line below appears must
  // already find them.
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  // SIGHUP is the operator's "users or rules changed": names are looked up
  // afresh, and a config file is re-read. Without a handler it would end
  // the daemon.
  process.on('SIGHUP', () => {
    const cached = server.lookup.cachedNames;
    server.lookup.clearNames();
    log.info(`SIGHUP: ${cached} cached user ${cached === 1 ? 'name' : 'names'} forgotten`);
    if (rules !== undefined) reloadRules(configFile as string, rules, log);
  });
  const where = server.addresses.map(formatAddress).join(', ');
  const notes = [`pid ${process.pid}`, engine, ...(server.lookup.usesNetlink ? ['netlink'] : []), ...(activation !== null ? ['socket activation'] : [])];
  log.announce(`listening on ${where} (${notes.join(', ')})`);
}

runCli(COMMAND, main);
