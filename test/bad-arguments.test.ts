/**
 * Bad arguments: every class of misuse throws TypeError or RangeError (or a
 * clear closed-object TypeError) and nothing crashes the process or touches
 * memory outside a buffer. The raw native functions are called directly with
 * hostile values too; cases that could take the process down run in a child
 * process so this worker survives to report them.
 */
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  Events,
  Interest,
  MAX_TOKEN,
  Poll,
  PollOpt,
  TcpListener,
  TcpStream,
  UdpSocket,
  UnixListener,
  UnixStream,
  WOULD_BLOCK,
} from '../src/index';
import { native } from '../src/native';
import { own, runCleanups } from './cleanup';
import { ROOT } from './dist';
import { catchError, pair } from './poll-fixtures';
import { openFdCount } from './util';
import { hangGuard } from './waits';

// ---------------------------------------------------------------------------
// Helpers local to this file
// ---------------------------------------------------------------------------

const C = native.constants;

afterEach(runCleanups);

/** A connected Unix stream pair, for raw native calls on a live fd. */
function rawPair(): [UnixStream, UnixStream] {
  const [a, b] = UnixStream.pair();
  return [own(a), own(b)];
}

function slot(): Uint8Array {
  return new Uint8Array(new ArrayBuffer(C.SLOT_SIZE));
}

type Ctor = typeof TypeError | typeof RangeError;

/** Adds the error class name as the second column, for test titles. */
function named<T>(rows: [string, T, Ctor][]): [string, string, T, Ctor][] {
  return rows.map(([label, value, kind]) => [label, kind.name, value, kind]);
}

/** Expects `fn` to throw exactly this error class (not a SysError, not a crash). */
function expectThrowsKind(fn: () => unknown, kind: Ctor, code?: string): void {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught, 'nothing was thrown').toBeDefined();
  expect((caught as Error).constructor, String(caught)).toBe(kind);
  if (code !== undefined) expect((caught as { code?: string }).code).toBe(code);
}

/**
 * Runs `body` in a fresh node process with `native` (the addon) and `C`
 * (its constants) in scope. Returns how the process ended and its output.
 */
function runIsolated(body: string): { status: number | null; signal: NodeJS.Signals | null; out: string; err: string } {
  const script = [
    `const native = require(${JSON.stringify(path.join(ROOT, 'node_modules', 'node-gyp-build'))})(${JSON.stringify(ROOT)});`,
    'const C = native.constants;',
    body,
  ].join('\n');
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: hangGuard(15000) });
  return { status: r.status, signal: r.signal, out: r.stdout, err: r.stderr };
}

// ---------------------------------------------------------------------------

describe('raw fd as a Poll source', () => {
  const cases: [string, unknown, Ctor][] = [
    ['-1', -1, TypeError],
    ['-100', -100, TypeError],
    ['1.5', 1.5, TypeError],
    ['NaN', NaN, TypeError],
    ['Infinity', Infinity, TypeError],
    ["'3' (a string)", '3', TypeError],
    ['null', null, TypeError],
    ['undefined', undefined, TypeError],
    ['{} (no fd)', {}, TypeError],
    ["{ fd: 'x' }", { fd: 'x' }, TypeError],
    ['{ fd: 2.5 }', { fd: 2.5 }, TypeError],
    ['2**31 (past int32)', 2 ** 31, RangeError],
  ];
  it.each(named(cases))('register(%s) throws %s', (_label, _kind, source, kind) => {
    const poll = own(new Poll());
    expectThrowsKind(() => poll.register(source as number, 0, Interest.READABLE), kind);
  });

  it('a negative fd is flagged with code ERR_INVALID_FD', () => {
    const poll = own(new Poll());
    expectThrowsKind(() => poll.register(-1, 0, Interest.READABLE), TypeError, 'ERR_INVALID_FD');
  });

  it('reregister and deregister validate the fd the same way', () => {
    const poll = own(new Poll());
    expectThrowsKind(() => poll.reregister(-1, 0, Interest.READABLE), TypeError);
    expectThrowsKind(() => poll.deregister(1.5), TypeError);
    expectThrowsKind(() => poll.deregister(2 ** 31), RangeError);
  });
});

describe('tokens', () => {
  const cases: [string, unknown, Ctor][] = [
    ['-1', -1, RangeError],
    ['2**32', 2 ** 32, RangeError],
    ['1.5', 1.5, TypeError],
    ['NaN', NaN, TypeError],
    ['Infinity', Infinity, TypeError],
    ["'1'", '1', TypeError],
    ['undefined', undefined, TypeError],
  ];
  it.each(named(cases))('register with token %s throws %s', (_label, _kind, token, kind) => {
    const poll = own(new Poll());
    const { server } = pair();
    expectThrowsKind(() => poll.register(server, token as number, Interest.READABLE), kind);
  });

  it.each(named(cases))('reregister with token %s throws %s', (_label, _kind, token, kind) => {
    const poll = own(new Poll());
    const { server } = pair();
    poll.register(server, 1, Interest.READABLE);
    expectThrowsKind(() => poll.reregister(server, token as number, Interest.READABLE), kind);
  });

  it('accepts the extremes 0 and 2**32-1 and reports them back', () => {
    const poll = own(new Poll());
    const events = new Events(4);
    const a = pair();
    const b = pair();
    poll.register(a.server, 0, Interest.WRITABLE);
    poll.register(b.server, MAX_TOKEN, Interest.WRITABLE);
    poll.poll(events, 1000);
    const tokens = Array.from({ length: events.length }, (_, i) => events.token(i)).sort((x, y) => x - y);
    expect(tokens).toEqual([0, MAX_TOKEN]);
  });
});

