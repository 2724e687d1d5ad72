/**
 * Rule resolution (src/ident/rules.ts) and the run-time rules that consult
 * users' files (src/ident/policy.ts): which system rule a user gets, what
 * a user file may change within the powers granted, and how every kind of
 * bad user file falls back to the system rule with one reported problem.
 *
 * The IdentRules tests use a stand-in file reader on a real, attached
 * loop (for the timeout); one reads through the blocking pool and so
 * needs `npx tsc -p .` first (dist/ident/tasks.js).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { EventLoop } from '../src/event-loop';
import { native } from '../src/native';
import { Pending } from '../src/pending';
import { parseSystemConfig, type SystemConfig } from '../src/ident/config';
import { IdentRules } from '../src/ident/policy';
import { permits, RANDOM_ID_LENGTH, randomId, render, systemRule, type IdentAnswer, type RuleOwner } from '../src/ident/rules';
import type { UserFileRead } from '../src/ident/user-file';
import { later, runCleanups } from './cleanup';
import { within } from './waits';

afterEach(runCleanups);

const ALICE: RuleOwner = { uid: 1001, name: 'alice' };
const BOB: RuleOwner = { uid: 1002, name: 'bob' };
const HOME = '/home/alice/.edgeloop-identd.conf';

function config(text: string): SystemConfig {
  return parseSystemConfig(text, '/etc/identd.conf');
}

// ---------------------------------------------------------------------------
// systemRule
// ---------------------------------------------------------------------------

describe('systemRule', () => {
  it('without any rules answers by name and grants nothing', () => {
    expect(systemRule(config(''), ALICE.uid, ALICE.name)).toEqual({ label: 'default', answer: { type: 'name' }, powers: new Set() });
  });

  it('gives a user without a rule the default answer and powers', () => {
    const r = systemRule(config('default answer hide\ndefault allow random\nuser bob answer name\n'), ALICE.uid, ALICE.name);
    expect(r).toEqual({ label: 'default', answer: { type: 'hide' }, powers: new Set(['random']) });
  });

  it('finds a rule by user name', () => {
    expect(systemRule(config('user alice answer numeric\n'), ALICE.uid, ALICE.name).answer).toEqual({ type: 'numeric' });
  });

  it('finds a rule by uid', () => {
    expect(systemRule(config('user 1001 answer numeric\n'), ALICE.uid, ALICE.name).answer).toEqual({ type: 'numeric' });
  });

  it('finds a rule by uid for a uid with no name', () => {
    expect(systemRule(config('user 1001 answer hide\n'), 1001, null).answer).toEqual({ type: 'hide' });
  });

  it('prefers the uid rule to the name rule', () => {
    const r = systemRule(config('user alice answer hide\nuser 1001 answer random\n'), ALICE.uid, ALICE.name);
    expect({ label: r.label, answer: r.answer }).toEqual({ label: 'user 1001', answer: { type: 'random' } });
  });

  it('does not apply a name rule to another user', () => {
    expect(systemRule(config('user alice answer hide\n'), BOB.uid, BOB.name).label).toBe('default');
  });

  it('lets a user rule without an answer inherit the default answer', () => {
    expect(systemRule(config('default answer numeric\nuser alice allow hide\n'), ALICE.uid, ALICE.name).answer).toEqual({ type: 'numeric' });
  });

  it("adds a user rule's allows to the default's", () => {
    const r = systemRule(config('default allow hide\nuser alice allow reply\n'), ALICE.uid, ALICE.name);
    expect(r.powers).toEqual(new Set(['hide', 'reply']));
  });

  it("takes a user rule's denies from the default's powers", () => {
    const r = systemRule(config('default allow hide random\nuser alice deny random\n'), ALICE.uid, ALICE.name);
    expect(r.powers).toEqual(new Set(['hide']));
  });

  it('labels a name rule by the name', () => {
    expect(systemRule(config('user alice answer hide\n'), ALICE.uid, ALICE.name).label).toBe('user alice');
  });
});

describe('permits', () => {
  const rule = systemRule(config('default allow hide reply\n'), ALICE.uid, ALICE.name);

  it('permits an answer among the powers', () => {
    expect(permits(rule, { type: 'reply', userId: 'x' })).toBe(true);
  });

  it('refuses an answer outside the powers', () => {
    expect(permits(rule, { type: 'random' })).toBe(false);
  });

  it('refuses even the real name when name is not granted', () => {
    expect(permits(rule, { type: 'name' })).toBe(false);
  });
});

// ---------------------------------------------------------------------------
// render and randomId
// ---------------------------------------------------------------------------

describe('render', () => {
  it('name sends the user name', () => {
    expect(render({ type: 'name' }, ALICE, 'system')).toEqual({ userId: 'alice', action: 'name', source: 'system' });
  });

  it('name sends the uid when there is no name', () => {
    expect(render({ type: 'name' }, { uid: 4242, name: null }, 'system').userId).toBe('4242');
  });

  it('numeric sends the uid', () => {
    expect(render({ type: 'numeric' }, ALICE, 'user')).toEqual({ userId: '1001', action: 'numeric', source: 'user' });
  });

  it('hide sends no user id', () => {
    expect(render({ type: 'hide' }, ALICE, 'system').userId).toBeNull();
  });

  it('reply sends its text', () => {
    expect(render({ type: 'reply', userId: 'paul' }, ALICE, 'user').userId).toBe('paul');
  });

  it('random sends a random id, not the name', () => {
    const a = render({ type: 'random' }, ALICE, 'system');
    expect(a.userId).toMatch(new RegExp(`^[a-z2-7]{${RANDOM_ID_LENGTH}}$`));
  });
});

describe('randomId', () => {
  it(`is ${RANDOM_ID_LENGTH} lowercase base32 characters`, () => {
    expect(randomId()).toMatch(/^[a-z2-7]{16}$/);
  });

  it('differs on every call (200 calls, 80 bits each)', () => {
    expect(new Set(Array.from({ length: 200 }, randomId)).size).toBe(200);
  });

  it('uses the whole alphabet (the last 5-bit group too)', () => {
    const seen = new Set(Array.from({ length: 400 }, randomId).flatMap((id) => [...id]));
    expect(seen.size).toBe(32);
  });

  it('varies in its last character', () => {
    expect(new Set(Array.from({ length: 200 }, () => randomId().at(-1))).size).toBeGreaterThan(8);
  });
});

// ---------------------------------------------------------------------------
// IdentRules: the system rule and the user's file
// ---------------------------------------------------------------------------

/** An attached loop, closed after the test. */
function attachedLoop(): EventLoop {
  const loop = new EventLoop();
  loop.attach();
  later(() => loop.close());
  return loop;
}

