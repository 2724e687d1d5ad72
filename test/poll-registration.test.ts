/**
 * docs/POLL-SEMANTICS.md rules 1-8: registration, reregistration, deregistration.
 */
import { afterEach, describe, expect, it } from 'vitest';
import {
  Events,
  Interest,
  MAX_TOKEN,
  PollOpt,
  TcpStream,
  WOULD_BLOCK,
  Waker,
  backend,
} from '../src/index';
import { own, runCleanups } from './cleanup';
import { expectSysError, newPoll, pair, pollOnce, tokensNow, waitTokenEvents } from './poll-fixtures';
import { drain, expectEvents, expectNoEvents, localListener } from './util';

afterEach(runCleanups);

const R = Interest.READABLE;
const W = Interest.WRITABLE;
const RW = Interest.READABLE | Interest.WRITABLE;

// ---------------------------------------------------------------------------
// Rule 1: interest sets
// ---------------------------------------------------------------------------

describe('rule 1: interest is a non-empty set of READABLE, WRITABLE (PRIORITY on Linux)', () => {
  it('rule 1: an empty interest set is rejected by register with RangeError', () => {
    const poll = newPoll();
    const { server } = pair();
    expect(() => poll.register(server, 1, 0)).toThrow(RangeError);
  });

  it('rule 1: an empty interest set is rejected by reregister with RangeError', () => {
    const poll = newPoll();
    const { server } = pair();
    poll.register(server, 1, R);
    expect(() => poll.reregister(server, 1, 0)).toThrow(RangeError);
  });

  it('rule 1: interest bits outside READABLE|WRITABLE|PRIORITY are rejected', () => {
    const poll = newPoll();
    const { server } = pair();
    expect(() => poll.register(server, 1, 8)).toThrow(RangeError);
    expect(() => poll.register(server, 1, R | 16)).toThrow(RangeError);
    expect(() => poll.register(server, 1, -1)).toThrow(RangeError);
  });

  it('rule 1: a non-integer interest is rejected with TypeError', () => {
    const poll = newPoll();
    const { server } = pair();
    expect(() => poll.register(server, 1, 1.5)).toThrow(TypeError);
    expect(() => poll.register(server, 1, NaN)).toThrow(TypeError);
  });

  it('rule 1: a rejected interest leaves nothing registered', () => {
    const poll = newPoll();
    const { server } = pair();
    expect(() => poll.register(server, 1, 0)).toThrow(RangeError);
    // Had the bad call half-registered the fd, this would fail with EEXIST.
    poll.register(server, 1, R);
    // ...and a reregister on a never-registered fd after a rejected one is ENOENT.
    const other = pair().server;
    expect(() => poll.register(other, 2, 0)).toThrow(RangeError);
    expectSysError(() => poll.reregister(other, 2, R), 'ENOENT');
  });

  it('rule 1: READABLE, WRITABLE and READABLE|WRITABLE are each accepted', () => {
    const poll = newPoll();
    const a = pair();
    const b = pair();
    poll.register(a.client, 1, R);
    poll.register(a.server, 2, W);
    poll.register(b.client, 3, RW);
    // WRITABLE and READABLE|WRITABLE registrations of idle connected streams report writable.
    expectEvents(poll, new Events(8), [
      { token: 2, writable: true },
      { token: 3, writable: true },
    ]);
  });

  it('rule 1: PRIORITY is accepted on epoll and rejected with RangeError on kqueue', () => {
    const poll = newPoll();
    const { server } = pair();
    if (backend === 'epoll') {
      poll.register(server, 1, Interest.PRIORITY);
      poll.reregister(server, 1, Interest.PRIORITY | R);
      // No out-of-band data and nothing to read: a PRIORITY|READABLE idle stream is silent.
      expectNoEvents(poll, new Events(8));
    } else {
      expect(() => poll.register(server, 1, Interest.PRIORITY)).toThrow(RangeError);
    }
  });
});

// ---------------------------------------------------------------------------
// Rule 2: options
// ---------------------------------------------------------------------------

