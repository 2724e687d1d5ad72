/**
 * Sockets a process inherits instead of opening: the listening sockets
 * systemd passes from fd 3 on, the connection inetd passes as fd 0. Each fd
 * is asked of the kernel before it is taken, so a wrong unit file or
 * inetd.conf line is a clear error, not a daemon that hangs in accept.
 *
 * @packageDocumentation
 */
import { SysError, codedError, type CodedError } from '../errors';
import { native } from '../native';
import { scratchSlot } from './address';

const C = native.constants;

/** What an inherited fd must be. */
export interface InheritedKind {
  /** SOCK_STREAM or SOCK_DGRAM. */
  type: number;
  /** Listening (accepting) rather than connected. */
  listening: boolean;
  /** Acceptable address families (AF_INET, AF_INET6, AF_UNIX). */
  families: readonly number[];
}

function familyName(family: number): string {
  if (family === C.AF_INET) return 'IPv4';
  if (family === C.AF_INET6) return 'IPv6';
  if (family === C.AF_UNIX) return 'Unix';
  return `family ${family}`;
}

function typeName(type: number): string {
  if (type === C.SOCK_STREAM) return 'stream';
  if (type === C.SOCK_DGRAM) return 'datagram';
  return `type ${type}`;
}

function wrong(fd: number, message: string): CodedError {
  return codedError(Error, 'ERR_INHERITED_SOCKET', `fd ${fd} ${message}`);
}

/**
 * Checks that `fd` is a socket of `kind` and, when it is, makes it
 * non-blocking and close-on-exec; the caller then owns it. A rejected fd is
 * left untouched.
 *
 * @throws an Error with code `ERR_INHERITED_SOCKET` saying what the fd is
 *   instead (not open, not a socket, the wrong type, family or state, a
 *   stream that is not connected)
 * @internal
 */
export function adoptInherited(fd: number, kind: InheritedKind): void {
  if (!Number.isInteger(fd) || fd < 0) throw new RangeError('fd must be a non-negative integer');
  const info = new Int32Array(3);
  const r = native.inspectSocket(fd, info);
  if (r < 0) {
    const code = native.errnoName(-r);
    if (code === 'EBADF') throw wrong(fd, 'is not open');
    if (code === 'ENOTSOCK') throw wrong(fd, 'is not a socket');
    throw new SysError(r, 'getsockopt');
  }
  const [family, type, listening] = info;
  if (type !== kind.type) throw wrong(fd, `is a ${typeName(type)} socket, not a ${typeName(kind.type)} socket`);
  if (!kind.families.includes(family)) {
    throw wrong(fd, `is a ${familyName(family)} socket, not ${kind.families.map(familyName).join(' or ')}`);
  }
  if (kind.listening && listening === 0) throw wrong(fd, 'is not a listening socket');
  if (!kind.listening && listening === 1) throw wrong(fd, 'is a listening socket, not a connection');
  if (!kind.listening && type === C.SOCK_STREAM && native.getPeerName(fd, scratchSlot()) < 0) {
    throw wrong(fd, 'is not connected');
  }
  const a = native.adoptFd(fd);
  if (a < 0) throw new SysError(a, 'fcntl');
}
