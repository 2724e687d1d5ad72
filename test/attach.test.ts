/**
 * EventLoop.attach(): the loop driven from Node's own event loop (one
 * uv_poll on the epoll fd, callbacks through MakeCallback). Node's timers,
 * promises and node:net I/O must keep running beside it; ref()/unref() must
 * behave like a Node handle; a handler's exception must reach
 * 'uncaughtException' without stopping the loop; detach()/attach() must be
 * repeatable and leave connections open.
 *
 * Loopback only. Every wait is bounded; every child process is started here
 * and killed by its own handle (pid) if it is still running at the end.
 */
import * as net from 'node:net';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { EventLoop, TcpStream, WOULD_BLOCK } from '../src/index';
import { later, runCleanups } from './cleanup';
import { DIST } from './dist';
import { LineChild } from './line-child';
import { NetClient } from './net-client';
import { sleep, waitFor } from './waits';
import { useTempDir } from './temp-dir';
import { ECHO_HANDLER_JS } from './scripts';
import { echoHandler } from './event-loop-util';

// ---------------------------------------------------------------------------
// Helpers local to this file
// ---------------------------------------------------------------------------

afterEach(runCleanups);

/** An attached echo loop on 127.0.0.1, closed after the test. */
function attachedEcho(): { loop: EventLoop; port: number } {
  const loop = new EventLoop();
  later(() => loop.close());
  const listener = loop.listen('127.0.0.1:0', () => echoHandler(loop));
  loop.attach();
  return { loop, port: (listener.socket.localAddress() as { port: number }).port };
}

