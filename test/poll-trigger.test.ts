/**
 * docs/POLL-SEMANTICS.md rules 9-12: level, edge and oneshot triggering, and interest
 * filters, for TCP and UDP.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Events, Interest, PollOpt, Ready, TcpStream, WOULD_BLOCK } from '../src/index';
import { own, runCleanups } from './cleanup';
import {
  drainUdp,
  fillSendBuffer,
  newPoll,
  pair,
  pollOnce,
  udpPair,
  waitReadable,
  waitToken,
  type Seen,
} from './poll-fixtures';
import { drain, expectNoEvents, localListener } from './util';

afterEach(runCleanups);

const R = Interest.READABLE;
const W = Interest.WRITABLE;
const EDGE = PollOpt.EDGE;
const LEVEL = PollOpt.LEVEL;
const ONESHOT = PollOpt.ONESHOT;

function isReadable(e: Seen): boolean {
  return (e.readiness & Ready.READABLE) !== 0;
}

function isWritable(e: Seen): boolean {
  return (e.readiness & Ready.WRITABLE) !== 0;
}

// ---------------------------------------------------------------------------
// Rule 9: LEVEL
// ---------------------------------------------------------------------------

describe('rule 9: LEVEL reports on every poll while the condition holds (TCP)', () => {
  it('rule 9 (tcp): unread data is reported readable on every poll', () => {
    const poll = newPoll();
    const events = new Events(8);
    const { client, server } = pair();
    poll.register(server, 1, R, LEVEL);
    client.write(Buffer.from('hello'));
    for (let i = 0; i < 5; i++) expect(isReadable(waitToken(poll, events, 1))).toBe(true);
  });

  it('rule 9 (tcp): after a partial read the rest is reported again', () => {
    const poll = newPoll();
    const events = new Events(8);
    const { client, server } = pair();
    poll.register(server, 1, R);
    client.write(Buffer.from('hello'));
    waitToken(poll, events, 1);
    expect(server.read(Buffer.alloc(2))).toBe(2);
    expect(isReadable(waitToken(poll, events, 1))).toBe(true);
    expect(server.read(Buffer.alloc(1))).toBe(1);
    expect(isReadable(waitToken(poll, events, 1))).toBe(true);
  });

  it('rule 9 (tcp): once drained to WOULD_BLOCK the stream is no longer reported', () => {
    const poll = newPoll();
    const events = new Events(8);
    const { client, server } = pair();
    poll.register(server, 1, R);
    client.write(Buffer.from('hello'));
    waitToken(poll, events, 1);
    expect(drain(server).toString()).toBe('hello');
    expect(server.read(Buffer.alloc(8))).toBe(WOULD_BLOCK);
    expectNoEvents(poll, events);
  });

  it('rule 9 (tcp): an idle connected stream is writable on every poll', () => {
    const poll = newPoll();
    const events = new Events(8);
    const { client } = pair();
    poll.register(client, 1, W);
    for (let i = 0; i < 5; i++) expect(isWritable(waitToken(poll, events, 1))).toBe(true);
  });

  it('rule 9 (tcp): a peer close (EOF) is reported readable on every poll', () => {
    const poll = newPoll();
    const events = new Events(8);
    const { client, server } = pair();
    poll.register(server, 1, R);
    client.close();
    for (let i = 0; i < 3; i++) expect(isReadable(waitToken(poll, events, 1))).toBe(true);
    expect(server.read(Buffer.alloc(8))).toBe(0);
  });

  it('rule 9 (tcp): a pending connection is reported on every poll until accepted', () => {
    const poll = newPoll();
    const events = new Events(8);
    const { listener, address } = localListener();
    own(listener);
    poll.register(listener, 1, R);
    own(TcpStream.connect(address));
    for (let i = 0; i < 3; i++) waitToken(poll, events, 1);
    const accepted = listener.accept();
    expect(accepted).not.toBe(WOULD_BLOCK);
    if (accepted !== WOULD_BLOCK) own(accepted);
    expectNoEvents(poll, events);
  });
});

describe('rule 9: LEVEL reports on every poll while the condition holds (UDP)', () => {
  it('rule 9 (udp): an unread datagram is reported readable on every poll', () => {
    const poll = newPoll();
    const events = new Events(8);
    const { a, b } = udpPair();
    poll.register(b, 1, R);
    a.send(Buffer.from('d1'));
    for (let i = 0; i < 5; i++) expect(isReadable(waitToken(poll, events, 1))).toBe(true);
  });

  it('rule 9 (udp): after reading one of two datagrams the socket is still reported', () => {
    const poll = newPoll();
    const events = new Events(8);
    const { a, b } = udpPair();
    poll.register(b, 1, R);
    a.send(Buffer.from('d1'));
    a.send(Buffer.from('d2'));
    waitToken(poll, events, 1);
    const buf = Buffer.alloc(16);
    expect(b.recv(buf)).toBe(2);
    expect(isReadable(waitToken(poll, events, 1))).toBe(true);
    expect(b.recv(buf)).toBe(2);
    expect(b.recv(buf)).toBe(WOULD_BLOCK);
    expectNoEvents(poll, events);
  });

  it('rule 9 (udp): an idle socket is writable on every poll', () => {
    const poll = newPoll();
    const events = new Events(8);
    const { a } = udpPair();
    poll.register(a, 1, W);
    for (let i = 0; i < 5; i++) expect(isWritable(waitToken(poll, events, 1))).toBe(true);
  });
});

// ---------------------------------------------------------------------------
// Rule 10: EDGE
// ---------------------------------------------------------------------------

describe('rule 10: EDGE reports one event per transition (TCP)', () => {
  it('rule 10 (tcp): new data gives exactly one event, not one per poll', () => {
    const poll = newPoll();
    const events = new Events(8);
    const { client, server } = pair();
    poll.register(server, 1, R, EDGE);
    client.write(Buffer.from('hello'));
    expect(isReadable(waitToken(poll, events, 1))).toBe(true);
    expectNoEvents(poll, events);
    expectNoEvents(poll, events);
  });

  it('rule 10 (tcp): a partial read with no new data gives no event', () => {
    const poll = newPoll();
    const events = new Events(8);
    const { client, server } = pair();
    poll.register(server, 1, R, EDGE);
    client.write(Buffer.from('hello'));
    waitToken(poll, events, 1);
    expect(server.read(Buffer.alloc(2))).toBe(2);
    expectNoEvents(poll, events);
  });

  it('rule 10 (tcp): after draining to WOULD_BLOCK, new data gives a new event', () => {
    const poll = newPoll();
    const events = new Events(8);
    const { client, server } = pair();
    poll.register(server, 1, R, EDGE);
    client.write(Buffer.from('one'));
    waitToken(poll, events, 1);
    expect(drain(server).toString()).toBe('one');
    expect(server.read(Buffer.alloc(8))).toBe(WOULD_BLOCK);
    expectNoEvents(poll, events);
    client.write(Buffer.from('two'));
    expect(isReadable(waitToken(poll, events, 1))).toBe(true);
    expectNoEvents(poll, events);
    expect(drain(server).toString()).toBe('two');
  });

  it('rule 10 (tcp): an idle writable stream is reported writable once', () => {
    const poll = newPoll();
    const events = new Events(8);
    const { client } = pair();
    poll.register(client, 1, W, EDGE);
    expect(isWritable(waitToken(poll, events, 1))).toBe(true);
    expectNoEvents(poll, events);
  });

  it('rule 10 (tcp): a full send buffer that drains gives a new writable event', () => {
    const poll = newPoll();
    const events = new Events(8);
    const { client, server } = pair();
    poll.register(client, 1, W, EDGE);
    waitToken(poll, events, 1);
    // Fill until a poll stays quiet (an ACK freeing space right after the
    // fill is a genuine transition; absorb it by writing again).
    let quiet = false;
    for (let round = 0; round < 20 && !quiet; round++) {
      fillSendBuffer(client);
      quiet = !pollOnce(poll, events, 50).some((e) => e.token === 1);
    }
    expect(quiet, 'send buffer stays full').toBe(true);
    // The peer reads; the sender's buffer empties and the socket turns writable again.
    let seen = false;
    for (let round = 0; round < 40 && !seen; round++) {
      drain(server);
      seen = pollOnce(poll, events, 50).some((e) => e.token === 1 && isWritable(e));
    }
    expect(seen, 'writable event after the peer drained').toBe(true);
  });

  it('rule 10 (tcp): a peer close gives one event, then silence', () => {
    const poll = newPoll();
    const events = new Events(8);
    const { client, server } = pair();
    poll.register(server, 1, R, EDGE);
    client.close();
    expect(isReadable(waitToken(poll, events, 1))).toBe(true);
    expectNoEvents(poll, events);
    expect(server.read(Buffer.alloc(8))).toBe(0);
  });
});

describe('rule 10: EDGE reports one event per transition (UDP)', () => {
  it('rule 10 (udp): a datagram gives exactly one event, not one per poll', () => {
    const poll = newPoll();
    const events = new Events(8);
    const { a, b } = udpPair();
    poll.register(b, 1, R, EDGE);
    a.send(Buffer.from('d1'));
    expect(isReadable(waitToken(poll, events, 1))).toBe(true);
    expectNoEvents(poll, events);
  });

  it('rule 10 (udp): reading one of two queued datagrams gives no event', () => {
    const poll = newPoll();
    const events = new Events(8);
    const { a, b } = udpPair();
    a.send(Buffer.from('d1'));
    a.send(Buffer.from('d2'));
    waitReadable(b);
    poll.register(b, 1, R, EDGE);
    waitToken(poll, events, 1);
    expect(b.recv(Buffer.alloc(16))).toBe(2);
    expectNoEvents(poll, events);
    // The second datagram is still there: the silence was not for lack of data.
    expect(b.recv(Buffer.alloc(16))).toBe(2);
  });

  it('rule 10 (udp): after draining to WOULD_BLOCK, a new datagram gives a new event', () => {
    const poll = newPoll();
    const events = new Events(8);
    const { a, b } = udpPair();
    poll.register(b, 1, R, EDGE);
    a.send(Buffer.from('d1'));
    waitToken(poll, events, 1);
    expect(drainUdp(b)).toBe(1);
    expectNoEvents(poll, events);
    a.send(Buffer.from('d2'));
    expect(isReadable(waitToken(poll, events, 1))).toBe(true);
    expectNoEvents(poll, events);
    expect(drainUdp(b)).toBe(1);
  });

  it('rule 10 (udp): an idle socket is reported writable once', () => {
    const poll = newPoll();
    const events = new Events(8);
    const { a } = udpPair();
    poll.register(a, 1, W, EDGE);
    expect(isWritable(waitToken(poll, events, 1))).toBe(true);
    expectNoEvents(poll, events);
  });
});

// ---------------------------------------------------------------------------
// Rule 11: ONESHOT
// ---------------------------------------------------------------------------

describe('rule 11: ONESHOT disarms after one event until reregister (TCP)', () => {
  it('rule 11 (tcp): EDGE|ONESHOT gives no event for new data after the first', () => {
    const poll = newPoll();
    const events = new Events(8);
    const { client, server } = pair();
    poll.register(server, 1, R, EDGE | ONESHOT);
    client.write(Buffer.from('a'));
    waitToken(poll, events, 1);
    client.write(Buffer.from('b'));
    expectNoEvents(poll, events);
  });

  it('rule 11 (tcp): LEVEL|ONESHOT gives no event for unread or new data after the first', () => {
    const poll = newPoll();
    const events = new Events(8);
    const { client, server } = pair();
    poll.register(server, 1, R, LEVEL | ONESHOT);
    client.write(Buffer.from('a'));
    waitToken(poll, events, 1);
    expectNoEvents(poll, events);
    client.write(Buffer.from('b'));
    expectNoEvents(poll, events);
  });

  it('rule 11 (tcp): a disarmed registration gives no event for drain-then-new-data', () => {
    const poll = newPoll();
    const events = new Events(8);
    const { client, server } = pair();
    poll.register(server, 1, R, EDGE | ONESHOT);
    client.write(Buffer.from('a'));
    waitToken(poll, events, 1);
    drain(server);
    client.write(Buffer.from('b'));
    expectNoEvents(poll, events);
  });

  it('rule 11 (tcp): a disarmed registration gives no event for a peer close', () => {
    const poll = newPoll();
    const events = new Events(8);
    const { client, server } = pair();
    poll.register(server, 1, R, EDGE | ONESHOT);
    client.write(Buffer.from('a'));
    waitToken(poll, events, 1);
    client.close();
    expectNoEvents(poll, events);
    expectNoEvents(poll, events);
  });

  it('rule 11 (tcp): a disarmed writable registration stays silent', () => {
    const poll = newPoll();
    const events = new Events(8);
    const { client } = pair();
    poll.register(client, 1, W, LEVEL | ONESHOT);
    waitToken(poll, events, 1);
    expectNoEvents(poll, events);
  });

  it('rule 11 (tcp): reregister re-arms and reports data that arrived while disarmed', () => {
    const poll = newPoll();
    const events = new Events(8);
    const { client, server } = pair();
    poll.register(server, 1, R, EDGE | ONESHOT);
    client.write(Buffer.from('a'));
    waitToken(poll, events, 1);
    drain(server);
    client.write(Buffer.from('b'));
    expectNoEvents(poll, events);
    poll.reregister(server, 1, R, EDGE | ONESHOT);
    expect(isReadable(waitToken(poll, events, 1))).toBe(true);
    expect(drain(server).toString()).toBe('b');
  });

  it('rule 11 (tcp): reregister re-arms and reports a peer close that happened while disarmed', () => {
    const poll = newPoll();
    const events = new Events(8);
    const { client, server } = pair();
    poll.register(server, 1, R, EDGE | ONESHOT);
    client.write(Buffer.from('a'));
    waitToken(poll, events, 1);
    drain(server);
    client.close();
    expectNoEvents(poll, events);
    poll.reregister(server, 1, R, EDGE | ONESHOT);
    const e = waitToken(poll, events, 1);
    expect(isReadable(e)).toBe(true);
    expect(server.read(Buffer.alloc(8))).toBe(0);
  });

  it('rule 11 (tcp): reregister with nothing ready reports nothing, then one event for the next data', () => {
    const poll = newPoll();
    const events = new Events(8);
    const { client, server } = pair();
    poll.register(server, 1, R, EDGE | ONESHOT);
    client.write(Buffer.from('a'));
    waitToken(poll, events, 1);
    drain(server);
    poll.reregister(server, 1, R, EDGE | ONESHOT);
    expectNoEvents(poll, events);
    client.write(Buffer.from('b'));
    waitToken(poll, events, 1);
    // ...and it disarmed again.
    client.write(Buffer.from('c'));
    expectNoEvents(poll, events);
  });

  it('rule 11 (tcp): byte by byte, each reregister yields exactly one more event', () => {
    const poll = newPoll();
    const events = new Events(8);
    const { client, server } = pair();
    poll.register(server, 1, R, EDGE | ONESHOT);
    client.write(Buffer.from('xyz'));
    const got: string[] = [];
    const one = Buffer.alloc(1);
    for (let i = 0; i < 3; i++) {
      waitToken(poll, events, 1);
      expect(server.read(one)).toBe(1);
      got.push(one.toString());
      // Unread bytes remain, yet the registration is disarmed.
      if (i < 2) expectNoEvents(poll, events);
      poll.reregister(server, 1, R, EDGE | ONESHOT);
    }
    expect(got.join('')).toBe('xyz');
    expectNoEvents(poll, events);
  });
});

describe('rule 11: ONESHOT disarms after one event until reregister (UDP)', () => {
  it('rule 11 (udp): EDGE|ONESHOT gives no event for a new datagram after the first', () => {
    const poll = newPoll();
    const events = new Events(8);
    const { a, b } = udpPair();
    poll.register(b, 1, R, EDGE | ONESHOT);
    a.send(Buffer.from('d1'));
    waitToken(poll, events, 1);
    drainUdp(b);
    a.send(Buffer.from('d2'));
    expectNoEvents(poll, events);
  });

  it('rule 11 (udp): LEVEL|ONESHOT gives no event for an unread datagram after the first', () => {
    const poll = newPoll();
    const events = new Events(8);
    const { a, b } = udpPair();
    poll.register(b, 1, R, LEVEL | ONESHOT);
    a.send(Buffer.from('d1'));
    waitToken(poll, events, 1);
    expectNoEvents(poll, events);
  });

  it('rule 11 (udp): reregister re-arms and reports a datagram that arrived while disarmed', () => {
    const poll = newPoll();
    const events = new Events(8);
    const { a, b } = udpPair();
    poll.register(b, 1, R, EDGE | ONESHOT);
    a.send(Buffer.from('d1'));
    waitToken(poll, events, 1);
    drainUdp(b);
    a.send(Buffer.from('d2'));
    expectNoEvents(poll, events);
    poll.reregister(b, 1, R, EDGE | ONESHOT);
    expect(isReadable(waitToken(poll, events, 1))).toBe(true);
    expect(drainUdp(b)).toBe(1);
    expectNoEvents(poll, events);
  });

  it('rule 11 (udp): a writable oneshot registration reports once, and again after reregister', () => {
    const poll = newPoll();
    const events = new Events(8);
    const { a } = udpPair();
    poll.register(a, 1, W, LEVEL | ONESHOT);
    waitToken(poll, events, 1);
    expectNoEvents(poll, events);
    poll.reregister(a, 1, W, LEVEL | ONESHOT);
    expect(isWritable(waitToken(poll, events, 1))).toBe(true);
    expectNoEvents(poll, events);
  });
});

// ---------------------------------------------------------------------------
// Rule 12: interest filters
// ---------------------------------------------------------------------------

describe('rule 12: interest filters what is reported', () => {
  it('rule 12 (tcp): a READABLE-only idle stream is not reported although it is writable', () => {
    const poll = newPoll();
    const events = new Events(8);
    const { client } = pair();
    poll.register(client, 1, R);
    expectNoEvents(poll, events);
  });

  it('rule 12 (tcp): a READABLE-only stream with data never carries the writable flag', () => {
    const poll = newPoll();
    const events = new Events(8);
    const { client, server } = pair();
    poll.register(server, 1, R);
    client.write(Buffer.from('x'));
    for (let i = 0; i < 3; i++) {
      const e = waitToken(poll, events, 1);
      expect(isReadable(e)).toBe(true);
      expect(isWritable(e)).toBe(false);
    }
  });

  it('rule 12 (tcp): a WRITABLE-only stream with unread data never carries the readable flag', () => {
    const poll = newPoll();
    const events = new Events(8);
    const { client, server } = pair();
    client.write(Buffer.from('x'));
    waitReadable(server);
    poll.register(server, 1, W);
    for (let i = 0; i < 3; i++) {
      const e = waitToken(poll, events, 1);
      expect(isWritable(e)).toBe(true);
      expect(isReadable(e)).toBe(false);
    }
  });

  it('rule 12 (tcp): a WRITABLE|EDGE stream gives no event when data arrives', () => {
    const poll = newPoll();
    const events = new Events(8);
    const { client, server } = pair();
    poll.register(server, 1, W, EDGE);
    waitToken(poll, events, 1);
    client.write(Buffer.from('x'));
    waitReadable(server);
    expectNoEvents(poll, events);
  });

  it('rule 12 (tcp): a WRITABLE-only stream never reports readable, even after the peer closes', () => {
    const poll = newPoll();
    const events = new Events(8);
    const { client, server } = pair();
    poll.register(server, 1, W);
    client.close();
    waitReadable(server);
    // Hangup or error flags may appear; readable must not.
    for (let i = 0; i < 3; i++) {
      for (const e of pollOnce(poll, events, 100)) {
        expect(e.token).toBe(1);
        expect(isReadable(e)).toBe(false);
      }
    }
  });

  it('rule 12 (udp): a READABLE-only idle socket is not reported although it is writable', () => {
    const poll = newPoll();
    const events = new Events(8);
    const { a } = udpPair();
    poll.register(a, 1, R);
    expectNoEvents(poll, events);
  });

  it('rule 12 (udp): a READABLE-only socket with a datagram never carries the writable flag', () => {
    const poll = newPoll();
    const events = new Events(8);
    const { a, b } = udpPair();
    poll.register(b, 1, R);
    a.send(Buffer.from('d'));
    for (let i = 0; i < 3; i++) {
      const e = waitToken(poll, events, 1);
      expect(isReadable(e)).toBe(true);
      expect(isWritable(e)).toBe(false);
    }
  });

  it('rule 12 (udp): a WRITABLE-only socket with an unread datagram never carries the readable flag', () => {
    const poll = newPoll();
    const events = new Events(8);
    const { a, b } = udpPair();
    a.send(Buffer.from('d'));
    waitReadable(b);
    poll.register(b, 1, W);
    for (let i = 0; i < 3; i++) {
      const e = waitToken(poll, events, 1);
      expect(isWritable(e)).toBe(true);
      expect(isReadable(e)).toBe(false);
    }
  });
});
