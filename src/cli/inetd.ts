/**
 * inetd mode: the one connection inetd accepted, passed as fd 0 (and
 * duplicated onto fds 1 and 2 by most inetds, and by systemd with
 * StandardInput=socket).
 *
 * @packageDocumentation
 */
import * as fs from 'node:fs';
import { TcpStream } from '../net/tcp';

/** The fd inetd passes the connection on. */
export const INETD_FD = 0;

/**
 * Takes over the connection on fd 0, checking that it is one.
 *
 * @throws Error naming what fd 0 is instead, with the inetd.conf fix for a
 *   listening socket ('wait' instead of 'nowait')
 */
export function adoptInetdConnection(): TcpStream {
  try {
    return TcpStream.adopt(INETD_FD);
  } catch (err) {
    const message = (err as Error).message;
    const hint = /listening/.test(message) ? " (inetd.conf must say 'nowait')" : '';
    throw new Error(`--inetd: ${message}${hint}; --inetd expects a TCP connection on stdin`);
  }
}

/**
 * Whether `fd` is the inetd connection itself, so that writing a log line
 * to it would send the line to the client.
 */
export function isConnection(fd: number): boolean {
  try {
    const a = fs.fstatSync(INETD_FD);
    const b = fs.fstatSync(fd);
    return a.dev === b.dev && a.ino === b.ino;
  } catch {
    return false;
  }
}
