/**
 * edgeloop-identd --config (docs/IDENTD-CONFIG.md): a bad file at start is
 * exit 2 with its file:line, rules answer queries, SIGHUP reloads them
 * without dropping connections and keeps them when the new file is bad,
 * the command-line flags keep their precedence, and users' own files are
 * read within the powers the config grants.
 *
 * Needs `npx tsc -p .` first (the binary is dist/cli/identd.js). Rules for
 * the user running the tests are checked on connections of this test
 * process, so those tests run as anyone. The user-file tests need root:
 * they write a file into the home directory of the test user
 * edgeloop-alice (created, as is the directory, when missing) and ask
 * about a connection she owns; the --user tests need root to drop to
 * nobody. Loopback only; every daemon is killed by its pid after its test.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { later, runCleanups } from './cleanup';
import { ALICE, BOB, ensureUser, ownConnection, ownedConnection, stopOwners, type OwnedConnection } from './ident-owners';
import { ask, freePort, IDENTD, query, runIdentd, startDaemon, terminate, type Daemon } from './identd-daemon';
import { NetClient } from './net-client';
import { needsRoot, setupAsRoot } from './root';
import { useTempDir } from './temp-dir';
import { within } from './waits';

afterEach(runCleanups);

const tmp = useTempDir('edgeloop-identd-config-');
const ME = { uid: process.getuid?.() ?? 0, name: os.userInfo().username };

beforeAll(() => {
  if (!fs.existsSync(IDENTD)) throw new Error(`${IDENTD} is missing: run \`npx tsc -p .\` before these tests`);
});


/** Writes the config `name` in the temporary directory. */
function writeConfig(name: string, text: string): string {
  return tmp.write(name, text);
}

/** Sends SIGHUP and waits until the daemon has said how it went `n` times in all. */
async function hangUp(d: Daemon, n = 1): Promise<void> {
  process.kill(d.pid, 'SIGHUP');
  const outcomes = (): number =>
    d.child.lines.filter((l) => /: reloaded /.test(l)).length + (d.child.stderr.match(/keeping the rules in force/g) ?? []).length;
  await d.child.until(() => outcomes() >= n || d.child.exit !== null, 5000, 'the reload outcome');
  if (d.child.exit !== null) throw new Error(`the daemon exited on SIGHUP: ${JSON.stringify(d.child.exit)} ${d.child.stderr}`);
}

const USERID = (q: string, id: string): string => `${q} : USERID : UNIX : ${id}`;

// ---------------------------------------------------------------------------
// Start
// ---------------------------------------------------------------------------

describe('--config at start', () => {
  // A real free port: a bad port would exit 2 for its own reason.
  let port = 0;
  beforeAll(async () => {
    port = await freePort();
  });

  it('is listed by --help', () => {
    expect(runIdentd(['--help']).stdout).toMatch(/^\s+-C, --config PATH\s/m);
  });

  it('exits 2 for a bad config', () => {
    const file = writeConfig('bad-start.conf', 'default answer name\nuser bob answer whatever\n');
    expect(runIdentd(['--address', '127.0.0.1', '--port', String(port), '--config', file]).status).toBe(2);
  });

  it('says file:line and the problem of a bad config, on one stderr line, and nothing on stdout', () => {
    const file = writeConfig('bad-start2.conf', 'default answer name\nuser bob answer whatever\n');
    const r = runIdentd(['--address', '127.0.0.1', '--port', String(port), '--config', file]);
    expect({ stdout: r.stdout, stderr: r.stderr }).toEqual({
      stdout: '',
      stderr: `edgeloop-identd: ${file}:2: unknown answer 'whatever' (expected name, numeric, hide, random or reply TEXT)\n`,
    });
  });

  it('exits 2 naming a config file that does not exist', () => {
    const file = path.join(tmp.path, 'absent.conf');
    const r = runIdentd(['--address', '127.0.0.1', '--port', String(port), '--config', file]);
    expect({ status: r.status, stderr: r.stderr }).toEqual({ status: 2, stderr: `edgeloop-identd: ${file}: cannot read it (ENOENT)\n` });
  });
});

// ---------------------------------------------------------------------------
// Answers by the rules
// ---------------------------------------------------------------------------

