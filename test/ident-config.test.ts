/**
 * The ident daemon's system config (src/ident/config.ts) and the line
 * syntax it shares with user files (src/ident/config-line.ts): every
 * directive, and every error with its file:line.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, configLines, splitWords } from '../src/ident/config-line';
import { MAX_CONFIG_BYTES, MAX_REPLY_TEXT, parseSystemConfig, readSystemConfig, type SystemConfig } from '../src/ident/config';
import { useTempDir } from './temp-dir';

const FILE = '/etc/edgeloop-identd.conf';
const tmp = useTempDir('edgeloop-ident-config-');

function parse(text: string): SystemConfig {
  return parseSystemConfig(text, FILE);
}

/** The ConfigError that parsing `text` throws. */
function failure(text: string): ConfigError {
  try {
    parse(text);
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error(`no error for ${JSON.stringify(text)}`);
}

// ---------------------------------------------------------------------------
// Words
// ---------------------------------------------------------------------------

describe('splitWords', () => {
  it('splits on spaces and tabs', () => {
    expect(splitWords(' user\talice  answer hide ')).toEqual(['user', 'alice', 'answer', 'hide']);
  });

  it('drops a comment after #', () => {
    expect(splitWords('default answer hide # everyone')).toEqual(['default', 'answer', 'hide']);
  });

  it('keeps a quoted word with spaces and # as one word', () => {
    expect(splitWords('a "b c # d" e')).toEqual(['a', 'b c # d', 'e']);
  });

  it('resolves \\" and \\\\ in a quoted word', () => {
    expect(splitWords('"a\\"b\\\\c"')).toEqual(['a"b\\c']);
  });

  it('keeps an empty quoted word', () => {
    expect(splitWords('reply ""')).toEqual(['reply', '']);
  });

  it.each([
    ['an unterminated quote', 'reply "abc', /unterminated quoted string/],
    ['an unknown escape', 'reply "a\\nb"', /unknown escape \\n/],
    ['a backslash at the end of a quoted word', 'reply "a\\', /a backslash ends the line/],
    ['text right after a closing quote', 'reply "a"b', /must be followed by a space/],
    ['a quote inside a bare word', 'reply a"b"', /a quote inside a word/],
    ['a NUL', 'reply a\0b', /control character U\+0000/],
    ['an escape character', 'reply a\x1bb', /control character U\+001B/],
    ['a C1 control', 'reply a\u0085b', /control character U\+0085/],
  ])('refuses %s', (_what, text, problem) => {
    expect(() => splitWords(text)).toThrow(problem);
  });
});

describe('configLines', () => {
  it('numbers lines from 1 and skips blank and comment-only lines', () => {
    const lines = configLines(Buffer.from('# head\n\ndefault answer hide\n  # more\nuser bob answer name\n'), FILE);
    expect(lines).toEqual([
      { line: 3, words: ['default', 'answer', 'hide'] },
      { line: 5, words: ['user', 'bob', 'answer', 'name'] },
    ]);
  });

  it('accepts CR LF line ends', () => {
    expect(configLines(Buffer.from('default answer hide\r\n'), FILE)).toEqual([{ line: 1, words: ['default', 'answer', 'hide'] }]);
  });

  it('reads a last line without a line end', () => {
    expect(configLines(Buffer.from('\ndefault answer hide'), FILE)).toEqual([{ line: 2, words: ['default', 'answer', 'hide'] }]);
  });

  it('names the line that is not UTF-8', () => {
    const data = Buffer.concat([Buffer.from('default answer name\nuser '), Buffer.from([0xff, 0xfe]), Buffer.from(' answer hide\n')]);
    expect(() => configLines(data, FILE)).toThrow(`${FILE}:2: not UTF-8 text`);
  });

  it('names the line of a word error', () => {
    expect(() => configLines(Buffer.from('\n\nuser "x\n'), FILE)).toThrow(`${FILE}:3: unterminated quoted string`);
  });
});

describe('ConfigError', () => {
  it('reads file:line: problem', () => {
    expect(new ConfigError('/a/b', 7, 'bad').message).toBe('/a/b:7: bad');
  });

  it('reads file: problem for the whole file (line 0)', () => {
    expect(new ConfigError('/a/b', 0, 'missing').message).toBe('/a/b: missing');
  });

  it('keeps file, line and problem as fields', () => {
    expect(new ConfigError('/a/b', 7, 'bad')).toMatchObject({ file: '/a/b', line: 7, problem: 'bad' });
  });
});

// ---------------------------------------------------------------------------
// Directives
// ---------------------------------------------------------------------------

describe('system config directives', () => {
  it('an empty file has no answer, no powers and no user rules', () => {
    const c = parse('# nothing\n');
    expect(c).toEqual({ file: FILE, defaults: { answer: undefined, allow: new Set(), deny: new Set() }, byName: new Map(), byUid: new Map() });
  });

  it.each([
    ['name', { type: 'name' }],
    ['numeric', { type: 'numeric' }],
    ['hide', { type: 'hide' }],
    ['random', { type: 'random' }],
    ['reply guest', { type: 'reply', userId: 'guest' }],
  ])('default answer %s', (words, action) => {
    expect(parse(`default answer ${words}\n`).defaults.answer).toEqual(action);
  });

  it('reply takes a quoted user id', () => {
    expect(parse('default answer reply "g#1"\n').defaults.answer).toEqual({ type: 'reply', userId: 'g#1' });
  });

  it('default allow grants the powers it lists', () => {
    expect(parse('default allow hide random\n').defaults.allow).toEqual(new Set(['hide', 'random']));
  });

  it('allow lines add up', () => {
    expect(parse('default allow hide\ndefault allow numeric reply name\n').defaults.allow).toEqual(new Set(['hide', 'numeric', 'reply', 'name']));
  });

  it('user NAME answer sets that user rule', () => {
    expect(parse('user alice answer numeric\n').byName.get('alice')?.answer).toEqual({ type: 'numeric' });
  });

  it('user UID answer sets a rule by uid, not by name', () => {
    const c = parse('user 1001 answer hide\n');
    expect({ uid: c.byUid.get(1001)?.answer, name: c.byName.size }).toEqual({ uid: { type: 'hide' }, name: 0 });
  });

  it('user allow and deny collect their powers', () => {
    const spec = parse('user bob allow reply\nuser bob deny hide random\n').byName.get('bob');
    expect({ allow: spec?.allow, deny: spec?.deny }).toEqual({ allow: new Set(['reply']), deny: new Set(['hide', 'random']) });
  });

  it('one user rule may span several lines, in any order', () => {
    const spec = parse('user bob allow hide\ndefault answer name\nuser bob answer random\n').byName.get('bob');
    expect(spec).toEqual({ answer: { type: 'random' }, allow: new Set(['hide']), deny: new Set() });
  });

  it('accepts user names with dots, dashes, underscores, @ and a trailing $', () => {
    const c = parse('user edgeloop-alice answer hide\nuser a.b_c@d answer hide\nuser host$ answer hide\n');
    expect([...c.byName.keys()]).toEqual(['edgeloop-alice', 'a.b_c@d', 'host$']);
  });

  it('accepts uid 0 and uid 4294967294', () => {
    expect([...parse('user 0 answer hide\nuser 4294967294 answer hide\n').byUid.keys()]).toEqual([0, 4294967294]);
  });

  it('accepts a reply of exactly the longest length', () => {
    const long = 'x'.repeat(MAX_REPLY_TEXT);
    expect(parse(`default answer reply ${long}\n`).defaults.answer).toEqual({ type: 'reply', userId: long });
  });
});

// ---------------------------------------------------------------------------
// Errors: file:line and the problem
// ---------------------------------------------------------------------------

describe('system config errors', () => {
  const cases: [string, string, number, RegExp][] = [
    ['an unknown scope', 'defaults answer hide', 1, /expected 'default' or 'user', got 'defaults'/],
    ['user without a name', 'user', 1, /'user' needs a user name or uid/],
    ['a bad user name', 'user al/ice answer hide', 1, /'al\/ice' is not a valid user name/],
    ['a uid out of range', 'user 4294967295 answer hide', 1, /uid 4294967295 is out of range/],
    ['a scope without a statement', 'default', 1, /'default' needs answer, allow or deny/],
    ['a user scope without a statement', 'user bob', 1, /'user bob' needs answer, allow or deny/],
    ['an unknown statement', 'user bob hide', 1, /expected answer, allow or deny after 'user bob', got 'hide'/],
    ['answer without an action', 'default answer', 1, /'answer' needs one of name, numeric, hide, random or reply TEXT/],
    ['an unknown answer', 'default answer hidden', 1, /unknown answer 'hidden' \(expected name, numeric, hide, random or reply TEXT\)/],
    ['words after an answer', 'default answer hide now', 1, /unexpected 'now' after the answer 'hide'/],
    ['words after a reply', 'default answer reply a b', 1, /unexpected 'b' after the answer 'reply'/],
    ['reply without a user id', 'default answer reply', 1, /'reply' needs the user id to send/],
    ['reply with an empty user id', 'default answer reply ""', 1, /'reply' needs the user id to send/],
    ['reply with a space', 'default answer reply "a b"', 1, /must not contain spaces/],
    ['reply starting with a colon', 'default answer reply :x', 1, /start with ':' or ','/],
    ['a reply too long', `default answer reply ${'x'.repeat(MAX_REPLY_TEXT + 1)}`, 1, /129 characters; at most 128/],
    ['allow without powers', 'default allow', 1, /'allow' needs at least one of name, numeric, hide, random, reply/],
    ['deny without powers', 'user bob deny', 1, /'deny' needs at least one of/],
    ['an unknown power', 'default allow spoof', 1, /unknown power 'spoof'/],
    ['deny in the default', 'default deny hide', 1, /'deny' belongs in user rules/],
    ['a second default answer', 'default answer hide\n\ndefault answer name', 3, /'default' already has an answer, on line 1/],
    ['a second user answer', 'user bob answer hide\nuser bob answer name', 2, /'user bob' already has an answer, on line 1/],
    ['a power allowed twice', 'default allow hide\ndefault allow random hide', 2, /'default' already names 'hide', on line 1/],
    ['a power allowed and denied', 'user bob allow hide\nuser bob deny hide', 2, /'user bob' already names 'hide', on line 1/],
    ['a bad word on a later line', 'default answer name\n# ok\nuser bob answer "x', 3, /unterminated quoted string/],
  ];

  it.each(cases)('%s: names the line', (_what, text, line) => {
    expect({ file: failure(text).file, line: failure(text).line }).toEqual({ file: FILE, line });
  });

  it.each(cases)('%s: names the problem', (_what, text, line, problem) => {
    const err = failure(text);
    expect(err.problem).toMatch(problem);
    expect(err.message).toBe(`${FILE}:${line}: ${err.problem}`);
  });

  it('the same name in two scopes is not a duplicate', () => {
    expect(parse('user bob answer hide\nuser alice answer hide\n').byName.size).toBe(2);
  });
});

// ---------------------------------------------------------------------------
// Reading the file
// ---------------------------------------------------------------------------

describe('readSystemConfig', () => {
  it('parses the file it reads, named by its path', () => {
    const file = tmp.write('good.conf', 'default answer numeric\n');
    const c = readSystemConfig(file);
    expect({ file: c.file, answer: c.defaults.answer }).toEqual({ file, answer: { type: 'numeric' } });
  });

  it('names a missing file and the reason', () => {
    const file = path.join(tmp.path, 'missing.conf');
    expect(() => readSystemConfig(file)).toThrow(`${file}: cannot read it (ENOENT)`);
  });

  it('names a directory given as the file', () => {
    expect(() => readSystemConfig(tmp.path)).toThrow(`${tmp.path}: cannot read it (EISDIR)`);
  });

  it('refuses a file over the size limit', () => {
    const file = tmp.write('big.conf', '');
    fs.truncateSync(file, MAX_CONFIG_BYTES + 1);
    expect(() => readSystemConfig(file)).toThrow(`${file}: ${MAX_CONFIG_BYTES + 1} bytes; at most ${MAX_CONFIG_BYTES}`);
  });

  it('names the bad line of the file it reads', () => {
    const file = tmp.write('bad.conf', 'default answer name\nuser bob answer maybe\n');
    expect(() => readSystemConfig(file)).toThrow(`${file}:2: unknown answer 'maybe'`);
  });
});