describe('interest and options', () => {
  const interests: [string, unknown, Ctor][] = [
    ['0 (empty)', 0, RangeError],
    ['8 (unknown bit)', 8, RangeError],
    ['READABLE|16', Interest.READABLE | 16, RangeError],
    ['-1', -1, RangeError],
    ['1.5', 1.5, TypeError],
    ["'1'", '1', TypeError],
    ['undefined', undefined, TypeError],
  ];
  it.each(named(interests))('interest %s throws %s', (_label, _kind, interest, kind) => {
    const poll = own(new Poll());
    const { server } = pair();
    expectThrowsKind(() => poll.register(server, 1, interest as number), kind);
  });

  const opts: [string, unknown, Ctor][] = [
    ['EDGE|LEVEL', PollOpt.EDGE | PollOpt.LEVEL, RangeError],
    ['EDGE|LEVEL|ONESHOT', PollOpt.EDGE | PollOpt.LEVEL | PollOpt.ONESHOT, RangeError],
    ['8 (unknown bit)', 8, RangeError],
    ['-1', -1, RangeError],
    ['1.5', 1.5, TypeError],
    ["'edge'", 'edge', TypeError],
  ];
  it.each(named(opts))('option %s throws %s', (_label, _kind, opt, kind) => {
    const poll = own(new Poll());
    const { server } = pair();
    expectThrowsKind(() => poll.register(server, 1, Interest.READABLE, opt as number), kind);
  });

  it('reregister validates interest and options too', () => {
    const poll = own(new Poll());
    const { server } = pair();
    poll.register(server, 1, Interest.READABLE);
    expectThrowsKind(() => poll.reregister(server, 1, 0), RangeError);
    expectThrowsKind(() => poll.reregister(server, 1, Interest.READABLE, PollOpt.EDGE | PollOpt.LEVEL), RangeError);
  });

  it('a rejected register leaves the socket unregistered (a valid register afterwards works)', () => {
    const poll = own(new Poll());
    const { server } = pair();
    expect(() => poll.register(server, 1, 0)).toThrow(RangeError);
    expect(() => poll.register(server, 1, Interest.READABLE)).not.toThrow();
  });
});

describe('Events capacity', () => {
  const cases: [string, unknown, Ctor][] = [
    ['0', 0, RangeError],
    ['-1', -1, RangeError],
    ['2**20 + 1', 2 ** 20 + 1, RangeError],
    ['2**40', 2 ** 40, RangeError],
    ['1.5', 1.5, TypeError],
    ['NaN', NaN, TypeError],
    ['Infinity', Infinity, TypeError],
    ["'8'", '8', TypeError],
    ['undefined', undefined, TypeError],
  ];
  it.each(named(cases))('new Events(%s) throws %s', (_label, _kind, capacity, kind) => {
    expectThrowsKind(() => new Events(capacity as number), kind);
  });

  it('accepts 1 and the largest allowed capacity, 2**20', () => {
    expect(new Events(1).capacity).toBe(1);
    expect(new Events(2 ** 20).capacity).toBe(2 ** 20);
  });
});

describe('poll() arguments', () => {
  it('rejects a timeout below -1 with RangeError', () => {
    const poll = own(new Poll());
    expectThrowsKind(() => poll.poll(new Events(1), -2), RangeError);
  });

  it('rejects a NaN or string timeout with TypeError', () => {
    const poll = own(new Poll());
    expectThrowsKind(() => poll.poll(new Events(1), NaN), TypeError);
    expectThrowsKind(() => poll.poll(new Events(1), '5' as unknown as number), TypeError);
  });

  it('rejects something that is not an Events with TypeError', () => {
    const poll = own(new Poll());
    expectThrowsKind(() => poll.poll({ storage: new Uint32Array(2) } as unknown as Events, 0), TypeError);
    expectThrowsKind(() => poll.poll(null as unknown as Events, 0), TypeError);
  });
});

describe('closed objects', () => {
  it('reading a closed socket throws TypeError ERR_SOCKET_CLOSED', () => {
    const { client } = pair();
    client.close();
    expectThrowsKind(() => client.read(Buffer.alloc(1)), TypeError, 'ERR_SOCKET_CLOSED');
  });

  it('registering a closed socket throws TypeError ERR_SOCKET_CLOSED', () => {
    const poll = own(new Poll());
    const { client } = pair();
    client.close();
    expectThrowsKind(() => poll.register(client, 1, Interest.READABLE), TypeError, 'ERR_SOCKET_CLOSED');
  });

  it('every Poll method on a closed Poll throws TypeError ERR_POLL_CLOSED', () => {
    const poll = new Poll();
    const { server } = pair();
    poll.close();
    expectThrowsKind(() => poll.register(server, 1, Interest.READABLE), TypeError, 'ERR_POLL_CLOSED');
    expectThrowsKind(() => poll.reregister(server, 1, Interest.READABLE), TypeError, 'ERR_POLL_CLOSED');
    expectThrowsKind(() => poll.deregister(server), TypeError, 'ERR_POLL_CLOSED');
    expectThrowsKind(() => poll.poll(new Events(1), 0), TypeError, 'ERR_POLL_CLOSED');
  });
});

