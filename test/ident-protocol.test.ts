/**
 * RFC 1413 query parsing and reply building (src/ident/protocol.ts), and the
 * line framing the ident server uses (LineCodec with maxLength 1000).
 *
 * The rules come from /work/shared/IDENT.md: ports are decimal 1..65535 with
 * optional spaces/tabs around them; anything else is INVALID-PORT and is
 * never wrapped or truncated into a valid port (oidentd answers
 * '4295022882, 5000' as '55586, 5000'); replies never carry CR, LF or NUL
 * and are capped at 512 octets including CR LF.
 */
import { describe, expect, it } from 'vitest';
import { clean, errorReply, MAX_REPLY_OCTETS, parseQuery, portPair, userReply, type IdentError } from '../src/ident/protocol';
import { MAX_QUERY_LENGTH } from '../src/ident/server';
import { FrameError, LineCodec, type Decoded } from '../src/service/codec';

/** CR, LF or NUL anywhere in `s`. */
const BREAKS = /[\r\n\0]/;

/** Octets of `line` on the wire with its CR LF, as UTF-8. */
function wireOctets(line: string): number {
  return Buffer.byteLength(`${line}\r\n`, 'utf8');
}

/** True when `s` survives a UTF-8 round trip (no lone surrogates, no U+FFFD from a cut). */
function isWholeUtf8(s: string): boolean {
  return Buffer.from(s, 'utf8').toString('utf8') === s && !s.includes('\ufffd');
}

describe('parseQuery: valid queries', () => {
  it('parses "80, 12345" as server port 80 and client port 12345', () => {
    expect(parseQuery('80, 12345')).toEqual({ ok: true, serverPort: 80, clientPort: 12345 });
  });

  it('parses a query without any spaces', () => {
    expect(parseQuery('6193,23')).toEqual({ ok: true, serverPort: 6193, clientPort: 23 });
  });

  it('accepts spaces and tabs before, between and after the tokens', () => {
    expect(parseQuery(' \t 6193 \t, \t 23 \t ')).toEqual({ ok: true, serverPort: 6193, clientPort: 23 });
  });

  it('accepts tabs only as separators', () => {
    expect(parseQuery('\t113\t,\t40000\t')).toEqual({ ok: true, serverPort: 113, clientPort: 40000 });
  });

  it('accepts the smallest and largest ports, 1 and 65535', () => {
    expect(parseQuery('1, 65535')).toEqual({ ok: true, serverPort: 1, clientPort: 65535 });
    expect(parseQuery('65535, 1')).toEqual({ ok: true, serverPort: 65535, clientPort: 1 });
  });

  it('portPair writes a parsed query back as "server, client"', () => {
    const q = parseQuery('\t80 ,12345  ');
    expect(q.ok).toBe(true);
    if (q.ok) expect(portPair(q)).toBe('80, 12345');
  });
});