describe('rule 2: no option means LEVEL; EDGE|ONESHOT and LEVEL|ONESHOT are valid', () => {
  it('rule 2: omitting opts registers level-triggered (event repeats while data is unread)', () => {
    const poll = newPoll();
    const events = new Events(8);
    const { client, server } = pair();
    poll.register(server, 5, R);
    client.write(Buffer.from('abc'));
    for (let i = 0; i < 3; i++) {
      expect(waitTokenEvents(poll, events, 5)).toHaveLength(1);
    }
  });

  it('rule 2: omitting opts on reregister switches an EDGE registration to LEVEL', () => {
    const poll = newPoll();
    const events = new Events(8);
    const { client, server } = pair();
    poll.register(server, 5, R, PollOpt.EDGE);
    poll.reregister(server, 5, R);
    client.write(Buffer.from('abc'));
    waitTokenEvents(poll, events, 5);
    waitTokenEvents(poll, events, 5);
    waitTokenEvents(poll, events, 5);
  });

  it('rule 2: EDGE|ONESHOT is accepted by register and reregister', () => {
    const poll = newPoll();
    const { server } = pair();
    poll.register(server, 1, R, PollOpt.EDGE | PollOpt.ONESHOT);
    poll.reregister(server, 1, R, PollOpt.EDGE | PollOpt.ONESHOT);
  });

  it('rule 2: LEVEL|ONESHOT is accepted by register and reregister', () => {
    const poll = newPoll();
    const { server } = pair();
    poll.register(server, 1, R, PollOpt.LEVEL | PollOpt.ONESHOT);
    poll.reregister(server, 1, R, PollOpt.LEVEL | PollOpt.ONESHOT);
  });

  it('rule 2: ONESHOT alone is accepted (level oneshot)', () => {
    const poll = newPoll();
    const events = new Events(8);
    const { client, server } = pair();
    poll.register(server, 1, R, PollOpt.ONESHOT);
    client.write(Buffer.from('x'));
    waitTokenEvents(poll, events, 1);
    // Oneshot: the unread byte does not report again.
    expectNoEvents(poll, events);
  });

  it('rule 2: EDGE|LEVEL together is rejected with RangeError', () => {
    const poll = newPoll();
    const { server } = pair();
    expect(() => poll.register(server, 1, R, PollOpt.EDGE | PollOpt.LEVEL)).toThrow(RangeError);
    poll.register(server, 1, R);
    expect(() => poll.reregister(server, 1, R, PollOpt.EDGE | PollOpt.LEVEL)).toThrow(RangeError);
  });

  it('rule 2: unknown option bits are rejected with RangeError', () => {
    const poll = newPoll();
    const { server } = pair();
    expect(() => poll.register(server, 1, R, 8)).toThrow(RangeError);
    expect(() => poll.register(server, 1, R, -1)).toThrow(RangeError);
  });
});

// ---------------------------------------------------------------------------
// Rule 3: double registration
// ---------------------------------------------------------------------------

describe('rule 3: registering the same fd twice on one Poll fails with EEXIST', () => {
  it('rule 3: registering the same socket twice fails with EEXIST', () => {
    const poll = newPoll();
    const { server } = pair();
    poll.register(server, 0, R, PollOpt.EDGE);
    expectSysError(() => poll.register(server, 1, R, PollOpt.EDGE), 'EEXIST');
  });

  it('rule 3: a second register with different token, interest and options still fails with EEXIST', () => {
    const poll = newPoll();
    const { server } = pair();
    poll.register(server, 0, R);
    expectSysError(() => poll.register(server, 9, W, PollOpt.EDGE | PollOpt.ONESHOT), 'EEXIST');
  });

  it('rule 3: registering a listener twice fails with EEXIST (mio test_double_register)', () => {
    const poll = newPoll();
    const { listener } = localListener();
    own(listener);
    poll.register(listener, 0, R, PollOpt.EDGE);
    expectSysError(() => poll.register(listener, 1, R, PollOpt.EDGE), 'EEXIST');
  });

  it('rule 3: the socket object and its raw fd number are the same registration (EEXIST)', () => {
    const poll = newPoll();
    const { server } = pair();
    poll.register(server, 0, R);
    expectSysError(() => poll.register(server.fd, 1, R), 'EEXIST');
  });

  it('rule 3: the failed second register leaves the first registration intact', () => {
    const poll = newPoll();
    const events = new Events(8);
    const { client, server } = pair();
    poll.register(server, 3, R);
    expectSysError(() => poll.register(server, 4, W), 'EEXIST');
    client.write(Buffer.from('x'));
    const hits = waitTokenEvents(poll, events, 3);
    // Still READABLE-only under token 3: no writable flag, and token 4 never appears.
    expect(hits[0].readiness & W).toBe(0);
    expect(tokensNow(poll, events)).not.toContain(4);
  });

  it('rule 3: the same fd may be registered once on each of two Polls', () => {
    const a = newPoll();
    const b = newPoll();
    const { client, server } = pair();
    a.register(server, 1, R);
    b.register(server, 2, R);
    client.write(Buffer.from('x'));
    expectEvents(a, new Events(8), [{ token: 1, readable: true }]);
    expectEvents(b, new Events(8), [{ token: 2, readable: true }]);
  });
});