describe('buffer ranges for read / write / peek', () => {
  type Op = (s: TcpStream, b: Uint8Array, off?: number, len?: number) => unknown;
  const ops: [string, Op][] = [
    ['read', (s, b, o, l) => s.read(b, o, l)],
    ['write', (s, b, o, l) => s.write(b, o, l)],
    ['peek', (s, b, o, l) => s.peek(b, o, l)],
  ];
  const ranges: [string, number | undefined, number | undefined][] = [
    ['offset past the end', 5, undefined],
    ['offset + length past the end', 2, 3],
    ['length past the end', 0, 5],
    ['negative offset', -1, 1],
    ['negative length', 0, -1],
    ['offset 2**32', 2 ** 32, 1],
    ['length 2**53', 0, 2 ** 53],
  ];
  for (const [name, op] of ops) {
    it.each(ranges)(`${name} with %s throws RangeError`, (_label, off, len) => {
      const { client } = pair();
      expectThrowsKind(() => op(client, Buffer.alloc(4), off, len), RangeError);
    });
  }

  it('a view is bounded by its own length, not its parent buffer', () => {
    const { client, server } = pair();
    client.write(Buffer.from('abcdef'));
    const parent = Buffer.alloc(16, 0x2e);
    const view = parent.subarray(4, 6);
    expectThrowsKind(() => server.read(view, 0, 3), RangeError);
    expectThrowsKind(() => server.read(view, 2, 1), RangeError);
    expect(parent.toString()).toBe('.'.repeat(16));
  });

  it('a rejected write sends nothing to the peer', () => {
    const { client, server } = pair();
    expect(() => client.write(Buffer.from('abcd'), 2, 10)).toThrow(RangeError);
    client.write(Buffer.from('!'));
    const buf = Buffer.alloc(8);
    const deadline = Date.now() + 2000;
    let n: number = WOULD_BLOCK;
    while (n === WOULD_BLOCK && Date.now() < deadline) n = server.read(buf);
    expect(n).toBe(1);
    expect(buf.subarray(0, 1).toString()).toBe('!');
  });

  it('a rejected read leaves the data queued and the buffer untouched', () => {
    const { client, server } = pair();
    client.write(Buffer.from('kept'));
    const buf = Buffer.alloc(4, 0x2e);
    expect(() => server.read(buf, 3, 4)).toThrow(RangeError);
    expect(buf.toString()).toBe('....');
    const deadline = Date.now() + 2000;
    let n: number = WOULD_BLOCK;
    while (n === WOULD_BLOCK && Date.now() < deadline) n = server.read(buf);
    expect(buf.subarray(0, n).toString()).toBe('kept');
  });

  it('read with a NaN length is rejected rather than returning 0, which means EOF', () => {
    const { client, server } = pair();
    client.write(Buffer.from('data'));
    let caught: unknown;
    try {
      caught = server.read(Buffer.alloc(8), 0, NaN);
    } catch (err) {
      caught = err;
    }
    expect(caught instanceof TypeError || caught instanceof RangeError, `got ${String(caught)}`).toBe(true);
  });
});

describe('non-buffer arguments', () => {
  const values: [string, unknown][] = [
    ['a string', 'abc'],
    ['a plain array', [1, 2, 3]],
    ['a Uint16Array', new Uint16Array(4)],
    ['an ArrayBuffer', new ArrayBuffer(4)],
    ['a DataView', new DataView(new ArrayBuffer(4))],
    ['null', null],
    ['undefined', undefined],
    ['a number', 42],
  ];
  it.each(values)('read(%s) throws TypeError', (_label, value) => {
    const { server } = pair();
    expectThrowsKind(() => server.read(value as Uint8Array), TypeError);
  });

  it.each(values)('write(%s) throws TypeError', (_label, value) => {
    const { client } = pair();
    expectThrowsKind(() => client.write(value as Uint8Array), TypeError);
  });

  it.each(values)('peek(%s) throws TypeError', (_label, value) => {
    const { server } = pair();
    expectThrowsKind(() => server.peek(value as Uint8Array), TypeError);
  });

  it('readv/writev reject a non-array or an element that is not a Uint8Array', () => {
    const { client, server } = pair();
    expectThrowsKind(() => server.readv('abc' as unknown as Uint8Array[]), TypeError);
    expectThrowsKind(() => server.readv([Buffer.alloc(2), 'x'] as unknown as Uint8Array[]), TypeError);
    expectThrowsKind(() => client.writev([new Uint16Array(2)] as unknown as Uint8Array[]), TypeError);
    expectThrowsKind(() => client.writev(null as unknown as Uint8Array[]), TypeError);
    expectThrowsKind(() => client.writev({ length: 1, 0: Buffer.alloc(1) } as unknown as Uint8Array[]), TypeError);
  });

  it('readv/writev reject more than 1024 buffers with RangeError', () => {
    const { client, server } = pair();
    expectThrowsKind(() => server.readv(Array.from({ length: 1025 }, () => Buffer.alloc(1))), RangeError);
    expectThrowsKind(() => client.writev(Array.from({ length: 2000 }, () => Buffer.alloc(1))), RangeError);
  });
});

describe('UDP sendTo / recvFrom ranges and buffers', () => {
  it('sendTo with an offset past the buffer throws RangeError', () => {
    const a = own(UdpSocket.bind('127.0.0.1:0'));
    const b = own(UdpSocket.bind('127.0.0.1:0'));
    expectThrowsKind(() => a.sendTo(Buffer.alloc(4), b.localAddress(), 5), RangeError);
  });

  it('sendTo with offset + length past the buffer throws RangeError', () => {
    const a = own(UdpSocket.bind('127.0.0.1:0'));
    const b = own(UdpSocket.bind('127.0.0.1:0'));
    expectThrowsKind(() => a.sendTo(Buffer.alloc(4), b.localAddress(), 1, 4), RangeError);
  });

  it('recvFrom with a length past the buffer throws RangeError and keeps the datagram queued', () => {
    const a = own(UdpSocket.bind('127.0.0.1:0'));
    const b = own(UdpSocket.bind('127.0.0.1:0'));
    a.sendTo(Buffer.from('queued'), b.localAddress());
    expectThrowsKind(() => b.recvFrom(Buffer.alloc(4), 0, 10), RangeError);
    const buf = Buffer.alloc(16);
    const deadline = Date.now() + 2000;
    let r = b.recvFrom(buf);
    while (r === WOULD_BLOCK && Date.now() < deadline) r = b.recvFrom(buf);
    expect(r).not.toBe(WOULD_BLOCK);
    expect(buf.subarray(0, (r as { bytes: number }).bytes).toString()).toBe('queued');
  });

  it('recvFrom with a negative offset throws RangeError', () => {
    const b = own(UdpSocket.bind('127.0.0.1:0'));
    expectThrowsKind(() => b.recvFrom(Buffer.alloc(4), -1, 1), RangeError);
  });

  it('sendTo and recvFrom reject a non-buffer with TypeError', () => {
    const a = own(UdpSocket.bind('127.0.0.1:0'));
    expectThrowsKind(() => a.sendTo('hello' as unknown as Uint8Array, a.localAddress()), TypeError);
    expectThrowsKind(() => a.recvFrom(new Float32Array(2) as unknown as Uint8Array), TypeError);
  });

  it('send and recv on a connected socket check ranges too', () => {
    const a = own(UdpSocket.bind('127.0.0.1:0'));
    a.connect(a.localAddress());
    expectThrowsKind(() => a.send(Buffer.alloc(2), 0, 3), RangeError);
    expectThrowsKind(() => a.recv(Buffer.alloc(2), 3), RangeError);
  });
});

