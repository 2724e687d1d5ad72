/**
 * Property tests for the RFC 1413 query parser and reply builders
 * (src/ident/protocol.ts).
 *
 * ident-protocol.test.ts lists the known bad cases (oidentd's integer wrap,
 * CR/LF injection through configured replies); these search around them:
 *
 * - parseQuery accepts a pair only when both ports are written as 1 to 5
 *   ASCII digits with a value in 1..65535, and an accepted port is exactly
 *   the decimal number written: never wrapped, truncated or sign-flipped
 *   (values are generated next to 2^16, 2^32, 2^53 and 2^64 multiples).
 * - Valid pairs round-trip through parseQuery and portPair.
 * - No reply built from any query line, user id, opsys or charset holds a
 *   C0 or C1 control character (CR, LF and NUL among them), and on the wire
 *   (the server's UTF-8 LineCodec) a reply is at most 512 octets with CR LF
 *   only at its end.
 * - The opsys and charset fields never carry ':' or ',' that would shift
 *   the reply's fields.
 * - The 512-octet cap only cuts: the reply is a prefix of the uncut line, as
 *   long as fits, cut before a character rather than through it.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { clean, errorReply, MAX_REPLY_OCTETS, parseQuery, portPair, userReply, type IdentError } from '../src/ident/protocol';
import { MAX_QUERY_LENGTH } from '../src/ident/server';
import { LineCodec } from '../src/service/codec';
import { params } from './props';

/** Any C0 control, DEL or C1 control: what clean() documents it removes. */
// eslint-disable-next-line no-control-regex
const CONTROL = /[\x00-\x1f\x7f-\x9f]/;

const ERRORS: readonly IdentError[] = ['INVALID-PORT', 'NO-USER', 'HIDDEN-USER', 'UNKNOWN-ERROR'];

/** Reply lines are cut to this many UTF-8 octets, so that CR LF fits in 512. */
const LINE_LIMIT = MAX_REPLY_OCTETS - 2;

const join = (parts: readonly string[]): string => parts.join('');

/** Spaces and tabs, the blanks the query grammar allows around tokens. */
const blanks = fc.array(fc.constantFrom(' ', '\t'), { maxLength: 3 }).map(join);

const port = fc.integer({ min: 1, max: 65535 });

/** A decimal number that a 16-, 32-, 53- or 64-bit wrap would turn into a valid port. */
const wrapping = fc
  .tuple(port, fc.constantFrom(16n, 32n, 53n, 64n), fc.bigInt({ min: 1n, max: 5000n }))
  .map(([p, bits, k]) => String(BigInt(p) + k * (1n << bits)));

/** What a client might put where a port goes: valid, near-valid and garbage. */
const portToken = fc.oneof(
  port.map(String),
  fc.constantFrom('0', '00000', '65535', '65536', '99999', '000080', '00080', '4295022882', '18446744073709551696'),
  fc.array(fc.constantFrom('0', '1', '5', '6', '9'), { minLength: 1, maxLength: 22 }).map(join),
  wrapping,
  fc.tuple(fc.constantFrom('-', '+', '0x', '0b', '.', 'e'), port).map(([sign, p]) => `${sign}${p}`),
  fc.tuple(port, fc.constantFrom('.0', 'e0', 'e1', 'n', '\0', '\r', 'O')).map(([p, tail]) => `${p}${tail}`),
  // Non-ASCII digits: Arabic-Indic, fullwidth, Devanagari.
  fc.array(fc.constantFrom('\u0660', '\u0668', '\uff10', '\uff18', '\u0966'), { minLength: 1, maxLength: 3 }).map(join),
  fc.string({ maxLength: 6 }),
  fc.constant(''),
);

/** A query line built from two tokens with blanks around them. */
const queryParts = fc.tuple(blanks, portToken, blanks, blanks, portToken, blanks);
const queryOf = ([b1, a, b2, b3, c, b4]: readonly string[]): string => `${b1}${a}${b2},${b3}${c}${b4}`;

