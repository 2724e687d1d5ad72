/**
 * Readiness mapping on Linux (docs/POLL-SEMANTICS.md rules 12, 13 and 15): what a peer
 * shutdown, a reset and a refused connect look like, and that no flag is ever
 * set when its condition does not hold.
 */
import * as os from 'node:os';
import { afterEach, describe, expect, it } from 'vitest';
import {
  Events,
  Interest,
  Poll,
  PollOpt,
  Ready,
  SysError,
  TcpStream,
  UdpSocket,
  UnixStream,
  WOULD_BLOCK,
  backend,
} from '../src/index';
import { own, runCleanups } from './cleanup';
import { catchSysError, pair, pollWithEvents, unusedPort } from './poll-fixtures';
import { expectEvents, expectNoEvents, localListener } from './util';
import { expectedBackend, onEpoll, onLibkqueue } from './platform';

// ---------------------------------------------------------------------------
// Helpers local to this file
// ---------------------------------------------------------------------------

afterEach(runCleanups);

/**
 * Polls (up to 3 x 500 ms) until an event for `token` arrives; returns its
 * readiness bits (OR-ed over that poll), or 0 when none came.
 */
function nextReadiness(poll: Poll, events: Events, token: number): number {
  for (let round = 0; round < 3; round++) {
    poll.poll(events, 500);
    let bits = 0;
    for (let i = 0; i < events.length; i++) if (events.token(i) === token) bits |= events.readiness(i);
    if (bits !== 0) return bits;
  }
  return 0;
}

/** Polls until readiness for `token` includes all of `want`; returns it. */
function readinessWith(poll: Poll, events: Events, token: number, want: number): number {
  const deadline = Date.now() + 2000;
  let bits = 0;
  while (Date.now() < deadline) {
    bits = nextReadiness(poll, events, token);
    if ((bits & want) === want) return bits;
  }
  return bits;
}

/**
 * Makes Linux reset the connection towards `victim`: its peer closes while
 * bytes that `victim` sent are still unread in the peer's receive buffer.
 */
function resetFromPeer(victim: TcpStream, peer: TcpStream): void {
  expect(victim.write(Buffer.from('never read'))).toBe(10);
  // Wait until the bytes sit in the peer's receive buffer.
  const { poll, events } = pollWithEvents();
  poll.register(peer, 1, Interest.READABLE);
  expectEvents(poll, events, [{ token: 1, readable: true }]);
  poll.deregister(peer);
  peer.close();
}

// ---------------------------------------------------------------------------

describe('environment', () => {
  it('runs on the backend this platform and build should load', () => {
    expect(backend).toBe(expectedBackend);
  });
});

describe('rule 15: peer shutdown(WR)', () => {
  it('reports readable and readClosed on a READABLE registration', () => {
    const { client, server } = pair();
    const { poll, events } = pollWithEvents();
    poll.register(server, 3, Interest.READABLE);
    client.shutdown('write');
    expectEvents(poll, events, [{ token: 3, readable: true, readClosed: true }]);
  });

  it('then read() returns 0', () => {
    const { client, server } = pair();
    const { poll, events } = pollWithEvents();
    poll.register(server, 3, Interest.READABLE);
    client.shutdown('write');
    readinessWith(poll, events, 3, Ready.READ_CLOSED);
    expect(server.read(Buffer.alloc(16))).toBe(0);
  });

  it('delivers the bytes sent before the shutdown first, then 0', () => {
    const { client, server } = pair();
    const { poll, events } = pollWithEvents();
    poll.register(server, 3, Interest.READABLE);
    client.write(Buffer.from('tail'));
    client.shutdown('write');
    expect(readinessWith(poll, events, 3, Ready.READ_CLOSED) & Ready.READ_CLOSED).toBe(Ready.READ_CLOSED);
    const buf = Buffer.alloc(16);
    expect(server.read(buf)).toBe(4);
    expect(buf.subarray(0, 4).toString()).toBe('tail');
    expect(server.read(buf)).toBe(0);
  });

  it('does not set writeClosed or error: the half we can still write is healthy', () => {
    const { client, server } = pair();
    const { poll, events } = pollWithEvents();
    poll.register(server, 3, Interest.READABLE | Interest.WRITABLE);
    client.shutdown('write');
    const bits = readinessWith(poll, events, 3, Ready.READ_CLOSED);
    expect(bits & Ready.READ_CLOSED).toBe(Ready.READ_CLOSED);
    expect(bits & Ready.WRITE_CLOSED).toBe(0);
    expect(bits & Ready.ERROR).toBe(0);
    expect(server.write(Buffer.from('reply'))).toBe(5);
  });

  it('is reported once to an EDGE registration, with readClosed', () => {
    const { client, server } = pair();
    const { poll, events } = pollWithEvents();
    poll.register(server, 3, Interest.READABLE, PollOpt.EDGE);
    client.shutdown('write');
    expectEvents(poll, events, [{ token: 3, readable: true, readClosed: true }]);
    expectNoEvents(poll, events);
  });

  it('on a Unix stream pair gives readClosed and read() 0 as well', () => {
    const [a, b] = UnixStream.pair().map(own);
    const { poll, events } = pollWithEvents();
    poll.register(b, 4, Interest.READABLE);
    a.shutdown('write');
    expectEvents(poll, events, [{ token: 4, readable: true, readClosed: true }]);
    expect(b.read(Buffer.alloc(8))).toBe(0);
  });

  it('a full close by the peer with nothing unread also gives readClosed and read() 0, not a reset', () => {
    const { client, server } = pair();
    const { poll, events } = pollWithEvents();
    poll.register(server, 3, Interest.READABLE);
    client.close();
    expectEvents(poll, events, [{ token: 3, readable: true, readClosed: true }]);
    expect(server.read(Buffer.alloc(8))).toBe(0);
  });
});

