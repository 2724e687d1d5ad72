#!/usr/bin/env node
/**
 * npm run fuzz -- [--iterations N] [--seed S] [--only name,name] [--quiet]
 *
 * Calls every export of the compiled addon, and every method of its Poll and
 * Pump classes, with random arguments: wrong types, NaN, infinities, huge,
 * negative and fractional numbers, detached, zero-length, misaligned,
 * resizable and overlapping buffers, closed fds and fds of the wrong kind (a
 * regular file, a directory, FIFOs, /dev/null), offsets and lengths past the
 * end, objects that only look like a Poll, and methods called on the wrong
 * kind of object. Each call must return or throw a JS error; the process must
 * never crash, abort, hang or (under the sanitizer build) touch memory it
 * does not own.
 *
 * The calls run in a child process so that a crash can be reported: before
 * each call the child writes its iteration number and the call into a
 * journal file, and when it dies the parent prints the last entry, the seed
 * and the command that replays the run. The random stream comes from a
 * seeded xoshiro128** generator, so a seed and an iteration count name one
 * run exactly (up to what the kernel answers).
 *
 * What the fuzzer may touch is fenced in, because it runs as root next to
 * other work:
 *  - fds: only ones it opened itself (a pool of sockets, socket pairs,
 *    FIFOs, a temp file, a directory, /dev/null, Poll and waker fds) and fd
 *    numbers that were verified closed and that the kernel will not hand out
 *    meanwhile. Any other integer in an fd position is replaced, so stdin,
 *    stdout, stderr and node's own fds are never named.
 *  - addresses: bind, connect and sendTo see loopback (127/8, ::1) with a
 *    port the fuzzer owns or port 0, Unix paths inside its temp directory,
 *    and abstract names under its own prefix. A slot that says anything
 *    else gets an invalid address family before the call, so the call still
 *    happens and fails.
 *  - socket() gets only the Internet and Unix families and the stream,
 *    datagram and seqpacket types (no raw or packet sockets, no netlink
 *    other than diagOpen's read-only sock_diag socket, whose fd only the
 *    diag calls see).
 *  - time: every wait has a zero timeout; every fd is non-blocking.
 *
 * Exit status: 0 nothing found, 1 a failure (crash, hang, a non-Error throw,
 * a result of the wrong type), 2 bad usage.
 */
'use strict';

const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const ROOT = path.join(__dirname, '..');

// ---------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------

function usage(message) {
  if (message) process.stderr.write(`fuzz-native: ${message}\n`);
  process.stderr.write(
    'usage: npm run fuzz -- [--iterations N] [--seed S] [--only name,name] [--quiet]\n',
  );
  process.exit(2);
}

function parseOptions(argv) {
  const o = { iterations: 20000, seed: undefined, only: null, quiet: false, child: false, journal: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) usage(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--iterations') o.iterations = Number(value());
    else if (a === '--seed') o.seed = Number(value());
    else if (a === '--only') o.only = value().split(',').filter(Boolean);
    else if (a === '--quiet') o.quiet = true;
    else if (a === '--child') o.child = true;
    else if (a === '--journal') o.journal = value();
    else usage(`unknown option ${a}`);
  }
  if (!Number.isInteger(o.iterations) || o.iterations < 0) usage('--iterations must be a non-negative integer');
  if (o.seed === undefined) o.seed = (Date.now() ^ (process.pid << 16)) >>> 0;
  if (!Number.isInteger(o.seed) || o.seed < 0 || o.seed > 0xffffffff) usage('--seed must be an integer in [0, 2^32)');
  return o;
}

// ---------------------------------------------------------------------------
// The parent: runs the child, watches its journal, reports how it ended
// ---------------------------------------------------------------------------

/** How long the journal may stand still before the child counts as hung. */
const HANG_MS = 60000;

function replayCommand(o, iteration) {
  const only = o.only ? ` --only ${o.only.join(',')}` : '';
  return `npm run fuzz -- --seed ${o.seed} --iterations ${iteration + 1}${only}`;
}

function readJournal(file) {
  try {
    const text = fs.readFileSync(file, 'utf8').replace(/\0+$/, '');
    const nl = text.indexOf('\n');
    const line = nl >= 0 ? text.slice(0, nl) : text;
    const tab = line.indexOf('\t');
    if (tab < 0) return null;
    return { iteration: Number(line.slice(0, tab)), call: line.slice(tab + 1) };
  } catch {
    return null;
  }
}

function parent(o) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'edgeloop-fuzz-journal-'));
  const journal = path.join(dir, 'journal');
  fs.writeFileSync(journal, '');
  const args = ['--expose-gc', __filename, '--child', '--journal', journal,
    '--iterations', String(o.iterations), '--seed', String(o.seed)];
  if (o.only) args.push('--only', o.only.join(','));
  if (o.quiet) args.push('--quiet');
  const started = Date.now();
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'inherit', 'inherit'] });
  let last = -1;
  let lastChange = Date.now();
  let hung = false;
  const watch = setInterval(() => {
    const j = readJournal(journal);
    const at = j ? j.iteration : -1;
    if (at !== last) {
      last = at;
      lastChange = Date.now();
    } else if (Date.now() - lastChange > HANG_MS) {
      hung = true;
      child.kill('SIGKILL');
    }
  }, 1000);
  child.on('exit', (code, signal) => {
    clearInterval(watch);
    const j = readJournal(journal);
    fs.rmSync(dir, { recursive: true, force: true });
    if (code === 0) process.exit(0);
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    const how = hung ? `hung for ${HANG_MS / 1000}s` : signal ? `killed by ${signal}` : `exited with status ${code}`;
    process.stderr.write(`fuzz-native: FAILED: the fuzzing process ${how} after ${seconds}s (seed ${o.seed})\n`);
    if (j) {
      process.stderr.write(`fuzz-native: last call, iteration ${j.iteration}: ${j.call}\n`);
      process.stderr.write(`fuzz-native: replay: ${replayCommand(o, j.iteration)}\n`);
    }
    process.exit(1);
  });
}

// ---------------------------------------------------------------------------
// The child: the fuzzing itself
// ---------------------------------------------------------------------------

/** xoshiro128** over four 32-bit words, seeded through splitmix32. */
class Random {
  constructor(seed) {
    let s = seed >>> 0;
    const next = () => {
      s = (s + 0x9e3779b9) >>> 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.s = new Uint32Array([next(), next(), next(), next()]);
  }

  /** A uniform 32-bit unsigned integer. */
  u32() {
    const s = this.s;
    const result = Math.imul(rotl(Math.imul(s[1], 5) >>> 0, 7), 9) >>> 0;
    const t = (s[1] << 9) >>> 0;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result;
  }

  /** An integer in [0, n). */
  int(n) {
    return n <= 1 ? 0 : Math.floor((this.u32() / 4294967296) * n);
  }

  /** True with probability p. */
  chance(p) {
    return this.u32() / 4294967296 < p;
  }

  pick(list) {
    return list[this.int(list.length)];
  }

  /** An element of `rows`, each `[weight, value]`, chosen by weight. */
  weighted(rows) {
    let total = 0;
    for (const [w] of rows) total += w;
    let x = this.int(total);
    for (const [w, v] of rows) {
      if (x < w) return v;
      x -= w;
    }
    return rows[rows.length - 1][1];
  }
}

function rotl(x, k) {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/** What a getter or a callback planted by the fuzzer throws; passing it on is fine. */
class Planted extends Error {}

function child(o) {
  const native = require('node-gyp-build')(ROOT);
  const C = native.constants;
  const rng = new Random(o.seed);
  const journalFd = o.journal ? fs.openSync(o.journal, 'r+') : -1;
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'edgeloop-fuzz-'));
  const abstractPrefix = Buffer.from(`\0edgeloop-fuzz-${process.pid}-`);
  const journalLine = Buffer.alloc(4096);

