/**
 * No descriptor leaks (docs/POLL-SEMANTICS.md rule 19 and its neighbours): many
 * create/use/close cycles leave the number of entries in /proc/self/fd where
 * it was. Each loop is synchronous, so nothing else in the process opens or
 * closes fds while it runs.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as v8 from 'node:v8';
import * as vm from 'node:vm';
import { Worker } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import {
  Events,
  Interest,
  Poll,
  SysError,
  TcpListener,
  TcpStream,
  UdpSocket,
  UnixDatagram,
  UnixListener,
  UnixStream,
  WOULD_BLOCK,
  Waker,
} from '../src/index';
import { later, own, runCleanups } from './cleanup';
import { openFdCount, waitWritable } from './util';
import { onEpoll, onLibkqueue } from './platform';

const POLL_CYCLES = 2000;
const SOCKET_CYCLES = 500;
/** Safety bound on each loop. */
const LOOP_DEADLINE_MS = 15_000;

afterEach(runCleanups);

/**
 * Runs `cycle` `count` times (or until the deadline) and returns the loop
 * count and the fd count before and after.
 */
function cycles(count: number, cycle: (i: number) => void): { done: number; before: number; after: number } {
  const before = openFdCount();
  const start = Date.now();
  let done = 0;
  for (let i = 0; i < count && Date.now() - start < LOOP_DEADLINE_MS; i++) {
    cycle(i);
    done++;
  }
  return { done, before, after: openFdCount() };
}