describe('rule 15: peer reset', () => {
  it('reports readable and readClosed', () => {
    const { client, server } = pair();
    const { poll, events } = pollWithEvents();
    poll.register(client, 5, Interest.READABLE);
    resetFromPeer(client, server);
    expectEvents(poll, events, [{ token: 5, readable: true, readClosed: true }]);
  });

  // libkqueue reads SO_ERROR to report the reset, which clears it.
  it.skipIf(onLibkqueue)('makes read() throw SysError ECONNRESET', () => {
    const { client, server } = pair();
    const { poll, events } = pollWithEvents();
    poll.register(client, 5, Interest.READABLE);
    resetFromPeer(client, server);
    readinessWith(poll, events, 5, Ready.READABLE | Ready.READ_CLOSED);
    const err = catchSysError(() => client.read(Buffer.alloc(16)));
    expect(err.code).toBe('ECONNRESET');
    expect(err.errno).toBe(-os.constants.errno.ECONNRESET);
    expect(err.syscall).toBe('read');
  });

  it('on epoll the reset event also carries error and writeClosed (ERR and HUP)', () => {
    const { client, server } = pair();
    const { poll, events } = pollWithEvents();
    poll.register(client, 5, Interest.READABLE | Interest.WRITABLE);
    resetFromPeer(client, server);
    const bits = readinessWith(poll, events, 5, Ready.READ_CLOSED | Ready.ERROR);
    expect(bits & Ready.ERROR).toBe(Ready.ERROR);
    expect(bits & Ready.WRITE_CLOSED).toBe(Ready.WRITE_CLOSED);
  });

  it.skipIf(onLibkqueue)('leaves ECONNRESET in takeError() when nobody read yet', () => {
    const { client, server } = pair();
    const { poll, events } = pollWithEvents();
    poll.register(client, 5, Interest.READABLE);
    resetFromPeer(client, server);
    readinessWith(poll, events, 5, Ready.READ_CLOSED);
    expect(client.takeError()?.code).toBe('ECONNRESET');
  });

  it('makes a later write throw a SysError (EPIPE or ECONNRESET) instead of killing the process', () => {
    const { client, server } = pair();
    const { poll, events } = pollWithEvents();
    poll.register(client, 5, Interest.READABLE);
    resetFromPeer(client, server);
    readinessWith(poll, events, 5, Ready.READ_CLOSED);
    const err = catchSysError(() => {
      // The first write may still be accepted before the error surfaces.
      for (let i = 0; i < 3; i++) client.write(Buffer.from('x'));
    });
    expect(['EPIPE', 'ECONNRESET']).toContain(err.code);
  });
});

// libkqueue reads SO_ERROR to report the failure, which clears it.
describe.skipIf(onLibkqueue)('rule 15: refused connect', () => {
  it('a WRITABLE registration gets writable or error, and takeError() is ECONNREFUSED', () => {
    const client = own(TcpStream.connect({ host: '127.0.0.1', port: unusedPort() }));
    const { poll, events } = pollWithEvents();
    poll.register(client, 9, Interest.WRITABLE);
    const bits = nextReadiness(poll, events, 9);
    expect(bits & (Ready.WRITABLE | Ready.ERROR)).not.toBe(0);
    const err = client.takeError();
    expect(err).toBeInstanceOf(SysError);
    expect(err?.code).toBe('ECONNREFUSED');
  });

  it('a READABLE-only registration still hears of it through error or hangup', () => {
    const client = own(TcpStream.connect({ host: '127.0.0.1', port: unusedPort() }));
    const { poll, events } = pollWithEvents();
    poll.register(client, 9, Interest.READABLE);
    const bits = nextReadiness(poll, events, 9);
    expect(bits & (Ready.ERROR | Ready.READ_CLOSED)).not.toBe(0);
    expect(client.takeError()?.code).toBe('ECONNREFUSED');
  });

  it('never reports a refused connect as a healthy one: the error bit or a pending SO_ERROR is there', () => {
    const client = own(TcpStream.connect({ host: '127.0.0.1', port: unusedPort() }));
    const { poll, events } = pollWithEvents();
    poll.register(client, 9, Interest.READABLE | Interest.WRITABLE);
    const bits = nextReadiness(poll, events, 9);
    expect(bits).not.toBe(0);
    const err = client.takeError();
    expect((bits & Ready.ERROR) !== 0 || err !== null).toBe(true);
    expect(err?.code).toBe('ECONNREFUSED');
  });
});