  // -------------------------------------------------------------------------
  // Names for what the journal prints
  // -------------------------------------------------------------------------
  const names = new WeakMap();
  let nameCount = 0;
  function name(obj, label) {
    names.set(obj, `${label}#${++nameCount}`);
    return obj;
  }
  function describe(v, depth = 0) {
    if (v === null) return 'null';
    switch (typeof v) {
      case 'number':
        return Object.is(v, -0) ? '-0' : String(v);
      case 'bigint':
        return `${v}n`;
      case 'string':
        return v.length > 48 ? `${JSON.stringify(v.slice(0, 48))}…(${v.length})` : JSON.stringify(v);
      case 'undefined':
      case 'boolean':
        return String(v);
      case 'symbol':
        return 'Symbol()';
      case 'function':
        return names.get(v) || 'function';
      default:
        break;
    }
    if (names.has(v)) return names.get(v);
    if (ArrayBuffer.isView(v)) {
      const buf = v.buffer;
      const kind = names.get(buf) || (buf instanceof SharedArrayBuffer ? 'sab' : 'ab');
      return `${v.constructor.name}(${v.length})@${v.byteOffset}/${kind}[${buf.byteLength}]`;
    }
    if (v instanceof ArrayBuffer || v instanceof SharedArrayBuffer) return `${v.constructor.name}(${v.byteLength})`;
    if (Array.isArray(v)) {
      if (depth > 0) return `[…${v.length}]`;
      // Through descriptors: an element behind a getter is not run here.
      const shown = [];
      for (let i = 0; i < Math.min(v.length, 4); i++) {
        const d = Object.getOwnPropertyDescriptor(v, i);
        shown.push(!d ? 'hole' : 'value' in d ? describe(d.value, 1) : 'getter');
      }
      return `[${shown.join(', ')}${v.length > 4 ? `, …${v.length}` : ''}]`;
    }
    try {
      return Object.prototype.toString.call(v);
    } catch {
      return 'object';
    }
  }

  function journal(iteration, text) {
    if (journalFd < 0) return;
    const n = journalLine.write(`${iteration}\t${text}\n`, 0, journalLine.length - 1);
    journalLine.fill(0, n, Math.min(journalLine.length, n + 256));
    fs.writeSync(journalFd, journalLine, 0, Math.min(journalLine.length, n + 256), 0);
  }

  // -------------------------------------------------------------------------
  // The fd pool
  // -------------------------------------------------------------------------
  // (The listing's own directory fd shows up in it, and is closed after.)
  const foreign = new Set(fs.readdirSync('/proc/self/fd').map(Number).filter((fd) => {
    try {
      fs.fstatSync(fd);
      return true;
    } catch {
      return false;
    }
  }));
  const ours = new Map(); // fd -> { kind, closable, fixture }
  const dynamic = []; // fds the fuzzed calls created, oldest first
  const netlink = new Set(); // diagOpen's fds: only the diag calls see them
  const ports = new Set(); // loopback ports of our own sockets
  const fixtures = []; // { kind, open() } for replacing a fixture that a fuzzed close took

  function adopt(fd, kind, opts = {}) {
    if (!Number.isInteger(fd) || fd < 0) return;
    if (foreign.has(fd)) throw new Error(`fd ${fd} was open before the fuzzer started`);
    ours.set(fd, { kind, closable: opts.closable !== false, fixture: opts.fixture || null, port: opts.port || 0 });
    if (opts.port) ports.add(opts.port);
    if (!opts.fixture && opts.closable !== false) dynamic.push(fd);
  }

  function forget(fd) {
    const info = ours.get(fd);
    if (!info) return;
    ours.delete(fd);
    netlink.delete(fd);
    if (info.port) ports.delete(info.port);
    const i = dynamic.indexOf(fd);
    if (i >= 0) dynamic.splice(i, 1);
    if (info.fixture) info.fixture.fd = -1;
  }

  /** Closes an fd of ours outside the fuzzed calls (pool upkeep). */
  function retire(fd) {
    forget(fd);
    native.close(fd);
  }

  // Numbers verified closed, far above every open fd: the kernel hands out
  // the lowest free number, so nothing will be opened at these meanwhile.
  const highest = Math.max(...foreign);
  const closedNumbers = [];
  for (let fd = highest + 4000; closedNumbers.length < 6; fd += 97) {
    try {
      fs.fstatSync(fd);
    } catch {
      closedNumbers.push(fd);
    }
  }
  closedNumbers.push(0x7fffffff, 1 << 20);

  const slotOf = () => new Uint8Array(new ArrayBuffer(C.SLOT_SIZE));
  function inetSlot(host, port) {
    const s = slotOf();
    if (native.encodeInet(host, port, s) !== 0) throw new Error(`cannot encode ${host}`);
    return s;
  }
  function unixSlot(p) {
    const s = slotOf();
    if (native.encodeUnix(Buffer.from(p), false, s) !== 0) throw new Error(`cannot encode ${p}`);
    return s;
  }
  function boundPort(fd) {
    const s = slotOf();
    if (native.getSockName(fd, s) !== 0) return 0;
    const a = native.decodeAddress(s);
    return a && a.port ? a.port : 0;
  }

  const ipv6 = (() => {
    const fd = native.socket(C.AF_INET6, C.SOCK_STREAM, 0);
    if (fd < 0) return false;
    const ok = native.bind(fd, inetSlot('::1', 0)) === 0;
    native.close(fd);
    return ok;
  })();

  const unixListenerPath = path.join(tmp, 'listener.sock');
  function fixture(kind, open) {
    const f = { kind, fd: -1, open };
    fixtures.push(f);
    return f;
  }
  function openTcpListener(host) {
    const fd = native.socket(host.includes(':') ? C.AF_INET6 : C.AF_INET, C.SOCK_STREAM, 0);
    if (native.bind(fd, inetSlot(host, 0)) !== 0 || native.listen(fd, 64) !== 0) throw new Error('listener');
    return { fd, port: boundPort(fd) };
  }
  function openUdp(host) {
    const fd = native.socket(host.includes(':') ? C.AF_INET6 : C.AF_INET, C.SOCK_DGRAM, 0);
    if (native.bind(fd, inetSlot(host, 0)) !== 0) throw new Error('udp');
    return { fd, port: boundPort(fd) };
  }
  fixture('tcp-listener', () => openTcpListener('127.0.0.1'));
  if (ipv6) fixture('tcp6-listener', () => openTcpListener('::1'));
  fixture('udp', () => openUdp('127.0.0.1'));
  fixture('udp', () => openUdp('127.0.0.1'));
  if (ipv6) fixture('udp6', () => openUdp('::1'));
  fixture('unix-listener', () => {
    fs.rmSync(unixListenerPath, { force: true });
    const fd = native.socket(C.AF_UNIX, C.SOCK_STREAM, 0);
    if (native.bind(fd, unixSlot(unixListenerPath)) !== 0 || native.listen(fd, 64) !== 0) throw new Error('unix');
    return { fd };
  });
  const tempFile = path.join(tmp, 'file');
  fixture('file', () => ({ fd: fs.openSync(tempFile, fs.constants.O_RDWR | fs.constants.O_CREAT | fs.constants.O_NONBLOCK) }));
  fixture('dir', () => ({ fd: fs.openSync(tmp, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY) }));
  fixture('devnull', () => ({ fd: fs.openSync('/dev/null', fs.constants.O_RDWR | fs.constants.O_NONBLOCK) }));
  const fifoPath = path.join(tmp, 'fifo');
  // Without LD_PRELOAD: under the sanitizer build, mkfifo would get the ASan
  // runtime too, and its own leaks at exit would count against the run.
  const env = { ...process.env };
  delete env.LD_PRELOAD;
  require('node:child_process').execFileSync('mkfifo', [fifoPath], { env });
  // Read-write first: the write-only open of a FIFO needs a reader to exist.
  fixture('fifo-rw', () => ({ fd: fs.openSync(fifoPath, fs.constants.O_RDWR | fs.constants.O_NONBLOCK) }));
  fixture('fifo-r', () => ({ fd: fs.openSync(fifoPath, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK) }));
  fixture('fifo-w', () => ({ fd: fs.openSync(fifoPath, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK) }));

