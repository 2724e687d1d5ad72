/**
 * Loop state errors carry stable codes: ERR_LOOP_CLOSED (TypeError) once
 * closed, ERR_LOOP_RUNNING / ERR_LOOP_ATTACHED (Error) when a driver is
 * asked for while another drives the loop. And Connection.close(error)
 * hands its error to onClose.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { EventLoop, Interest } from '../src/index';
import { newLoop } from './event-loop-util';
import { own, runCleanups } from './cleanup';
import { tcpPair } from './util';

afterEach(runCleanups);

/** What `fn` throws, as class name and code. */
function thrown(fn: () => unknown): { name: string; code: unknown } {
  try {
    fn();
  } catch (err) {
    return { name: (err as Error).constructor.name, code: (err as { code?: unknown }).code };
  }
  throw new Error('expected a throw');
}

const CLOSED = { name: 'TypeError', code: 'ERR_LOOP_CLOSED' };

describe('EventLoop state errors', () => {
  it.each([
    ['listen', (l: EventLoop) => l.listen('127.0.0.1:0', () => ({}))],
    ['adopt', (l: EventLoop) => l.adopt(own(tcpPair().server), {})],
    ['register', (l: EventLoop) => l.register(0, { onReady: () => undefined }, Interest.READABLE)],
    ['setTimeout', (l: EventLoop) => l.setTimeout(() => undefined, 1)],
    ['setInterval', (l: EventLoop) => l.setInterval(() => undefined, 1)],
    ['spawnBlocking', (l: EventLoop) => l.spawnBlocking(() => 1, null)],
    ['run', (l: EventLoop) => l.run()],
    ['turn', (l: EventLoop) => l.turn(0)],
    ['attach', (l: EventLoop) => l.attach()],
  ])('%s() on a closed loop throws TypeError ERR_LOOP_CLOSED', (_name, call) => {
    const loop = new EventLoop();
    loop.close();
    expect(thrown(() => call(loop))).toEqual(CLOSED);
  });

  it('run() from inside run() throws Error ERR_LOOP_RUNNING', () => {
    const loop = newLoop();
    let inner: { name: string; code: unknown } | null = null;
    loop.setTimeout(() => {
      inner = thrown(() => loop.run());
      loop.stop();
    }, 0);
    loop.run();
    expect(inner).toEqual({ name: 'Error', code: 'ERR_LOOP_RUNNING' });
  });

  it('turn() from inside run() throws Error ERR_LOOP_RUNNING', () => {
    const loop = newLoop();
    let inner: { name: string; code: unknown } | null = null;
    loop.setTimeout(() => {
      inner = thrown(() => loop.turn(0));
      loop.stop();
    }, 0);
    loop.run();
    expect(inner).toEqual({ name: 'Error', code: 'ERR_LOOP_RUNNING' });
  });

  it('run() on an attached loop throws Error ERR_LOOP_ATTACHED', () => {
    const loop = newLoop();
    loop.attach();
    try {
      expect(thrown(() => loop.run())).toEqual({ name: 'Error', code: 'ERR_LOOP_ATTACHED' });
    } finally {
      loop.detach();
    }
  });
});

describe('Connection.close(error)', () => {
  it('passes the error to onClose', () => {
    const loop = newLoop();
    const { client, server } = tcpPair();
    own(client);
    const seen: Array<Error | undefined> = [];
    const conn = loop.adopt(own(server), { onClose: (_c, err) => seen.push(err) });
    const reason = new Error('protocol violation');
    conn.close(reason);
    conn.close(new Error('second close is ignored'));
    expect(seen).toEqual([reason]);
  });

  it('without an error calls onClose with none', () => {
    const loop = newLoop();
    const { client, server } = tcpPair();
    own(client);
    const seen: Array<Error | undefined> = [];
    const conn = loop.adopt(own(server), { onClose: (_c, err) => seen.push(err) });
    conn.close();
    expect(seen).toEqual([undefined]);
  });
});