describe('invalid inet addresses', () => {
  const addresses: [string, unknown, Ctor][] = [
    ["'nope'", 'nope', TypeError],
    ["'1.2.3.4' (no port)", '1.2.3.4', TypeError],
    ["'1.2.3.4:99999'", '1.2.3.4:99999', RangeError],
    ["'[::1]:x'", '[::1]:x', TypeError],
    ["'256.0.0.1:80'", '256.0.0.1:80', TypeError],
    ["'example.com:80' (no DNS)", 'example.com:80', TypeError],
    ["'::1:80' (v6 without brackets)", '::1:80', TypeError],
    ["'1.2.3.4:-1'", '1.2.3.4:-1', RangeError],
    ["'1.2.3.4:'", '1.2.3.4:', RangeError],
    ['{ port: 80 } (no host)', { port: 80 }, TypeError],
    ["{ host: '127.0.0.1', port: -1 }", { host: '127.0.0.1', port: -1 }, RangeError],
    ["{ host: '127.0.0.1', port: 1.5 }", { host: '127.0.0.1', port: 1.5 }, RangeError],
    ["{ host: '127.0.0.1', port: 65536 }", { host: '127.0.0.1', port: 65536 }, RangeError],
    ['null', null, TypeError],
    ['42', 42, TypeError],
  ];
  it.each(named(addresses))('TcpListener.bind(%s) throws %s', (_label, _kind, addr, kind) => {
    expectThrowsKind(() => own(TcpListener.bind(addr as string)), kind);
  });
  it.each(named(addresses))('TcpStream.connect(%s) throws %s', (_label, _kind, addr, kind) => {
    expectThrowsKind(() => own(TcpStream.connect(addr as string)), kind);
  });
  it.each(named(addresses))('UdpSocket.bind(%s) throws %s', (_label, _kind, addr, kind) => {
    expectThrowsKind(() => own(UdpSocket.bind(addr as string)), kind);
  });
  it.each(named(addresses))('UdpSocket.sendTo(…, %s) throws %s', (_label, _kind, addr, kind) => {
    const u = own(UdpSocket.bind('127.0.0.1:0'));
    expectThrowsKind(() => u.sendTo(Buffer.from('x'), addr as string), kind);
  });
  it.each(named(addresses))('UdpSocket.connect(%s) throws %s', (_label, _kind, addr, kind) => {
    const u = own(UdpSocket.bind('127.0.0.1:0'));
    expectThrowsKind(() => u.connect(addr as string), kind);
  });

  it('a host with a NUL byte is refused as such, not truncated at the NUL or given the wrong family', () => {
    // Unchecked, '127.0.0.1\0:0' bound 127.0.0.1, and '127.0.0.1\0::' was
    // encoded as IPv4 but opened as an IPv6 socket because of its colons.
    for (const addr of ['127.0.0.1\0:0', '127.0.0.1\0:1:0', '[::1\0x]:0', { host: '127.0.0.1\0::', port: 0 }]) {
      const err = catchError(() => own(TcpListener.bind(addr)), TypeError) as TypeError & { code?: string };
      expect(err.code, JSON.stringify(addr)).toBe('ERR_INVALID_ADDRESS');
      expect(err.message, JSON.stringify(addr)).toMatch(/NUL/);
    }
  });

  it("a malformed address carries code ERR_INVALID_ADDRESS", () => {
    expectThrowsKind(() => own(TcpStream.connect('nope')), TypeError, 'ERR_INVALID_ADDRESS');
  });

  it('rejected binds and connects leak no fds', () => {
    const before = openFdCount();
    const taken = own(TcpListener.bind('127.0.0.1:0'));
    const base = openFdCount();
    for (let i = 0; i < 100; i++) {
      expect(() => TcpStream.connect('nope')).toThrow();
      expect(() => TcpListener.bind('1.2.3.4:99999')).toThrow();
      expect(() => TcpListener.bind(taken.localAddress())).toThrow();
      expect(() => UdpSocket.bind('[::1]:x')).toThrow();
    }
    expect(openFdCount()).toBe(base);
    expect(base).toBe(before + 1);
  });
});

describe('invalid Unix addresses', () => {
  const cases: [string, unknown][] = [
    ["'' (empty path)", ''],
    ['42', 42],
    ['null', null],
    ['{} (no path)', {}],
    ['{ path: 5 }', { path: 5 }],
  ];
  it.each(cases)('UnixListener.bind(%s) throws TypeError', (_label, addr) => {
    expectThrowsKind(() => own(UnixListener.bind(addr as string)), TypeError);
  });
  it.each(cases)('UnixStream.connect(%s) throws TypeError', (_label, addr) => {
    expectThrowsKind(() => own(UnixStream.connect(addr as string)), TypeError);
  });

  it('UnixListener.bind rejects a negative backlog with RangeError', () => {
    expectThrowsKind(() => own(UnixListener.bind('\0edgeloop-bad-backlog', -1)), RangeError);
  });
});

