/**
 * Conditions that both layers detect raise the same error from either one.
 *
 * src/poll.ts checks its arguments and its own closed state before it calls
 * the addon, so the addon's checks (native/poll.cc) are only reached by code
 * that holds the native object: the EventLoop, the Waker, the Pump. Each test
 * here takes the native Poll from `poll.native`, makes the condition happen
 * on it directly, and compares what it throws with what the TypeScript layer
 * throws for the same condition: the class and `code` always, the message
 * too where it names no value (the closed-poll error).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Events, Interest, Poll, PollOpt, UnixStream } from '../src/index';
import { native, type NativePoll } from '../src/native';

type Thrown = Error & { code?: string };

/** What `fn` throws; fails the test when it returns. */
function thrown(fn: () => unknown): Thrown {
  try {
    fn();
  } catch (err) {
    return err as Thrown;
  }
  return expect.unreachable('nothing was thrown');
}

const opened: { close(): void }[] = [];
function own<T extends { close(): void }>(thing: T): T {
  opened.push(thing);
  return thing;
}
afterEach(() => {
  for (const thing of opened.splice(0).reverse()) thing.close();
});

/** An open socket's fd, for calls that must get past the fd check. */
function liveFd(): number {
  const [a, b] = UnixStream.pair();
  own(b);
  return own(a).fd;
}

const READABLE = Interest.READABLE;
const LEVEL = PollOpt.LEVEL;

describe('a closed poll', () => {
  type Call = (handle: NativePoll, fd: number) => unknown;
  type Public = (poll: Poll, fd: number) => unknown;
  // Each native method that checks for a closed poll, with the public call
  // that reaches it (attach is reached through `poll.native`).
  const cases: [string, Call, Public][] = [
    ['register', (h, fd) => h.register(fd, 1, READABLE, LEVEL), (p, fd) => p.register(fd, 1, READABLE)],
    ['reregister', (h, fd) => h.reregister(fd, 1, READABLE, LEVEL), (p, fd) => p.reregister(fd, 1, READABLE)],
    ['deregister', (h, fd) => h.deregister(fd), (p, fd) => p.deregister(fd)],
    ['wait', (h) => h.wait(new Uint32Array(2), 0), (p) => p.poll(new Events(1), 0)],
    ['attach', (h) => h.attach(() => {}, {}), (p) => p.native.attach(() => {}, {})],
  ];

  /** The native handle of a Poll that was then closed. */
  function closedHandle(): { poll: Poll; handle: NativePoll } {
    const poll = new Poll();
    const handle = poll.native;
    poll.close();
    return { poll, handle };
  }

  it('native fd() of a closed poll is -EBADF, not 0 (the fd of stdin)', () => {
    const { handle } = closedHandle();
    const fd = handle.fd();
    expect(fd).toBeLessThan(0);
    expect(native.errnoName(-fd)).toBe('EBADF');
  });

  it.each(cases)('native %s throws TypeError with code ERR_POLL_CLOSED', (_name, call) => {
    const { handle } = closedHandle();
    const err = thrown(() => call(handle, liveFd()));
    expect(err).toBeInstanceOf(TypeError);
    expect(err.code).toBe('ERR_POLL_CLOSED');
  });

  it.each(cases)('native %s throws the class, code and message the Poll throws', (_name, call, viaPoll) => {
    const { poll, handle } = closedHandle();
    const fd = liveFd();
    const fromNative = thrown(() => call(handle, fd));
    const fromPoll = thrown(() => viaPoll(poll, fd));
    expect([fromNative.constructor, fromNative.code, fromNative.message]).toEqual([
      fromPoll.constructor,
      fromPoll.code,
      fromPoll.message,
    ]);
  });
});

describe('bad arguments both layers reject', () => {
  type Call = (handle: NativePoll, fd: number) => unknown;
  type Public = (poll: Poll, fd: number) => unknown;
  const cases: [string, Call, Public][] = [
    ['an empty interest', (h, fd) => h.register(fd, 1, 0, LEVEL), (p, fd) => p.register(fd, 1, 0)],
    ['unknown interest bits', (h, fd) => h.register(fd, 1, 8, LEVEL), (p, fd) => p.register(fd, 1, 8)],
    ['a token past 2**32-1', (h, fd) => h.register(fd, 2 ** 32, READABLE, LEVEL), (p, fd) => p.register(fd, 2 ** 32, READABLE)],
    [
      'a token that is not a number',
      (h, fd) => h.register(fd, '1' as unknown as number, READABLE, LEVEL),
      (p, fd) => p.register(fd, '1' as unknown as number, READABLE),
    ],
    ['an fd past int32', (h) => h.register(2 ** 31, 1, READABLE, LEVEL), (p) => p.register(2 ** 31, 1, READABLE)],
    ['a timeout below -1', (h) => h.wait(new Uint32Array(2), -2), (p) => p.poll(new Events(1), -2)],
  ];

  it.each(cases)('%s: the native check throws the class and code the Poll throws', (_name, call, viaPoll) => {
    const poll = own(new Poll());
    const fd = liveFd();
    const fromNative = thrown(() => call(poll.native, fd));
    const fromPoll = thrown(() => viaPoll(poll, fd));
    expect([fromNative.constructor, fromNative.code]).toEqual([fromPoll.constructor, fromPoll.code]);
  });
});