  function replenish() {
    for (const f of fixtures) {
      if (f.fd >= 0) continue;
      const { fd, port } = f.open();
      f.fd = fd;
      adopt(fd, f.kind, { fixture: f, port });
    }
  }

  // A few connected pairs to move bytes through (also rebuilt by upkeep).
  function openPairs() {
    for (const type of [C.SOCK_STREAM, C.SOCK_DGRAM]) {
      const out = new Int32Array(2);
      if (native.socketpair(C.AF_UNIX, type, out) === 0) {
        adopt(out[0], 'pair');
        adopt(out[1], 'pair');
      }
    }
    const tcp = fixtures.find((f) => f.kind === 'tcp-listener');
    if (tcp && tcp.fd >= 0) {
      const c = native.socket(C.AF_INET, C.SOCK_STREAM, 0);
      adopt(c, 'tcp');
      native.connect(c, inetSlot('127.0.0.1', ours.get(tcp.fd).port));
      const s = native.accept(tcp.fd);
      if (s >= 0) adopt(s, 'tcp');
    }
  }

  // The fds a call may name: ours, plus closed numbers.
  function fdPool() {
    const list = [];
    for (const [fd] of ours) if (!netlink.has(fd)) list.push(fd);
    return list;
  }

  /**
   * Makes `v` safe in an fd position: any integer the addon would take as an
   * fd that is not ours becomes a closed number.
   */
  function safeFd(v) {
    if (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0x7fffffff && !ours.has(v)) {
      return closedNumbers.includes(v) ? v : rng.pick(closedNumbers);
    }
    return v;
  }

  // -------------------------------------------------------------------------
  // Values
  // -------------------------------------------------------------------------
  const INTERESTING = [
    0, 1, -1, 2, 3, 4, 5, 7, 8, 15, 16, 17, 31, 32, 63, 64, 127, 128, 135, 136, 137, 255, 256,
    1023, 1024, 4095, 4096, 8191, 8192, 65535, 65536, 0x7fffffff, 0x80000000, 0xffffffff,
    0x100000000, 2 ** 53 - 1, 2 ** 53, -(2 ** 31), -(2 ** 31) - 1, -(2 ** 53), NaN, Infinity,
    -Infinity, -0, 0.5, 1.5, -0.5, 1e300, -1e300, Number.MIN_VALUE, Number.EPSILON,
  ];
  const WEIRD = [
    () => undefined, () => null, () => true, () => false, () => '', () => '0', () => '1',
    () => 'abc', () => '127.0.0.1', () => ({}), () => [], () => [1, 2], () => Symbol('x'),
    () => 10n, () => -1n, () => new Date(0), () => /x/, () => ({ valueOf: () => 3 }),
    () => name({ valueOf() { throw new Planted('valueOf'); } }, 'throwingValueOf'),
    () => name(new Proxy({}, { get() { throw new Planted('proxy get'); } }), 'throwingProxy'),
    () => name(new Proxy([], {}), 'arrayProxy'),
    () => Object.create(null),
    () => name(function callback() { return 0; }, 'fn'),
    () => new ArrayBuffer(16),
    () => new SharedArrayBuffer(16),
    () => new DataView(new ArrayBuffer(16)),
  ];

  function number() {
    return rng.weighted([
      [6, () => rng.pick(INTERESTING)],
      [3, () => rng.int(256)],
      [1, () => rng.u32()],
      [1, () => (rng.u32() | 0)],
      [1, () => rng.u32() / 7],
    ])();
  }
  function weird() {
    return rng.pick(WEIRD)();
  }
  /** Mostly a plausible unsigned value (`max` exclusive), else anything. */
  function plausible(max) {
    return rng.weighted([
      [6, () => rng.int(max)],
      [2, number],
      [1, weird],
    ])();
  }

  // Typed arrays. A share of them are views into a few scratch buffers, so
  // two arguments of one call (or the arrays a Pump keeps) can overlap.
  const scratch = [
    name(new ArrayBuffer(1 << 16), 'scratch'),
    name(new SharedArrayBuffer(1 << 14), 'sharedScratch'),
    name(new ArrayBuffer(4096, { maxByteLength: 1 << 16 }), 'resizable'),
  ];
  const kept = []; // arrays handed out before, so later calls see them again
  const SIZES = [0, 1, 2, 3, 4, 5, 7, 8, 10, 16, 31, 64, 100, 135, 136, 137, 256, 1000, 4096, 65536];
  const CTORS = {
    u8: Uint8Array, i32: Int32Array, u32: Uint32Array, u16: Uint16Array, i8: Int8Array,
    f64: Float64Array, u8c: Uint8ClampedArray, b64: BigInt64Array, buf: Buffer,
  };

  function detach(view) {
    const buf = view.buffer;
    if (buf instanceof SharedArrayBuffer || scratch.includes(buf)) return;
    try {
      structuredClone(buf, { transfer: [buf] });
    } catch {
      // already detached, or a Buffer from node's shared pool
    }
  }

  /** A typed array of (mostly) kind `want` and about `length` elements. */
  function typed(want, length) {
    if (kept.length > 0 && rng.chance(0.15)) return rng.pick(kept);
    try {
      return makeTyped(want, length);
    } catch {
      // a view that cannot be made on the resizable buffer at its current size
      return new Uint8Array(8);
    }
  }
  function makeTyped(want, length) {
    const kind = rng.chance(0.8) ? want : rng.pick(Object.keys(CTORS));
    const Ctor = CTORS[kind];
    const per = Ctor.BYTES_PER_ELEMENT;
    const n = rng.chance(0.75) && length !== undefined ? length + rng.pick([0, 0, 0, 1, -1, 8]) : rng.pick(SIZES);
    const count = Math.max(0, n);
    let view;
    switch (rng.weighted([[6, 'fresh'], [2, 'scratch'], [1, 'pooled'], [1, 'odd'], [1, 'detached'], [1, 'tracking']])) {
      case 'scratch': {
        const buf = rng.pick(scratch.slice(0, 2));
        const max = Math.floor(buf.byteLength / per);
        const len = Math.min(count, max);
        const start = rng.int(max - len + 1);
        view = kind === 'buf' ? Buffer.from(buf, start, len) : new Ctor(buf, start * per, len);
        break;
      }
      case 'pooled':
        // Buffers from node's shared 8 KiB pool sit at arbitrary offsets.
        view = Buffer.from(new Uint8Array(Math.min(count, 4000) * 1));
        if (kind !== 'buf' && kind !== 'u8') view = new Ctor(Math.min(count, 1000));
        break;
      case 'odd': {
        const raw = new ArrayBuffer(count * per + 16);
        const shift = per === 1 ? 1 + rng.int(7) : per;
        view = kind === 'buf' ? Buffer.from(raw, shift, count) : new Ctor(raw, shift, count);
        break;
      }
      case 'detached':
        view = kind === 'buf' ? Buffer.from(new ArrayBuffer(count)) : new Ctor(count);
        detach(view);
        break;
      case 'tracking': {
        const buf = scratch[2];
        view = kind === 'buf' ? Buffer.from(buf) : new Ctor(buf);
        break;
      }
      default:
        view = kind === 'buf' ? Buffer.alloc(count) : new Ctor(count);
    }
    if (rng.chance(0.3)) fillBytes(view);
    if (rng.chance(0.3)) {
      kept.push(view);
      if (kept.length > 64) kept.shift();
    }
    return view;
  }

