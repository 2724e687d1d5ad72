/**
 * A user's own ident file (~/.edgeloop-identd.conf): read safely, and
 * parsed into the one answer the user asks for. Which answers a user may
 * choose is the system config's business (./rules.ts).
 *
 * @packageDocumentation
 */
import * as fs from 'node:fs';
import { ConfigError, configLines } from './config-line';
import { parseAction, type IdentAction } from './config';

/** The file's name in the user's home directory. */
export const USER_FILE_NAME = '.edgeloop-identd.conf';

/** Largest user file read, in bytes; a bigger one is refused. */
export const MAX_USER_FILE_BYTES = 4096;

/** What reading a user's file found. */
export type UserFileRead =
  | {
      /** No file (or no home directory): the usual case, nothing to report. */
      status: 'none';
    }
  | {
      /** A file that must not be trusted or cannot be read. */
      status: 'refused';
      /** Its path. */
      file: string;
      /** Why, e.g. 'is group- or world-writable'. */
      reason: string;
    }
  | {
      /** The file's bytes, from a file that passed every check. */
      status: 'read';
      /** Its path. */
      file: string;
      /** Its contents. */
      data: Uint8Array;
    };

/** The answer a user file chooses. */
export interface UserChoice {
  /** The answer. */
  answer: IdentAction;
  /** Its line in the file. */
  line: number;
}

/**
 * Reads `file` for the user `uid`, trusting it only when it is a regular
 * file (not a symbolic link: O_NOFOLLOW), owned by `uid`, not writable by
 * group or others, and at most {@link MAX_USER_FILE_BYTES}. Opening with
 * O_NONBLOCK means a FIFO planted there cannot hang the reader. Blocks on
 * the file system: call it on a worker thread.
 */
export function readUserFile(file: string, uid: number): UserFileRead {
  const { O_RDONLY, O_NOFOLLOW, O_NONBLOCK } = fs.constants;
  let fd: number;
  try {
    fd = fs.openSync(file, O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return { status: 'none' };
    if (code === 'ELOOP' || code === 'EMLINK') return { status: 'refused', file, reason: 'is a symbolic link' };
    return { status: 'refused', file, reason: `cannot be opened (${code ?? (err as Error).message})` };
  }
  try {
    // fstat, not stat: the checks are about the file now open, which a
    // rename after them cannot swap.
    const st = fs.fstatSync(fd);
    if (!st.isFile()) return { status: 'refused', file, reason: 'is not a regular file' };
    if (st.uid !== uid) return { status: 'refused', file, reason: `is owned by uid ${st.uid}, not by its user (uid ${uid})` };
    if ((st.mode & 0o022) !== 0) return { status: 'refused', file, reason: 'is group- or world-writable' };
    if (st.size > MAX_USER_FILE_BYTES) return { status: 'refused', file, reason: `is larger than ${MAX_USER_FILE_BYTES} bytes` };
    // One byte more than allowed: a file that grew after the fstat shows.
    const buf = Buffer.alloc(MAX_USER_FILE_BYTES + 1);
    let n = 0;
    for (;;) {
      const r = fs.readSync(fd, buf, n, buf.length - n, null);
      if (r === 0) break;
      n += r;
      if (n > MAX_USER_FILE_BYTES) return { status: 'refused', file, reason: `is larger than ${MAX_USER_FILE_BYTES} bytes` };
    }
    return { status: 'read', file, data: buf.subarray(0, n) };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return { status: 'refused', file, reason: `cannot be read (${code ?? (err as Error).message})` };
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Parses a user file: blank lines, comments, and at most one
 * `answer ACTION` line (the same answers as the system config). Returns
 * the answer and its line, or null for a file without one. Throws a
 * {@link ConfigError} naming the first bad line.
 */
export function parseUserFile(data: Uint8Array | string, file: string): UserChoice | null {
  const bytes = typeof data === 'string' ? Buffer.from(data) : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  let answer: UserChoice | null = null;
  for (const { line, words } of configLines(bytes, file)) {
    const [verb, ...rest] = words;
    if (verb !== 'answer') {
      throw new ConfigError(file, line, `expected 'answer', got '${verb}' (a user file holds one answer line)`);
    }
    if (answer !== null) throw new ConfigError(file, line, `a second answer; the first is on line ${answer.line}`);
    try {
      answer = { answer: parseAction(rest), line };
    } catch (err) {
      throw new ConfigError(file, line, (err as Error).message);
    }
  }
  return answer;
}
