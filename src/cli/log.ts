/**
 * Where the daemons' log lines go: the console (per-query lines on stdout,
 * problems on stderr), or syslog with stderr as the fallback.
 *
 * @packageDocumentation
 */
import { SyslogSocket, type Severity } from './syslog';

/** A daemon's log. */
export interface Log {
  /** A line about the daemon itself (listening, stopped): `command message` on the console. */
  announce(message: string): void;
  /** Routine events: one per query. */
  info(message: string): void;
  /** Something is wrong but the daemon carries on. */
  warning(message: string): void;
  /** A failure (a lookup, a worker thread). */
  error(message: string): void;
  /** Releases the syslog socket, if there is one. */
  close(): void;
}

/** A line writer: stdout, stderr, or nowhere. */
export type LineWriter = (line: string) => void;

/**
 * Logs as `command: message` lines (`command message` for announcements):
 * announcements and info to `out`, warnings and errors to `err`.
 */
export function consoleLog(command: string, out: LineWriter, err: LineWriter): Log {
  return {
    announce: (m) => out(`${command} ${m}\n`),
    info: (m) => out(`${command}: ${m}\n`),
    warning: (m) => err(`${command}: ${m}\n`),
    error: (m) => err(`${command}: ${m}\n`),
    close: () => {},
  };
}

/**
 * Logs to the syslog socket at `path` as facility daemon, tagged
 * `command[pid]`. When the socket is missing or refuses, now or later,
 * `fallback` gets one warning saying why and every line from then on, as
 * {@link consoleLog} would write them.
 */
export function syslogLog(command: string, path: string, fallback: LineWriter): Log {
  let socket: SyslogSocket | null = null;
  let local = consoleLog(command, fallback, fallback);
  const giveUp = (err: unknown): void => {
    socket = null;
    local.warning(`cannot log to ${path} (${(err as Error).message}); logging to stderr instead`);
  };
  try {
    socket = SyslogSocket.open(path, command);
  } catch (err) {
    giveUp(err);
  }
  const send = (severity: Severity, message: string, instead: (m: string) => void): void => {
    if (socket !== null) {
      try {
        socket.send(severity, message);
        return;
      } catch (err) {
        socket.close();
        giveUp(err);
      }
    }
    instead(message);
  };
  return {
    announce: (m) => send('info', m, local.announce),
    info: (m) => send('info', m, local.info),
    warning: (m) => send('warning', m, local.warning),
    error: (m) => send('err', m, local.error),
    close: () => {
      // Later lines have nowhere to go; they are dropped, not sent to the fallback.
      socket?.close();
      socket = null;
      local = consoleLog(command, () => {}, () => {});
    },
  };
}
