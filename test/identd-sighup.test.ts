/**
 * edgeloop-identd and SIGHUP without --config: the daemon keeps serving,
 * and the user names it cached are looked up afresh (with --config the
 * same signal also re-reads the file: test/ident-config-cli.test.ts).
 *
 * Needs `npx tsc -p .` first (the binary is dist/cli/identd.js). The
 * renamed-user test needs root: it runs a listener under a uid with no
 * passwd entry (setpriv), then gives that uid a name (useradd) and removes
 * it again (userdel). Loopback only; every daemon is killed by its pid
 * after its test.
 */
import { execFileSync } from 'node:child_process';
import * as os from 'node:os';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { runCleanups } from './cleanup';
import { BOB, ensureUser, idOf, namelessConnection, ownConnection, stopOwners, unnamedUid } from './ident-owners';
import { query, startDaemon, type Daemon } from './identd-daemon';
import { needsRoot } from './root';

afterEach(runCleanups);

/** Sends SIGHUP and returns the daemon's line saying it forgot its names. */
async function hangUp(d: Daemon): Promise<string> {
  process.kill(d.pid, 'SIGHUP');
  return d.child.line(/SIGHUP: /, 5000);
}

const USERID = (q: string, id: string): string => `${q} : USERID : UNIX : ${id}`;

describe('SIGHUP without --config', () => {
  it('keeps the daemon serving and says how many cached names it forgot', async () => {
    const d = await startDaemon();
    const q = await ownConnection();
    const me = os.userInfo().username;
    expect(await query(d.port, q)).toBe(USERID(q, me)); // caches one name
    expect(await hangUp(d)).toBe('edgeloop-identd: SIGHUP: 1 cached user name forgotten');
    expect(await query(d.port, q)).toBe(USERID(q, me));
  });
});

describe('SIGHUP and a user named after the daemon cached the uid', () => {
  needsRoot('runs a listener under a uid with no passwd entry (setpriv), then names that uid (useradd, userdel)');

  const NAME = 'edgeloop-hup';
  afterAll(async () => {
    // userdel refuses a user whose processes still run.
    await stopOwners();
    if (idOf('-u', NAME) !== null) execFileSync('userdel', [NAME], { stdio: 'pipe', timeout: 10000 });
  });

  it('answers the uid until SIGHUP, and the new name after it', async () => {
    if (idOf('-u', NAME) !== null) execFileSync('userdel', [NAME], { stdio: 'pipe', timeout: 10000 });
    ensureUser(BOB);
    const uid = unnamedUid();
    const conn = await namelessConnection(uid);
    const q = `${conn.serverPort}, ${conn.clientPort}`;
    const d = await startDaemon();
    const before = await query(d.port, q);
    execFileSync('useradd', ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', '--uid', String(uid), NAME], {
      stdio: 'pipe',
      timeout: 10000,
    });
    const cached = await query(d.port, q);
    await hangUp(d);
    const after = await query(d.port, q);
    expect({ before, cached, after }).toEqual({ before: USERID(q, String(uid)), cached: USERID(q, String(uid)), after: USERID(q, NAME) });
  });
});
