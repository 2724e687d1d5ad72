/**
 * EventLoop faults: a handler bug closes only its own connection; socket
 * errors (ECONNRESET, EPIPE) close the connection with the error; a peer's
 * half-close is EOF, and the connection can still answer.
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  SysError,
  TcpStream,
  WOULD_BLOCK,
  type Connection,
  type ConnectionHandler,
} from '../src/index';
import { RawReader, adoptPair, addressOf, collector, echoHandler, newLoop, runBounded, turnUntil } from './event-loop-util';
import { assertDistFresh } from './dist';
import { own, runCleanups } from './cleanup';
import { sleepMs, waitWritable } from './util';
import { onLibkqueue } from './platform';

beforeAll(assertDistFresh);
afterEach(runCleanups);

/** Records onError / onClose calls in order. */
function recorder(): ConnectionHandler & { log: Array<[string, Error | undefined]> } {
  const log: Array<[string, Error | undefined]> = [];
  return {
    log,
    onError: (_c, err) => void log.push(['error', err]),
    onClose: (_c, err) => void log.push(['close', err]),
  };
}

describe('EventLoop faults', () => {
  it('a handler that throws a plain Error closes only its own connection; run() keeps serving the others', () => {
    const reported: Array<[unknown, Connection | undefined]> = [];
    const loop = newLoop({ onHandlerError: (err, conn) => void reported.push([err, conn]) });
    const boom = new Error('boom');
    const serverCloses = new Map<Connection, Error | undefined>();
    const listener = loop.listen('127.0.0.1:0', () => ({
      onReadable(conn) {
        const n = conn.read(loop.readBuffer);
        if (n === WOULD_BLOCK) return;
        if (n === 0) return conn.end();
        if (loop.readBuffer.toString('latin1', 0, n) === 'boom') throw boom;
        conn.write(loop.readBuffer, 0, n);
      },
      onClose: (conn, err) => void serverCloses.set(conn, err),
    }));
    const address = addressOf(listener);
    const connect = (handler: ConnectionHandler): Connection => {
      const stream = own(TcpStream.connect(address));
      waitWritable(stream);
      return loop.adopt(stream, handler);
    };

    // Both clients are loop connections (run() owns the thread). The other
    // client speaks only once the faulty one has seen its server end close.
    const other = collector(loop, (total) => {
      if (total >= 4) loop.stop();
    });
    const otherConn = connect(other);
    const faulty = collector(loop);
    const faultyConn = connect({
      ...faulty,
      onClose: () => void otherConn.write(Buffer.from('ping')),
    });
    faultyConn.write(Buffer.from('boom'));

    expect(runBounded(loop), 'run() needed the watchdog').toBe(true);

    expect(reported).toHaveLength(1);
    expect(reported[0][0]).toBe(boom);
    const faultyServer = reported[0][1]!;
    expect(faultyServer.isClosed).toBe(true);
    expect(serverCloses.get(faultyServer), 'onClose gets the thrown error').toBe(boom);
    expect(faulty.eof, 'the faulty client saw its server end close').toBe(true);
    expect(other.received().toString()).toBe('ping');
    expect(serverCloses.size, 'no other server connection closed').toBe(1);
    expect(loop.connections).toBe(2); // the other client and its server end
  });

  // libkqueue reads SO_ERROR to report the reset, which clears it.
  it.skipIf(onLibkqueue)('a peer reset makes read() throw ECONNRESET: onError, then onClose, both with that SysError', () => {
    const reported: unknown[] = [];
    const loop = newLoop({ onHandlerError: (err) => void reported.push(err) });
    const rec = recorder();
    const { conn, peer } = adoptPair(loop, {
      ...rec,
      onReadable(c) {
        while (c.read(loop.readBuffer) > 0);
      },
    });
    // The peer closes with data it never read: the kernel sends a reset.
    conn.write(Buffer.from('never read'));
    sleepMs(10);
    peer.close();

    expect(turnUntil(loop, () => conn.isClosed)).toBe(true);

    expect(rec.log.map(([what]) => what)).toEqual(['error', 'close']);
    const err = rec.log[0][1];
    expect(err).toBeInstanceOf(SysError);
    expect(err).toMatchObject({ code: 'ECONNRESET', syscall: 'read' });
    expect(rec.log[1][1]).toBe(err);
    expect(reported, 'a socket error is not a handler bug').toEqual([]);
  });

  it('a peer half-close reads as 0, and the connection can still write back before closing', () => {
    const loop = newLoop();
    const reads: number[] = [];
    const rec = recorder();
    const { conn, peer } = adoptPair(loop, {
      ...rec,
      onReadable(c) {
        const n = c.read(loop.readBuffer);
        if (n === WOULD_BLOCK) return;
        reads.push(n);
        if (n === 0) {
          c.write(Buffer.from(`got ${reads.length - 1} chunk(s), bye`));
          c.end();
        }
      },
    });
    peer.write(Buffer.from('hello'));
    peer.shutdown('write');

    const reader = new RawReader(peer);
    expect(turnUntil(loop, () => reader.eof && conn.isClosed, () => reader.pump())).toBe(true);

    expect(reads).toEqual([5, 0]);
    expect(reader.received().toString()).toBe('got 1 chunk(s), bye');
    expect(rec.log).toEqual([['close', undefined]]);
    expect(conn.isClosed).toBe(true);
  });

  it('EPIPE on a write after the peer closed closes that connection only', () => {
    const loop = newLoop();
    const rec = recorder();
    let writes = 0;
    // Writes before reading, every time it is readable: the first write after
    // the peer's FIN is answered by a reset, the next one fails with EPIPE.
    const { conn: doomed, peer: gone } = adoptPair(loop, {
      ...rec,
      onReadable(c) {
        c.write(Buffer.from('x'));
        writes++;
        c.read(loop.readBuffer);
      },
    });
    const { conn: alive, peer } = adoptPair(loop, echoHandler(loop));
    gone.close();

    expect(turnUntil(loop, () => doomed.isClosed)).toBe(true);

    expect(writes).toBeGreaterThanOrEqual(1);
    expect(rec.log.map(([what]) => what)).toEqual(['error', 'close']);
    expect(rec.log[0][1]).toMatchObject({ code: 'EPIPE', syscall: 'write' });
    expect(rec.log[1][1]).toBe(rec.log[0][1]);

    // The other connection still works.
    expect(alive.isClosed).toBe(false);
    peer.write(Buffer.from('still here'));
    const reader = new RawReader(peer);
    expect(turnUntil(loop, () => reader.total >= 10, () => reader.pump())).toBe(true);
    expect(reader.received().toString()).toBe('still here');
    expect(loop.connections).toBe(1);
  });
});
