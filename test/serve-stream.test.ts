/**
 * serveStream(): one already connected stream served like an accepted
 * connection (what edgeloop-identd --inetd does with fd 0).
 *
 * The loop runs in attach() mode in this process; the stream's peer is a
 * node:net client. Loopback only; every wait is bounded; everything opened
 * is closed after each test.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { EventLoop, LineCodec, serveStream, TcpStream, WOULD_BLOCK } from '../src/index';
import { later, runCleanups } from './cleanup';
import { loopbackListener } from './identd-spawn';
import { NetClient } from './net-client';
import { sleep } from './waits';

afterEach(runCleanups);

/** A node:net client and the accepted end as a TcpStream. */
async function pair(): Promise<{ client: NetClient; server: TcpStream }> {
  const { listener, port } = loopbackListener();
  const client = await NetClient.connect(port);
  for (let i = 0; i < 600; i++) {
    const server = listener.accept();
    if (server !== WOULD_BLOCK) {
      later(() => server.close());
      return { client, server };
    }
    await sleep(5);
  }
  throw new Error('accept timed out');
}

function attachedLoop(): EventLoop {
  const loop = new EventLoop();
  later(() => loop.close());
  loop.attach();
  return loop;
}

describe('serveStream()', () => {
  it('answers each request line on the stream, in order', async () => {
    const loop = attachedLoop();
    const { client, server } = await pair();
    serveStream(loop, server, { codec: () => new LineCodec({ maxLength: 100 }), service: (line: string) => line.toUpperCase() });
    client.write('ab\r\ncd\r\n');
    expect(await client.lines(2)).toEqual(['AB', 'CD']);
  });

  it('calls onClose once the peer ended and the answers went out', async () => {
    const loop = attachedLoop();
    const { client, server } = await pair();
    let closed = 0;
    serveStream(loop, server, {
      codec: () => new LineCodec({ maxLength: 100 }),
      service: (line: string) => line,
      onClose: () => closed++,
    });
    client.write('x\r\n');
    client.sock.end();
    await client.waitClosed();
    expect({ text: client.text, closed }).toEqual({ text: 'x\r\n', closed: 1 });
  });

  it('closes the stream after idleTimeoutMs without requests', async () => {
    const loop = attachedLoop();
    const { client, server } = await pair();
    const errors: (string | undefined)[] = [];
    serveStream(loop, server, {
      codec: () => new LineCodec({ maxLength: 100 }),
      service: (line: string) => line,
      idleTimeoutMs: 100,
      onClose: (_ctx, err) => errors.push((err as { code?: string } | undefined)?.code),
    });
    await client.waitClosed();
    expect(errors).toEqual(['ERR_IDLE_TIMEOUT']);
  });

  it('rejects a bad idleTimeoutMs before adopting the stream', async () => {
    const loop = attachedLoop();
    const { server } = await pair();
    expect(() => serveStream(loop, server, { codec: new LineCodec(), service: (l: string) => l, idleTimeoutMs: -1 })).toThrow(RangeError);
    expect(loop.connections).toBe(0);
  });
});