// ---------------------------------------------------------------------------
// Rule 4: reregister/deregister of an unregistered fd
// ---------------------------------------------------------------------------

describe('rule 4: reregister or deregister of an unregistered fd fails with ENOENT', () => {
  it('rule 4: reregister of a never-registered socket fails with ENOENT', () => {
    const poll = newPoll();
    const { server } = pair();
    expectSysError(() => poll.reregister(server, 1, R), 'ENOENT');
  });

  it('rule 4: deregister of a never-registered socket fails with ENOENT', () => {
    const poll = newPoll();
    const { server } = pair();
    expectSysError(() => poll.deregister(server), 'ENOENT');
  });

  it('rule 4: a second deregister fails with ENOENT', () => {
    const poll = newPoll();
    const { server } = pair();
    poll.register(server, 1, R);
    poll.deregister(server);
    expectSysError(() => poll.deregister(server), 'ENOENT');
  });

  it('rule 4: reregister after deregister fails with ENOENT', () => {
    const poll = newPoll();
    const { server } = pair();
    poll.register(server, 1, R);
    poll.deregister(server);
    expectSysError(() => poll.reregister(server, 1, R), 'ENOENT');
  });

  it('rule 4: a registration on another Poll does not count (ENOENT)', () => {
    const a = newPoll();
    const b = newPoll();
    const { server } = pair();
    a.register(server, 1, R);
    expectSysError(() => b.reregister(server, 1, R), 'ENOENT');
    expectSysError(() => b.deregister(server), 'ENOENT');
    // ...and the failed calls on b left a's registration alone.
    a.reregister(server, 2, R);
    a.deregister(server);
  });

  it('rule 4: raw fd numbers get ENOENT too', () => {
    const poll = newPoll();
    const { server } = pair();
    expectSysError(() => poll.reregister(server.fd, 1, R), 'ENOENT');
    expectSysError(() => poll.deregister(server.fd), 'ENOENT');
  });
});

// ---------------------------------------------------------------------------
// Rule 5: reregister replaces token, interest and options
// ---------------------------------------------------------------------------