describe('fd leaks: Poll and Waker (rule 19)', () => {
  // libkqueue closes its fds from a background thread: counts lag.
  it.skipIf(onLibkqueue)('2000 cycles of new Poll / poll(events, 0) / close leave the fd count unchanged', () => {
    const events = new Events(8);
    const r = cycles(POLL_CYCLES, () => {
      const poll = new Poll();
      poll.poll(events, 0);
      poll.close();
    });
    expect(r.done).toBe(POLL_CYCLES);
    expect(r.after).toBe(r.before);
  });

  // libkqueue closes its fds from a background thread: counts lag.
  it.skipIf(onLibkqueue)('2000 cycles of Poll + Waker + wake + poll, closing only the Poll, leave the fd count unchanged', () => {
    const events = new Events(8);
    const r = cycles(POLL_CYCLES, () => {
      const poll = new Poll();
      const waker = new Waker(poll, 1);
      waker.wake();
      poll.poll(events, 0);
      poll.close();
    });
    expect(r.done).toBe(POLL_CYCLES);
    expect(r.after).toBe(r.before);
  });

  // libkqueue closes its fds from a background thread: counts lag.
  it.skipIf(onLibkqueue)('2000 cycles of Poll + Waker closing the Waker first, then the Poll, leave the fd count unchanged', () => {
    const events = new Events(8);
    const r = cycles(POLL_CYCLES, () => {
      const poll = new Poll();
      const waker = new Waker(poll, 1);
      waker.wake();
      poll.poll(events, 0);
      waker.close();
      poll.close();
    });
    expect(r.done).toBe(POLL_CYCLES);
    expect(r.after).toBe(r.before);
  });

  it('2000 Wakers created and closed on one Poll leave the fd count unchanged', () => {
    const poll = own(new Poll());
    const events = new Events(8);
    const r = cycles(POLL_CYCLES, (i) => {
      const waker = new Waker(poll, i);
      waker.wake();
      poll.poll(events, 0);
      waker.close();
    });
    expect(r.done).toBe(POLL_CYCLES);
    expect(r.after).toBe(r.before);
  });

  // libkqueue closes its fds from a background thread: counts lag.
  it.skipIf(onLibkqueue)('2000 refused second Wakers (EEXIST) leave the fd count unchanged', () => {
    const poll = own(new Poll());
    own(new Waker(poll, 1));
    let refused = 0;
    const r = cycles(POLL_CYCLES, () => {
      try {
        new Waker(poll, 2);
      } catch (e) {
        if (e instanceof SysError && e.code === 'EEXIST') refused++;
      }
    });
    expect(refused).toBe(POLL_CYCLES);
    expect(r.after).toBe(r.before);
  });

  // libkqueue closes its fds from a background thread: counts lag.
  it.skipIf(onLibkqueue)('2000 Polls with registered sockets, closed before the sockets, leave the fd count unchanged', () => {
    const [a, b] = UnixStream.pair();
    own(a);
    own(b);
    const events = new Events(8);
    const r = cycles(POLL_CYCLES, () => {
      const poll = new Poll();
      poll.register(a, 1, Interest.READABLE | Interest.WRITABLE);
      poll.register(b, 2, Interest.READABLE);
      poll.poll(events, 0);
      poll.close();
    });
    expect(r.done).toBe(POLL_CYCLES);
    expect(r.after).toBe(r.before);
  });

  // Counts 2 fds per Poll + Waker: the epoll fd and the eventfd.
  it.runIf(onEpoll)('Polls and Wakers dropped without close() release their fds when garbage-collected', async () => {
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as () => void;
    const before = openFdCount();
    (() => {
      for (let i = 0; i < 200; i++) new Waker(new Poll(), i);
    })();
    expect(openFdCount(), 'each Poll + Waker holds 2 fds while alive').toBe(before + 400);
    // Finalizers of native objects may run a turn after the collection.
    let after = openFdCount();
    for (let round = 0; round < 20 && after !== before; round++) {
      gc();
      await new Promise((resolve) => setTimeout(resolve, 25));
      after = openFdCount();
    }
    expect(after).toBe(before);
  });

  it('a worker that exits with open Polls and Wakers releases their fds', async () => {
    const before = openFdCount();
    const worker = new Worker(
      `
      const { workerData, parentPort } = require('node:worker_threads');
      const el = require(workerData.dist);
      globalThis.kept = [];
      for (let i = 0; i < 50; i++) {
        const poll = new el.Poll();
        const waker = new el.Waker(poll, i);
        waker.wake();
        globalThis.kept.push(poll, waker);
      }
      parentPort.postMessage(require('node:fs').readdirSync('/proc/self/fd').length);
      `,
      { eval: true, workerData: { dist: path.resolve(__dirname, '..', 'dist', 'index.js') } },
    );
    later(() => void worker.terminate());
    const exited = new Promise<number>((resolve) => worker.once('exit', resolve));
    const inside = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('worker did not report')), 10_000);
      worker.once('message', (n: number) => {
        clearTimeout(timer);
        resolve(n);
      });
      worker.once('error', reject);
    });
    expect(inside, 'the worker really held 100 more fds').toBeGreaterThanOrEqual(before + 100);
    expect(await exited).toBe(0);
    // Env teardown may finish a moment after 'exit'.
    let after = openFdCount();
    for (let round = 0; round < 40 && after !== before; round++) {
      await new Promise((resolve) => setTimeout(resolve, 25));
      after = openFdCount();
    }
    expect(after).toBe(before);
  });
});

