/**
 * EventLoop: listen + echo driven three ways — run() (the loop owns the
 * thread, so the clients are loop connections too), turn(), and attach()
 * with node:net clients (Node's loop stays free).
 */
import * as net from 'node:net';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TcpStream, type Connection } from '../src/index';
import { addressOf, collector, echoHandler, newLoop, pattern, runBounded, turnUntil } from './event-loop-util';
import { assertDistFresh } from './dist';
import { own, runCleanups } from './cleanup';
import { within } from './waits';
import { waitWritable } from './util';
import { onLibkqueue } from './platform';

beforeAll(assertDistFresh);
afterEach(runCleanups);

/** More than one read and one socket buffer's worth, so queues and repeats happen. */
const SIZE = 300_000;

describe('EventLoop echo', () => {
  it('run(): echoes to a client that is itself a loop connection, then stop() ends run()', () => {
    const loop = newLoop();
    const listener = loop.listen('127.0.0.1:0', () => echoHandler(loop));
    const data = pattern(0, SIZE);
    const client = collector(loop, (total) => {
      if (total >= SIZE) loop.stop();
    });
    const stream = TcpStream.connect(addressOf(listener));
    waitWritable(stream);
    const conn = loop.adopt(stream, client);
    conn.write(data);

    const onItsOwn = runBounded(loop);

    expect(onItsOwn, 'run() needed the watchdog').toBe(true);
    expect(client.total).toBe(SIZE);
    expect(client.received().equals(data)).toBe(true);
  });

  it('turn(): echoes to a loop-driven client', () => {
    const loop = newLoop();
    let accepted = 0;
    const listener = loop.listen('127.0.0.1:0', () => {
      accepted++;
      return echoHandler(loop);
    });
    const data = pattern(7, SIZE);
    const client = collector(loop);
    const stream = TcpStream.connect(addressOf(listener));
    waitWritable(stream);
    loop.adopt(stream, client).write(data);

    expect(turnUntil(loop, () => client.total >= SIZE)).toBe(true);
    expect(accepted).toBe(1);
    expect(client.received().equals(data)).toBe(true);
  });

  it('turn(): the server end closes after the client ends, and both connections leave the loop', () => {
    const loop = newLoop();
    const closed: Array<Error | undefined> = [];
    const listener = loop.listen('127.0.0.1:0', () => ({
      ...echoHandler(loop),
      onClose: (_c: Connection, err?: Error) => void closed.push(err),
    }));
    const client = collector(loop);
    const stream = TcpStream.connect(addressOf(listener));
    waitWritable(stream);
    const conn = loop.adopt(stream, client);
    conn.write(Buffer.from('bye'));
    expect(turnUntil(loop, () => client.total >= 3)).toBe(true);
    conn.stream.shutdown('write');

    expect(turnUntil(loop, () => client.eof && closed.length === 1)).toBe(true);
    expect(closed).toEqual([undefined]);
    expect(client.received().toString()).toBe('bye');
    expect(listener.connections).toBe(0);
    expect(loop.connections).toBe(0);
  });

  // libkqueue's kqueue fd is a pipe's write end, which uv_poll never sees readable.
  it.skipIf(onLibkqueue)('attach(): echoes to several node:net clients at once', async () => {
    const loop = newLoop();
    const listener = loop.listen('127.0.0.1:0', () => echoHandler(loop));
    loop.attach();
    expect(loop.state).toBe('attached');
    const port = addressOf(listener).port;

    const exchange = (data: Buffer): Promise<Buffer> =>
      new Promise((resolve, reject) => {
        const chunks: Buffer[] = [];
        const socket = net.connect(port, '127.0.0.1', () => socket.end(data));
        own({ close: () => socket.destroy() });
        socket.on('data', (c: Buffer) => chunks.push(c));
        socket.on('end', () => resolve(Buffer.concat(chunks)));
        socket.on('error', reject);
      });
    const inputs = [pattern(1, SIZE), pattern(2, SIZE), pattern(3, 10)];

    const outputs = await within(Promise.all(inputs.map(exchange)), 10_000, 'echo');

    for (let i = 0; i < inputs.length; i++) expect(outputs[i].equals(inputs[i]), `client ${i}`).toBe(true);
  });
});