describe('rules 12 and 13: flags are hints, never falsely set', () => {
  it('an idle connected socket registered READABLE reports nothing', () => {
    const { server } = pair();
    const { poll, events } = pollWithEvents();
    poll.register(server, 1, Interest.READABLE);
    expectNoEvents(poll, events);
  });

  it('an idle listener registered READABLE reports nothing until a client connects', () => {
    const { listener, address } = localListener();
    own(listener);
    const { poll, events } = pollWithEvents();
    poll.register(listener, 2, Interest.READABLE);
    expectNoEvents(poll, events);
    own(TcpStream.connect(address));
    expectEvents(poll, events, [{ token: 2, readable: true }]);
  });

  it('WRITABLE-only never reports readable, even with data waiting (several level polls)', () => {
    const { client, server } = pair();
    client.write(Buffer.from('unread data'));
    const { poll, events } = pollWithEvents();
    poll.register(server, 1, Interest.WRITABLE);
    let seen = 0;
    for (let i = 0; i < 5; i++) {
      poll.poll(events, 200);
      for (let k = 0; k < events.length; k++) {
        seen++;
        expect(events.token(k)).toBe(1);
        expect(events.isWritable(k)).toBe(true);
        expect(events.isReadable(k)).toBe(false);
        expect(events.isReadClosed(k)).toBe(false);
      }
    }
    expect(seen).toBeGreaterThan(0);
    // The data really was there all along.
    expect(server.read(Buffer.alloc(32))).toBe(11);
  });

  it('READABLE-only never reports writable on a socket that is writable', () => {
    const { client, server } = pair();
    client.write(Buffer.from('data'));
    const { poll, events } = pollWithEvents();
    poll.register(server, 1, Interest.READABLE);
    const bits = nextReadiness(poll, events, 1);
    expect(bits & Ready.READABLE).toBe(Ready.READABLE);
    expect(bits & Ready.WRITABLE).toBe(0);
  });

  it('a completed connect is writable with no error, readClosed or writeClosed', () => {
    const { listener, address } = localListener();
    own(listener);
    const client = own(TcpStream.connect(address));
    const { poll, events } = pollWithEvents();
    poll.register(client, 1, Interest.WRITABLE);
    const bits = nextReadiness(poll, events, 1);
    expect(bits & Ready.WRITABLE).toBe(Ready.WRITABLE);
    expect(bits & (Ready.ERROR | Ready.READ_CLOSED | Ready.WRITE_CLOSED | Ready.PRIORITY)).toBe(0);
    expect(client.takeError()).toBeNull();
  });

  it('pending data is readable without readClosed, error or priority', () => {
    const { client, server } = pair();
    client.write(Buffer.from('hello'));
    const { poll, events } = pollWithEvents();
    poll.register(server, 1, Interest.READABLE | Interest.WRITABLE);
    const bits = readinessWith(poll, events, 1, Ready.READABLE);
    expect(bits & Ready.READABLE).toBe(Ready.READABLE);
    expect(bits & (Ready.READ_CLOSED | Ready.WRITE_CLOSED | Ready.ERROR | Ready.PRIORITY)).toBe(0);
  });

  // Interest.PRIORITY exists on epoll only.
  it.runIf(onEpoll)('a PRIORITY-only registration stays silent for ordinary data', () => {
    const { client, server } = pair();
    const { poll, events } = pollWithEvents();
    poll.register(server, 1, Interest.PRIORITY);
    client.write(Buffer.from('plain bytes'));
    expectNoEvents(poll, events);
  });

  it('an idle UDP socket registered READABLE reports nothing; a datagram makes it readable only', () => {
    const a = own(UdpSocket.bind('127.0.0.1:0'));
    const b = own(UdpSocket.bind('127.0.0.1:0'));
    const { poll, events } = pollWithEvents();
    poll.register(b, 6, Interest.READABLE);
    expectNoEvents(poll, events);
    a.sendTo(Buffer.from('d'), b.localAddress());
    const bits = nextReadiness(poll, events, 6);
    expect(bits & Ready.READABLE).toBe(Ready.READABLE);
    expect(bits & (Ready.WRITABLE | Ready.READ_CLOSED | Ready.ERROR)).toBe(0);
  });

  it('an idle Unix stream pair registered READABLE reports nothing', () => {
    const [, b] = UnixStream.pair().map(own);
    const { poll, events } = pollWithEvents();
    poll.register(b, 7, Interest.READABLE);
    expectNoEvents(poll, events);
    expect(b.read(Buffer.alloc(4))).toBe(WOULD_BLOCK);
  });
});
