/**
 * Listeners on the io_uring backend accept through one multishot accept in
 * the ring, not through the epoll set. (Accepting itself, limits and the
 * EMFILE backoff are covered by the EventLoop and emfile suites, which run
 * on both backends.)
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { EventLoop, TcpListener, ioUringUnavailableReason, type Connection } from '../src/index';
import { native } from '../src/native';
import { own, runCleanups } from './cleanup';
import { KEY_MASK, abaScene } from './event-loop-util';
import { waitFor } from './waits';

afterEach(runCleanups);

const reason = ioUringUnavailableReason();
const ringIt = reason === '' ? it : it.skip;
if (reason !== '') process.stdout.write(`io_uring accept tests skipped: ${reason}\n`);
const epollIt = native.backend === 'epoll' ? it : it.skip;

/** The fds an epoll instance watches, from /proc/self/fdinfo. */
function epollTargets(epfd: number): number[] {
  const info = fs.readFileSync(`/proc/self/fdinfo/${epfd}`, 'latin1');
  return [...info.matchAll(/^tfd:\s+(\d+)/gm)].map((m) => Number(m[1]));
}

function connectAll(port: number, n: number): Promise<net.Socket[]> {
  return Promise.all(
    Array.from({ length: n }, () => new Promise<net.Socket>((resolve, reject) => {
      const s = net.connect(port, '127.0.0.1', () => resolve(s));
      s.on('error', reject);
    })),
  );
}

describe('io_uring listeners', () => {
  ringIt('keep the listener out of the epoll set: the ring accepts', async () => {
    const loop = own(new EventLoop({ backend: 'io_uring' }));
    let accepted = 0;
    const listener = loop.listen('127.0.0.1:0', () => {
      accepted++;
      return {};
    });
    expect(epollTargets(loop.poll.fd)).not.toContain(listener.socket.fd);
    loop.attach();
    const [client] = await connectAll(listener.socket.localAddress().port, 1);
    await waitFor(() => accepted === 1, 2000, 'the accept');
    client.destroy();
  });

  epollIt('on epoll, by contrast, sit in the epoll set', () => {
    const loop = own(new EventLoop({ backend: 'epoll' }));
    const listener = loop.listen('127.0.0.1:0', () => ({}));
    expect(epollTargets(loop.poll.fd)).toContain(listener.socket.fd);
  });

  ringIt('free their port as they close: the ring lets go of the socket', () => {
    const loop = own(new EventLoop({ backend: 'io_uring' }));
    const listener = loop.listen('127.0.0.1:0', () => ({}));
    const port = listener.socket.localAddress().port;
    listener.close();
    const again = own(TcpListener.bind(`127.0.0.1:${port}`));
    expect(again.localAddress().port).toBe(port);
  });

  ringIt('close the connections accepted behind a listener closed in the same turn', async () => {
    const loop = own(new EventLoop({ backend: 'io_uring' }));
    let accepted = 0;
    const listener = loop.listen('127.0.0.1:0', () => {
      accepted++;
      listener.close(); // the first connection's factory closes the listener
      return {};
    });
    const clients = await connectAll(listener.socket.localAddress().port, 20);
    const closed = clients.map((s) => new Promise<void>((resolve) => s.on('close', () => resolve())));
    clients.forEach((s) => s.on('error', () => {}));
    loop.turn(0);
    loop.turn(0);
    expect(accepted).toBe(1);
    // Every other connection was accepted by the kernel; none may be left open.
    loop.attach();
    await Promise.race([
      Promise.all(closed.slice(1)),
      new Promise((_, reject) => setTimeout(() => reject(new Error('a connection was left open')), 3000)),
    ]);
    clients[0].destroy();
  });

  ringIt('drop a closed connection\'s completion that is behind an accept which reused its key (ABA)', () => {
    const loop = own(new EventLoop({ backend: 'io_uring' }));
    const scene = abaScene(loop, (sc) => ({
      onData(conn: Connection): void {
        if (conn === sc.x) {
          sc.log.push('X data');
          sc.a.close(); // A's completion is still ahead in this turn's records
        } else if (conn === sc.a) sc.log.push('A data');
        else if (conn === sc.b) sc.log.push('B data');
      },
    }));
    const { a, log } = scene;

    // Completions come in the order they happened: X's bytes, B's accept, A's bytes.
    scene.burst();
    expect(loop.turn(1000), 'X, the accept and A in one turn').toBe(3);

    expect(scene.b, 'B was accepted in that turn').not.toBeNull();
    const bId = (scene.b as Connection).id;
    expect(bId & KEY_MASK, 'B took A\'s freed key (LIFO reuse)').toBe(a.id & KEY_MASK);
    expect(bId).not.toBe(a.id);
    // A's bytes, third in the turn, went nowhere: not to B under A's key.
    expect(log).toEqual(['X data', 'accept B']);
  });
});
