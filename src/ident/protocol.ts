/**
 * RFC 1413 queries and replies: strict parsing, sanitised replies.
 *
 * @packageDocumentation
 */

/** The ERROR reply types of RFC 1413. */
export type IdentError = 'INVALID-PORT' | 'NO-USER' | 'HIDDEN-USER' | 'UNKNOWN-ERROR';

/** A query that parsed. */
export interface IdentQuery {
  /** The query parsed. */
  readonly ok: true;
  /** The port on this (the server's) host. */
  readonly serverPort: number;
  /** The port on the querying (the client's) host. */
  readonly clientPort: number;
}

/** A query that did not parse; `echo` is what the reply repeats of it. */
export interface BadQuery {
  /** The query did not parse. */
  readonly ok: false;
  /** The port pair as the reply repeats it (sanitised). */
  readonly echo: string;
}

/** Longest reply line in octets, CR LF included. */
export const MAX_REPLY_OCTETS = 512;

const QUERY = /^[ \t]*([^, \t]*)[ \t]*,[ \t]*([^, \t]*)[ \t]*$/;
const PORT = /^[0-9]{1,5}$/;

/**
 * Parses one query line (without its line terminator). Ports are decimal
 * 1..65535 with optional spaces and tabs around them; anything else
 * (letters, signs, zero, more than five digits, values over 65535) is an
 * invalid port. Numbers are never wrapped or truncated.
 */
export function parseQuery(line: string): IdentQuery | BadQuery {
  const m = QUERY.exec(line);
  if (m === null) return { ok: false, echo: echoOf(line) };
  const [, a, b] = m;
  if (!PORT.test(a) || !PORT.test(b)) return { ok: false, echo: `${clean(a, 16)}, ${clean(b, 16)}` };
  const serverPort = Number(a);
  const clientPort = Number(b);
  if (serverPort < 1 || serverPort > 65535 || clientPort < 1 || clientPort > 65535) {
    return { ok: false, echo: `${a}, ${b}` };
  }
  return { ok: true, serverPort, clientPort };
}

/** Removes what could break a reply line: CR, LF, NUL and other controls (C0 and C1). */
export function clean(text: string, maxLength = Infinity): string {
  // eslint-disable-next-line no-control-regex
  const safe = text.replace(/[\x00-\x1f\x7f-\x9f]/g, '');
  return safe.length > maxLength ? safe.slice(0, maxLength) : safe;
}

function echoOf(line: string): string {
  const safe = clean(line.trim(), 64);
  return safe.length === 0 ? '0, 0' : safe;
}

/** `serverPort, clientPort` as replies write it. */
export function portPair(q: IdentQuery): string {
  return `${q.serverPort}, ${q.clientPort}`;
}

/** An ERROR reply line, without CR LF. */
export function errorReply(pair: string, error: IdentError): string {
  return cap(`${pair} : ERROR : ${error}`);
}

/**
 * A USERID reply line, without CR LF. The opsys, charset and user id are
 * sanitised (no CR, LF, NUL or other control characters, no ':' or ',' in
 * opsys/charset), and the whole line is capped so that with CR LF it fits
 * in 512 octets.
 */
export function userReply(pair: string, opsys: string, charset: string | undefined, user: string): string {
  const os = clean(opsys, 64).replace(/[:,]/g, '') || 'UNIX';
  const cs = charset === undefined ? '' : `,${clean(charset, 64).replace(/[:,]/g, '')}`;
  return cap(`${pair} : USERID : ${os}${cs} : ${clean(user)}`);
}

/**
 * Why `text` cannot be a fixed user id (null when it can): RFC 1413 wants
 * at least one octet, and spaces or a leading ':' or ',' would read as
 * part of the reply's field syntax.
 */
export function userIdProblem(text: string): string | null {
  if (text === '') return 'must not be empty';
  if (/^[:,]|\s|[\x00-\x1f\x7f]/.test(text)) return "must not contain spaces or control characters, or start with ':' or ','";
  return null;
}

/** Why `text` cannot be a reply's opsys or charset field (null when it can). */
export function fieldProblem(text: string): string | null {
  if (text === '') return 'must not be empty';
  if (/[:,\s\x00-\x1f\x7f]/.test(text)) return "must not contain ':', ',', spaces or control characters";
  return null;
}

/** Cuts a line to MAX_REPLY_OCTETS - 2 octets (UTF-8), never mid-character. */
function cap(line: string): string {
  const limit = MAX_REPLY_OCTETS - 2;
  if (Buffer.byteLength(line) <= limit) return line;
  const bytes = Buffer.from(line, 'utf8');
  // Cut at the start of the character the limit falls in: back up over
  // UTF-8 continuation octets (10xxxxxx). Looking at the octets, not for a
  // trailing U+FFFD in the decoded text, keeps U+FFFD characters (and lone
  // surrogates, which encode as U+FFFD) that were whole before the cut.
  let end = limit;
  while (end > 0 && (bytes[end] & 0xc0) === 0x80) end--;
  return bytes.toString('utf8', 0, end);
}
