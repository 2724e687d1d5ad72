/**
 * serve(): a codec and a service on the EventLoop, pipelined.
 *
 * Most tests run the loop in attach() mode in this process and talk to it
 * with node:net clients. The run() mode tests run the server in a worker
 * thread (run() blocks its thread) built from the compiled package in
 * dist/ (`npm test` builds it first).
 *
 * Loopback only; every wait is bounded in time; everything opened is closed
 * after each test (loops, sockets, workers).
 */
import { Worker } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import {
  EventLoop,
  FrameError,
  LineCodec,
  Pending,
  serve,
  type ServeOptions,
  type ServiceContext,
} from '../src/index';
import { later, runCleanups } from './cleanup';
import { DIST_INDEX } from './dist';
import { NetClient } from './net-client';
import { sleep, waitFor } from './waits';

// ---------------------------------------------------------------------------
// Helpers local to this file
// ---------------------------------------------------------------------------

afterEach(runCleanups);

interface Served {
  loop: EventLoop;
  port: number;
  /** Every connection's context, in connect order. */
  contexts: ServiceContext[];
  /** Every onClose call. */
  closes: { ctx: ServiceContext; error?: Error }[];
}

/** serve() on 127.0.0.1:0 with an attached loop; closed after the test. */
function attachedServe<Req, Res>(options: ServeOptions<Req, Res>): Served {
  const loop = new EventLoop();
  later(() => loop.close());
  const contexts: ServiceContext[] = [];
  const closes: { ctx: ServiceContext; error?: Error }[] = [];
  const listener = serve(loop, '127.0.0.1:0', {
    ...options,
    onConnect: (ctx) => {
      contexts.push(ctx);
      options.onConnect?.(ctx);
    },
    onClose: (ctx, error) => {
      closes.push({ ctx, error });
      options.onClose?.(ctx, error);
    },
  });
  loop.attach();
  return { loop, port: (listener.socket.localAddress() as { port: number }).port, contexts, closes };
}

/** An upper-casing line service's expected response for `lines`. */
function upper(lines: string[]): string {
  return lines.map((l) => `${l.toUpperCase()}\r\n`).join('');
}

// --- run() mode: the server in a worker thread ------------------------------

const RUN_MODE_WORKER = `
'use strict';
const { parentPort, workerData } = require('node:worker_threads');
const { EventLoop, serve, LineCodec, Pending } = require(workerData.dist);
const loop = new EventLoop();
let calls = 0;
const listener = serve(loop, '127.0.0.1:0', {
  codec: () => new LineCodec(),
  service: (line) => {
    calls++;
    parentPort.postMessage({ type: 'call', line });
    if (workerData.kind === 'promise') return Promise.resolve(line.toUpperCase());
    // A Pending settled later by a loop timer: only the loop's own machinery runs.
    const p = new Pending();
    loop.setTimeout(() => p.resolve(line.toUpperCase()), 10);
    return p;
  },
  onClose: (ctx, error) => {
    parentPort.postMessage({ type: 'close', error: error ? error.message : null, state: loop.state });
  },
});
parentPort.postMessage({ type: 'listening', port: listener.socket.localAddress().port, handle: loop.handle() });
loop.run();
loop.close();
parentPort.postMessage({ type: 'stopped', calls });
`;

interface RunModeServer {
  port: number;
  messages: Record<string, unknown>[];
  worker: Worker;
  stop(): Promise<void>;
}

/** Starts a run()-mode serve() in a worker; stopped and ended after the test. */
async function runModeServer(kind: 'promise' | 'pending'): Promise<RunModeServer> {
  const worker = new Worker(RUN_MODE_WORKER, { eval: true, workerData: { dist: DIST_INDEX, kind } });
  const messages: Record<string, unknown>[] = [];
  let exited = false;
  const exit = new Promise<void>((resolve) => worker.once('exit', () => {
    exited = true;
    resolve();
  }));
  worker.on('error', () => {
    // reported through the exit and the listening timeout
  });
  let handle: unknown = null;
  const listening = new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the run()-mode worker did not start listening in 10 s')), 10000);
    worker.on('message', (m: Record<string, unknown>) => {
      messages.push(m);
      if (m.type === 'listening') {
        clearTimeout(timer);
        handle = m.handle;
        resolve(m.port as number);
      }
    });
    void exit.then(() => {
      clearTimeout(timer);
      reject(new Error('the run()-mode worker exited before listening'));
    });
  });
  const stop = async (): Promise<void> => {
    if (exited) return;
    if (handle !== null) {
      try {
        EventLoop.stopRemote(handle as Parameters<typeof EventLoop.stopRemote>[0]);
      } catch {
        // the loop closed already
      }
    }
    const timer = setTimeout(() => void worker.terminate(), 5000);
    await exit;
    clearTimeout(timer);
  };
  later(async () => {
    await stop();
    await worker.terminate();
  });
  const port = await listening;
  return { port, messages, worker, stop };
}