/** One character of hostile text: controls, separators, multi-byte and odd code points. */
const hostileChar = fc.oneof(
  { weight: 5, arbitrary: fc.constantFrom('a', 'z', 'R', '0', '9', ' ', ':', ',', '-', '_', '.') },
  { weight: 3, arbitrary: fc.integer({ min: 0x00, max: 0x1f }).map((c) => String.fromCharCode(c)) },
  { weight: 1, arbitrary: fc.integer({ min: 0x7f, max: 0x9f }).map((c) => String.fromCharCode(c)) },
  { weight: 2, arbitrary: fc.constantFrom('\u00e9', '\u00ff', '\u20ac', '\u{1f600}', '\u2028', '\u2029', '\ufeff', '\ufffd') },
  { weight: 1, arbitrary: fc.constantFrom('\ud800', '\udbff', '\udc00', '\udfff') },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }) },
);
const hostileText = fc.array(hostileChar, { maxLength: 40, size: 'max' }).map(join);
/** Hostile text, sometimes repeated far past the reply cap. */
const longHostileText = fc.oneof(
  hostileText,
  fc.tuple(fc.array(hostileChar, { minLength: 1, maxLength: 12 }).map(join), fc.integer({ min: 1, max: 300 })).map(([t, n]) => t.repeat(n)),
);
/** Any query line: built from tokens, or hostile text. */
const anyLine = fc.oneof(queryParts.map(queryOf), longHostileText);

/** The documented port rule: 1 to 5 ASCII decimal digits, value 1..65535. */
function isValidPort(token: string): boolean {
  return /^[0-9]{1,5}$/.test(token) && Number(token) >= 1 && Number(token) <= 65535;
}

/** The port pair every reply to `line` starts with. */
function pairFor(line: string): string {
  const q = parseQuery(line);
  return q.ok ? portPair(q) : q.echo;
}

/** Every reply the server can build for `line` (with a plain opsys and user). */
function repliesFor(line: string): string[] {
  const q = parseQuery(line);
  if (!q.ok) return [errorReply(q.echo, 'INVALID-PORT')];
  const pair = portPair(q);
  return [...ERRORS.map((e) => errorReply(pair, e)), userReply(pair, 'UNIX', undefined, 'alice')];
}

/** The bytes the ident server writes for `reply` (its LineCodec is UTF-8). */
function onTheWire(reply: string): Buffer {
  const codec = new LineCodec({ maxLength: MAX_QUERY_LENGTH, encoding: 'utf8' });
  const chunks: Buffer[] = [];
  codec.encode(reply, { write: (b: Uint8Array) => chunks.push(Buffer.from(b)) });
  return Buffer.concat(chunks);
}

describe('parseQuery properties', () => {
  it('never accepts a port outside 1..65535 or that is not an integer, for any line', () => {
    fc.assert(
      fc.property(anyLine, (line) => {
        const q = parseQuery(line);
        if (!q.ok) return;
        for (const p of [q.serverPort, q.clientPort]) {
          expect(Number.isInteger(p)).toBe(true);
          expect(p).toBeGreaterThanOrEqual(1);
          expect(p).toBeLessThanOrEqual(65535);
        }
      }),
      params(),
    );
  });

  it('accepts a pair exactly when both tokens are 1 to 5 ASCII digits with a value in 1..65535', () => {
    fc.assert(
      fc.property(queryParts, (parts) => {
        const [, a, , , c] = parts;
        expect(parseQuery(queryOf(parts)).ok).toBe(isValidPort(a) && isValidPort(c));
      }),
      params(300),
    );
  });

  it('an accepted port is the exact decimal value written, never a wrapped or truncated one', () => {
    fc.assert(
      fc.property(queryParts, (parts) => {
        const [, a, , , c] = parts;
        const q = parseQuery(queryOf(parts));
        if (!q.ok) return;
        expect(/^[0-9]+$/.test(a) && /^[0-9]+$/.test(c)).toBe(true);
        expect(BigInt(q.serverPort)).toBe(BigInt(a));
        expect(BigInt(q.clientPort)).toBe(BigInt(c));
      }),
      params(300),
    );
  });

  it('rejects every number that only a 16-, 32-, 53- or 64-bit wrap would make a valid port', () => {
    fc.assert(
      fc.property(wrapping, port, blanks, fc.boolean(), (big, p, b, serverSide) => {
        const line = serverSide ? `${big}${b},${b}${p}` : `${p}${b},${b}${big}`;
        expect(parseQuery(line).ok).toBe(false);
      }),
      params(),
    );
  });

  it('any valid pair, with any blanks around its tokens, parses to its two ports', () => {
    fc.assert(
      fc.property(port, port, blanks, blanks, blanks, blanks, (s, c, b1, b2, b3, b4) => {
        expect(parseQuery(`${b1}${s}${b2},${b3}${c}${b4}`)).toEqual({ ok: true, serverPort: s, clientPort: c });
      }),
      params(),
    );
  });

  it('portPair of an accepted query parses back to the same query', () => {
    fc.assert(
      fc.property(queryParts, (parts) => {
        const q = parseQuery(queryOf(parts));
        if (!q.ok) return;
        expect(parseQuery(portPair(q))).toEqual(q);
      }),
      params(),
    );
  });
});