describe('parseQuery: INVALID-PORT cases', () => {
  const invalid: [string, string][] = [
    ['a non-numeric server port', 'abc, 80'],
    ['a non-numeric client port', '80, abc'],
    ['a hexadecimal port', '0x50, 80'],
    ['a port with a letter O for a zero', '8O, 80'],
    ['a decimal fraction', '80.5, 80'],
    ['a port with an exponent', '8e1, 80'],
    ['a port with a space inside it', '8 0, 80'],
    ['non-ASCII digits (Arabic-Indic eight zero)', '\u0668\u0660, 80'],
    ['fullwidth digits', '\uff18\uff10, 80'],
    ['a zero server port', '0, 80'],
    ['a zero client port', '80, 0'],
    ['zero written with five digits', '00000, 80'],
    ['a negative server port', '-1, 80'],
    ['a negative client port', '80, -5'],
    ['an explicit plus sign', '+80, 80'],
    ['a server port of 65536', '65536, 80'],
    ['a client port of 65536', '80, 65536'],
    ['a five-digit port above 65535', '99999, 1'],
    ['a six-digit port', '123456, 80'],
    ['a six-digit port that is 80 with leading zeros', '000080, 80'],
    ['a 2^32 + 80 port (would wrap to 80 in 32 bits)', '4294967376, 5000'],
    ['a port of 2^64 + 80', '18446744073709551696, 5000'],
    ['a 100-digit port', `${'9'.repeat(100)}, 80`],
    ['an empty line', ''],
    ['a line of blanks', ' \t  '],
    ['a missing comma', '80 5'],
    ['a single port', '80'],
    ['a comma with no ports', ','],
    ['a missing client port', '80,'],
    ['a missing server port', ', 80'],
    ['an extra trailing comma', '80, 5,'],
    ['three ports', '80, 5, 6'],
    ['a doubled comma', '80,, 5'],
    ['a leading comma', ',80, 5'],
    ['a trailing CR left on the line', '80, 5\r'],
    ['a NUL inside a port', '8\u00000, 5'],
  ];

  it.each(invalid)('rejects %s (%j)', (_what, line) => {
    expect(parseQuery(line).ok).toBe(false);
  });

  it('rejects "4295022882, 5000" instead of wrapping it to "55586, 5000" (oidentd bug)', () => {
    const q = parseQuery('4295022882, 5000');
    expect(q).not.toMatchObject({ serverPort: 55586 });
    expect(q.ok).toBe(false);
  });

  it('echoes "4295022882, 5000" unchanged in its INVALID-PORT reply', () => {
    const q = parseQuery('4295022882, 5000');
    expect(q.ok).toBe(false);
    if (!q.ok) expect(errorReply(q.echo, 'INVALID-PORT')).toBe('4295022882, 5000 : ERROR : INVALID-PORT');
  });

  it('echoes an out-of-range pair as written', () => {
    const q = parseQuery('70000, 5');
    expect(q.ok).toBe(false);
    if (!q.ok) expect(q.echo).toBe('70000, 5');
  });

  it('answers an empty line with the pair "0, 0"', () => {
    const q = parseQuery('');
    expect(q.ok).toBe(false);
    if (!q.ok) expect(errorReply(q.echo, 'INVALID-PORT')).toBe('0, 0 : ERROR : INVALID-PORT');
  });

  it('never echoes CR, LF, NUL or other control characters of a bad query', () => {
    const lines = ['a\rb, 5', '8\u00000, 5', '80 \u001b[2J 5', '\u007f\u0001\u0002', 'x,\u0000\u0000', `80,5,${'\n'}6`];
    for (const line of lines) {
      const q = parseQuery(line);
      expect(q.ok).toBe(false);
      if (!q.ok) {
        // eslint-disable-next-line no-control-regex
        expect(q.echo).not.toMatch(/[\x00-\x1f\x7f]/);
        expect(errorReply(q.echo, 'INVALID-PORT')).not.toMatch(BREAKS);
      }
    }
  });

  it('bounds the echo of a long garbage line so the reply stays within 512 octets', () => {
    const q = parseQuery('x'.repeat(990));
    expect(q.ok).toBe(false);
    if (!q.ok) expect(wireOctets(errorReply(q.echo, 'INVALID-PORT'))).toBeLessThanOrEqual(MAX_REPLY_OCTETS);
  });
});

describe('errorReply', () => {
  const errors: IdentError[] = ['INVALID-PORT', 'NO-USER', 'HIDDEN-USER', 'UNKNOWN-ERROR'];

  it.each(errors)('writes "<pair> : ERROR : %s"', (error) => {
    expect(errorReply('6193, 23', error)).toBe(`6193, 23 : ERROR : ${error}`);
  });

  it('caps an error reply at 512 octets including CR LF', () => {
    const reply = errorReply('9'.repeat(2000), 'NO-USER');
    expect(wireOctets(reply)).toBeLessThanOrEqual(MAX_REPLY_OCTETS);
  });
});