// ---------------------------------------------------------------------------
// Framing across reads
// ---------------------------------------------------------------------------

describe('serve(): framing', () => {
  it('decodes a line sent one byte at a time across many reads', async () => {
    const requests: string[] = [];
    const { port } = attachedServe({
      codec: () => new LineCodec(),
      service: (line: string) => {
        requests.push(line);
        return line.toUpperCase();
      },
    });
    const c = await NetClient.connect(port);
    const line = 'hello world\r\n';
    for (const ch of line) {
      c.write(ch);
      await sleep(5);
    }
    await c.receivedAtLeast(13);
    expect(c.text).toBe('HELLO WORLD\r\n');
    expect(requests).toEqual(['hello world']);
  });

  it('does not call the service before the terminator arrives', async () => {
    const requests: string[] = [];
    const { port, contexts } = attachedServe({
      codec: () => new LineCodec(),
      service: (line: string) => {
        requests.push(line);
        return line;
      },
    });
    const c = await NetClient.connect(port);
    c.write('abc');
    await waitFor(() => contexts.length === 1, 2000, 'the connection');
    await sleep(50);
    expect(requests).toEqual([]);
    c.write('\n');
    await c.receivedAtLeast(5);
    expect(requests).toEqual(['abc']);
  });

  it('answers many frames that arrive in one read, in order', async () => {
    const requests: string[] = [];
    const { port } = attachedServe({
      codec: () => new LineCodec(),
      service: (line: string) => {
        requests.push(line);
        return line.toUpperCase();
      },
    });
    const c = await NetClient.connect(port);
    const lines = Array.from({ length: 100 }, (_, i) => `req-${i}`);
    c.write(lines.map((l) => `${l}\n`).join(''));
    const expected = upper(lines);
    await c.receivedAtLeast(expected.length);
    expect(c.text).toBe(expected);
    expect(requests).toEqual(lines);
  });

  it('carries a partial line over to the next read when it follows whole lines', async () => {
    const { port } = attachedServe({ codec: () => new LineCodec(), service: (line: string) => line.toUpperCase() });
    const c = await NetClient.connect(port);
    c.write('one\ntwo\nthr');
    await c.receivedAtLeast(upper(['one', 'two']).length);
    await sleep(20);
    c.write('ee\n');
    await c.receivedAtLeast(upper(['one', 'two', 'three']).length);
    expect(c.text).toBe(upper(['one', 'two', 'three']));
  });

  it('sends nothing for a request whose service result is undefined, and answers the rest', async () => {
    const { port } = attachedServe({
      codec: () => new LineCodec(),
      service: (line: string) => (line === 'quiet' ? undefined : line.toUpperCase()),
    });
    const c = await NetClient.connect(port);
    c.write('a\nquiet\nb\n');
    await c.receivedAtLeast(upper(['a', 'b']).length);
    await sleep(30);
    expect(c.text).toBe(upper(['a', 'b']));
  });
});

// ---------------------------------------------------------------------------
// Decode errors
// ---------------------------------------------------------------------------

