/**
 * Messages to the local syslog daemon over its Unix datagram socket, in
 * the form glibc's syslog(3) sends there: RFC 3164 without the HOSTNAME
 * field, which the local daemon adds itself (journald would otherwise take
 * the host name for the program's name).
 *
 * @packageDocumentation
 */
import { SysError } from '../errors';
import { UnixDatagram } from '../net/unix';

/** Where the local syslog daemon listens. */
export const DEFAULT_SYSLOG_SOCKET = '/dev/log';

/** The facility every message goes to: daemon (3). */
export const FACILITY_DAEMON = 3;

/** The severities the daemon logs at, by their syslog names. */
export type Severity = 'err' | 'warning' | 'info';

const SEVERITY: Record<Severity, number> = { err: 3, warning: 4, info: 6 };

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** Longest message text sent; RFC 3164 keeps whole packets within 1024 octets. */
const MAX_MESSAGE = 900;

/**
 * One message in RFC 3164 form: `<PRI>Mmm dd hh:mm:ss TAG[PID]: MESSAGE`,
 * PRI = facility * 8 + severity, the time local and the day padded with a
 * space. Control characters become spaces: one call, one log line.
 */
export function formatSyslog(severity: Severity, tag: string, pid: number, message: string, date: Date = new Date()): string {
  const two = (n: number): string => String(n).padStart(2, '0');
  const stamp = `${MONTHS[date.getMonth()]} ${String(date.getDate()).padStart(2, ' ')} ${two(date.getHours())}:${two(date.getMinutes())}:${two(date.getSeconds())}`;
  const text = message.replace(/[\x00-\x1f\x7f]/g, ' ').slice(0, MAX_MESSAGE);
  return `<${FACILITY_DAEMON * 8 + SEVERITY[severity]}>${stamp} ${tag}[${pid}]: ${text}`;
}

/** A connection to the local syslog socket. */
export class SyslogSocket {
  private socket: UnixDatagram;

  private constructor(
    /** The socket's path. */
    readonly path: string,
    private readonly tag: string,
  ) {
    this.socket = SyslogSocket.connect(path);
  }

  /**
   * Connects to the syslog socket at `path`, so that a missing or dead one
   * shows at once rather than at the first message.
   *
   * @throws SysError ENOENT (no such socket), ECONNREFUSED (nobody reads
   *   it), EPROTOTYPE (a stream socket), EACCES, ...
   */
  static open(path: string, tag: string): SyslogSocket {
    return new SyslogSocket(path, tag);
  }

  private static connect(path: string): UnixDatagram {
    const socket = UnixDatagram.unbound();
    try {
      socket.connect(path);
    } catch (err) {
      socket.close();
      throw err;
    }
    return socket;
  }

  /**
   * Sends one message. A syslog daemon that restarted leaves this socket
   * connected to nothing: it reconnects once and tries again. A full socket
   * buffer drops the message rather than block the event loop.
   *
   * @throws SysError when the message cannot be sent even after reconnecting
   */
  send(severity: Severity, message: string): void {
    const packet = Buffer.from(formatSyslog(severity, this.tag, process.pid, message), 'utf8');
    try {
      this.socket.send(packet);
      return;
    } catch (err) {
      if (!(err instanceof SysError)) throw err;
    }
    this.socket.close();
    this.socket = SyslogSocket.connect(this.path);
    this.socket.send(packet);
  }

  /** Closes the socket. */
  close(): void {
    this.socket.close();
  }
}