describe('userReply', () => {
  it('writes "<pair> : USERID : UNIX : <user>"', () => {
    expect(userReply('6193, 23', 'UNIX', undefined, 'alice')).toBe('6193, 23 : USERID : UNIX : alice');
  });

  it('writes the charset after the opsys with a comma', () => {
    expect(userReply('6193, 23', 'UNIX', 'UTF-8', 'alice')).toBe('6193, 23 : USERID : UNIX,UTF-8 : alice');
  });

  it('uses the given opsys', () => {
    expect(userReply('6193, 23', 'OTHER', undefined, 'alice')).toBe('6193, 23 : USERID : OTHER : alice');
  });

  it('falls back to UNIX when the opsys is empty after cleaning', () => {
    expect(userReply('6193, 23', '\r\n', undefined, 'alice')).toBe('6193, 23 : USERID : UNIX : alice');
  });

  it('removes ":" and "," from the opsys and charset, which would change the reply fields', () => {
    const reply = userReply('1, 2', 'UN:IX,X', 'UT,F:8', 'alice');
    expect(reply).toBe('1, 2 : USERID : UNIXX,UTF8 : alice');
  });

  it('strips CR, LF and NUL from the user id (no injected second reply line)', () => {
    const reply = userReply('1, 2', 'UNIX', undefined, 'alice\r\n1, 2 : USERID : UNIX : root\u0000');
    expect(reply).not.toMatch(BREAKS);
    expect(reply).toBe('1, 2 : USERID : UNIX : alice1, 2 : USERID : UNIX : root');
  });

  it('strips CR, LF and NUL from the opsys', () => {
    const reply = userReply('1, 2', 'UN\r\nIX\u0000', undefined, 'alice');
    expect(reply).not.toMatch(BREAKS);
    expect(reply).toBe('1, 2 : USERID : UNIX : alice');
  });

  it('strips CR, LF and NUL from the charset', () => {
    const reply = userReply('1, 2', 'UNIX', 'UTF-8\r\n\u0000', 'alice');
    expect(reply).not.toMatch(BREAKS);
    expect(reply).toBe('1, 2 : USERID : UNIX,UTF-8 : alice');
  });

  it('strips other control characters (ESC, DEL, tab) from the user id', () => {
    expect(userReply('1, 2', 'UNIX', undefined, 'a\u001b[31mb\u007fc\td')).toBe('1, 2 : USERID : UNIX : a[31mbcd');
  });

  it('keeps non-ASCII characters of a user id', () => {
    expect(userReply('1, 2', 'UNIX', 'UTF-8', 'jürgen€')).toBe('1, 2 : USERID : UNIX,UTF-8 : jürgen€');
  });

  it('caps the reply for a 2000-character user id at exactly 512 octets with CR LF', () => {
    const reply = userReply('6193, 23', 'UNIX', undefined, 'u'.repeat(2000));
    expect(wireOctets(reply)).toBe(MAX_REPLY_OCTETS);
    expect(reply.startsWith('6193, 23 : USERID : UNIX : uuu')).toBe(true);
  });

  it('does not cut a reply that fits exactly in 512 octets', () => {
    const head = '6193, 23 : USERID : UNIX : ';
    const user = 'u'.repeat(MAX_REPLY_OCTETS - 2 - head.length);
    expect(userReply('6193, 23', 'UNIX', undefined, user)).toBe(head + user);
  });

  it('caps a 2000-character user id of CR/LF-laden text without leaving any CR, LF or NUL', () => {
    const reply = userReply('1, 2', 'UNIX', undefined, 'ab\r\n\u0000'.repeat(400));
    expect(reply).not.toMatch(BREAKS);
    expect(wireOctets(reply)).toBeLessThanOrEqual(MAX_REPLY_OCTETS);
  });

  // A character of `width` UTF-8 octets placed so that the 510-octet cut
  // falls `into` octets after its first one (0 = exactly before it).
  const cuts: [string, string, number][] = [];
  for (const [ch, width] of [['é', 2], ['€', 3], ['😀', 4]] as [string, number][]) {
    for (let into = 0; into < width; into++) cuts.push([`${width}-octet ${ch}`, ch, into]);
  }

  it.each(cuts)('cuts before a %s when the cap falls %i octets into it', (_what, ch, into) => {
    const head = '6193, 23 : USERID : UNIX : ';
    const limit = MAX_REPLY_OCTETS - 2;
    const pad = 'a'.repeat(limit - into - head.length);
    const reply = userReply('6193, 23', 'UNIX', undefined, pad + ch.repeat(50));
    expect(Buffer.byteLength(reply)).toBeLessThanOrEqual(limit);
    expect(isWholeUtf8(reply)).toBe(true);
    // Whole characters only: everything before the cut character.
    expect(reply).toBe(head + pad);
  });

  it('keeps as many whole multi-byte characters as fit under the cap', () => {
    const reply = userReply('6193, 23', 'UNIX', undefined, '€'.repeat(1000));
    const limit = MAX_REPLY_OCTETS - 2;
    expect(isWholeUtf8(reply)).toBe(true);
    expect(Buffer.byteLength(reply)).toBeLessThanOrEqual(limit);
    expect(Buffer.byteLength(reply)).toBeGreaterThan(limit - 3);
  });

  // Found by test/props-ident.test.ts: the cap used to drop every trailing
  // U+FFFD after the cut, taking the whole user id with it when it was made
  // of U+FFFD (what invalid UTF-8 decodes to) or of lone surrogates.
  it('keeps a long user id of U+FFFD characters up to the cap instead of dropping it whole', () => {
    const head = '6193, 23 : USERID : UNIX : ';
    const fit = (MAX_REPLY_OCTETS - 2 - head.length) / 3;
    const reply = userReply('6193, 23', 'UNIX', undefined, '\ufffd'.repeat(300));
    expect(reply).toBe(head + '\ufffd'.repeat(fit));
    expect(wireOctets(reply)).toBe(MAX_REPLY_OCTETS);
  });

  it('keeps a long user id of lone surrogates up to the cap (sent as U+FFFD) instead of dropping it whole', () => {
    const head = '6193, 23 : USERID : UNIX : ';
    const fit = (MAX_REPLY_OCTETS - 2 - head.length) / 3;
    const reply = userReply('6193, 23', 'UNIX', undefined, '\ud800'.repeat(300));
    expect(Buffer.from(reply, 'utf8').equals(Buffer.from(head + '\ufffd'.repeat(fit), 'utf8'))).toBe(true);
    expect(wireOctets(reply)).toBe(MAX_REPLY_OCTETS);
  });
});