  /** Random bytes, or messages shaped like netlink replies (see diagReceive). */
  function fillBytes(view) {
    if (view.byteLength === 0) return;
    const u8 = new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
    if (rng.chance(0.3)) {
      fillNetlink(u8);
      return;
    }
    const n = Math.min(u8.length, 256);
    for (let i = 0; i < n; i++) u8[i] = rng.u32() & 0xff;
  }

  /**
   * Netlink-shaped bytes: headers with plausible and hostile lengths and
   * types, error codes from the edges of int32 (diagReceive parses whatever
   * arrives on the fd it is given).
   */
  function fillNetlink(u8) {
    {
      const dv = new DataView(u8.buffer, u8.byteOffset, u8.byteLength);
      let off = 0;
      while (off + 20 <= u8.length && rng.chance(0.8)) {
        const type = rng.pick([2, 2, 20, 3, 1, rng.int(65536)]);
        const len = rng.pick([16, 20, 36, 36, 88, 92, 124, u8.length - off, rng.int(200), 0xffffffff]);
        dv.setUint32(off, len >>> 0, true);
        dv.setUint16(off + 4, type, true);
        dv.setUint16(off + 6, rng.int(65536), true);
        dv.setUint32(off + 8, rng.u32(), true);
        dv.setUint32(off + 12, rng.u32(), true);
        dv.setInt32(off + 16, rng.pick([0, -2, -1, -111, 0x7fffffff, -0x80000000, -0x80000000, rng.u32() | 0]), true);
        const step = Math.max(16, Math.min(len >>> 0, 128)) + 3;
        off += step & ~3;
      }
    }
  }

  function bytes(length) {
    return rng.chance(0.9) ? typed('u8', length) : weird();
  }

  /** A buffer and an (offset, length) inside it, at its edge or past it. */
  function slice() {
    const buf = bytes(rng.pick([0, 1, 16, 100, 4096, 65536]));
    const size = ArrayBuffer.isView(buf) ? buf.length : 16;
    const off = rng.weighted([[5, () => rng.int(size + 1)], [1, () => size], [1, () => size + 1], [2, number]])();
    const room = typeof off === 'number' && off <= size ? size - off : size;
    const len = rng.weighted([[5, () => rng.int(room + 1)], [1, () => room], [1, () => room + 1], [2, number]])();
    return [buf, off, len];
  }

  // Address slots: real ones of ours, encoded ones, or junk, then fenced in
  // (see safeTarget) wherever the kernel would act on them.
  function slot() {
    return rng.weighted([
      [4, () => typed('u8', C.SLOT_SIZE)],
      [3, () => rng.pick(ownSlots())],
      [2, () => {
        const s = slotOf();
        native.encodeInet(rng.pick(['127.0.0.1', '::1', '127.1.2.3', '::ffff:127.0.0.1']),
          rng.chance(0.5) ? 0 : rng.pick([...ports, 0]), s);
        return s;
      }],
      [1, () => {
        const s = slotOf();
        const p = rng.chance(0.5)
          ? Buffer.from(path.join(tmp, `s${rng.int(8)}`))
          : Buffer.concat([abstractPrefix.subarray(1), Buffer.from(String(rng.int(8)))]);
        native.encodeUnix(p, p[0] === 0x65 /* 'e': the abstract prefix without its NUL */, s);
        return s;
      }],
      [1, weird],
    ])();
  }
  function ownSlots() {
    const list = [];
    for (const port of ports) list.push(inetSlot('127.0.0.1', port));
    if (ipv6) list.push(inetSlot('::1', rng.pick([...ports, 0])));
    list.push(unixSlot(unixListenerPath));
    return list;
  }

  /**
   * Rewrites a slot that would send the kernel anywhere but loopback and our
   * own files: its family becomes 0xffff, which every socket refuses.
   */
  function safeTarget(s) {
    if (!(s instanceof Uint8Array) || s.byteLength < C.SLOT_SIZE || s.length === 0) return;
    const dv = new DataView(s.buffer, s.byteOffset, s.byteLength);
    const len = Math.min(dv.getUint32(0, true), 128);
    if (len < 2) return;
    const family = dv.getUint16(8, true);
    const a = s.subarray(8, 8 + len);
    const port = len >= 4 ? (a[2] << 8) | a[3] : 0;
    const portOk = port === 0 || ports.has(port);
    let ok;
    if (family === C.AF_INET) {
      ok = len < 16 || (a[4] === 127 && portOk);
    } else if (family === C.AF_INET6) {
      const addr = a.subarray(8, 24);
      const loop = addr.length === 16 && addr.subarray(0, 15).every((b) => b === 0) && addr[15] === 1;
      const mapped = addr.length === 16 && addr.subarray(0, 10).every((b) => b === 0) &&
        addr[10] === 0xff && addr[11] === 0xff && addr[12] === 127;
      ok = len < 24 || ((loop || mapped) && portOk);
    } else if (family === C.AF_UNIX) {
      const p = Buffer.from(a.subarray(2));
      if (p.length === 0) ok = true;
      else if (p[0] === 0) ok = p.subarray(0, abstractPrefix.length).equals(abstractPrefix);
      else {
        const text = p.subarray(0, p.indexOf(0) >= 0 ? p.indexOf(0) : p.length).toString('latin1');
        ok = text.startsWith(`${tmp}/`) && !text.includes('/..');
      }
    } else if (family === 0) {
      // Read as AF_INET by bind() (a zero address meaning INADDR_ANY) and by
      // a UDP sendto(), so held to the same rule.
      ok = len < 16 || (a[4] === 127 && portOk);
    } else {
      ok = true;
    }
    if (!ok) dv.setUint16(8, 0xffff, true);
  }

  /**
   * An Internet socket the kernel would bind to the wildcard address
   * (listen, or sendTo, on an unbound socket) is bound to loopback first.
   */
  function loopbackFirst(fd) {
    if (!ours.has(fd)) return;
    const s = slotOf();
    if (native.getSockName(fd, s) !== 0) return;
    const a = native.decodeAddress(s);
    if (!a || a.family === 'unix' || a.port !== 0) return;
    native.bind(fd, inetSlot(a.family === 'IPv6' ? '::1' : '127.0.0.1', 0));
  }

  function fd() {
    return safeFd(rng.weighted([
      [12, () => rng.pick(fdPool())],
      [2, () => rng.pick(closedNumbers)],
      [1, number],
      [1, weird],
    ])());
  }

  // -------------------------------------------------------------------------
  // Polls, pumps and wakers the calls act on
  // -------------------------------------------------------------------------
  const polls = []; // { obj, fds: Set, closed }
  const pumps = []; // { obj, writes, poll }
  const PollProto = native.Poll.prototype;
  const PumpProto = native.Pump.prototype;

  function newPoll() {
    if (polls.length >= 4) closePoll(polls.shift());
    const obj = name(new native.Poll(), 'poll');
    const p = { obj, fds: new Set(), closed: false };
    const efd = obj.fd();
    if (efd >= 0) {
      adopt(efd, 'epoll', { closable: false });
      p.fds.add(efd);
    }
    polls.push(p);
    return p;
  }
  function closePoll(p) {
    if (!p.closed) {
      p.obj.close();
      p.closed = true;
    }
    for (const f of p.fds) forget(f);
    p.fds.clear();
  }