describe('serve(): decode errors', () => {
  it('passes an over-long line to onDecodeError, writes earlier responses first, then its reply, then closes', async () => {
    const decodeErrors: Error[] = [];
    const { port, closes } = attachedServe<string, string>({
      codec: () => new LineCodec({ maxLength: 10 }),
      // Earlier requests complete later than the decode error is seen.
      service: (line) => new Promise<string>((resolve) => setTimeout(() => resolve(line.toUpperCase()), 30)),
      onDecodeError: (err) => {
        decodeErrors.push(err);
        return 'ERR line too long';
      },
    });
    const c = await NetClient.connect(port);
    c.write(`ok1\nok2\n${'x'.repeat(50)}\nnever\n`);
    await c.waitClosed();
    expect(c.text).toBe('OK1\r\nOK2\r\nERR line too long\r\n');
    expect(decodeErrors).toHaveLength(1);
    expect(decodeErrors[0]).toBeInstanceOf(FrameError);
    expect((decodeErrors[0] as FrameError).code).toBe('ERR_FRAME_TOO_LONG');
    await waitFor(() => closes.length === 1, 2000, 'onClose');
  });

  it('closes the connection without a reply when onDecodeError returns undefined', async () => {
    const { port } = attachedServe<string, string>({
      codec: () => new LineCodec({ maxLength: 10 }),
      service: (line) => line.toUpperCase(),
      onDecodeError: () => undefined,
    });
    const c = await NetClient.connect(port);
    c.write(`ok\n${'y'.repeat(40)}\n`);
    await c.waitClosed();
    expect(c.text).toBe('OK\r\n');
  });

  it('delivers earlier responses and the onDecodeError reply when the over-long line is larger than one read', async () => {
    const { port } = attachedServe<string, string>({
      codec: () => new LineCodec({ maxLength: 10 }),
      service: (line) => line.toUpperCase(),
      onDecodeError: () => 'ERR',
    });
    const c = await NetClient.connect(port);
    // 256 KiB: more than the loop's 64 KiB read buffer, so unread input is
    // still queued in the kernel when the server gives up on the connection.
    c.write(`ok\n${'x'.repeat(256 * 1024)}\n`);
    await c.waitClosed(5000);
    expect(c.text).toBe('OK\r\nERR\r\n');
  });

  it('reports an over-long line that has no terminator yet, without waiting for one', async () => {
    const decodeErrors: Error[] = [];
    const { port } = attachedServe<string, string>({
      codec: () => new LineCodec({ maxLength: 10 }),
      service: (line) => line,
      onDecodeError: (err) => {
        decodeErrors.push(err);
        return 'ERR';
      },
    });
    const c = await NetClient.connect(port);
    c.write('z'.repeat(40)); // no LF, ever
    await c.waitClosed();
    expect(c.text).toBe('ERR\r\n');
    expect(decodeErrors).toHaveLength(1);
  });

  it('never hands the service a truncated prefix of an over-long line', async () => {
    const requests: string[] = [];
    const { port } = attachedServe<string, string>({
      codec: () => new LineCodec({ maxLength: 10 }),
      service: (line) => {
        requests.push(line);
        return line;
      },
      onDecodeError: () => 'ERR',
    });
    const c = await NetClient.connect(port);
    // Sent in pieces so that several reads see a growing partial line.
    for (let i = 0; i < 5; i++) {
      c.write('abcde');
      await sleep(5);
    }
    c.write('\n');
    await c.waitClosed();
    expect(requests).toEqual([]);
    expect(c.text).toBe('ERR\r\n');
  });
});

// ---------------------------------------------------------------------------
// Ordering
// ---------------------------------------------------------------------------