describe('raw native functions with hostile arguments', () => {
  it('read: huge offset, negative length, MAX_SAFE_INTEGER, int32 overflow all throw RangeError', () => {
    const [a] = rawPair();
    const buf = Buffer.alloc(4);
    expectThrowsKind(() => native.read(a.fd, buf, 2 ** 40, 1), RangeError);
    expectThrowsKind(() => native.read(a.fd, buf, 0, -1), RangeError);
    expectThrowsKind(() => native.read(a.fd, buf, Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER), RangeError);
    expectThrowsKind(() => native.read(a.fd, buf, 2 ** 31 - 1, 2 ** 31 - 1), RangeError);
    expectThrowsKind(() => native.read(a.fd, buf, 4, 1), RangeError);
  });

  it('read: wrong types throw TypeError', () => {
    const [a] = rawPair();
    const buf = Buffer.alloc(4);
    const n = native as unknown as Record<string, (...args: unknown[]) => unknown>;
    expectThrowsKind(() => n.read('3', buf, 0, 1), TypeError);
    expectThrowsKind(() => n.read(a.fd, 'str', 0, 1), TypeError);
    expectThrowsKind(() => n.read(a.fd, buf, 0n, 1n), TypeError);
    expectThrowsKind(() => n.read(a.fd, buf, Symbol('x'), 1), TypeError);
    expectThrowsKind(() => n.read(a.fd, buf, { valueOf: () => 0 }, 1), TypeError);
    expectThrowsKind(() => n.read(a.fd, buf), TypeError);
    expectThrowsKind(() => n.read(), TypeError);
  });

  it('read/write/close/wake: a negative fd throws RangeError', () => {
    const buf = Buffer.alloc(1);
    expectThrowsKind(() => native.read(-1, buf, 0, 1), RangeError);
    expectThrowsKind(() => native.write(-5, buf, 0, 1), RangeError);
    expectThrowsKind(() => native.close(-1), RangeError);
    expectThrowsKind(() => native.wake(-1), RangeError);
  });

  it('write and peek check offset + length against the buffer', () => {
    const [a] = rawPair();
    expectThrowsKind(() => native.write(a.fd, Buffer.alloc(4), 3, 2), RangeError);
    expectThrowsKind(() => native.peek(a.fd, Buffer.alloc(4), 0, 5), RangeError);
  });

  it('a buffer shorter than asked (resizable or detached) is bounded by its current length', () => {
    const [a] = rawPair();
    // Resizable ArrayBuffer (ES2024; the project's lib is ES2022).
    const Resizable = ArrayBuffer as unknown as new (n: number, o: { maxByteLength: number }) => ArrayBuffer;
    const rab = new Resizable(4, { maxByteLength: 64 });
    expectThrowsKind(() => native.read(a.fd, new Uint8Array(rab), 0, 8), RangeError);
    const ab = new ArrayBuffer(8);
    const view = new Uint8Array(ab);
    structuredClone(ab, { transfer: [ab] });
    expectThrowsKind(() => native.read(a.fd, view, 0, 1), RangeError);
  });

  it('address slots that are too small or misaligned throw RangeError', () => {
    const [a] = rawPair();
    const buf = Buffer.alloc(4);
    expectThrowsKind(() => native.recvFrom(a.fd, buf, 0, 4, new Uint8Array(8)), RangeError);
    expectThrowsKind(() => native.sendTo(a.fd, buf, 0, 4, new Uint8Array(3)), RangeError);
    expectThrowsKind(() => native.bind(a.fd, new Uint8Array(1)), RangeError);
    expectThrowsKind(() => native.connect(a.fd, new Uint8Array(C.SLOT_SIZE - 1)), RangeError);
    expectThrowsKind(() => native.getSockName(a.fd, new Uint8Array(C.SLOT_SIZE - 1)), RangeError);
    expectThrowsKind(() => native.getPeerName(a.fd, new Uint8Array(0)), RangeError);
    expectThrowsKind(() => native.accept(a.fd, new Uint8Array(C.SLOT_SIZE - 1)), RangeError);
    expectThrowsKind(() => native.decodeAddress(new Uint8Array(4)), RangeError);
    const misaligned = new Uint8Array(new ArrayBuffer(C.SLOT_SIZE + 8), 1, C.SLOT_SIZE);
    expectThrowsKind(() => native.recvFrom(a.fd, buf, 0, 4, misaligned), RangeError);
  });

  it('address slots that are not bytes throw TypeError', () => {
    const [a] = rawPair();
    const n = native as unknown as Record<string, (...args: unknown[]) => unknown>;
    expectThrowsKind(() => n.connect(a.fd, 'x'), TypeError);
    expectThrowsKind(() => n.bind(a.fd, new Uint32Array(64)), TypeError);
    expectThrowsKind(() => n.encodeInet(42, 80, slot()), TypeError);
    expectThrowsKind(() => n.encodeUnix('path', false, slot()), TypeError);
  });

  it('decodeAddress of garbage returns null or a bounded unix path, never reads past the slot', () => {
    const junk = slot();
    junk.fill(0xff);
    expect(native.decodeAddress(junk)).toBeNull();
    const unix = slot();
    unix.fill(0x41);
    new DataView(unix.buffer).setUint32(0, 0xffffffff, true);
    unix[8] = C.AF_UNIX & 0xff;
    unix[9] = C.AF_UNIX >> 8;
    const decoded = native.decodeAddress(unix);
    expect(decoded?.family).toBe('unix');
    expect((decoded as { path: Buffer }).path.length).toBeLessThanOrEqual(C.SLOT_SIZE - 8 - 2);
  });

  it('encodeInet: bad port throws RangeError, a non-numeric host returns a negative errno', () => {
    expectThrowsKind(() => native.encodeInet('1.2.3.4', 70000, slot()), RangeError);
    expectThrowsKind(() => native.encodeInet('1.2.3.4', -1, slot()), RangeError);
    expect(native.encodeInet('garbage', 80, slot())).toBeLessThan(0);
    expect(native.encodeInet('::1%no-such-interface', 80, slot())).toBeLessThan(0);
  });

  it('encodeInet rejects a host with an embedded NUL instead of encoding the part before it', () => {
    for (const host of ['127.0.0.1\0.evil', '::1\0x', 'fe80::1%1\0junk', '\0']) {
      expect(native.errnoName(-native.encodeInet(host, 80, slot())), JSON.stringify(host)).toBe('EINVAL');
    }
  });

  it('encodeInet takes an IPv6 scope of decimal digits or an interface name, nothing strtoul would also accept', () => {
    for (const host of ['fe80::1%+1', 'fe80::1% 1', 'fe80::1%1 ', 'fe80::1%-1', 'fe80::1%', 'fe80::1%4294967297']) {
      expect(native.errnoName(-native.encodeInet(host, 80, slot())), JSON.stringify(host)).toBe('EINVAL');
    }
    const s = slot();
    expect(native.encodeInet('fe80::1%7', 80, s)).toBe(0);
    expect(native.decodeAddress(s)).toMatchObject({ family: 'IPv6', address: 'fe80::1', scopeid: 7 });
  });

  it('encodeUnix of a 200-byte path returns a negative errno instead of overflowing sun_path', () => {
    expect(native.encodeUnix(Buffer.alloc(200, 0x61), false, slot())).toBeLessThan(0);
    expect(native.encodeUnix(Buffer.alloc(200, 0x61), true, slot())).toBeLessThan(0);
  });

  it('readv/writev: 2000 or 1025 buffers throw RangeError; 1024 is the accepted maximum', () => {
    const [a, b] = rawPair();
    expectThrowsKind(() => native.readv(a.fd, Array.from({ length: 2000 }, () => Buffer.alloc(1))), RangeError);
    expectThrowsKind(() => native.writev(a.fd, Array.from({ length: 1025 }, () => Buffer.alloc(1))), RangeError);
    expect(native.writev(a.fd, Array.from({ length: 1024 }, () => Buffer.from('z')))).toBe(1024);
    expect(native.readv(b.fd, Array.from({ length: 1024 }, () => Buffer.alloc(1)))).toBe(1024);
  });

  it('readv/writev: a non-array, an array-like, holes or a wrong element type throw TypeError', () => {
    const [a] = rawPair();
    const n = native as unknown as Record<string, (...args: unknown[]) => unknown>;
    expectThrowsKind(() => n.readv(a.fd, 'x'), TypeError);
    expectThrowsKind(() => n.readv(a.fd, { length: 1, 0: Buffer.alloc(1) }), TypeError);
    expectThrowsKind(() => n.readv(a.fd, new Array(5)), TypeError);
    expectThrowsKind(() => n.readv(a.fd, [Buffer.alloc(1), 7]), TypeError);
    expectThrowsKind(() => n.writev(a.fd, [new Float64Array(1)]), TypeError);
    expectThrowsKind(() => n.writev(a.fd), TypeError);
  });

  it('socketpair/getSockOptInt: a wrong or short output array throws TypeError', () => {
    const [a] = rawPair();
    const n = native as unknown as Record<string, (...args: unknown[]) => unknown>;
    expectThrowsKind(() => n.socketpair(C.AF_UNIX, C.SOCK_STREAM, new Int32Array(1)), TypeError);
    expectThrowsKind(() => n.socketpair(C.AF_UNIX, C.SOCK_STREAM, new Uint32Array(2)), TypeError);
    expectThrowsKind(() => n.getSockOptInt(a.fd, C.SOL_SOCKET, C.SO_ERROR, new Float64Array(1)), TypeError);
    expectThrowsKind(() => n.getSockOptInt(a.fd, C.SOL_SOCKET, C.SO_ERROR, new Int32Array(0)), TypeError);
  });

  it('integer arguments out of their range throw RangeError (setsockopt, shutdown, listen, socket)', () => {
    const [a] = rawPair();
    expectThrowsKind(() => native.setSockOptInt(a.fd, -1, 1, 1), RangeError);
    expectThrowsKind(() => native.setSockOptInt(a.fd, C.SOL_SOCKET, C.SO_KEEPALIVE, 2 ** 40), RangeError);
    expectThrowsKind(() => native.shutdown(a.fd, 3), RangeError);
    expectThrowsKind(() => native.shutdown(a.fd, -1), RangeError);
    expectThrowsKind(() => native.listen(a.fd, -1), RangeError);
    expectThrowsKind(() => native.socket(-1, C.SOCK_STREAM, 0), RangeError);
  });

  it('errnoName rejects a non-number with TypeError and names unknown values UNKNOWN', () => {
    const n = native as unknown as Record<string, (...args: unknown[]) => unknown>;
    expectThrowsKind(() => n.errnoName('x'), TypeError);
    expect(native.errnoName(1e10)).toBe('UNKNOWN');
  });

  it('native Poll.wait rejects a wrong storage type, zero capacity and bad timeouts', () => {
    const p = new native.Poll();
    try {
      const n = p as unknown as Record<string, (...args: unknown[]) => unknown>;
      expectThrowsKind(() => n.wait(new Float64Array(2), 0), TypeError);
      expectThrowsKind(() => p.wait(new Uint32Array(0), 0), RangeError);
      expectThrowsKind(() => p.wait(new Uint32Array(1), 0), RangeError);
      expectThrowsKind(() => p.wait(new Uint32Array(2), -2), RangeError);
      expectThrowsKind(() => p.wait(new Uint32Array(2), 2 ** 31), RangeError);
    } finally {
      p.close();
    }
  });

  it('native Poll.register rejects a negative fd, a token past 2**32-1, and empty or unknown interest', () => {
    const [a] = rawPair();
    const p = new native.Poll();
    try {
      expectThrowsKind(() => p.register(-1, 0, 1, 2), RangeError);
      expectThrowsKind(() => p.register(a.fd, 2 ** 32, 1, 2), RangeError);
      expectThrowsKind(() => p.register(a.fd, 0, 0, 2), RangeError);
      expectThrowsKind(() => p.register(a.fd, 0, 8, 2), RangeError);
      expectThrowsKind(() => p.addWaker(-1), RangeError);
    } finally {
      p.close();
    }
  });

  it('native Poll methods called on a foreign object throw TypeError', () => {
    const wait = native.Poll.prototype.wait as (...args: unknown[]) => unknown;
    expectThrowsKind(() => wait.call({}, new Uint32Array(2), 0), TypeError);
    expectThrowsKind(() => wait.call(undefined, new Uint32Array(2), 0), TypeError);
    expectThrowsKind(() => (native.Poll as unknown as () => unknown)(), TypeError);
  });
});