  function pollReceiver() {
    return rng.weighted([
      [14, () => (polls.length ? rng.pick(polls).obj : newPoll().obj)],
      [1, () => name(Object.create(PollProto), 'fakePoll')],
      [1, () => (pumps.length ? rng.pick(pumps).obj : {})],
      [1, () => attempt(() => name(Reflect.construct(native.Pump, pumpArgs(), native.Poll), 'pumpAsPoll'))],
      [1, weird],
    ])();
  }
  function pumpReceiver() {
    return rng.weighted([
      [40, () => (pumps.length ? rng.pick(pumps).obj : newPump())],
      [1, () => name(Object.create(PumpProto), 'fakePump')],
      [1, () => (polls.length ? rng.pick(polls).obj : {})],
      [1, () => attempt(() => name(Reflect.construct(native.Poll, [], native.Pump), 'pollAsPump'))],
      [1, weird],
    ])();
  }

  function keyBits() {
    // Up to 20: the table grows to 2^keyBits entries, and 24 bits (the
    // addon's limit) makes a few hundred MB per pump.
    return rng.weighted([[8, () => 1 + rng.int(20)], [1, () => rng.pick([0, 25, 32, -1, 24.5])], [1, weird]])();
  }
  /** A live poll of the pool (a new one when there is none). */
  function livePoll() {
    const open = polls.filter((p) => !p.closed);
    return open.length ? rng.pick(open).obj : newPoll().obj;
  }
  /**
   * Pump constructor arguments: most of the time a well-formed set (so
   * turns and flushes get past the argument checks), laid out in separate
   * buffers or as overlapping views of one; otherwise anything.
   */
  function pumpArgs() {
    if (rng.chance(0.6)) {
      const cap = 1 + rng.int(16);
      const maxWrites = 1 + rng.int(8);
      const readSize = rng.pick([16, 256, 4096]);
      const writeSize = rng.pick([16, 256, 4096]);
      let read;
      let write;
      let writes;
      let records;
      if (rng.chance(0.3)) {
        // One buffer under all four, at offsets that may overlap.
        const buf = new ArrayBuffer(16384);
        const at = () => 4 * rng.int(1024);
        writes = new Uint32Array(buf, at(), 4 * maxWrites);
        records = new Uint32Array(buf, rng.chance(0.5) ? writes.byteOffset + 4 * rng.int(8) : at(), 5 * (cap + 8));
        read = new Uint8Array(buf, rng.chance(0.5) ? at() : 8192, readSize);
        write = new Uint8Array(buf, at(), writeSize);
        name(buf, 'shared');
      } else {
        writes = new Uint32Array(4 * maxWrites);
        records = new Uint32Array(5 * (cap + 8));
        read = Buffer.alloc(readSize);
        write = Buffer.alloc(writeSize);
      }
      const args = [livePoll(), read, write, writes, records, 1 + rng.int(12), 1 + rng.int(4096), cap];
      // Sometimes the io_uring backend: the read arena cut into buffers.
      if (rng.chance(0.25)) args.push(rng.weighted([[6, () => rng.pick([1, 4, 16, 64, 256])], [1, number]])());
      return args;
    }
    const capacity = rng.weighted([[6, () => 1 + rng.int(16)], [1, number]])();
    const cap = typeof capacity === 'number' && capacity > 0 && capacity < 1e6 ? capacity : 4;
    const writes = typed('u32', 4 * (1 + rng.int(8)));
    const records = typed('u32', 5 * (cap + 8));
    const read = typed('u8', rng.pick([16, 256, 4096]));
    const write = typed('u8', rng.pick([16, 256, 4096]));
    const poll = rng.weighted([
      [8, livePoll],
      [1, () => (polls.length ? rng.pick(polls).obj : newPoll().obj)],
      [1, () => name(Object.create(PollProto), 'fakePoll')],
      [1, () => (pumps.length ? rng.pick(pumps).obj : {})],
      [1, () => attempt(() => name(Reflect.construct(native.Pump, pumpArgs(), native.Poll), 'pumpAsPoll'))],
      [1, weird],
    ])();
    const args = [poll, read, write, writes, records, keyBits(), plausible(1 << 16), capacity];
    if (rng.chance(0.1)) args.length = rng.int(8);
    return args;
  }
  /** Joins a constructed pump to the pool, with the arrays it was given. */
  function keepPump(obj, args) {
    if (pumps.length >= 3) pumps.shift();
    pumps.push({ obj, read: args[1], write: args[2], writes: args[3], tokens: [] });
  }
  /** A new pump for the pool, or a plain object when the random arguments were refused. */
  function newPump() {
    const args = pumpArgs();
    const obj = attempt(() => name(new native.Pump(...args), 'pump'));
    if (obj instanceof native.Pump) keepPump(obj, args);
    return obj;
  }
  /** What `make` returns, or a plain object when it throws (a refused argument). */
  function attempt(make) {
    try {
      return make();
    } catch {
      return {};
    }
  }
  /** The write list of the pump this call acts on, filled with plausible entries. */
  function fillWrites(receiver, count) {
    const p = pumps.find((x) => x.obj === receiver);
    if (!p || !(p.writes instanceof Uint32Array) || typeof count !== 'number') return;
    const size = (a) => (ArrayBuffer.isView(a) ? a.byteLength : 0);
    const n = Math.min(count >>> 0, Math.floor(p.writes.length / 4));
    // Most lists are well-formed throughout, so the sends happen.
    const clean = rng.chance(0.7);
    for (let i = 0; i < n; i++) {
      const arena = clean ? rng.int(2) : rng.weighted([[5, 0], [5, 1], [1, 2]]);
      const room = arena === 0 ? size(p.write) : size(p.read);
      const off = clean ? rng.int(room) : rng.weighted([[8, () => rng.int(room + 1)], [1, () => room], [1, () => rng.u32()]])();
      const len = clean ? 1 + rng.int(Math.max(1, room - off))
        : rng.weighted([[8, () => 1 + rng.int(Math.max(1, room - off))], [1, () => 0], [1, () => rng.u32()]])();
      p.writes[i * 4] = p.tokens.length && rng.chance(0.8) ? rng.pick(p.tokens) : rng.int(16);
      p.writes[i * 4 + 1] = arena;
      p.writes[i * 4 + 2] = off;
      p.writes[i * 4 + 3] = len;
    }
  }

  /** A write count that fits the pump's write list, mostly. */
  function writeCount(self) {
    const p = pumps.find((x) => x.obj === self);
    if (!p || !ArrayBuffer.isView(p.writes) || rng.chance(0.2)) return plausible(6);
    return rng.int(Math.floor(p.writes.length / 4) + 1);
  }

  function wakerState() {
    return rng.weighted([
      [6, () => new Int32Array(new SharedArrayBuffer(8))],
      [1, () => new Int32Array(2)],
      [1, () => new Int32Array(new SharedArrayBuffer(8)).fill(rng.pick([1, -1, 7]))],
      [1, () => new Int32Array(1)],
      [1, () => {
        const a = new Int32Array(2);
        detach(a);
        return a;
      }],
      [1, () => new Uint32Array(new SharedArrayBuffer(8))],
      [1, weird],
    ])();
  }

  // -------------------------------------------------------------------------
  // The calls
  // -------------------------------------------------------------------------
  const INT = (r) => typeof r === 'number' && Number.isInteger(r);
  const VOID = (r) => r === undefined;
  const NON_EMPTY = (r) => typeof r === 'string' && r.length > 0;

