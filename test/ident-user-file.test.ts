/**
 * Users' own ident files (src/ident/user-file.ts): the checks made before
 * one is trusted, and its one-answer syntax. The files are made in a
 * temporary directory and owned by the user running the tests; a
 * different owner is simulated by asking for another uid.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { native } from '../src/native';
import { userFile } from '../src/ident/tasks';
import { MAX_USER_FILE_BYTES, parseUserFile, readUserFile } from '../src/ident/user-file';
import { IS_ROOT } from './root';
import { useTempDir } from './temp-dir';

const tmp = useTempDir('edgeloop-ident-user-file-');
const ME = process.getuid?.() ?? 0;

/** A file in the temporary directory with `body` and `mode`. */
function file(name: string, body: string | Buffer, mode = 0o644): string {
  const p = tmp.write(name, '');
  fs.writeFileSync(p, body);
  fs.chmodSync(p, mode);
  return p;
}

describe('readUserFile', () => {
  it('reads a regular file owned by its user, mode 0644', () => {
    const p = file('good', 'answer hide\n');
    const r = readUserFile(p, ME);
    expect(r.status === 'read' ? Buffer.from(r.data).toString() : r).toBe('answer hide\n');
  });

  it('reads a file of exactly the largest size', () => {
    const p = file('max', Buffer.alloc(MAX_USER_FILE_BYTES, 0x20));
    expect(readUserFile(p, ME)).toMatchObject({ status: 'read', data: expect.objectContaining({ length: MAX_USER_FILE_BYTES }) });
  });

  it('finds no file where there is none', () => {
    expect(readUserFile(path.join(tmp.path, 'absent'), ME)).toEqual({ status: 'none' });
  });

  it('finds no file under a path whose directory is a file', () => {
    const p = file('plain', 'x');
    expect(readUserFile(path.join(p, 'inside'), ME)).toEqual({ status: 'none' });
  });

  it('refuses a symbolic link, even to a good file', () => {
    const target = file('target', 'answer hide\n');
    const link = path.join(tmp.path, 'link');
    fs.symlinkSync(target, link);
    expect(readUserFile(link, ME)).toEqual({ status: 'refused', file: link, reason: 'is a symbolic link' });
  });

  it('refuses a group-writable file', () => {
    const p = file('group-w', 'answer hide\n', 0o664);
    expect(readUserFile(p, ME)).toEqual({ status: 'refused', file: p, reason: 'is group- or world-writable' });
  });

  it('refuses a world-writable file', () => {
    const p = file('world-w', 'answer hide\n', 0o646);
    expect(readUserFile(p, ME)).toEqual({ status: 'refused', file: p, reason: 'is group- or world-writable' });
  });

  it('refuses a file owned by another uid', () => {
    const p = file('other', 'answer hide\n');
    expect(readUserFile(p, ME + 1)).toEqual({ status: 'refused', file: p, reason: `is owned by uid ${ME}, not by its user (uid ${ME + 1})` });
  });

  it('refuses a directory', () => {
    const d = path.join(tmp.path, 'dir');
    fs.mkdirSync(d, { mode: 0o755 });
    expect(readUserFile(d, ME)).toEqual({ status: 'refused', file: d, reason: 'is not a regular file' });
  });

  it('refuses a FIFO at once instead of waiting for a writer', () => {
    const p = path.join(tmp.path, 'fifo');
    execFileSync('mkfifo', ['-m', '0644', p]);
    expect(readUserFile(p, ME)).toEqual({ status: 'refused', file: p, reason: 'is not a regular file' });
  });

  it('refuses a file one byte over the largest size', () => {
    const p = file('big', Buffer.alloc(MAX_USER_FILE_BYTES + 1, 0x20));
    expect(readUserFile(p, ME)).toEqual({ status: 'refused', file: p, reason: `is larger than ${MAX_USER_FILE_BYTES} bytes` });
  });

  it('refuses a file it may not open, naming the error', (ctx) => {
    ctx.skip(IS_ROOT, 'needs a user other than root: root opens a mode 0000 file');
    const p = file('unreadable', 'answer hide\n', 0o000);
    expect(readUserFile(p, ME)).toEqual({ status: 'refused', file: p, reason: 'cannot be opened (EACCES)' });
  });
});

describe('userFile (the pool task)', () => {
  it("takes the home directory from the user's passwd entry (getpwuidDir)", () => {
    // os.userInfo() reads the passwd entry too (not $HOME).
    expect(native.getpwuidDir(ME)).toBe(os.userInfo().homedir);
  });

  it('finds no file for a uid without a passwd entry', () => {
    let uid = 54321;
    while (native.getpwuidName(uid) !== null) uid++;
    expect(userFile(uid)).toEqual({ status: 'none' });
  });
});

describe('parseUserFile', () => {
  const F = '/home/alice/.edgeloop-identd.conf';

  it('has no answer in a file of comments and blank lines', () => {
    expect(parseUserFile('# just a note\n\n', F)).toBeNull();
  });

  it.each([
    ['name', { type: 'name' }],
    ['numeric', { type: 'numeric' }],
    ['hide', { type: 'hide' }],
    ['random', { type: 'random' }],
    ['reply "paul"', { type: 'reply', userId: 'paul' }],
  ])('answer %s', (words, answer) => {
    expect(parseUserFile(`answer ${words}\n`, F)).toEqual({ answer, line: 1 });
  });

  it('gives the line of the answer', () => {
    expect(parseUserFile('# mine\n\nanswer hide\n', F)?.line).toBe(3);
  });

  it('parses bytes at an offset in a larger buffer', () => {
    const whole = Buffer.from('xxxxanswer numeric\n');
    expect(parseUserFile(whole.subarray(4), F)).toEqual({ answer: { type: 'numeric' }, line: 1 });
  });

  it.each([
    ['a system directive', 'default answer hide\n', `${F}:1: expected 'answer', got 'default' (a user file holds one answer line)`],
    ['an allow line', '\nallow hide\n', `${F}:2: expected 'answer', got 'allow' (a user file holds one answer line)`],
    ['a second answer', 'answer hide\nanswer name\n', `${F}:2: a second answer; the first is on line 1`],
    ['an unknown answer', '#\nanswer invisible\n', `${F}:2: unknown answer 'invisible' (expected name, numeric, hide, random or reply TEXT)`],
    ['a reply without text', 'answer reply\n', `${F}:1: 'reply' needs the user id to send`],
    ['a bad quote', 'answer reply "x\n', `${F}:1: unterminated quoted string`],
    ['bytes that are not UTF-8', Buffer.from([0x61, 0xc3, 0x28, 0x0a]), `${F}:1: not UTF-8 text`],
  ])('refuses %s, naming file:line', (_what, body, message) => {
    expect(() => parseUserFile(body, F)).toThrow(message);
  });
});