describe('hostile arrays for readv/writev (run in a child process, since they may crash)', () => {
  it('the child harness itself reports a thrown TypeError and exits 0 (control)', () => {
    const r = runIsolated(`
      const out = new Int32Array(2); native.socketpair(C.AF_UNIX, C.SOCK_STREAM, out);
      try { native.readv(out[0], 'not an array'); console.log('returned'); }
      catch (e) { console.log('threw ' + e.constructor.name); }
    `);
    expect(r.signal).toBeNull();
    expect(r.status, r.err).toBe(0);
    expect(r.out.trim()).toBe('threw TypeError');
  });

  it('readv with an element whose getter throws rethrows that error instead of aborting the process', () => {
    const r = runIsolated(`
      const out = new Int32Array(2); native.socketpair(C.AF_UNIX, C.SOCK_STREAM, out);
      const bufs = [new Uint8Array(4)];
      Object.defineProperty(bufs, 1, { get() { throw new Error('getter boom'); }, enumerable: true });
      try { native.readv(out[0], bufs); console.log('returned'); }
      catch (e) { console.log('threw'); }
    `);
    expect(r.err).not.toContain('FATAL ERROR');
    expect(r.signal).toBeNull();
    expect(r.status).toBe(0);
    expect(r.out.trim()).toBe('threw');
  });

  it('writev with an element whose getter throws rethrows that error instead of aborting the process', () => {
    const r = runIsolated(`
      const out = new Int32Array(2); native.socketpair(C.AF_UNIX, C.SOCK_STREAM, out);
      const bufs = [Buffer.from('a')];
      Object.defineProperty(bufs, 1, { get() { throw new RangeError('getter boom'); }, enumerable: true });
      try { native.writev(out[0], bufs); console.log('returned'); }
      catch (e) { console.log('threw'); }
    `);
    expect(r.err).not.toContain('FATAL ERROR');
    expect(r.signal).toBeNull();
    expect(r.status).toBe(0);
    expect(r.out.trim()).toBe('threw');
  });

  it('readv never writes past a buffer that a later element getter shrank', () => {
    // The getter for element 1 shrinks element 0's resizable buffer to 1 byte
    // after element 0's pointer and length were taken. Growing it back must
    // show zeros (the spec's guarantee) unless readv wrote out of bounds.
    const r = runIsolated(`
      const out = new Int32Array(2); native.socketpair(C.AF_UNIX, C.SOCK_STREAM, out);
      native.write(out[1], Buffer.from('OUT-OF-BOUNDS!!!'), 0, 16);
      const rab = new ArrayBuffer(16, { maxByteLength: 1 << 16 });
      const view = new Uint8Array(rab);
      const bufs = [view];
      Object.defineProperty(bufs, 1, { get() { rab.resize(1); return new Uint8Array(0); }, enumerable: true });
      let n;
      try { n = native.readv(out[0], bufs); } catch (e) { n = 'threw'; }
      const lengthAfter = view.length;
      rab.resize(16);
      console.log(JSON.stringify({ n, lengthAfter, tail: Array.from(view.subarray(1)) }));
    `);
    expect(r.signal).toBeNull();
    expect(r.status, r.err).toBe(0);
    const res = JSON.parse(r.out) as { n: number | string; lengthAfter: number; tail: number[] };
    // Either the call refused, or it wrote at most the 1 byte the buffer had.
    if (typeof res.n === 'number') expect(res.n).toBeLessThanOrEqual(res.lengthAfter);
    expect(res.tail.every((byte) => byte === 0), `bytes written past the end: ${JSON.stringify(res)}`).toBe(true);
  });

  it('writev never sends bytes from past the end of a buffer that a later element getter shrank', () => {
    const r = runIsolated(`
      const out = new Int32Array(2); native.socketpair(C.AF_UNIX, C.SOCK_STREAM, out);
      const rab = new ArrayBuffer(16, { maxByteLength: 1 << 16 });
      const view = new Uint8Array(rab);
      view.fill(0x41);
      const bufs = [view];
      Object.defineProperty(bufs, 1, { get() { rab.resize(1); return new Uint8Array(0); }, enumerable: true });
      let n;
      try { n = native.writev(out[0], bufs); } catch (e) { n = 'threw'; }
      console.log(JSON.stringify({ n, lengthAfter: view.length }));
    `);
    expect(r.signal).toBeNull();
    expect(r.status, r.err).toBe(0);
    const res = JSON.parse(r.out) as { n: number | string; lengthAfter: number };
    if (typeof res.n === 'number') expect(res.n).toBeLessThanOrEqual(res.lengthAfter);
  });
});