describe('serve(): response order', () => {
  it('writes Pending responses in request order when later requests complete first', async () => {
    const pendings: Pending<string>[] = [];
    const { port } = attachedServe<string, string>({
      codec: () => new LineCodec(),
      service: () => {
        const p = new Pending<string>();
        pendings.push(p);
        return p;
      },
    });
    const c = await NetClient.connect(port);
    c.write('first\nsecond\nthird\n');
    await waitFor(() => pendings.length === 3, 2000, 'three service calls');
    pendings[2].resolve('R3');
    pendings[1].resolve('R2');
    await sleep(50);
    expect(c.text).toBe(''); // held back behind the first request
    pendings[0].resolve('R1');
    await c.receivedAtLeast('R1\r\nR2\r\nR3\r\n'.length);
    expect(c.text).toBe('R1\r\nR2\r\nR3\r\n');
  });

  it('writes Promise responses in request order when later requests complete first (attach mode)', async () => {
    const resolvers: ((v: string) => void)[] = [];
    const { port } = attachedServe<string, string>({
      codec: () => new LineCodec(),
      service: () => new Promise<string>((resolve) => resolvers.push(resolve)),
    });
    const c = await NetClient.connect(port);
    c.write('1\n2\n3\n4\n');
    await waitFor(() => resolvers.length === 4, 2000, 'four service calls');
    for (let i = 3; i >= 0; i--) resolvers[i](`R${i + 1}`);
    await c.receivedAtLeast('R1\r\nR2\r\nR3\r\nR4\r\n'.length);
    expect(c.text).toBe('R1\r\nR2\r\nR3\r\nR4\r\n');
  });

  it('writes the first response as soon as it is ready even while later ones are pending', async () => {
    const pendings: Pending<string>[] = [];
    const { port } = attachedServe<string, string>({
      codec: () => new LineCodec(),
      service: () => {
        const p = new Pending<string>();
        pendings.push(p);
        return p;
      },
    });
    const c = await NetClient.connect(port);
    c.write('a\nb\n');
    await waitFor(() => pendings.length === 2, 2000, 'two service calls');
    pendings[0].resolve('A');
    await c.receivedAtLeast(3);
    expect(c.text).toBe('A\r\n');
    pendings[1].resolve('B');
    await c.receivedAtLeast(6);
    expect(c.text).toBe('A\r\nB\r\n');
  });
});

// ---------------------------------------------------------------------------
// Backpressure: maxInFlight
// ---------------------------------------------------------------------------

describe('serve(): maxInFlight', () => {
  it('stops reading at maxInFlight requests in flight while the client keeps sending', async () => {
    const pendings: Pending<string>[] = [];
    const { port, contexts } = attachedServe<string, string>({
      codec: () => new LineCodec(),
      maxInFlight: 2,
      service: () => {
        const p = new Pending<string>();
        pendings.push(p);
        return p;
      },
    });
    const c = await NetClient.connect(port);
    c.write('r0\nr1\nr2\n');
    await waitFor(() => pendings.length === 2, 2000, 'two service calls');
    const conn = contexts[0].conn;
    expect(conn.isReading).toBe(false);
    // The client keeps sending; nothing more reaches the service.
    for (let i = 3; i < 10; i++) {
      c.write(`r${i}\n`);
      await sleep(10);
    }
    expect(pendings.length).toBe(2);
    expect(conn.isReading).toBe(false);
  });

  it('resumes reading after completions and serves every request in order', async () => {
    const pendings: Pending<string>[] = [];
    const requests: string[] = [];
    const { port, contexts } = attachedServe<string, string>({
      codec: () => new LineCodec(),
      maxInFlight: 2,
      service: (line) => {
        requests.push(line);
        const p = new Pending<string>();
        pendings.push(p);
        return p;
      },
    });
    const c = await NetClient.connect(port);
    const lines = Array.from({ length: 10 }, (_, i) => `r${i}`);
    c.write(lines.map((l) => `${l}\n`).join(''));
    await waitFor(() => pendings.length === 2, 2000, 'two service calls');
    const conn = contexts[0].conn;
    // Complete requests one at a time; each completion lets exactly one more in.
    for (let done = 0; done < lines.length; done++) {
      expect(pendings.length - done).toBeLessThanOrEqual(2);
      pendings[done].resolve(requests[done].toUpperCase());
      const want = Math.min(lines.length, done + 3);
      await waitFor(() => pendings.length >= want || done + 1 === lines.length, 2000, `service call ${want}`);
    }
    const expected = upper(lines);
    await c.receivedAtLeast(expected.length);
    expect(c.text).toBe(expected);
    expect(requests).toEqual(lines);
    expect(conn.isReading).toBe(true);
  });

  it('with maxInFlight 1 and instant responses still serves a long pipeline', async () => {
    const { port } = attachedServe<string, string>({
      codec: () => new LineCodec(),
      maxInFlight: 1,
      service: (line) => line.toUpperCase(),
    });
    const c = await NetClient.connect(port);
    const lines = Array.from({ length: 500 }, (_, i) => `line-${i}`);
    c.write(lines.map((l) => `${l}\n`).join(''));
    const expected = upper(lines);
    await c.receivedAtLeast(expected.length, 5000);
    expect(c.text).toBe(expected);
  });

  it('rejects a maxInFlight that is not a positive integer', () => {
    const loop = new EventLoop();
    later(() => loop.close());
    expect(() => serve(loop, '127.0.0.1:0', { codec: new LineCodec(), service: (l: string) => l, maxInFlight: 0 })).toThrow(
      RangeError,
    );
  });
});