describe('answers by the config', () => {
  it('answers by a rule for the owner uid', async () => {
    const d = await startDaemon(['--config', writeConfig('numeric.conf', `user ${ME.uid} answer reply by-uid\n`)]);
    const q = await ownConnection();
    expect(await query(d.port, q)).toBe(USERID(q, 'by-uid'));
  });

  it('answers by a rule for the owner name', async () => {
    const d = await startDaemon(['--config', writeConfig('by-name.conf', `user ${ME.name} answer reply by-name\n`)]);
    const q = await ownConnection();
    expect(await query(d.port, q)).toBe(USERID(q, 'by-name'));
  });

  it('answers HIDDEN-USER for a hide rule', async () => {
    const d = await startDaemon(['--config', writeConfig('hide.conf', 'default answer hide\n')]);
    const q = await ownConnection();
    expect(await query(d.port, q)).toBe(`${q} : ERROR : HIDDEN-USER`);
  });

  it('answers a random id that changes per query for a random rule', async () => {
    const d = await startDaemon(['--config', writeConfig('random.conf', 'default answer random\n')]);
    const q = await ownConnection();
    const [a, b] = [await query(d.port, q), await query(d.port, q)];
    expect({ a, different: a !== b }).toEqual({ a: expect.stringMatching(new RegExp(`^${q} : USERID : UNIX : [a-z2-7]{16}$`)), different: true });
  });

  it('logs who really owns a connection answered with a random id', async () => {
    const d = await startDaemon(['--config', writeConfig('random-log.conf', 'default answer random\n')]);
    const q = await ownConnection();
    const reply = await query(d.port, q);
    const line = await d.child.line(/ -> /, 5000);
    expect(line).toBe(`edgeloop-identd: 127.0.0.1 "${q}" -> ${reply} [uid ${ME.uid} ${ME.name}: random by the config]`);
  });

  it('logs a plain line when the rule answers with the name', async () => {
    const d = await startDaemon(['--config', writeConfig('name-log.conf', 'default answer name\n')]);
    const q = await ownConnection();
    await query(d.port, q);
    expect(await d.child.line(/ -> /, 5000)).toBe(`edgeloop-identd: 127.0.0.1 "${q}" -> ${USERID(q, ME.name)}`);
  });
});

// ---------------------------------------------------------------------------
// Precedence of the command-line flags
// ---------------------------------------------------------------------------

describe('flags and the config', () => {
  it('--hide hides a user whom the config answers', async () => {
    const d = await startDaemon(['--hide', String(ME.uid), '--config', writeConfig('p-hide.conf', 'default answer numeric\n')]);
    const q = await ownConnection();
    expect(await query(d.port, q)).toBe(`${q} : ERROR : HIDDEN-USER`);
  });

  it('--reply answers every query, whatever the config says', async () => {
    const d = await startDaemon(['--reply', 'everyone', '--config', writeConfig('p-reply.conf', 'default answer hide\n')]);
    const q = await ownConnection();
    expect(await query(d.port, q)).toBe(USERID(q, 'everyone'));
  });

  it('--opsys and --charset apply to answers from the config', async () => {
    const d = await startDaemon(['--opsys', 'OTHER', '--charset', 'UTF-8', '--config', writeConfig('p-os.conf', 'default answer reply x\n')]);
    const q = await ownConnection();
    expect(await query(d.port, q)).toBe(`${q} : USERID : OTHER,UTF-8 : x`);
  });

  it('--fail-reply still answers a connection without an owner', async () => {
    const d = await startDaemon(['--fail-reply', 'guest', '--config', writeConfig('p-fail.conf', 'default answer hide\n')]);
    expect(await query(d.port, '1, 2')).toBe(USERID('1, 2', 'guest'));
  });

  it('--unknown-error turns a hide rule into UNKNOWN-ERROR', async () => {
    const d = await startDaemon(['--unknown-error', '--config', writeConfig('p-unk.conf', 'default answer hide\n')]);
    const q = await ownConnection();
    expect(await query(d.port, q)).toBe(`${q} : ERROR : UNKNOWN-ERROR`);
  });
});

// ---------------------------------------------------------------------------
// SIGHUP
// ---------------------------------------------------------------------------