  /** Runs after a call that returned: keeps the pools true to what it did. */
  function afterFd(r, kind) {
    if (INT(r) && r >= 0) {
      adopt(r, kind);
      while (dynamic.length > 48) retire(dynamic[0]);
    }
  }

  // Each entry: [name, weight, () => ({ fn, self, args, check, after })].
  const callGen = (n, w, make) => [n, w, make];
  const CALLS = [
    callGen('socket', 4, () => ({
      fn: native.socket,
      args: [
        rng.weighted([[8, () => rng.pick([C.AF_INET, C.AF_INET6, C.AF_UNIX])], [1, () => rng.pick([0, 255, -1, 1e9, NaN])], [1, weird]])(),
        rng.weighted([[8, () => rng.pick([C.SOCK_STREAM, C.SOCK_DGRAM, 5])], [1, () => rng.pick([0, 7, 99, -1, 1.5])], [1, weird]])(),
        rng.weighted([[8, () => rng.pick([0, 6, 17])], [1, () => rng.pick([255, -1, 2 ** 40])], [1, weird]])(),
      ],
      check: INT,
      after: (r) => afterFd(r, 'socket'),
    })),
    callGen('socketpair', 2, () => {
      const out = typed('i32', 2);
      return {
        fn: native.socketpair,
        args: [
          rng.weighted([[8, () => C.AF_UNIX], [1, () => rng.pick([C.AF_INET, 0, -1])], [1, weird]])(),
          rng.weighted([[8, () => rng.pick([C.SOCK_STREAM, C.SOCK_DGRAM, 5])], [1, number], [1, weird]])(),
          out,
        ],
        check: INT,
        after: (r) => {
          if (r === 0) {
            afterFd(out[0], 'pair');
            afterFd(out[1], 'pair');
          }
        },
      };
    }),
    callGen('bind', 4, () => {
      const s = slot();
      safeTarget(s);
      return { fn: native.bind, args: [fd(), s], check: INT };
    }),
    callGen('connect', 4, () => {
      const s = slot();
      safeTarget(s);
      return { fn: native.connect, args: [fd(), s], check: INT };
    }),
    callGen('listen', 2, () => {
      const f = fd();
      loopbackFirst(f);
      return { fn: native.listen, args: [f, plausible(256)], check: INT };
    }),
    callGen('accept', 4, () => ({ fn: native.accept, args: rng.chance(0.5) ? [fd()] : [fd(), slot()], check: INT, after: (r) => afterFd(r, 'accepted') })),
    callGen('read', 8, () => ({ fn: native.read, args: [fd(), ...slice()], check: INT })),
    callGen('write', 8, () => {
      if (rng.chance(0.15)) {
        // A whole netlink-shaped message, for a later diagReceive on the peer.
        const m = Buffer.alloc(rng.pick([20, 36, 36, 72, 128]));
        fillNetlink(m);
        return { fn: native.write, args: [fd(), m, 0, m.length], check: INT };
      }
      return { fn: native.write, args: [fd(), ...slice()], check: INT };
    }),
    callGen('peek', 4, () => ({ fn: native.peek, args: [fd(), ...slice()], check: INT })),
    callGen('readv', 4, () => ({ fn: native.readv, args: [fd(), iovecs()], check: INT })),
    callGen('writev', 4, () => ({ fn: native.writev, args: [fd(), iovecs()], check: INT })),
    callGen('recvFrom', 4, () => ({ fn: native.recvFrom, args: [fd(), ...slice(), slot()], check: INT })),
    callGen('sendTo', 4, () => {
      const f = fd();
      const s = slot();
      safeTarget(s);
      loopbackFirst(f);
      return { fn: native.sendTo, args: [f, ...slice(), s], check: INT };
    }),
    callGen('shutdown', 2, () => ({ fn: native.shutdown, args: [fd(), plausible(3)], check: INT })),
    callGen('close', 2, () => {
      // Only dynamic fds and fixtures: a Poll's own fds are closed through the Poll.
      const f = safeFd(rng.weighted([
        [6, () => (dynamic.length ? rng.pick(dynamic) : rng.pick(closedNumbers))],
        [1, () => {
          const list = fixtures.filter((x) => x.fd >= 0);
          return list.length ? rng.pick(list).fd : rng.pick(closedNumbers);
        }],
        [1, () => rng.pick(closedNumbers)],
        [1, number],
        [1, weird],
      ])());
      const closable = typeof f === 'number' && ours.has(f) && ours.get(f).closable;
      return {
        fn: native.close,
        args: [closable || !ours.has(f) ? f : rng.pick(closedNumbers)],
        check: INT,
        after: (r, args) => {
          if (r === 0) forget(args[0]);
        },
      };
    }),
    callGen('setSockOptInt', 4, () => ({
      fn: native.setSockOptInt,
      args: [fd(), sockLevel(), sockOpt(), number()],
      check: INT,
    })),
    callGen('getSockOptInt', 4, () => ({
      fn: native.getSockOptInt,
      args: [fd(), sockLevel(), sockOpt(), typed('i32', 1)],
      check: INT,
    })),
    callGen('getSockName', 2, () => ({ fn: native.getSockName, args: [fd(), slot()], check: INT })),
    callGen('getPeerName', 2, () => ({ fn: native.getPeerName, args: [fd(), slot()], check: INT })),
    callGen('encodeInet', 4, () => ({ fn: native.encodeInet, args: [host(), plausible(65536), slot()], check: INT })),
    callGen('encodeUnix', 4, () => {
      const s = slot();
      // Sometimes the path is a view into the slot itself.
      const p = s instanceof Uint8Array && s.length > 20 && rng.chance(0.3)
        ? s.subarray(rng.int(16), rng.int(16) + 1 + rng.int(s.length - 16))
        : bytes(rng.pick([0, 1, 10, 106, 107, 108, 200]));
      return { fn: native.encodeUnix, args: [p, rng.chance(0.5) ? rng.chance(0.5) : weird(), s], check: INT };
    }),
    callGen('decodeAddress', 4, () => ({
      fn: native.decodeAddress,
      args: [slot()],
      check: (r) => r === null || (typeof r === 'object' && typeof r.family === 'string'),
    })),
    callGen('wake', 2, () => ({ fn: native.wake, args: [fd(), wakerState()], check: INT })),
    callGen('uvBackendFd', 1, () => ({ fn: native.uvBackendFd, args: [], check: INT })),
    callGen('diagOpen', 1, () => ({
      fn: native.diagOpen,
      args: rng.pick([[], [plausible(1 << 22)]]),
      check: INT,
      // Closed at once: only the sock_diag socket opened at start stays,
      // so no stale fd number (a pump's, say) can come to name a netlink
      // socket later.
      after: (r) => {
        if (INT(r) && r >= 0) native.close(r);
      },
    })),
    callGen('diagQuery', 4, () => ({
      fn: native.diagQuery,
      args: [diagFd(), plausible(1000), slot(), slot()],
      check: INT,
    })),
    callGen('diagReceive', 4, () => ({
      fn: native.diagReceive,
      args: [diagFd(), typed('u32', rng.pick([7, 14, 70, 6]))],
      check: INT,
    })),
    callGen('getpwuidName', 2, () => ({
      fn: native.getpwuidName,
      args: [rng.weighted([[4, () => rng.int(70000)], [1, () => rng.pick([65534, 0xffffffff, 0xfffffffe])], [2, number], [1, weird]])()],
      check: (r) => r === null || typeof r === 'string' || INT(r),
    })),
    callGen('getpwuidDir', 2, () => ({
      fn: native.getpwuidDir,
      args: [rng.weighted([[4, () => rng.int(70000)], [1, () => rng.pick([65534, 0xffffffff, 0xfffffffe])], [2, number], [1, weird]])()],
      check: (r) => r === null || typeof r === 'string' || INT(r),
    })),
    callGen('inspectSocket', 2, () => ({
      fn: native.inspectSocket,
      args: [fd(), rng.chance(0.7) ? typed('i32', 3) : typed(rng.pick(['i32', 'u32', 'u8']), rng.pick([0, 2, 3, 4]))],
      check: INT,
    })),
    // Only ever on the fuzzer's own fds (fd() names nothing else): adopting
    // sets non-blocking and close-on-exec, which they have already.
    callGen('adoptFd', 2, () => ({ fn: native.adoptFd, args: [fd()], check: INT })),
    callGen('errnoName', 2, () => ({ fn: native.errnoName, args: [rng.chance(0.8) ? plausible(140) : number()], check: NON_EMPTY })),
    callGen('errnoMessage', 2, () => ({ fn: native.errnoMessage, args: [rng.chance(0.8) ? plausible(140) : number()], check: NON_EMPTY })),

    // The Poll class
    callGen('new Poll', 1, () => ({
      construct: true,
      fn: native.Poll,
      args: rng.chance(0.8) ? [] : [number(), weird()],
      check: (r) => r instanceof native.Poll,
      after: (r) => {
        // A Poll made here is closed at once unless it joins the pool.
        if (!(r instanceof native.Poll)) return;
        if (rng.chance(0.5) && polls.length < 4) {
          const p = { obj: name(r, 'poll'), fds: new Set(), closed: false };
          const efd = r.fd();
          if (efd >= 0) {
            adopt(efd, 'epoll', { closable: false });
            p.fds.add(efd);
          }
          polls.push(p);
        } else {
          r.close();
        }
      },
    })),
    callGen('Poll()', 1, () => ({ fn: native.Poll, args: [], check: () => false })),
    callGen('Poll.register', 6, () => pollCall('register', [fd(), plausible(64), interest(), opts()], INT)),
    callGen('Poll.reregister', 4, () => pollCall('reregister', [fd(), plausible(64), interest(), opts()], INT)),
    callGen('Poll.deregister', 4, () => pollCall('deregister', [fd()], INT)),
    callGen('Poll.wait', 6, () => pollCall('wait', [typed('u32', rng.pick([2, 8, 64, 1, 0])), timeout()], INT)),
    callGen('Poll.addWaker', 2, () => {
      const state = wakerState();
      return pollCall('addWaker', [plausible(64), state], INT, (r, args, self) => {
        const p = polls.find((x) => x.obj === self);
        if (p && INT(r) && r >= 0 && !ours.has(r)) {
          adopt(r, 'waker', { closable: false });
          p.fds.add(r);
        }
      });
    }),
    callGen('Poll.removeWaker', 2, () => pollCall('removeWaker', [], INT, (r, args, self) => {
      const p = polls.find((x) => x.obj === self);
      if (!p) return;
      for (const f of [...p.fds]) {
        if (ours.get(f) && ours.get(f).kind === 'waker') {
          forget(f);
          p.fds.delete(f);
        }
      }
    })),
    callGen('Poll.fd', 2, () => pollCall('fd', [], INT)),
    callGen('Poll.close', 1, () => pollCall('close', [], VOID, (r, args, self) => {
      const p = polls.find((x) => x.obj === self);
      if (p) {
        p.closed = true;
        closePoll(p);
        polls.splice(polls.indexOf(p), 1);
      }
    })),
    callGen('Poll.attach', 2, () => pollCall('attach', [
      rng.chance(0.8) ? name(() => { attachCalls++; }, 'onReady') : weird(),
      rng.chance(0.8) ? {} : weird(),
    ], (r) => INT(r))),
    callGen('Poll.detach', 2, () => pollCall('detach', [], VOID)),
    callGen('Poll.ref', 2, () => pollCall('ref', [], VOID)),
    callGen('Poll.unref', 2, () => pollCall('unref', [], VOID)),

    // The Pump class
    callGen('new Pump', 4, () => ({
      construct: true,
      fn: native.Pump,
      args: pumpArgs(),
      check: (r) => r instanceof native.Pump,
      after: (r, args) => keepPump(name(r, 'pump'), args),
    })),
    callGen('Pump.add', 6, () => {
      const c = pumpCall('add', [token(), fd(), plausible(4), rng.chance(0.7) ? rng.chance(0.7) : weird()], INT);
      c.after = (r, args) => {
        const p = pumps.find((x) => x.obj === c.self);
        if (p && r === 0) p.tokens.push(args[0]);
      };
      return c;
    }),
    callGen('Pump.modify', 4, () => pumpCall('modify', [token(), plausible(4), rng.chance(0.5)], INT)),
    callGen('Pump.remove', 2, () => pumpCall('remove', [token()], INT)),
    callGen('Pump.turn', 6, () => {
      const self = pumpReceiver();
      const count = writeCount(self);
      fillWrites(self, count);
      return { fn: PumpProto.turn, self, args: [timeout(), count], check: INT };
    }),
    callGen('Pump.flush', 4, () => {
      const self = pumpReceiver();
      const count = writeCount(self);
      fillWrites(self, count);
      return { fn: PumpProto.flush, self, args: [count, plausible(8)], check: INT };
    }),
    callGen('Pump.accept', 2, () => pumpCall('accept', [token(), rng.chance(0.7) ? rng.chance(0.5) : weird()], INT)),
    callGen('Pump.setAttached', 2, () => pumpCall('setAttached', [rng.chance(0.7) ? rng.chance(0.5) : weird()], INT)),
    callGen('Pump.close', 1, () => pumpCall('close', [], VOID)),
    callGen('Pump.backend', 1, () => ({ fn: PumpProto.backend, self: pumpReceiver(), args: [], check: NON_EMPTY })),
    callGen('probeIoUring', 1, () => ({ fn: native.probeIoUring, args: [], check: (r) => typeof r === 'string' })),
  ];

