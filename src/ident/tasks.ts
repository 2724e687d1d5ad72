/**
 * Work the ident server hands to the blocking pool: NSS user lookups, the
 * /proc/net/tcp fallback scan and reading users' own ident files. Runs in
 * worker threads.
 *
 * @packageDocumentation
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { SysError } from '../errors';
import { native } from '../native';
import { readUserFile, USER_FILE_NAME, type UserFileRead } from './user-file';

/** uid -> user name through getpwuid_r (may block on NSS); null when unknown. */
export function userName(uid: number): string | null {
  const r = native.getpwuidName(uid);
  if (typeof r === 'number') throw new SysError(r, 'getpwuid_r');
  return r;
}

/**
 * The ident file in `uid`'s home directory, read with the checks of
 * {@link readUserFile}. A user without a passwd entry or a home
 * directory has no file.
 */
export function userFile(uid: number): UserFileRead {
  const home = native.getpwuidDir(uid);
  if (typeof home === 'number') throw new SysError(home, 'getpwuid_r');
  if (home === null || home === '') return { status: 'none' };
  const file = path.join(home, USER_FILE_NAME);
  if (!path.isAbsolute(home)) return { status: 'refused', file, reason: 'is in a home directory that is not an absolute path' };
  return readUserFile(file, uid);
}

/**
 * Run once on every pool worker before the server drops privileges: loading
 * this module loads the addon, and one lookup loads the name service's
 * modules and configuration (glibc reads nsswitch.conf and opens the NSS
 * libraries on first use), so {@link userName} works for a process that can
 * no longer read them.
 */
export function prepare(): void {
  userName(0);
}

/** One /proc lookup request. */
export interface ProcQuery {
  /** Local address text (IPv4 or IPv6, v4-mapped allowed). */
  localAddress: string;
  localPort: number;
  remoteAddress: string;
  remotePort: number;
}

/** The socket's owner, or null when no socket matches or it is orphaned. */
export interface Owner {
  /** The socket's owner. */
  uid: number;
  /** The socket's inode (0 with uid 0: an orphaned socket, no owner). */
  inode: number;
}

const littleEndian = os.endianness() === 'LE';

/** An IPv4 address as /proc/net/tcp prints it (one 32-bit word in host order). */
function hexV4(address: string): string {
  const bytes = address.split('.').map((x) => Number(x));
  const ordered = littleEndian ? bytes.reverse() : bytes;
  return ordered.map((b) => b.toString(16).padStart(2, '0')).join('').toUpperCase();
}

/** The 16 bytes of an IPv6 address (with :: and embedded IPv4 expanded). */
function bytesV6(address: string): number[] {
  let text = address.split('%')[0];
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  let tail: number[] = [];
  if (v4) {
    tail = v4[1].split('.').map(Number);
    text = text.slice(0, -v4[1].length).replace(/:$/, ':0:0').replace(/::0:0$/, '::');
    if (text.endsWith(':0:0')) text = text.slice(0, -4);
  }
  const [head, rest] = text.includes('::') ? text.split('::') : [text, undefined];
  const words = (s: string): number[] => (s === '' ? [] : s.split(':').map((w) => parseInt(w, 16)));
  const hw = words(head);
  const tw = rest === undefined ? [] : words(rest);
  const total = 8 - tail.length / 2;
  const all = rest === undefined ? hw : [...hw, ...new Array(total - hw.length - tw.length).fill(0), ...tw];
  const bytes: number[] = [];
  for (const w of all.slice(0, total)) bytes.push(w >> 8, w & 0xff);
  return [...bytes, ...tail];
}

/** An IPv6 address as /proc/net/tcp6 prints it (four words in host order). */
function hexV6(address: string): string {
  const b = bytesV6(address);
  let out = '';
  for (let i = 0; i < 16; i += 4) {
    const word = b.slice(i, i + 4);
    out += (littleEndian ? word.reverse() : word).map((x) => x.toString(16).padStart(2, '0')).join('');
  }
  return out.toUpperCase();
}

function hexPort(port: number): string {
  return port.toString(16).padStart(4, '0').toUpperCase();
}

const MAPPED = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i;

function scan(file: string, local: string, remote: string): Owner | null {
  let text: string;
  try {
    text = fs.readFileSync(file, 'latin1');
  } catch {
    return null; // no IPv6, or /proc not mounted
  }
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length < 10 || f[1] !== local || f[2] !== remote) continue;
    if (f[3] === '0A') continue; // LISTEN: not a connection
    const uid = Number(f[7]);
    const inode = Number(f[9]);
    return { uid, inode };
  }
  return null;
}

/**
 * Finds the TCP socket with exactly this 4-tuple in /proc/net/tcp and tcp6
 * (v4-mapped addresses are looked up in both forms). The fallback when
 * netlink sock_diag is unavailable or misses.
 */
export function procLookup(q: ProcQuery): Owner | null {
  const lm = MAPPED.exec(q.localAddress);
  const rm = MAPPED.exec(q.remoteAddress);
  const isV4 = !q.localAddress.includes(':');
  if (isV4 || (lm && rm)) {
    const l4 = lm ? lm[1] : q.localAddress;
    const r4 = rm ? rm[1] : q.remoteAddress;
    const hit = scan('/proc/net/tcp', `${hexV4(l4)}:${hexPort(q.localPort)}`, `${hexV4(r4)}:${hexPort(q.remotePort)}`);
    if (hit !== null) return hit;
    const l6 = `::ffff:${l4}`;
    const r6 = `::ffff:${r4}`;
    return scan('/proc/net/tcp6', `${hexV6(l6)}:${hexPort(q.localPort)}`, `${hexV6(r6)}:${hexPort(q.remotePort)}`);
  }
  return scan(
    '/proc/net/tcp6',
    `${hexV6(q.localAddress)}:${hexPort(q.localPort)}`,
    `${hexV6(q.remoteAddress)}:${hexPort(q.remotePort)}`,
  );
}