describe('clean', () => {
  it('removes CR, LF and NUL', () => {
    expect(clean('a\rb\nc\u0000d')).toBe('abcd');
  });

  it('removes every C0 control and DEL', () => {
    let all = '';
    for (let c = 0; c < 0x20; c++) all += String.fromCharCode(c);
    expect(clean(`x${all}\u007fy`)).toBe('xy');
  });

  it('keeps printable ASCII and non-ASCII text', () => {
    expect(clean('alice :, jürgen € 😀')).toBe('alice :, jürgen € 😀');
  });

  it('cuts to maxLength characters after removing controls', () => {
    expect(clean('\r\na\r\nbcdef', 3)).toBe('abc');
  });

  it('returns an empty string for a string of controls only', () => {
    expect(clean('\r\n\u0000\t')).toBe('');
  });
});

describe('LineCodec as the ident server frames queries (maxLength 1000, latin1)', () => {
  const codec = (): LineCodec => new LineCodec({ maxLength: MAX_QUERY_LENGTH, encoding: 'latin1' });
  const decode = (c: LineCodec, text: string): Decoded<string> | null => {
    const buf = Buffer.from(text, 'latin1');
    const out: Decoded<string> = { frame: '', consumed: 0 };
    return c.decode(buf, 0, buf.length, out) ? out : null;
  };

  it('ends a line at CR LF, without the terminator', () => {
    expect(decode(codec(), '80, 5\r\n')).toEqual({ frame: '80, 5', consumed: 7 });
  });

  it('ends a line at a bare LF the same way', () => {
    expect(decode(codec(), '80, 5\n')).toEqual({ frame: '80, 5', consumed: 6 });
  });

  it('does not end a line at a bare CR', () => {
    expect(decode(codec(), '80, 5\r')).toBeNull();
  });

  it('waits for more bytes when a line has no terminator yet', () => {
    expect(decode(codec(), '80, ')).toBeNull();
  });

  it('accepts a line of exactly 1000 bytes', () => {
    expect(decode(codec(), `${'x'.repeat(1000)}\r\n`)?.frame.length).toBe(1000);
  });

  it('rejects a terminated line of 1001 bytes with a FrameError instead of truncating it', () => {
    expect(() => decode(codec(), `${'x'.repeat(1001)}\r\n`)).toThrow(FrameError);
  });

  it('rejects an unterminated run of 1200 bytes as soon as it is longer than a line can be', () => {
    expect(() => decode(codec(), '8'.repeat(1200))).toThrow(FrameError);
  });
});