describe('fd leaks: sockets', () => {
  // libkqueue closes its fds from a background thread: counts lag.
  it.skipIf(onLibkqueue)('500 TCP listener / connect / accept / close cycles leave the fd count unchanged', () => {
    const buf = Buffer.alloc(16);
    let exchanged = 0;
    const r = cycles(SOCKET_CYCLES, () => {
      const listener = TcpListener.bind('127.0.0.1:0');
      const client = TcpStream.connect(listener.localAddress());
      let server: TcpStream | typeof WOULD_BLOCK = WOULD_BLOCK;
      const deadline = Date.now() + 2000;
      while (server === WOULD_BLOCK && Date.now() < deadline) server = listener.accept();
      if (server !== WOULD_BLOCK) {
        waitWritable(client);
        client.write(Buffer.from('ping'));
        const until = Date.now() + 2000;
        let n: number = WOULD_BLOCK;
        while (n === WOULD_BLOCK && Date.now() < until) n = server.read(buf);
        if (n === 4) exchanged++;
        server.close();
      }
      client.close();
      listener.close();
    });
    expect(r.done).toBe(SOCKET_CYCLES);
    expect(exchanged).toBe(SOCKET_CYCLES);
    expect(r.after).toBe(r.before);
  });

  it('500 TCP streams registered with a Poll and closed while registered leave the fd count unchanged', () => {
    const listener = own(TcpListener.bind('127.0.0.1:0'));
    const address = listener.localAddress();
    const poll = own(new Poll());
    const r = cycles(SOCKET_CYCLES, (i) => {
      const client = TcpStream.connect(address);
      poll.register(client, i, Interest.READABLE | Interest.WRITABLE);
      client.close();
      const accepted = listener.accept();
      if (accepted !== WOULD_BLOCK) accepted.close();
    });
    // Connections still queued in the listener's backlog are not fds of ours.
    expect(r.done).toBe(SOCKET_CYCLES);
    expect(r.after).toBe(r.before);
  });

  // libkqueue closes its fds from a background thread: counts lag.
  it.skipIf(onLibkqueue)('500 IPv6 TCP listener / connect / accept / close cycles on ::1 leave the fd count unchanged', () => {
    const r = cycles(SOCKET_CYCLES, () => {
      const listener = TcpListener.bind('[::1]:0');
      const client = TcpStream.connect(listener.localAddress());
      const deadline = Date.now() + 2000;
      let fd: number = WOULD_BLOCK;
      while (fd === WOULD_BLOCK && Date.now() < deadline) fd = listener.acceptFd();
      if (fd !== WOULD_BLOCK) TcpStream.fromFd(fd).close();
      client.close();
      listener.close();
    });
    expect(r.done).toBe(SOCKET_CYCLES);
    expect(r.after).toBe(r.before);
  });

  it('500 cycles of UDP sockets and Unix socketpairs leave the fd count unchanged', () => {
    const r = cycles(SOCKET_CYCLES, () => {
      const a = UdpSocket.bind('127.0.0.1:0');
      const b = UdpSocket.bind('127.0.0.1:0');
      a.sendTo(Buffer.from('x'), b.localAddress());
      const [s1, s2] = UnixStream.pair();
      const [d1, d2] = UnixDatagram.pair();
      const u = UnixDatagram.unbound();
      for (const s of [a, b, s1, s2, d1, d2, u]) s.close();
    });
    expect(r.done).toBe(SOCKET_CYCLES);
    expect(r.after).toBe(r.before);
  });

  it('500 Unix listener / connect / accept / close cycles leave the fd count unchanged', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'edgeloop-fdleak-'));
    later(() => fs.rmSync(dir, { recursive: true, force: true }));
    const r = cycles(SOCKET_CYCLES, (i) => {
      const file = path.join(dir, `s${i}`);
      const listener = UnixListener.bind(file);
      const client = UnixStream.connect(file);
      const server = listener.accept();
      if (server !== WOULD_BLOCK) server.close();
      client.close();
      listener.close();
      fs.unlinkSync(file);
    });
    expect(r.done).toBe(SOCKET_CYCLES);
    expect(r.after).toBe(r.before);
  });

  it('500 failed Unix connects (ENOENT) leave the fd count unchanged', () => {
    const missing = path.join(os.tmpdir(), `edgeloop-missing-${process.pid}-${Date.now()}`);
    let failed = 0;
    const r = cycles(SOCKET_CYCLES, () => {
      try {
        UnixStream.connect(missing).close();
      } catch (e) {
        if (e instanceof SysError && e.code === 'ENOENT') failed++;
      }
    });
    expect(failed).toBe(SOCKET_CYCLES);
    expect(r.after).toBe(r.before);
  });

  it('500 failed TCP binds (EADDRINUSE) leave the fd count unchanged', () => {
    const taken = own(TcpListener.bind('127.0.0.1:0'));
    const address = taken.localAddress();
    let failed = 0;
    const r = cycles(SOCKET_CYCLES, () => {
      try {
        TcpListener.bind(address).close();
      } catch (e) {
        if (e instanceof SysError && e.code === 'EADDRINUSE') failed++;
      }
    });
    expect(failed).toBe(SOCKET_CYCLES);
    expect(r.after).toBe(r.before);
  });
});