// Each test here is named after what the native fuzzer (scripts/fuzz-native.js)
// or the review around it caught; those that crashed or hung the process
// before the fix run in a child process.
describe('defects found by fuzzing the native exports', () => {
  const pumpArrays = `new Uint8Array(16), new Uint8Array(16), new Uint32Array(4), new Uint32Array(50), 4, 16, 8`;

  it('a Pump given an object that only inherits from NativePoll throws TypeError instead of aborting', () => {
    const r = runIsolated(`
      try { new native.Pump(Object.create(native.Poll.prototype), ${pumpArrays}); console.log('returned'); }
      catch (e) { console.log('threw ' + e.constructor.name); }
    `);
    expect(r.err).not.toContain('FATAL ERROR');
    expect(r.signal).toBeNull();
    expect(r.status, r.err).toBe(0);
    expect(r.out.trim()).toBe('threw TypeError');
  });

  it('a Pump given null or a number as its poll throws TypeError instead of aborting', () => {
    const r = runIsolated(`
      for (const poll of [null, undefined, 7]) {
        try { new native.Pump(poll, ${pumpArrays}); console.log('returned'); }
        catch (e) { console.log('threw ' + e.constructor.name); }
      }
    `);
    expect(r.err).not.toContain('FATAL ERROR');
    expect(r.status, r.err).toBe(0);
    expect(r.out.trim().split('\n')).toEqual(['threw TypeError', 'threw TypeError', 'threw TypeError']);
  });

  it('a Pump given a Pump disguised as a NativePoll (Poll as new.target) throws TypeError', () => {
    // Reflect.construct gives the Pump Poll.prototype, so instanceof says
    // Poll; before the type tag the second Pump drove the first one's
    // memory as if it were a Poll's selector.
    const r = runIsolated(`
      const poll = new native.Poll();
      const disguised = Reflect.construct(native.Pump, [poll, ${pumpArrays}], native.Poll);
      console.log(disguised instanceof native.Poll);
      try { new native.Pump(disguised, ${pumpArrays}); console.log('returned'); }
      catch (e) { console.log('threw ' + e.constructor.name); }
    `);
    expect(r.status, r.err).toBe(0);
    expect(r.out.trim().split('\n')).toEqual(['true', 'threw TypeError']);
  });

  it('addWaker refuses a state whose wake counter is already raised, so closing the poll cannot spin forever', () => {
    const r = runIsolated(`
      const poll = new native.Poll();
      const state = new Int32Array(new SharedArrayBuffer(8)).fill(1);
      try { poll.addWaker(1, state); console.log('returned'); }
      catch (e) { console.log('threw ' + e.constructor.name); }
      poll.close();
      console.log('closed');
    `);
    expect(r.signal, 'the close hung').toBeNull();
    expect(r.status, r.err).toBe(0);
    expect(r.out.trim().split('\n')).toEqual(['threw RangeError', 'closed']);
  });

  it('addWaker refuses a state over an ArrayBuffer, which could be detached and freed while the poll holds it', () => {
    const p = own(new Poll());
    const n = p.native as unknown as { addWaker(token: number, state: unknown): number };
    expectThrowsKind(() => n.addWaker(1, new Int32Array(2)), TypeError);
    const resizable = new Int32Array(new ArrayBuffer(8, { maxByteLength: 64 } as never));
    expectThrowsKind(() => n.addWaker(1, resizable), TypeError);
    const fd = n.addWaker(1, new Int32Array(new SharedArrayBuffer(8)));
    expect(fd).toBeGreaterThanOrEqual(0);
  });

  it('encodeUnix with an empty, detached path buffer encodes an unnamed address (no memcpy from null)', () => {
    const empty = new Uint8Array(4);
    structuredClone(empty.buffer, { transfer: [empty.buffer] });
    expect(empty.length).toBe(0);
    const s = slot();
    for (const abstract of [false, true]) {
      expect(native.encodeUnix(empty, abstract, s)).toBe(0);
      const decoded = native.decodeAddress(s) as { family: string; path: Buffer };
      expect(decoded.family).toBe('unix');
      expect(decoded.path.length).toBe(0);
    }
  });

  it('encodeUnix with a path that is a view of the slot itself encodes the path, not the cleared slot', () => {
    const s = slot();
    // The path's bytes sit where sun_path will go (slot header 8 + family 2).
    const path = s.subarray(10, 20);
    path.set(Buffer.from('/tmp/abcde'));
    expect(native.encodeUnix(path, false, s)).toBe(0);
    const decoded = native.decodeAddress(s) as { family: string; path: Buffer };
    expect(decoded.family).toBe('unix');
    expect(decoded.path.toString()).toBe('/tmp/abcde');
  });
});