describe('SIGHUP', () => {
  it('reloads a changed config: the next query gets the new answer', async () => {
    const file = writeConfig('hup.conf', 'default answer reply before\n');
    const d = await startDaemon(['--config', file]);
    const q = await ownConnection();
    fs.writeFileSync(file, 'default answer reply after\n');
    await hangUp(d);
    expect(await query(d.port, q)).toBe(USERID(q, 'after'));
  });

  it('says it reloaded, naming the file and its user rules', async () => {
    const file = writeConfig('hup-say.conf', 'default answer name\n');
    const d = await startDaemon(['--config', file]);
    fs.writeFileSync(file, 'user a answer hide\nuser 7 answer hide\n');
    await hangUp(d);
    expect(d.child.lines.filter((l) => /reloaded/.test(l))).toEqual([`edgeloop-identd: reloaded ${file} (2 user rules)`]);
  });

  it('keeps a connection open across the reload and answers it by the new config', async () => {
    const file = writeConfig('hup-conn.conf', 'default answer reply before\n');
    const d = await startDaemon(['--config', file]);
    const q = await ownConnection();
    const c = await NetClient.connect(d.port);
    const first = await ask(c, q);
    fs.writeFileSync(file, 'default answer reply after\n');
    await hangUp(d);
    expect({ first, second: await ask(c, q), closed: c.closed }).toEqual({ first: USERID(q, 'before'), second: USERID(q, 'after'), closed: false });
  });

  it('keeps the old rules when the new config is bad', async () => {
    const file = writeConfig('hup-bad.conf', 'default answer reply kept\n');
    const d = await startDaemon(['--config', file]);
    const q = await ownConnection();
    fs.writeFileSync(file, 'default answer reply new\nuser\n');
    await hangUp(d);
    expect(await query(d.port, q)).toBe(USERID(q, 'kept'));
  });

  it('logs file:line and the problem of a bad new config', async () => {
    const file = writeConfig('hup-bad-log.conf', 'default answer name\n');
    const d = await startDaemon(['--config', file]);
    fs.writeFileSync(file, '# broken\ndefault answer nme\n');
    await hangUp(d);
    expect(d.child.stderr).toBe(
      `edgeloop-identd: ${file}:2: unknown answer 'nme' (expected name, numeric, hide, random or reply TEXT); keeping the rules in force\n`,
    );
  });

  it('keeps the old rules when the config file is gone, and says so', async () => {
    const file = writeConfig('hup-gone.conf', 'default answer reply kept\n');
    const d = await startDaemon(['--config', file]);
    const q = await ownConnection();
    fs.rmSync(file);
    await hangUp(d);
    expect({ reply: await query(d.port, q), stderr: d.child.stderr }).toEqual({
      reply: USERID(q, 'kept'),
      stderr: `edgeloop-identd: ${file}: cannot read it (ENOENT); keeping the rules in force\n`,
    });
  });

  it('takes a good config after a bad one', async () => {
    const file = writeConfig('hup-fix.conf', 'default answer reply one\n');
    const d = await startDaemon(['--config', file]);
    const q = await ownConnection();
    fs.writeFileSync(file, 'default answer\n');
    await hangUp(d, 1);
    fs.writeFileSync(file, 'default answer reply three\n');
    await hangUp(d, 2);
    expect(await query(d.port, q)).toBe(USERID(q, 'three'));
  });

  it('still stops on SIGTERM after a reload', async () => {
    const file = writeConfig('hup-term.conf', 'default answer name\n');
    const d = await startDaemon(['--config', file]);
    await hangUp(d);
    expect(await terminate(d)).toEqual({ code: 0, signal: null });
  });
});

// ---------------------------------------------------------------------------
// After --user: the config is re-read as that user
// ---------------------------------------------------------------------------

describe('SIGHUP after --user nobody', () => {
  needsRoot('drops privileges with --user nobody (setuid)');

  /** A directory nobody can search, for configs nobody may or may not read. */
  function openDir(): string {
    const dir = path.join(tmp.path, 'open');
    fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
    fs.chmodSync(tmp.path, 0o755);
    fs.chmodSync(dir, 0o755);
    return dir;
  }

  it('reloads a config the dropped user can read', async () => {
    const file = path.join(openDir(), 'readable.conf');
    fs.writeFileSync(file, 'default answer reply before\n', { mode: 0o644 });
    const d = await startDaemon(['--user', 'nobody', '--config', file]);
    const q = await ownConnection();
    fs.writeFileSync(file, 'default answer reply after\n');
    await hangUp(d);
    expect(await query(d.port, q)).toBe(USERID(q, 'after'));
  });

  it('keeps the rules, naming EACCES, when only root can read the config', async () => {
    const file = path.join(openDir(), 'root-only.conf');
    fs.writeFileSync(file, 'default answer reply kept\n');
    fs.chmodSync(file, 0o600);
    const d = await startDaemon(['--user', 'nobody', '--config', file]);
    const q = await ownConnection();
    await hangUp(d);
    expect({ reply: await query(d.port, q), stderr: d.child.stderr }).toEqual({
      reply: USERID(q, 'kept'),
      stderr: `edgeloop-identd: ${file}: cannot read it (EACCES); keeping the rules in force\n`,
    });
  });
});

// ---------------------------------------------------------------------------
// Users' own files
// ---------------------------------------------------------------------------