/** A node:net echo server on 127.0.0.1 (another port), closed after the test. */
async function netEchoServer(): Promise<number> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
    s.pipe(s);
  });
  later(() => {
    for (const s of sockets) s.destroy();
    server.close();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  return (server.address() as net.AddressInfo).port;
}

// --- child processes -------------------------------------------------------

const tmp = useTempDir('edgeloop-attach-');

// ---------------------------------------------------------------------------
// Node keeps running beside the attached loop
// ---------------------------------------------------------------------------

describe('attach(): Node keeps running beside the loop', () => {
  it('setTimeout, promise callbacks and node:net I/O all progress while edgeloop echoes', async () => {
    const { port } = attachedEcho();
    const netPort = await netEchoServer();

    const counts = { edge: 0, net: 0, timer: 0, promise: 0 };
    // Snapshot of the other counters at every timer tick: proves they moved
    // *between* ticks (interleaved), not one after the other.
    const atTick: { edge: number; net: number }[] = [];
    const interval = setInterval(() => {
      counts.timer++;
      atTick.push({ edge: counts.edge, net: counts.net });
      void Promise.resolve().then(() => {
        counts.promise++;
      });
    }, 10);
    later(() => clearInterval(interval));

    const WINDOW_MS = 700;
    const stopAt = Date.now() + WINDOW_MS;
    const pingPong = async (p: number, key: 'edge' | 'net', tag: string): Promise<void> => {
      const c = await NetClient.connect(p);
      // Bounded both by time and by count.
      for (let i = 0; i < 100000 && Date.now() < stopAt; i++) {
        const msg = `${tag}-${i};`;
        expect(await c.exchange(msg)).toBe(msg);
        counts[key]++;
      }
      c.destroy();
    };
    await Promise.all([
      pingPong(port, 'edge', 'a'),
      pingPong(port, 'edge', 'b'),
      pingPong(port, 'edge', 'c'),
      pingPong(netPort, 'net', 'n'),
    ]);
    clearInterval(interval);
    await sleep(0);

    // Liveness thresholds, far below what an idle machine does in 700 ms
    // (thousands of round trips, ~70 ticks).
    expect(counts.edge).toBeGreaterThanOrEqual(50);
    expect(counts.net).toBeGreaterThanOrEqual(20);
    expect(counts.timer).toBeGreaterThanOrEqual(10);
    // Every tick's then() ran.
    expect(counts.promise).toBe(counts.timer);
    // Interleaving: edgeloop and node:net traffic advanced between ticks.
    const edgeSteps = atTick.filter((t, i) => i > 0 && t.edge > atTick[i - 1].edge).length;
    const netSteps = atTick.filter((t, i) => i > 0 && t.net > atTick[i - 1].net).length;
    expect(edgeSteps).toBeGreaterThanOrEqual(5);
    expect(netSteps).toBeGreaterThanOrEqual(5);
  });

  it("the loop's own timers fire through Node while attached", async () => {
    const { loop } = attachedEcho();
    const fired: string[] = [];
    loop.setTimeout(() => fired.push('t30'), 30);
    loop.setTimeout(() => fired.push('t10'), 10);
    const id = loop.setInterval(() => {
      fired.push('i');
      if (fired.filter((f) => f === 'i').length === 3) loop.clearTimer(id);
    }, 5);
    const deadline = Date.now() + 2000;
    while (Date.now() < deadline && !(fired.includes('t30') && fired.filter((f) => f === 'i').length === 3)) {
      await sleep(10);
    }
    expect(fired.indexOf('t10')).toBeGreaterThanOrEqual(0);
    expect(fired.indexOf('t10')).toBeLessThan(fired.indexOf('t30'));
    expect(fired.filter((f) => f === 'i')).toHaveLength(3);
  });

  it('microtasks and nextTicks queued in a handler run right after the wake-up (MakeCallback)', async () => {
    const loop = new EventLoop();
    later(() => loop.close());
    const order: string[] = [];
    const listener = loop.listen('127.0.0.1:0', () => ({
      onReadable(conn) {
        const buf = loop.readBuffer;
        for (;;) {
          const n = conn.read(buf);
          if (n === WOULD_BLOCK || n === 0) break;
        }
        if (order.length > 0) return;
        order.push('handler');
        void Promise.resolve().then(() => order.push('promise'));
        queueMicrotask(() => order.push('microtask'));
        process.nextTick(() => order.push('tick'));
        // The check phase follows the poll phase in the same libuv turn.
        // With a plain call from the uv callback the queues above would not
        // drain until some later callback scope, after this immediate.
        setImmediate(() => order.push('immediate'));
        // No reply: a read callback on the client socket (same process)
        // would drain the queues itself and hide a missing MakeCallback.
      },
    }));
    loop.attach();
    const port = (listener.socket.localAddress() as { port: number }).port;
    const c = await NetClient.connect(port);
    c.sock.write('x');
    const deadline = Date.now() + 2000;
    while (Date.now() < deadline && !order.includes('immediate')) await sleep(5);
    expect(order[0]).toBe('handler');
    expect(new Set(order)).toEqual(new Set(['handler', 'promise', 'microtask', 'tick', 'immediate']));
    expect(order.at(-1)).toBe('immediate');
  });
});

// ---------------------------------------------------------------------------
// ref() / unref(): does the attached loop keep the process alive?
// ---------------------------------------------------------------------------

describe('attach(): ref() and unref()', () => {
  let script = '';
  beforeAll(() => {
    script = tmp.write(
      'ref-child.js',
      `'use strict';
const { EventLoop, WOULD_BLOCK } = require(${JSON.stringify(DIST)});
const mode = process.argv[2];
const loop = new EventLoop();
const listener = loop.listen('127.0.0.1:0', ${ECHO_HANDLER_JS});
if (mode === 'unref-before-attach') loop.unref();
loop.attach();
if (mode === 'unref' || mode === 'unref-timers' || mode === 'unref-serve') loop.unref();
if (mode === 'unref-then-ref') { loop.unref(); loop.ref(); }
if (mode === 'unref-timers') {
  // Loop timers are driven by one Node timer: it must not hold the process either.
  loop.setTimeout(() => {}, 60000);
  loop.setInterval(() => {}, 30000);
}
if (mode === 'unref-serve') {
  // Something else keeps the process alive for a while; the unref'd loop
  // must still serve meanwhile.
  setTimeout(() => {}, 1500);
}
process.on('exit', (code) => { process.stdout.write(JSON.stringify({ event: 'exit', code }) + '\\n'); });
process.stdout.write(JSON.stringify({ event: 'listening', port: listener.socket.localAddress().port }) + '\\n');
`,
    );
  });

  for (const mode of ['unref', 'unref-before-attach', 'unref-timers']) {
    it(`an attached loop with an open listener lets the process exit after ${mode}`, async () => {
      const child = LineChild.node('attach child', [script, ...[mode]]);
      await child.message('listening');
      // Liveness bound, not a speed assertion: an unref'd handle lets the
      // process end as soon as nothing else is pending.
      await child.until(() => !child.alive, 5000, 'the child to exit on its own');
      expect(child.exit).toEqual({ code: 0, signal: null });
      expect(child.stderr).toBe('');
    });
  }

  it('an unref()ed loop still serves while something else keeps the process alive, then lets it exit', async () => {
    const child = LineChild.node('attach child', [script, ...['unref-serve']]);
    const { port } = await child.message('listening');
    const c = await NetClient.connect(port as number);
    expect(await c.exchange('still-served')).toBe('still-served');
    c.destroy();
    await child.until(() => !child.alive, 5000, 'the child to exit on its own');
    expect(child.exit).toEqual({ code: 0, signal: null });
  });

  for (const mode of ['ref', 'unref-then-ref']) {
    it(`a referenced attached loop (${mode}) keeps the process alive and serving`, async () => {
      const child = LineChild.node('attach child', [script, ...[mode]]);
      const { port } = await child.message('listening');
      await sleep(1000);
      expect(child.alive).toBe(true);
      // Alive and serving, not merely stuck.
      const c = await NetClient.connect(port as number);
      expect(await c.exchange('alive')).toBe('alive');
      c.destroy();
      expect(child.alive).toBe(true);
      child.kill();
      await child.until(() => !child.alive, 5000, 'the killed child to exit');
      expect(child.exit?.signal).toBe('SIGKILL');
    });
  }
});

// ---------------------------------------------------------------------------
// Exceptions from handlers
// ---------------------------------------------------------------------------

describe('attach(): an exception in a handler', () => {
  let script = '';
  beforeAll(() => {
    // vitest intercepts uncaught errors in its own process, so the check
    // runs in a plain node child that reports over stdout.
    script = tmp.write(
      'throw-child.js',
      `'use strict';
const { EventLoop, WOULD_BLOCK } = require(${JSON.stringify(DIST)});
const say = (o) => process.stdout.write(JSON.stringify(o) + '\\n');
const loop = new EventLoop();
const listener = loop.listen('127.0.0.1:0', () => ({
  onReadable(conn) {
    const buf = loop.readBuffer;
    for (;;) {
      const n = conn.read(buf);
      if (n === WOULD_BLOCK) return;
      if (n === 0) return conn.end();
      if (buf.toString('latin1', 0, n).includes('boom')) throw new Error('boom from handler');
      conn.write(buf, 0, n);
    }
  },
  onClose(conn, error) { say({ event: 'close', error: error ? error.message : null }); },
}));
if (process.argv[2] === 'listener') {
  process.on('uncaughtException', (err, origin) => {
    say({ event: 'uncaught', message: err && err.message, origin });
  });
}
loop.attach();
say({ event: 'listening', port: listener.socket.localAddress().port });
`,
    );
  });

  it("reaches process 'uncaughtException', closes only that connection, and the loop keeps serving", async () => {
    const child = LineChild.node('attach child', [script, ...['listener']]);
    const { port } = await child.message('listening');
    const before = await NetClient.connect(port as number);
    expect(await before.exchange('hello')).toBe('hello');

    const victim = await NetClient.connect(port as number);
    victim.sock.write('boom');
    const uncaught = await child.message('uncaught');
    expect(uncaught.message).toBe('boom from handler');
    expect(uncaught.origin).toBe('uncaughtException');
    // The loop closed the connection whose handler threw.
    await victim.until(() => victim.closed, 2000, 'the failing connection to close');
    const close = await child.message('close');
    expect(close.error).toBe('boom from handler');

    // The connection opened before keeps working, and new ones are served.
    expect(await before.exchange('still here')).toBe('still here');
    const after = await NetClient.connect(port as number);
    expect(await after.exchange('new one')).toBe('new one');
    expect(before.closed).toBe(false);
    expect(child.alive).toBe(true);
    // Exactly one uncaught error for one throw.
    expect(child.messages().filter((m) => m.event === 'uncaught')).toHaveLength(1);
  });

  it('without a listener it ends the process like any uncaught exception', async () => {
    const child = LineChild.node('attach child', [script, ...['no-listener']]);
    const { port } = await child.message('listening');
    const victim = await NetClient.connect(port as number);
    victim.sock.write('boom');
    await child.until(() => !child.alive, 5000, 'the child to die of the uncaught exception');
    expect(child.exit?.code).toBe(1);
    expect(child.stderr).toContain('boom from handler');
  });
});

// ---------------------------------------------------------------------------
// detach() / attach()
// ---------------------------------------------------------------------------

describe('attach(): detach() and attach() again', () => {
  it('detach() stops dispatching but leaves connections open; attach() resumes them', async () => {
    const { loop, port } = attachedEcho();
    const c = await NetClient.connect(port);
    expect(await c.exchange('one')).toBe('one');
    expect(loop.connections).toBe(1);

    loop.detach();
    expect(loop.state).toBe('idle');
    c.sock.write('two');
    await sleep(200);
    // Not served while detached...
    expect(c.pending).toBe('');
    // ...but not closed either.
    expect(c.closed).toBe(false);
    expect(c.ended).toBe(false);
    expect(loop.connections).toBe(1);

    loop.attach();
    expect(loop.state).toBe('attached');
    // The bytes sent while detached are served once attached (level-triggered).
    expect(await c.read(3)).toBe('two');
    expect(await c.exchange('three')).toBe('three');
    // New connections too.
    const d = await NetClient.connect(port);
    expect(await d.exchange('new')).toBe('new');
    expect(loop.connections).toBe(2);
  });

  it('survives several detach/attach cycles, including back-to-back in one tick', async () => {
    const { loop, port } = attachedEcho();
    const c = await NetClient.connect(port);
    for (let i = 0; i < 5; i++) {
      loop.detach();
      loop.attach(); // same tick: the previous uv_poll is still closing
      expect(await c.exchange(`cycle-${i}`)).toBe(`cycle-${i}`);
      loop.detach();
      await sleep(5);
      loop.attach();
      const d = await NetClient.connect(port);
      expect(await d.exchange(`fresh-${i}`)).toBe(`fresh-${i}`);
      d.destroy();
    }
    expect(c.closed).toBe(false);
  });

  it('a connection accepted before attach() is served once attached', async () => {
    const loop = new EventLoop();
    later(() => loop.close());
    const listener = loop.listen('127.0.0.1:0', () => echoHandler(loop));
    loop.turn(0); // the listener's accept reaches the kernel
    // A loopback connect finishes its handshake inside the syscall, so the
    // kernel has accepted (io_uring: completed the accept) before attach().
    const client = TcpStream.connect(listener.socket.localAddress());
    later(() => client.close());
    loop.attach();
    await waitFor(() => loop.connections === 1, 2000, 'the early connection to be accepted');
    expect(client.write(Buffer.from('early'))).toBe(5);
    const got = Buffer.alloc(5);
    let have = 0;
    await waitFor(
      () => {
        const n = client.read(got, have);
        if (n !== WOULD_BLOCK) have += n;
        return have === got.length;
      },
      2000,
      'the echo of the early connection',
    );
    expect(got.toString()).toBe('early');
  });

  it('attach() twice throws; detach() when not attached is a no-op; stop() detaches', async () => {
    const { loop, port } = attachedEcho();
    expect(() => loop.attach()).toThrow(/attached/);
    loop.stop();
    expect(loop.state).toBe('idle');
    loop.detach();
    expect(loop.state).toBe('idle');
    loop.attach();
    const c = await NetClient.connect(port);
    expect(await c.exchange('ok')).toBe('ok');
  });
});