describe('rule 5: reregister fully replaces token, interest and options', () => {
  it('rule 5: reregister replaces the token (old token never reported again)', () => {
    const poll = newPoll();
    const events = new Events(8);
    const { client, server } = pair();
    poll.register(server, 10, R);
    poll.reregister(server, 11, R);
    client.write(Buffer.from('x'));
    waitTokenEvents(poll, events, 11);
    for (let i = 0; i < 3; i++) expect(tokensNow(poll, events)).not.toContain(10);
  });

  it('rule 5: reregister replaces READABLE interest with WRITABLE (no readable flag for pending data)', () => {
    const poll = newPoll();
    const events = new Events(8);
    const { client, server } = pair();
    poll.register(server, 1, R);
    client.write(Buffer.from('pending'));
    waitTokenEvents(poll, events, 1);
    poll.reregister(server, 1, W);
    for (let i = 0; i < 3; i++) {
      const hits = waitTokenEvents(poll, events, 1);
      expect(hits[0].readiness & Interest.WRITABLE).not.toBe(0);
      expect(hits[0].readiness & Interest.READABLE).toBe(0);
    }
  });

  it('rule 5: reregister replaces WRITABLE interest with READABLE (idle stream goes silent)', () => {
    const poll = newPoll();
    const events = new Events(8);
    const { server } = pair();
    poll.register(server, 1, W);
    waitTokenEvents(poll, events, 1);
    poll.reregister(server, 1, R);
    expectNoEvents(poll, events);
  });

  it('rule 5: reregister replaces LEVEL with EDGE (no repeat after the first event)', () => {
    const poll = newPoll();
    const events = new Events(8);
    const { client, server } = pair();
    poll.register(server, 1, R);
    poll.reregister(server, 1, R, PollOpt.EDGE);
    client.write(Buffer.from('abc'));
    waitTokenEvents(poll, events, 1);
    expectNoEvents(poll, events);
  });

  it('rule 5: reregister replaces ONESHOT with plain LEVEL (stays armed)', () => {
    const poll = newPoll();
    const events = new Events(8);
    const { client, server } = pair();
    poll.register(server, 1, R, PollOpt.ONESHOT);
    poll.reregister(server, 1, R, PollOpt.LEVEL);
    client.write(Buffer.from('abc'));
    waitTokenEvents(poll, events, 1);
    waitTokenEvents(poll, events, 1);
    waitTokenEvents(poll, events, 1);
  });

  it('rule 5: reregister replaces EDGE with LEVEL|ONESHOT', () => {
    const poll = newPoll();
    const events = new Events(8);
    const { client, server } = pair();
    poll.register(server, 1, R, PollOpt.EDGE);
    poll.reregister(server, 1, R, PollOpt.LEVEL | PollOpt.ONESHOT);
    client.write(Buffer.from('abc'));
    waitTokenEvents(poll, events, 1);
    expectNoEvents(poll, events);
  });

  it('rule 5: reregistering a listener to WRITABLE before polling hides the pending connection (mio test_reregister_without_poll)', () => {
    const poll = newPoll();
    const events = new Events(16);
    const { listener, address } = localListener();
    own(listener);
    poll.register(listener, 0, R);
    const s1 = own(TcpStream.connect(address));
    poll.register(s1, 2, R);
    // Make sure the connection is queued on the listener before reregistering,
    // checked on a separate Poll so that `poll` itself is never polled.
    const probe = newPoll();
    probe.register(listener, 0, R);
    expectEvents(probe, new Events(4), [{ token: 0, readable: true }]);
    probe.deregister(listener);

    poll.reregister(listener, 0, W);
    poll.poll(events, 300);
    const seen = [];
    for (let i = 0; i < events.length; i++) seen.push({ token: events.token(i), readiness: events.readiness(i) });
    expect(seen).toEqual([]);
  });
});

// ---------------------------------------------------------------------------
// Rule 6: reregister of a ready fd reports it once
// ---------------------------------------------------------------------------

describe('rule 6: reregistering a ready fd yields one event on the next poll', () => {
  it('rule 6: EDGE: after the edge was consumed, reregister reports the still-ready fd once', () => {
    const poll = newPoll();
    const events = new Events(8);
    const { client, server } = pair();
    poll.register(server, 1, R, PollOpt.EDGE);
    client.write(Buffer.from('abc'));
    waitTokenEvents(poll, events, 1);
    expectNoEvents(poll, events);
    poll.reregister(server, 1, R, PollOpt.EDGE);
    const hits = waitTokenEvents(poll, events, 1);
    expect(hits).toHaveLength(1);
    expect(hits[0].readiness & Interest.READABLE).not.toBe(0);
    expectNoEvents(poll, events);
  });

  it('rule 6: EDGE|ONESHOT: reregister reports the still-ready fd once', () => {
    const poll = newPoll();
    const events = new Events(8);
    const { client, server } = pair();
    poll.register(server, 1, R, PollOpt.EDGE | PollOpt.ONESHOT);
    client.write(Buffer.from('abc'));
    waitTokenEvents(poll, events, 1);
    expectNoEvents(poll, events);
    poll.reregister(server, 1, R, PollOpt.EDGE | PollOpt.ONESHOT);
    expect(waitTokenEvents(poll, events, 1)).toHaveLength(1);
    expectNoEvents(poll, events);
  });

  it('rule 6: EDGE: reregister of an idle writable socket reports writable once', () => {
    const poll = newPoll();
    const events = new Events(8);
    const { server } = pair();
    poll.register(server, 1, W, PollOpt.EDGE);
    waitTokenEvents(poll, events, 1);
    expectNoEvents(poll, events);
    poll.reregister(server, 1, W, PollOpt.EDGE);
    const hits = waitTokenEvents(poll, events, 1);
    expect(hits).toHaveLength(1);
    expect(hits[0].readiness & Interest.WRITABLE).not.toBe(0);
    expectNoEvents(poll, events);
  });

  it('rule 6: reregister with a new token reports the ready fd under the new token', () => {
    const poll = newPoll();
    const events = new Events(8);
    const { client, server } = pair();
    poll.register(server, 1, R, PollOpt.EDGE | PollOpt.ONESHOT);
    client.write(Buffer.from('abc'));
    waitTokenEvents(poll, events, 1);
    poll.reregister(server, 2, R, PollOpt.EDGE | PollOpt.ONESHOT);
    const seen = pollOnce(poll, events, 500);
    expect(seen.map((e) => e.token)).toEqual([2]);
  });

  it('rule 6: a readable and writable fd gives one event per poll carrying both flags', () => {
    const poll = newPoll();
    const events = new Events(8);
    const { client, server } = pair();
    client.write(Buffer.from('abc'));
    poll.register(server, 1, RW);
    // Wait for the data to be seen, then check every poll has exactly one event for the token.
    let both = false;
    for (let round = 0; round < 3 && !both; round++) {
      const hits = pollOnce(poll, events, 500).filter((e) => e.token === 1);
      expect(hits.length).toBeLessThanOrEqual(1);
      if (hits.length === 1) both = (hits[0].readiness & RW) === RW;
    }
    expect(both, 'one event with readable and writable').toBe(true);
    for (let i = 0; i < 3; i++) {
      expect(pollOnce(poll, events, 500).filter((e) => e.token === 1)).toHaveLength(1);
    }
  });

  it('rule 6: LEVEL: reregistering a ready fd twice before polling still gives one event', () => {
    const poll = newPoll();
    const events = new Events(8);
    const { client, server } = pair();
    poll.register(server, 1, R);
    client.write(Buffer.from('abc'));
    waitTokenEvents(poll, events, 1);
    poll.reregister(server, 1, R);
    poll.reregister(server, 1, R);
    expect(pollOnce(poll, events, 500).filter((e) => e.token === 1)).toHaveLength(1);
  });
});