describe("a user's own file", () => {
  needsRoot("writes a file into the test user edgeloop-alice's home and asks about a connection she owns (useradd, runuser)");

  let conn: OwnedConnection = { serverPort: 0, clientPort: 0 };
  let aliceUid = 0;
  let home = '';
  let madeHome = false;

  setupAsRoot(async () => {
    aliceUid = ensureUser(ALICE);
    ensureUser(BOB);
    home = fs.readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith(`${ALICE}:`))?.split(':')[5] ?? '';
    if (home === '' || !path.isAbsolute(home)) throw new Error(`no home directory for ${ALICE} in /etc/passwd`);
    if (!fs.existsSync(home)) {
      fs.mkdirSync(home, { recursive: true, mode: 0o755 });
      fs.chownSync(home, aliceUid, aliceUid);
      madeHome = true;
    }
    conn = await ownedConnection({ listenUser: ALICE, listenHost: '127.0.0.1', connectUser: BOB, connectHost: '127.0.0.1' });
  }, 30000);

  afterAll(async () => {
    await stopOwners();
    if (home === '') return;
    fs.rmSync(path.join(home, '.edgeloop-identd.conf'), { force: true });
    if (madeHome) fs.rmSync(home, { recursive: true, force: true });
  }, 20000);

  /** Alice's file with `text`, owned by her with `mode`; removed after the test. */
  function aliceFile(text: string, mode = 0o644): void {
    const file = path.join(home, '.edgeloop-identd.conf');
    fs.writeFileSync(file, text);
    fs.chownSync(file, aliceUid, aliceUid);
    fs.chmodSync(file, mode);
    later(() => fs.rmSync(file, { force: true }));
  }

  const q = (): string => `${conn.serverPort}, ${conn.clientPort}`;

  it('answers as the file says when the config grants the power', async () => {
    aliceFile('answer reply "alice-says"\n');
    const d = await startDaemon(['--config', writeConfig('uf-grant.conf', `user ${ALICE} allow reply\n`)]);
    expect(await query(d.port, q())).toBe(USERID(q(), 'alice-says'));
  });

  it('logs the real owner of an answer the file chose', async () => {
    aliceFile('answer numeric\n');
    const d = await startDaemon(['--config', writeConfig('uf-log.conf', 'default allow numeric\n')]);
    await query(d.port, q());
    expect(await d.child.line(/ -> /, 5000)).toBe(
      `edgeloop-identd: 127.0.0.1 "${q()}" -> ${USERID(q(), String(aliceUid))} [uid ${aliceUid} ${ALICE}: numeric by their file]`,
    );
  });

  it('ignores the file when the config grants nothing', async () => {
    aliceFile('answer hide\n');
    const d = await startDaemon(['--config', writeConfig('uf-none.conf', 'default answer name\n')]);
    expect(await query(d.port, q())).toBe(USERID(q(), ALICE));
  });

  it('answers by the system rule when the file asks for a power not granted', async () => {
    aliceFile('answer hide\n');
    const d = await startDaemon(['--config', writeConfig('uf-deny.conf', 'default answer numeric\ndefault allow random\n')]);
    expect(await query(d.port, q())).toBe(USERID(q(), String(aliceUid)));
  });

  it('answers by the system rule for a group-writable file and logs why once for two queries', async () => {
    aliceFile('answer hide\n', 0o664);
    const d = await startDaemon(['--config', writeConfig('uf-mode.conf', 'default allow hide\n')]);
    const replies = [await query(d.port, q()), await query(d.port, q())];
    const file = path.join(home, '.edgeloop-identd.conf');
    expect({ replies, stderr: d.child.stderr }).toEqual({
      replies: [USERID(q(), ALICE), USERID(q(), ALICE)],
      stderr: `edgeloop-identd: ${file}: is group- or world-writable; answering by the system rule 'default'\n`,
    });
  });

  it('answers by the system rule for an invalid file, logging file:line', async () => {
    aliceFile('# mine\nanswer invisible\n');
    const d = await startDaemon(['--config', writeConfig('uf-bad.conf', 'default allow hide\n')]);
    const reply = await query(d.port, q());
    const file = path.join(home, '.edgeloop-identd.conf');
    expect({ reply, stderr: d.child.stderr }).toEqual({
      reply: USERID(q(), ALICE),
      stderr: `edgeloop-identd: ${file}:2: unknown answer 'invisible' (expected name, numeric, hide, random or reply TEXT); answering by the system rule 'default'\n`,
    });
  });

  it('reads the file again for each query, so a change applies at once', async () => {
    aliceFile('answer reply first\n');
    const d = await startDaemon(['--config', writeConfig('uf-change.conf', 'default allow reply\n')]);
    await query(d.port, q());
    aliceFile('answer reply second\n');
    expect(await query(d.port, q())).toBe(USERID(q(), 'second'));
  });

  it('still reads the file after dropping privileges to nobody', async () => {
    aliceFile('answer reply from-file\n');
    const d = await startDaemon(['--user', 'nobody', '--config', writeConfig('uf-nobody.conf', 'default allow reply\n')]);
    expect(await query(d.port, q())).toBe(USERID(q(), 'from-file'));
  });
});
