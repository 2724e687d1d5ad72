/**
 * createIdentServer's `rules` option (src/ident/server.ts): where rules
 * sit in the reply path next to hiddenUsers, fixedReply, failReply,
 * opsys/charset and unknownErrorOnly, and what onQuery learns.
 *
 * The connections asked about belong to this test process, so their owner
 * is whoever runs the tests: no root needed. Needs `npx tsc -p .` first
 * (the lookup's worker tasks load from dist/ident/tasks.js).
 */
import * as os from 'node:os';
import { afterEach, describe, expect, it } from 'vitest';
import { Pending } from '../src/pending';
import type { AnswerRules, IdentAnswer, RuleOwner } from '../src/ident/rules';
import { createIdentServer, type IdentLogEntry, type IdentServerOptions } from '../src/ident/server';
import { later, runCleanups } from './cleanup';
import { ownConnection } from './ident-owners';
import { NetClient } from './net-client';
import { within } from './waits';

afterEach(runCleanups, 20000);

const ME = { uid: process.getuid?.() ?? 0, name: os.userInfo().username };

/** An attached server on 127.0.0.1 (port 0), closed after the test once its workers loaded. */
async function startServer(options: IdentServerOptions): Promise<number> {
  const server = createIdentServer({ addresses: ['127.0.0.1'], port: 0, ...options });
  server.loop.attach();
  later(() => server.close());
  // Closing the pool while a worker still loads would abort the process.
  await within(server.prepare(), 15000, 'the lookup workers');
  return server.addresses[0].port;
}


async function ask(port: number, query: string): Promise<string> {
  const c = await NetClient.connect(port);
  c.write(`${query}\r\n`);
  const [reply] = await c.lines(1);
  c.destroy();
  return reply;
}

/** Rules that always give `answer` and remember who they were asked about. */
function fixed(answer: IdentAnswer | (() => IdentAnswer | Pending<IdentAnswer>)): AnswerRules & { asked: RuleOwner[] } {
  const asked: RuleOwner[] = [];
  return {
    asked,
    answer(owner) {
      asked.push(owner);
      return typeof answer === 'function' ? answer() : answer;
    },
  };
}

const RANDOM: IdentAnswer = { userId: 'k2j4h5g6f7d8s9a2', action: 'random', source: 'system' };
const HIDDEN: IdentAnswer = { userId: null, action: 'hide', source: 'user' };

describe('the rules option', () => {
  it("sends the rules' user id", async () => {
    const port = await startServer({ rules: fixed(RANDOM) });
    const q = await ownConnection();
    expect(await ask(port, q)).toBe(`${q} : USERID : UNIX : k2j4h5g6f7d8s9a2`);
  });

  it('sends HIDDEN-USER when the rules give no user id', async () => {
    const port = await startServer({ rules: fixed(HIDDEN) });
    const q = await ownConnection();
    expect(await ask(port, q)).toBe(`${q} : ERROR : HIDDEN-USER`);
  });

  it('asks the rules with the owner uid and name', async () => {
    const rules = fixed(RANDOM);
    const port = await startServer({ rules });
    await ask(port, await ownConnection());
    expect(rules.asked).toEqual([ME]);
  });

  it('waits for rules that answer later', async () => {
    const port = await startServer({ rules: fixed(() => Pending.resolved(RANDOM)) });
    const q = await ownConnection();
    expect(await ask(port, q)).toBe(`${q} : USERID : UNIX : k2j4h5g6f7d8s9a2`);
  });

  it('writes opsys and charset into answers from rules', async () => {
    const port = await startServer({ rules: fixed(RANDOM), opsys: 'OTHER', charset: 'UTF-8' });
    const q = await ownConnection();
    expect(await ask(port, q)).toBe(`${q} : USERID : OTHER,UTF-8 : k2j4h5g6f7d8s9a2`);
  });

  it('lets hiddenUsers hide a user before the rules are asked', async () => {
    const rules = fixed(RANDOM);
    const port = await startServer({ rules, hiddenUsers: [ME.name] });
    const q = await ownConnection();
    expect({ reply: await ask(port, q), asked: rules.asked }).toEqual({ reply: `${q} : ERROR : HIDDEN-USER`, asked: [] });
  });

  it('does not ask the rules with fixedReply', async () => {
    const rules = fixed(RANDOM);
    const port = await startServer({ rules, fixedReply: 'everyone' });
    const q = await ownConnection();
    expect({ reply: await ask(port, q), asked: rules.asked }).toEqual({ reply: `${q} : USERID : UNIX : everyone`, asked: [] });
  });

  it('does not ask the rules when there is no owner', async () => {
    const rules = fixed(RANDOM);
    const port = await startServer({ rules });
    expect({ reply: await ask(port, '1, 2'), asked: rules.asked }).toEqual({ reply: '1, 2 : ERROR : NO-USER', asked: [] });
  });

  it('turns HIDDEN-USER from rules into UNKNOWN-ERROR with unknownErrorOnly', async () => {
    const port = await startServer({ rules: fixed(HIDDEN), unknownErrorOnly: true });
    const q = await ownConnection();
    expect(await ask(port, q)).toBe(`${q} : ERROR : UNKNOWN-ERROR`);
  });

  it('answers UNKNOWN-ERROR for the query when the rules throw, and reports the error', async () => {
    const errors: string[] = [];
    const rules = fixed(() => {
      throw new Error('rules broke');
    });
    const port = await startServer({ rules, onError: (e) => errors.push(e.message) });
    const q = await ownConnection();
    expect({ reply: await ask(port, q), errors }).toEqual({ reply: `${q} : ERROR : UNKNOWN-ERROR`, errors: ['rules broke'] });
  });

  it('answers UNKNOWN-ERROR when the rules reject', async () => {
    const port = await startServer({ rules: fixed(() => Pending.rejected(new Error('later'))), onError: () => {} });
    const q = await ownConnection();
    expect(await ask(port, q)).toBe(`${q} : ERROR : UNKNOWN-ERROR`);
  });

  it('gives onQuery the owner and the answer when rules answered', async () => {
    const log: IdentLogEntry[] = [];
    const port = await startServer({ rules: fixed(RANDOM), onQuery: (e) => log.push(e) });
    await ask(port, await ownConnection());
    expect(log.map((e) => e.owner)).toEqual([{ ...ME, answer: RANDOM }]);
  });

  it('gives onQuery no owner without rules', async () => {
    const log: IdentLogEntry[] = [];
    const port = await startServer({ onQuery: (e) => log.push(e) });
    await ask(port, await ownConnection());
    expect(log.map((e) => 'owner' in e)).toEqual([false]);
  });
});