// ---------------------------------------------------------------------------
// Service failures
// ---------------------------------------------------------------------------

describe('serve(): service failures', () => {
  it('a service that throws closes only that connection, with the error in onClose', async () => {
    const boom = new Error('service exploded');
    const { port, closes } = attachedServe<string, string>({
      codec: () => new LineCodec(),
      service: (line) => {
        if (line === 'boom') throw boom;
        return line.toUpperCase();
      },
    });
    const bad = await NetClient.connect(port);
    const good = await NetClient.connect(port);
    good.write('before\n');
    await good.receivedAtLeast(8);
    bad.write('boom\n');
    await bad.waitClosed();
    await waitFor(() => closes.length === 1, 2000, 'onClose');
    expect(closes[0].error).toBe(boom);
    good.write('after\n');
    await good.receivedAtLeast(15);
    expect(good.text).toBe('BEFORE\r\nAFTER\r\n');
    expect(good.closed).toBe(false);
  });

  it('a service Promise that rejects closes that connection with the rejection', async () => {
    const { port, closes } = attachedServe<string, string>({
      codec: () => new LineCodec(),
      service: () => Promise.reject(new Error('async failure')),
    });
    const c = await NetClient.connect(port);
    c.write('x\n');
    await c.waitClosed();
    await waitFor(() => closes.length === 1, 2000, 'onClose');
    expect(closes[0].error?.message).toBe('async failure');
  });

  it('does not hand later requests from the same read to the service once it threw and closed the connection', async () => {
    const requests: string[] = [];
    const { port } = attachedServe<string, string>({
      codec: () => new LineCodec(),
      service: (line) => {
        requests.push(line);
        if (line === 'boom') throw new Error('boom');
        return line;
      },
    });
    const c = await NetClient.connect(port);
    c.write('boom\nafter1\nafter2\n');
    await c.waitClosed();
    await sleep(20);
    expect(requests).toEqual(['boom']);
  });

  it('onServiceError turns a thrown error into a response and keeps the connection open', async () => {
    const { port } = attachedServe<string, string>({
      codec: () => new LineCodec(),
      service: (line) => {
        if (line === 'bad') throw new Error('nope');
        return line.toUpperCase();
      },
      onServiceError: (err) => `ERR ${(err as Error).message}`,
    });
    const c = await NetClient.connect(port);
    c.write('a\nbad\nb\n');
    const expected = 'A\r\nERR nope\r\nB\r\n';
    await c.receivedAtLeast(expected.length);
    expect(c.text).toBe(expected);
    expect(c.closed).toBe(false);
  });
});

// ---------------------------------------------------------------------------
// EOF
// ---------------------------------------------------------------------------