describe('pump arrays that share memory', () => {
  it('a Pump whose records overlap its write list throws RangeError (the sends read rewritten entries past the arenas)', () => {
    // Under the sanitizer this layout made flush() send 3 KiB from past a
    // 16-byte read arena: the failed first send's record landed on the
    // second entry's offset and length.
    const p = own(new Poll());
    const buf = new ArrayBuffer(4096);
    const writes = new Uint32Array(buf, 0, 16);
    const records = new Uint32Array(buf, 24, 80);
    expectThrowsKind(
      () => new native.Pump(p.native, new Uint8Array(16), new Uint8Array(16), writes, records, 4, 16, 8),
      RangeError,
    );
    const arena = new Uint8Array(buf, 0, 16);
    expectThrowsKind(
      () => new native.Pump(p.native, arena, new Uint8Array(16), writes, new Uint32Array(80), 4, 16, 8),
      RangeError,
    );
  });

  it('disjoint views of one buffer are accepted', () => {
    const p = own(new Poll());
    const buf = new ArrayBuffer(4096);
    const pump = new native.Pump(
      p.native, new Uint8Array(buf, 0, 256), new Uint8Array(buf, 256, 256),
      new Uint32Array(buf, 512, 16), new Uint32Array(buf, 1024, 80), 4, 16, 8,
    );
    expect(pump.flush(0, 0)).toBe(0);
  });
});

describe('netlink replies from a hostile peer', () => {
  it.runIf(process.platform === 'linux')(
    'diagReceive of an error record carrying INT_MIN reports it without negating an int (UBSan: signed overflow)',
    () => {
      // diagReceive parses whatever arrives on the fd it is given; here a
      // socket pair stands in for the kernel.
      const [a, b] = rawPair();
      const msg = Buffer.alloc(36);
      msg.writeUInt32LE(36, 0); // nlmsg_len
      msg.writeUInt16LE(2, 4); // NLMSG_ERROR
      msg.writeUInt32LE(7, 8); // nlmsg_seq
      msg.writeInt32LE(-0x80000000, 16); // nlmsgerr.error
      expect(native.write(b.fd, msg, 0, msg.length)).toBe(msg.length);
      const out = new Uint32Array(7);
      expect(native.diagReceive(a.fd, out)).toBe(1);
      expect(out[0]).toBe(7);
      expect(out[1]).toBe(0x80000000);
    },
  );
});
