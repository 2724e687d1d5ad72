/**
 * systemd socket activation, the way sd_listen_fds(3) reads it: the
 * listening sockets a service manager opened for this process, and their
 * names.
 *
 * @packageDocumentation
 */
import { TcpListener } from '../net/tcp';

/** The first fd of the passed sockets (SD_LISTEN_FDS_START). */
export const LISTEN_FDS_START = 3;

/** The sockets the service manager passed. */
export interface ListenFds {
  /** The fds, LISTEN_FDS_START on, in order. */
  fds: number[];
  /** One name per fd (LISTEN_FDNAMES, from FileDescriptorName=), or null when none were given. */
  names: string[] | null;
}

/** The variables activation sets. */
const VARIABLES = ['LISTEN_PID', 'LISTEN_FDS', 'LISTEN_FDNAMES'] as const;

/**
 * Reads LISTEN_PID, LISTEN_FDS and LISTEN_FDNAMES. The sockets are this
 * process's only when LISTEN_PID is its pid: the variables may have been
 * inherited from a parent they were meant for. Like sd_listen_fds(1), the
 * three variables are removed from `env` in every case, so that children
 * started later do not take the sockets for theirs.
 *
 * @param env - the environment to read and clean (default process.env)
 * @param pid - this process's pid (default process.pid)
 * @returns the passed sockets, or null when there are none for this process
 * @throws Error when LISTEN_PID, LISTEN_FDS or LISTEN_FDNAMES is malformed
 */
export function listenFds(env: NodeJS.ProcessEnv = process.env, pid: number = process.pid): ListenFds | null {
  const [listenPid, count, fdNames] = VARIABLES.map((name) => env[name]);
  for (const name of VARIABLES) delete env[name];
  if (listenPid === undefined) return null;
  if (!/^[0-9]+$/.test(listenPid)) throw new Error(`LISTEN_PID must be a process id, got '${listenPid}'`);
  if (Number(listenPid) !== pid) return null;
  if (count === undefined) return null;
  if (!/^[0-9]+$/.test(count) || Number(count) > 65536) {
    throw new Error(`LISTEN_FDS must be a number of file descriptors, got '${count}'`);
  }
  const n = Number(count);
  if (n === 0) return null;
  let names: string[] | null = null;
  if (fdNames !== undefined) {
    names = fdNames.split(':');
    if (names.length !== n) {
      throw new Error(`LISTEN_FDNAMES names ${names.length} sockets, but LISTEN_FDS says ${n}`);
    }
  }
  return { fds: Array.from({ length: n }, (_, i) => LISTEN_FDS_START + i), names };
}

/**
 * Takes over the passed sockets as TCP listeners, checking each one first;
 * on a bad one, closes the ones already taken and throws, naming the fd
 * (and its name from LISTEN_FDNAMES) and what the unit file should say.
 */
export function adoptListeners(passed: ListenFds): TcpListener[] {
  const listeners: TcpListener[] = [];
  passed.fds.forEach((fd, i) => {
    try {
      listeners.push(TcpListener.adopt(fd));
    } catch (err) {
      for (const l of listeners) l.close();
      const name = passed.names === null ? '' : ` ('${passed.names[i]}')`;
      const hint = /listening|connected/.test((err as Error).message)
        ? '; the .socket unit needs Accept=no and ListenStream='
        : '; the .socket unit needs ListenStream= (TCP)';
      throw new Error(`socket activation: ${(err as Error).message.replace(/^fd \d+/, `fd ${fd}${name}`)}${hint}`);
    }
  });
  return listeners;
}