// ---------------------------------------------------------------------------
// Rule 7: deregister
// ---------------------------------------------------------------------------

describe('rule 7: after deregister no poll returns the token; the socket stays usable', () => {
  it('rule 7: a deregistered level socket with unread data is never reported again', () => {
    const poll = newPoll();
    const events = new Events(8);
    const { client, server } = pair();
    poll.register(server, 1, R);
    client.write(Buffer.from('abc'));
    waitTokenEvents(poll, events, 1);
    poll.deregister(server);
    for (let i = 0; i < 3; i++) expectNoEvents(poll, events);
  });

  it('rule 7: deregister before the first poll drops readiness that was already pending', () => {
    const poll = newPoll();
    const events = new Events(8);
    const { client, server } = pair();
    poll.register(server, 1, RW);
    client.write(Buffer.from('abc'));
    poll.deregister(server);
    expectNoEvents(poll, events);
  });

  it('rule 7: a deregistered socket stays usable for read and write', () => {
    const poll = newPoll();
    const events = new Events(8);
    const { client, server } = pair();
    poll.register(server, 1, RW);
    client.write(Buffer.from('ping'));
    waitTokenEvents(poll, events, 1);
    poll.deregister(server);
    expect(server.isClosed).toBe(false);
    expect(drain(server).toString()).toBe('ping');
    expect(server.write(Buffer.from('pong'))).toBe(4);
    // The reply reaches the peer (checked through a separate registration).
    poll.register(client, 2, R);
    waitTokenEvents(poll, events, 2);
    expect(drain(client).toString()).toBe('pong');
  });

  it('rule 7: deregister then register again with a new token gives no spurious event', () => {
    const poll = newPoll();
    const events = new Events(8);
    const { client, server } = pair();
    poll.register(server, 1, R);
    client.write(Buffer.from('abc'));
    waitTokenEvents(poll, events, 1);
    expect(drain(server).toString()).toBe('abc');
    poll.deregister(server);
    poll.register(server, 2, R);
    expectNoEvents(poll, events);
    // The new registration works, under the new token only.
    client.write(Buffer.from('d'));
    waitTokenEvents(poll, events, 2);
    expect(tokensNow(poll, events)).not.toContain(1);
  });

  it('rule 7: deregister then register again in EDGE mode gives no spurious event', () => {
    const poll = newPoll();
    const events = new Events(8);
    const { client, server } = pair();
    poll.register(server, 1, R, PollOpt.EDGE);
    client.write(Buffer.from('abc'));
    waitTokenEvents(poll, events, 1);
    drain(server);
    poll.deregister(server);
    poll.register(server, 1, R, PollOpt.EDGE);
    expectNoEvents(poll, events);
    client.write(Buffer.from('d'));
    expect(waitTokenEvents(poll, events, 1)).toHaveLength(1);
  });

  it('rule 7: a deregistered raw fd is not reported, and may be registered again', () => {
    const poll = newPoll();
    const events = new Events(8);
    const { client, server } = pair();
    poll.register(server.fd, 1, R);
    client.write(Buffer.from('abc'));
    waitTokenEvents(poll, events, 1);
    poll.deregister(server.fd);
    expectNoEvents(poll, events);
    poll.register(server.fd, 2, R);
    waitTokenEvents(poll, events, 2);
    poll.deregister(server.fd);
  });

  it('rule 7: deregistering one socket leaves the others reported', () => {
    const poll = newPoll();
    const events = new Events(8);
    const a = pair();
    const b = pair();
    poll.register(a.server, 1, R);
    poll.register(b.server, 2, R);
    a.client.write(Buffer.from('x'));
    b.client.write(Buffer.from('y'));
    expectEvents(poll, events, [{ token: 1 }, { token: 2 }]);
    poll.deregister(a.server);
    for (let i = 0; i < 3; i++) {
      const tokens = pollOnce(poll, events, 500).map((e) => e.token);
      expect(tokens).not.toContain(1);
      expect(tokens).toContain(2);
    }
  });
});