/** Rules from `text` with a stand-in reader returning `read`; `reads` counts its calls, `problems` collects reports. */
function rulesWith(text: string, read: UserFileRead | (() => Pending<UserFileRead>), timeoutMs?: number) {
  const problems: string[] = [];
  const reads: number[] = [];
  const rules = new IdentRules(config(text), {
    onProblem: (e) => problems.push(e.message),
    readUserFile: (uid) => {
      reads.push(uid);
      return typeof read === 'function' ? read() : Pending.resolved(read);
    },
    userFileTimeoutMs: timeoutMs,
  });
  return { rules, problems, reads };
}

function file(text: string): UserFileRead {
  return { status: 'read', file: HOME, data: Buffer.from(text) };
}

async function answer(rules: IdentRules, owner: RuleOwner, loop: EventLoop): Promise<IdentAnswer> {
  return within(Promise.resolve(rules.answer(owner, loop)), 5000, 'the answer');
}

describe('IdentRules', () => {
  it('does not read the file of a user granted no powers', async () => {
    const { rules, reads } = rulesWith('default answer numeric\n', file('answer hide\n'));
    await answer(rules, ALICE, attachedLoop());
    expect(reads).toEqual([]);
  });

  it('answers by the system rule for a user granted no powers', async () => {
    const { rules } = rulesWith('default answer numeric\n', file('answer hide\n'));
    expect(await answer(rules, ALICE, attachedLoop())).toEqual({ userId: '1001', action: 'numeric', source: 'system' });
  });

  it("reads the owner's file (by uid) when the rule grants a power", async () => {
    const { rules, reads } = rulesWith('user alice allow hide\n', { status: 'none' });
    await answer(rules, ALICE, attachedLoop());
    expect(reads).toEqual([ALICE.uid]);
  });

  it('answers as the file says when the power is granted', async () => {
    const { rules } = rulesWith('user alice allow hide\n', file('answer hide\n'));
    expect(await answer(rules, ALICE, attachedLoop())).toEqual({ userId: null, action: 'hide', source: 'user' });
  });

  it('answers with the file reply when reply is granted', async () => {
    const { rules } = rulesWith('default allow reply\n', file('answer reply paul\n'));
    expect((await answer(rules, ALICE, attachedLoop())).userId).toBe('paul');
  });

  it('answers by the system rule when the user has no file, reporting nothing', async () => {
    const { rules, problems } = rulesWith('default answer numeric\ndefault allow hide\n', { status: 'none' });
    const a = await answer(rules, ALICE, attachedLoop());
    expect({ a, problems }).toEqual({ a: { userId: '1001', action: 'numeric', source: 'system' }, problems: [] });
  });

  it('answers by the system rule when the file has no answer line, reporting nothing', async () => {
    const { rules, problems } = rulesWith('default allow hide\n', file('# undecided\n'));
    const a = await answer(rules, ALICE, attachedLoop());
    expect({ source: a.source, problems }).toEqual({ source: 'system', problems: [] });
  });

  it('answers by the system rule when the file chooses an answer not granted', async () => {
    const { rules } = rulesWith('default answer numeric\nuser alice allow hide\n', file('answer random\n'));
    expect(await answer(rules, ALICE, attachedLoop())).toEqual({ userId: '1001', action: 'numeric', source: 'system' });
  });

  it('reports an answer not granted with file:line, the rule and its powers', async () => {
    const { rules, problems } = rulesWith('user alice allow hide numeric\n', file('\nanswer random\n'));
    await answer(rules, ALICE, attachedLoop());
    expect(problems).toEqual([
      `${HOME}:2: 'random' is not allowed by 'user alice' (allowed: hide, numeric); answering by the system rule 'user alice'`,
    ]);
  });

  it('denies a power the default grants when the user rule denies it', async () => {
    const { rules } = rulesWith('default allow hide random\nuser alice deny random\n', file('answer random\n'));
    expect((await answer(rules, ALICE, attachedLoop())).source).toBe('system');
  });

  it('answers by the system rule and reports file:line for an invalid file', async () => {
    const { rules, problems } = rulesWith('default allow hide\n', file('answer hide\nanswer name\n'));
    const a = await answer(rules, ALICE, attachedLoop());
    expect({ source: a.source, problems }).toEqual({
      source: 'system',
      problems: [`${HOME}:2: a second answer; the first is on line 1; answering by the system rule 'default'`],
    });
  });

  it('answers by the system rule and reports why for a refused file', async () => {
    const { rules, problems } = rulesWith('default allow hide\n', { status: 'refused', file: HOME, reason: 'is a symbolic link' });
    const a = await answer(rules, ALICE, attachedLoop());
    expect({ source: a.source, problems }).toEqual({
      source: 'system',
      problems: [`${HOME}: is a symbolic link; answering by the system rule 'default'`],
    });
  });

  it('answers by the system rule and reports the error when the read fails', async () => {
    const { rules, problems } = rulesWith('default allow hide\n', () => Pending.rejected(new Error('getpwuid_r: EIO')));
    const a = await answer(rules, ALICE, attachedLoop());
    expect({ source: a.source, problems }).toEqual({
      source: 'system',
      problems: ["cannot read the ident file of uid 1001 (getpwuid_r: EIO); answering by the system rule 'default'"],
    });
  });

  it('answers by the system rule when the read does not finish in time', async () => {
    const { rules, problems } = rulesWith('default allow hide\n', () => new Pending<UserFileRead>(), 50);
    const a = await answer(rules, ALICE, attachedLoop());
    expect({ source: a.source, problems }).toEqual({
      source: 'system',
      problems: ["cannot read the ident file of uid 1001 (no result within 50 ms); answering by the system rule 'default'"],
    });
  });

  it('ignores a read that finishes after its timeout', async () => {
    const late = new Pending<UserFileRead>();
    const { rules } = rulesWith('default allow hide\n', () => late, 20);
    const a = await answer(rules, ALICE, attachedLoop());
    late.resolve(file('answer hide\n'));
    expect(a.source).toBe('system');
  });

  it('uses a new config assigned to it for the next answer', async () => {
    const loop = attachedLoop();
    const { rules } = rulesWith('default answer name\n', { status: 'none' });
    rules.config = config('user alice answer numeric\n');
    expect((await answer(rules, ALICE, loop)).userId).toBe('1001');
  });

  it('reads through the blocking pool by default (a uid without a passwd entry: no file, no problem)', async () => {
    const loop = attachedLoop();
    // Every worker loaded before the loop closes after the test.
    await within(loop.prepareBlocking(), 15000, 'the blocking pool');
    let uid = 54321;
    while (native.getpwuidName(uid) !== null) uid++;
    const problems: string[] = [];
    const rules = new IdentRules(config('default answer numeric\ndefault allow hide\n'), { onProblem: (e) => problems.push(e.message) });
    const a = await answer(rules, { uid, name: null }, loop);
    expect({ a, problems }).toEqual({ a: { userId: String(uid), action: 'numeric', source: 'system' }, problems: [] });
  });
});