  let attachCalls = 0;

  function pollCall(method, args, check, after) {
    const self = pollReceiver();
    return { fn: PollProto[method], self, args, check, after: after ? (r, a) => after(r, a, self) : undefined };
  }
  function pumpCall(method, args, check) {
    return { fn: PumpProto[method], self: pumpReceiver(), args, check };
  }
  function interest() {
    return rng.weighted([[8, () => 1 + rng.int(7)], [1, () => rng.pick([0, 8, 15, 0xffffffff])], [1, number]])();
  }
  function opts() {
    return rng.weighted([[8, () => rng.int(8)], [1, number], [1, weird]])();
  }
  function token() {
    return rng.weighted([[8, () => rng.int(16)], [2, () => rng.int(1 << 20)], [1, () => rng.u32()], [1, number], [1, weird]])();
  }
  function timeout() {
    // Zero, or values the addon must refuse: never a wait that blocks.
    const t = rng.weighted([[16, () => 0], [2, () => rng.pick([NaN, Infinity, -2, -Infinity, 0.5, 2 ** 31, 1e300, -0])], [1, weird]])();
    return t === -1 ? 0 : t;
  }
  function sockLevel() {
    return rng.weighted([[8, () => rng.pick([C.SOL_SOCKET, 0, C.IPPROTO_TCP, 17, C.IPPROTO_IPV6])], [1, number], [1, weird]])();
  }
  function sockOpt() {
    return rng.weighted([[8, () => rng.int(80)], [1, number], [1, weird]])();
  }
  function host() {
    return rng.weighted([
      [4, () => rng.pick(['127.0.0.1', '::1', '0.0.0.0', '::', '1.2.3.4', '255.255.255.255', 'fe80::1%lo',
        'fe80::1%1', 'fe80::1%', '::1%99999999999999', '%', '', 'localhost', '127.0.0.1\0junk', '::ffff:127.0.0.1',
        '1:2:3:4:5:6:7:8:9', 'fe80::1%' + 'x'.repeat(40), '1.2.3', '999.1.1.1'])],
      [1, () => 'a'.repeat(rng.pick([1, 100, 5000]))],
      [1, () => String.fromCharCode(...Array.from({ length: 1 + rng.int(20) }, () => rng.int(0x10000)))],
      [1, weird],
    ])();
  }
  function diagFd() {
    if (netlink.size > 0 && rng.chance(0.3)) return rng.pick([...netlink]);
    return fd();
  }
  function iovecs() {
    if (rng.chance(0.1)) return weird();
    const n = rng.weighted([[8, () => rng.int(5)], [1, () => 1024], [1, () => 1025]])();
    const list = [];
    for (let i = 0; i < n; i++) list.push(i < 8 ? bytes(rng.pick([0, 1, 16, 4096])) : list[i % 8]);
    if (n > 0 && rng.chance(0.15)) {
      // An element behind a getter: it throws, or detaches another element first.
      const k = rng.int(n);
      const victim = list[rng.int(n)];
      const value = list[k];
      const throws = rng.chance(0.5);
      Object.defineProperty(list, k, {
        get() {
          if (throws) throw new Planted('element getter');
          if (ArrayBuffer.isView(victim)) detach(victim);
          return value;
        },
      });
    }
    return list;
  }