describe('reply properties', () => {
  it('no reply to any query line holds a control character', () => {
    fc.assert(
      fc.property(anyLine, (line) => {
        for (const reply of repliesFor(line)) expect(reply).not.toMatch(CONTROL);
      }),
      params(),
    );
  });

  it('a USERID reply holds no control character, whatever the opsys, charset and user id', () => {
    fc.assert(
      fc.property(anyLine, hostileText, fc.option(hostileText, { nil: undefined }), longHostileText, (line, opsys, charset, user) => {
        expect(userReply(pairFor(line), opsys, charset, user)).not.toMatch(CONTROL);
      }),
      params(),
    );
  });

  it('on the wire every reply is at most 512 octets with CR and LF only as its last two', () => {
    fc.assert(
      fc.property(anyLine, hostileText, fc.option(hostileText, { nil: undefined }), longHostileText, (line, opsys, charset, user) => {
        const pair = pairFor(line);
        const replies = [...ERRORS.map((e) => errorReply(pair, e)), userReply(pair, opsys, charset, user)];
        for (const reply of replies) {
          const bytes = onTheWire(reply);
          expect(bytes.length).toBeLessThanOrEqual(MAX_REPLY_OCTETS);
          expect(bytes.subarray(-2).toString('latin1')).toBe('\r\n');
          expect(bytes.subarray(0, -2).includes(0x0d) || bytes.subarray(0, -2).includes(0x0a)).toBe(false);
        }
      }),
      params(),
    );
  });

  it('the opsys field of a USERID reply is non-empty, has no ":" and has a "," only before a given charset', () => {
    fc.assert(
      fc.property(port, port, hostileText, fc.option(hostileText, { nil: undefined }), longHostileText, (s, c, opsys, charset, user) => {
        const pair = portPair({ ok: true, serverPort: s, clientPort: c });
        const reply = userReply(pair, opsys, charset, user);
        const head = `${pair} : USERID : `;
        expect(reply.startsWith(head)).toBe(true);
        const rest = reply.slice(head.length);
        const end = rest.indexOf(' : ');
        expect(end).toBeGreaterThan(0);
        expect(rest.slice(0, end)).toMatch(charset === undefined ? /^[^:,]+$/ : /^[^:,]+,[^:,]*$/);
      }),
      params(),
    );
  });

  it('the cap only cuts: the reply on the wire is a prefix of the uncut line', () => {
    fc.assert(
      fc.property(port, port, longHostileText, (s, c, user) => {
        const head = `${s}, ${c} : USERID : UNIX : `;
        const uncut = Buffer.from(`${head}${clean(user)}`, 'utf8');
        const reply = Buffer.from(userReply(`${s}, ${c}`, 'UNIX', undefined, user), 'utf8');
        expect(uncut.subarray(0, reply.length).equals(reply)).toBe(true);
      }),
      params(),
    );
  });

  it('the cap keeps as much as fits: a cut reply is short of 510 octets by less than one character', () => {
    fc.assert(
      fc.property(port, port, longHostileText, (s, c, user) => {
        const head = `${s}, ${c} : USERID : UNIX : `;
        const uncut = Buffer.byteLength(`${head}${clean(user)}`, 'utf8');
        const reply = Buffer.byteLength(userReply(`${s}, ${c}`, 'UNIX', undefined, user), 'utf8');
        // A UTF-8 character is at most 4 octets, so a cut before one that
        // straddles the limit gives up at most 3.
        if (uncut <= LINE_LIMIT) {
          expect(reply).toBe(uncut);
        } else {
          expect(reply).toBeLessThanOrEqual(LINE_LIMIT);
          expect(reply).toBeGreaterThanOrEqual(LINE_LIMIT - 3);
        }
      }),
      params(),
    );
  });
});