describe('serve(): EOF', () => {
  it('writes responses still in flight at EOF, then closes the connection', async () => {
    const pendings: Pending<string>[] = [];
    const { port, contexts, closes } = attachedServe<string, string>({
      codec: () => new LineCodec(),
      service: () => {
        const p = new Pending<string>();
        pendings.push(p);
        return p;
      },
    });
    const c = await NetClient.connect(port);
    c.write('a\nb\n');
    c.sock.end(); // half-close: we still read
    await waitFor(() => pendings.length === 2, 2000, 'two service calls');
    const conn = contexts[0].conn;
    // The server has seen EOF (it stops reading) but keeps the connection.
    await waitFor(() => !conn.isReading, 2000, 'the server to see EOF');
    await sleep(20);
    expect(conn.isClosed).toBe(false);
    expect(c.ended).toBe(false);
    pendings[1].resolve('B');
    pendings[0].resolve('A');
    await c.until(() => c.ended, 3000, 'the server to close');
    expect(c.text).toBe('A\r\nB\r\n');
    await waitFor(() => closes.length === 1, 2000, 'onClose');
    expect(closes[0].error).toBeUndefined();
  });

  it('serves every pipelined request before closing when EOF arrives behind a full maxInFlight', async () => {
    const { port } = attachedServe<string, string>({
      codec: () => new LineCodec(),
      maxInFlight: 2,
      service: (line) => new Promise<string>((resolve) => setTimeout(() => resolve(line.toUpperCase()), 5)),
    });
    const c = await NetClient.connect(port);
    const lines = Array.from({ length: 8 }, (_, i) => `e${i}`);
    c.write(lines.map((l) => `${l}\n`).join(''));
    c.sock.end();
    await c.until(() => c.ended, 3000, 'the server to close');
    expect(c.text).toBe(upper(lines));
  });

  it('closes at once on EOF when nothing is in flight', async () => {
    const { port, closes } = attachedServe<string, string>({ codec: () => new LineCodec(), service: (l) => l });
    const c = await NetClient.connect(port);
    c.write('x\n');
    await c.receivedAtLeast(3);
    c.sock.end();
    await c.until(() => c.ended, 3000, 'the server to close');
    await waitFor(() => closes.length === 1, 2000, 'onClose');
  });
});

// ---------------------------------------------------------------------------
// Idle timeout
// ---------------------------------------------------------------------------

describe('serve(): idleTimeoutMs', () => {
  it('does not close a connection as idle while a request is in flight past the timeout', async () => {
    const pendings: Pending<string>[] = [];
    const { port, closes } = attachedServe<string, string>({
      codec: () => new LineCodec(),
      idleTimeoutMs: 100,
      service: () => {
        const p = new Pending<string>();
        pendings.push(p);
        return p;
      },
    });
    const c = await NetClient.connect(port);
    c.write('slow\n');
    await waitFor(() => pendings.length === 1, 2000, 'the service call');
    await sleep(400); // four idle timeouts with no traffic, the request still in flight
    expect(c.closed).toBe(false);
    expect(closes).toEqual([]);
    pendings[0].resolve('DONE');
    await c.receivedAtLeast(6);
    expect(c.text).toBe('DONE\r\n');
  });

  it('closes a connection with nothing in flight once it stays idle', async () => {
    const { port, closes } = attachedServe<string, string>({
      codec: () => new LineCodec(),
      idleTimeoutMs: 100,
      service: (line) => line,
    });
    const c = await NetClient.connect(port);
    c.write('x\n');
    await c.receivedAtLeast(3);
    await c.waitClosed(5000);
    await waitFor(() => closes.length === 1, 2000, 'onClose');
    expect((closes[0].error as Error & { code?: string }).code).toBe('ERR_IDLE_TIMEOUT');
  });
});

// ---------------------------------------------------------------------------
// run() mode
// ---------------------------------------------------------------------------

describe('serve(): run() mode', () => {
  it('closes the connection with an error that mentions run() when the service returns a Promise', async () => {
    const server = await runModeServer('promise');
    const c = await NetClient.connect(server.port);
    c.write('hello\n');
    await c.waitClosed(5000);
    expect(c.text).toBe('');
    await waitFor(() => server.messages.some((m) => m.type === 'close'), 3000, 'onClose in the worker');
    const close = server.messages.find((m) => m.type === 'close')!;
    expect(close.state).toBe('running');
    expect(typeof close.error).toBe('string');
    expect(close.error as string).toContain('run()');
    expect(close.error as string).toMatch(/Promise/);
  });

  it('serves a service that returns a Pending settled later by a loop timer', async () => {
    const server = await runModeServer('pending');
    const c = await NetClient.connect(server.port);
    c.write('hello\nworld\n');
    await c.receivedAtLeast('HELLO\r\nWORLD\r\n'.length, 5000);
    expect(c.text).toBe('HELLO\r\nWORLD\r\n');
    expect(c.closed).toBe(false);
    c.sock.end();
    await c.waitClosed(5000);
    await waitFor(() => server.messages.some((m) => m.type === 'close'), 3000, 'onClose in the worker');
    const close = server.messages.find((m) => m.type === 'close');
    expect(close?.error).toBeNull();
  });
});