  // -------------------------------------------------------------------------
  // The run
  // -------------------------------------------------------------------------
  const stats = new Map();
  // FUZZ_ERRORS=<call name>: count what that call threw, to tune its generator.
  const errors = new Map();
  let selected = CALLS;
  if (o.only) {
    selected = CALLS.filter(([n]) => o.only.includes(n));
    const unknown = o.only.filter((n) => !CALLS.some(([m]) => m === n));
    if (unknown.length) usage(`unknown call name(s): ${unknown.join(', ')}; known: ${CALLS.map(([n]) => n).join(', ')}`);
  }
  const table = selected.map(([n, w, make]) => [w, [n, make]]);

  // Every native export must have a generator: a new export fails the run
  // until the fuzzer learns to call it.
  const covered = new Set(CALLS.map(([n]) => n.replace(/^(Poll|Pump)\..*/, '$1').replace(/^new |\(\)$/g, '')));
  const missing = Object.keys(native).filter((k) => !covered.has(k) && k !== 'constants' && k !== 'backend');
  for (const cls of ['Poll', 'Pump']) {
    for (const m of Object.getOwnPropertyNames(native[cls].prototype)) {
      if (m !== 'constructor' && !CALLS.some(([n]) => n === `${cls}.${m}`)) missing.push(`${cls}.${m}`);
    }
  }
  if (missing.length) {
    process.stderr.write(`fuzz-native: no generator for: ${missing.join(', ')}\n`);
    process.exit(1);
  }

  function fail(iteration, text, why) {
    process.stderr.write(`fuzz-native: FAILED at iteration ${iteration} (seed ${o.seed}): ${why}\n`);
    process.stderr.write(`fuzz-native: call: ${text}\n`);
    process.stderr.write(`fuzz-native: replay: ${replayCommand(o, iteration)}\n`);
    process.exit(1);
  }

  function upkeep(i) {
    replenish();
    if (i % 500 === 0) {
      try {
        if (fs.statSync(tempFile).size > 1 << 22) fs.truncateSync(tempFile, 0);
      } catch {
        // the file fixture was closed and will be reopened
      }
      if (!dynamic.some((f) => ours.get(f) && ours.get(f).kind === 'pair')) openPairs();
    }
    if (i % 5000 === 0 && typeof global.gc === 'function') global.gc();
    if (scratch[2].resizable && i % 97 === 0) {
      scratch[2].resize(rng.int(scratch[2].maxByteLength + 1));
    }
    if (i % 211 === 0 && kept.length) detach(rng.pick(kept));
  }

  replenish();
  openPairs();
  const diag = native.diagOpen();
  if (diag >= 0) {
    adopt(diag, 'netlink', { closable: false });
    netlink.add(diag);
  }
  const started = Date.now();
  let threw = 0;
  let returned = 0;
  let skipped = 0;

  async function run() {
    for (let i = 0; i < o.iterations; i++) {
      upkeep(i);
      if (i % 2000 === 1999) await new Promise((resolve) => setImmediate(resolve));
      const [callName, make] = rng.weighted(table);
      let c;
      try {
        c = make();
      } catch (err) {
        // Building the arguments tripped over an array an earlier call or
        // upkeep detached or shrank; that is the fuzzer's business, not the
        // addon's, so the iteration makes no call.
        skipped++;
        continue;
      }
      const text = `${callName}${c.self !== undefined ? ` on ${describe(c.self)}` : ''}(${c.args.map((a) => describe(a)).join(', ')})`;
      journal(i, text);
      let r;
      let ok = true;
      try {
        if (c.construct) r = Reflect.construct(c.fn, c.args);
        else r = Reflect.apply(c.fn, c.self, c.args);
      } catch (err) {
        ok = false;
        if (!(err instanceof Error)) fail(i, text, `threw a non-Error: ${describe(err)}`);
        if (process.env.FUZZ_ERRORS === callName) {
          errors.set(err.message, (errors.get(err.message) || 0) + 1);
        }
      }
      const s = stats.get(callName) || { calls: 0, threw: 0, positive: 0 };
      s.calls++;
      if (ok) {
        returned++;
        if (typeof r === 'number' && r > 0) s.positive++;
        if (!c.check(r)) fail(i, text, `returned ${describe(r)}, not what ${callName} returns`);
        if (c.after) c.after(r, c.args);
      } else {
        threw++;
        s.threw++;
      }
      stats.set(callName, s);
    }
    journal(o.iterations, 'done');
    for (const p of polls) closePoll(p);
    for (const f of [...ours.keys()]) {
      if (ours.get(f) && ours.get(f).kind !== 'epoll' && ours.get(f).kind !== 'waker') retire(f);
    }
    fs.rmSync(tmp, { recursive: true, force: true });
    const seconds = (Date.now() - started) / 1000;
    if (!o.quiet) {
      const rows = [...stats].sort((a, b) => a[0].localeCompare(b[0]));
      for (const [n, s] of rows) process.stdout.write(`  ${n.padEnd(16)} ${String(s.calls).padStart(8)} calls, ${s.threw} threw, ${s.positive} returned > 0\n`);
    }
    for (const [m, n] of [...errors].sort((a, b) => b[1] - a[1])) process.stdout.write(`  ${n} × ${m}\n`);
    process.stdout.write(
      `fuzz-native: ${o.iterations} iterations (seed ${o.seed}) in ${seconds.toFixed(1)}s: ` +
        `${o.iterations - skipped} calls, ` +
        `${returned} returned, ${threw} threw a JS error, no crash` +
        `${skipped ? ` (${skipped} iterations made no call: their arguments could not be built)` : ''}; ` +
        `${attachCalls} attached-poll callbacks\n`,
    );
  }

  run().catch((err) => {
    process.stderr.write(`fuzz-native: the fuzzer itself failed: ${err && err.stack}\n`);
    process.exit(1);
  });
}

const options = parseOptions(process.argv.slice(2));
if (options.child) child(options);
else parent(options);