// ---------------------------------------------------------------------------
// Rule 8: tokens are not policed
// ---------------------------------------------------------------------------

describe('rule 8: the same token on two fds is allowed', () => {
  it('rule 8: two sockets registered under one token both register without error', () => {
    const poll = newPoll();
    const a = pair();
    const b = pair();
    poll.register(a.server, 7, R);
    poll.register(b.server, 7, R);
  });

  it('rule 8: two ready sockets sharing a token give two events with that token', () => {
    const poll = newPoll();
    const events = new Events(8);
    const a = pair();
    const b = pair();
    poll.register(a.server, 7, R);
    poll.register(b.server, 7, R);
    a.client.write(Buffer.from('x'));
    b.client.write(Buffer.from('y'));
    let best = 0;
    for (let round = 0; round < 3 && best < 2; round++) {
      best = Math.max(best, pollOnce(poll, events, 500).filter((e) => e.token === 7).length);
    }
    expect(best).toBe(2);
  });

  it('rule 8: deregistering one of two sockets sharing a token keeps the other one reported', () => {
    const poll = newPoll();
    const events = new Events(8);
    const a = pair();
    const b = pair();
    poll.register(a.server, 7, R);
    poll.register(b.server, 7, R);
    a.client.write(Buffer.from('x'));
    b.client.write(Buffer.from('y'));
    poll.deregister(a.server);
    // Level-triggered: b is reported on every poll, exactly once (a is gone).
    waitTokenEvents(poll, events, 7);
    for (let i = 0; i < 3; i++) {
      expect(pollOnce(poll, events, 500).filter((e) => e.token === 7)).toHaveLength(1);
    }
  });

  it('rule 8: tokens 0 and 2^32-1 come back unchanged', () => {
    const poll = newPoll();
    const events = new Events(8);
    const a = pair();
    const b = pair();
    poll.register(a.server, 0, W);
    poll.register(b.server, MAX_TOKEN, W);
    expectEvents(poll, events, [{ token: 0, writable: true }, { token: MAX_TOKEN, writable: true }]);
  });

  it('rule 8: tokens outside 0..2^32-1 are rejected with RangeError', () => {
    const poll = newPoll();
    const { server } = pair();
    expect(() => poll.register(server, -1, R)).toThrow(RangeError);
    expect(() => poll.register(server, MAX_TOKEN + 1, R)).toThrow(RangeError);
    expect(() => poll.register(server, 1.5, R)).toThrow(TypeError);
  });

  it("rule 8: a socket may use the Waker's token; each is reported on its own", () => {
    const poll = newPoll();
    const events = new Events(8);
    const waker = own(new Waker(poll, 42));
    const { client, server } = pair();
    poll.register(server, 42, R);
    client.write(Buffer.from('x'));
    // The socket's readiness arrives under 42 without any wake.
    waitTokenEvents(poll, events, 42);
    expect(drain(server).toString()).toBe('x');
    expectNoEvents(poll, events);
    // A wake arrives under 42 too, once.
    waker.wake();
    waitTokenEvents(poll, events, 42);
    expectNoEvents(poll, events);
    expect(server.read(Buffer.alloc(8))).toBe(WOULD_BLOCK);
  });
});
