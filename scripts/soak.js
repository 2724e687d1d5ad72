#!/usr/bin/env node
// npm run soak -- [--seconds N] [--connections N] [--mode run|attach]
//                  [--backend auto|epoll|kqueue|io_uring] [--seed S]
//
// Holds edgeloop-echo under a churning population of loopback connections
// for N seconds (default 60) and checks that nothing leaks or goes wrong:
// 10,000 connections by default, each echoing a 64-byte message about once
// a second. After each echo a seeded PRNG picks the next step: another message
// (97 %), a graceful close, a half-close with a message still in flight,
// a reset, or a plain drop (1 %, 1 %, 0.5 %, 0.5 %); a connection that
// ends is replaced at once. Every 10 s it prints the messages echoed, the
// server's open fds and its RSS.
//
// It fails (exit 1, each reason on stderr) when:
//   - an echoed byte differs from what was sent, or a half-closed connection
//     loses bytes or its EOF;
//   - a client socket errors (nothing in the mix should make the server
//     reset or refuse anyone);
//   - warm-up ends once the population has reached its target and a third
//     of the run (at most 10 s) has passed; after it, the server's fds
//     beyond the client's open connections rise more than max(64, 2 % of
//     the connections) above the warm-up sample, or its RSS more than 25 %
//     above it (or warm-up never ends);
//   - an interval passes with no message echoed;
//   - once every client is gone, the server's fd count does not come back
//     to what it was before the first client (within 5 s).
//
// The client is node:net in this process; the server runs as its own
// process (dist/cli/echo.js), so the fds and RSS are the server's alone.
// --backend goes to its --backend (default: its own default).
'use strict';

const { spawn } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const path = require('node:path');

const ROOT = path.join(__dirname, '..');
const MESSAGE = 64;
/** Connects in flight at once: a burst above the listen backlog would be refused. */
const MAX_CONNECTING = 256;
/** Mean pause between a connection's messages. */
const THINK_MS = 1000;
/** fds the process may need besides the connections (stdio, epoll, pipes, ...). */
const FD_HEADROOM = 256;

function parseArgs(argv) {
  const opts = { seconds: 60, connections: 10000, mode: 'run', backend: null, seed: 1, interval: 10 };
  const known = ['--mode', '--backend', '--seconds', '--connections', '--seed', '--interval'];
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    if (flag === '--help' || flag === '-h') usage(null);
    // The flag first: '--bogus' is unknown whether or not a value follows.
    if (!known.includes(flag)) usage(`unknown option ${flag}`);
    const value = argv[++i];
    if (value === undefined) usage(`${flag} needs a value`);
    if (flag === '--mode') {
      if (value !== 'run' && value !== 'attach') usage('--mode is run or attach');
      opts.mode = value;
      continue;
    }
    if (flag === '--backend') {
      // edgeloop-echo checks the name and says what it takes.
      opts.backend = value;
      continue;
    }
    const key = { '--seconds': 'seconds', '--connections': 'connections', '--seed': 'seed', '--interval': 'interval' }[flag];
    if (key === undefined) usage(`unknown option ${flag}`);
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1) usage(`${flag} must be a positive integer`);
    opts[key] = n;
  }
  return opts;
}

/** Prints the usage line, after `why` when it is an error (exit 2), alone for --help (exit 0). */
function usage(why) {
  const line = 'usage: npm run soak -- [--seconds N] [--connections N] [--mode run|attach] [--backend NAME] [--seed S] [--interval S]\n';
  if (why === null) {
    process.stdout.write(line);
    process.exit(0);
  }
  process.stderr.write(`soak: ${why}\n${line}`);
  process.exit(2);
}

/** A small seeded PRNG (xorshift32): the same seed gives the same mix. */
function prng(seed) {
  let x = seed >>> 0 || 0x9e3779b9;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 0x100000000;
  };
}

function openFds(pid) {
  return fs.readdirSync(`/proc/${pid}/fd`).length;
}

function rssKiB(pid) {
  const m = /VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : NaN;
}

/** The soft open-file limit of process `pid` (from /proc: Node has no getrlimit). */
function fdLimit(pid) {
  const m = /^Max open files\s+(\d+|unlimited)/m.exec(fs.readFileSync(`/proc/${pid}/limits`, 'utf8'));
  return m === null || m[1] === 'unlimited' ? Infinity : Number(m[1]);
}

function startServer(mode, backend) {
  const args = [path.join(ROOT, 'dist', 'cli', 'echo.js'), '--port', '0', '--mode', mode];
  if (backend !== null) args.push('--backend', backend);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error('edgeloop-echo did not start within 10 s'));
    }, 10000);
    child.stdout.on('data', (d) => {
      out += d;
      const m = /listening on \S+?:(\d+).*/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ child, port: Number(m[1]), line: m[0] });
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`edgeloop-echo exited (${code}) before listening`));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * The client population. Each connection sends a message, checks the echo
 * byte by byte, then picks its next step; whatever way it ends, a new one
 * takes its place until `stop()`.
 */
class Population {
  constructor(port, target, random) {
    this.port = port;
    this.target = target;
    this.random = random;
    this.sockets = new Set();
    this.connecting = 0;
    this.stopping = false;
    /** The population reached its target once: warm-up can end. */
    this.filled = false;
    this.counts = { messages: 0, opened: 0, closes: 0, halfCloses: 0, resets: 0, drops: 0 };
    this.failures = [];
    this.errors = new Map();
  }

  fill() {
    while (!this.stopping && this.connecting < MAX_CONNECTING && this.sockets.size < this.target) this.open();
  }

  open() {
    const s = net.connect({ host: '127.0.0.1', port: this.port });
    const c = { s, message: null, got: 0, connected: false, ending: false, gotEnd: false, timer: null };
    this.sockets.add(s);
    this.connecting++;
    this.counts.opened++;
    s.setNoDelay(true);
    s.once('connect', () => {
      c.connected = true;
      this.connecting--;
      this.send(c);
      this.fill();
    });
    s.on('data', (d) => this.onData(c, d));
    s.once('end', () => {
      c.gotEnd = true;
      if (!c.ending) this.fail('the server ended a connection the client had not ended');
      else if (c.message !== null) this.fail(`a half-closed connection got EOF with ${MESSAGE - c.got} echoed bytes missing`);
    });
    s.on('error', (err) => {
      if (this.stopping) return;
      const code = err.code ?? err.message;
      this.errors.set(code, (this.errors.get(code) ?? 0) + 1);
    });
    s.once('close', () => {
      if (!c.connected) this.connecting--;
      if (c.timer !== null) clearTimeout(c.timer);
      this.sockets.delete(s);
      if (c.ending && !c.gotEnd && !this.stopping) this.fail('a half-closed connection closed without the server\'s EOF');
      this.fill();
    });
  }

  send(c) {
    const message = Buffer.allocUnsafe(MESSAGE);
    for (let i = 0; i < MESSAGE; i++) message[i] = (this.random() * 256) | 0;
    c.message = message;
    c.got = 0;
    c.s.write(message);
  }

  onData(c, d) {
    if (c.message === null || c.got + d.length > MESSAGE) {
      this.fail(`${d.length} bytes arrived that were never sent`);
      c.s.destroy();
      return;
    }
    if (!d.equals(c.message.subarray(c.got, c.got + d.length))) {
      this.fail('echoed bytes differ from the bytes sent');
      c.s.destroy();
      return;
    }
    c.got += d.length;
    if (c.got < MESSAGE) return;
    c.message = null;
    this.counts.messages++;
    if (this.stopping || c.ending) return;
    this.next(c);
  }

  /** What a connection does after a complete echo. */
  next(c) {
    // Most connections live on; 3 % of echoes end theirs, so the population
    // stays near its target while a few hundred connections a second churn.
    const r = this.random();
    if (r < 0.97) {
      // A pause before the next message (uniform, mean THINK_MS): ten
      // thousand connections echoing back to back would starve this one
      // client thread's connects, and the population would never fill.
      c.timer = setTimeout(() => {
        c.timer = null;
        if (!this.stopping && !c.s.destroyed) this.send(c);
      }, this.random() * 2 * THINK_MS);
      return;
    }
    if (r < 0.98) {
      // Graceful close: the server's end() follows ours.
      this.counts.closes++;
      c.ending = true;
      c.s.end();
    } else if (r < 0.99) {
      // Half-close with a message still in flight: its echo must come
      // back whole before the server's EOF.
      this.counts.halfCloses++;
      c.ending = true;
      this.send(c);
      c.s.end();
    } else if (r < 0.995) {
      this.counts.resets++;
      c.s.resetAndDestroy();
    } else {
      this.counts.drops++;
      c.s.destroy();
    }
  }

  fail(why) {
    if (this.failures.length < 20) this.failures.push(why);
  }

  async stop() {
    this.stopping = true;
    for (const s of this.sockets) s.destroy();
    const deadline = Date.now() + 10000;
    while (this.sockets.size > 0 && Date.now() < deadline) await sleep(20);
  }
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  if (!fs.existsSync(path.join(ROOT, 'dist', 'cli', 'echo.js'))) usage('dist/ is missing: run npm run build:ts first');
  const limit = fdLimit(process.pid);
  if (limit < opts.connections + FD_HEADROOM) {
    usage(`${opts.connections} connections need an open-file limit of at least ${opts.connections + FD_HEADROOM} (this one: ${limit}); raise it (ulimit -n) or pass a smaller --connections`);
  }
  const server = await startServer(opts.mode, opts.backend);
  const pid = server.child.pid;
  const failures = [];
  const warmup = Math.min(10, opts.seconds / 3);
  const fdBound = Math.max(64, Math.ceil(opts.connections * 0.02));
  let population = null;
  try {
    await sleep(200);
    const baseFds = openFds(pid);
    process.stdout.write(
      `soak: edgeloop-echo ${server.line}; ${opts.connections} connections, ${opts.seconds} s, seed ${opts.seed}; server fds at start ${baseFds}\n`,
    );
    population = new Population(server.port, opts.connections, prng(opts.seed));
    population.fill();
    const start = Date.now();
    let warm = null;
    let lastMessages = 0;
    let lastAt = start;
    let nextSample = start + Math.min(warmup, opts.interval) * 1000;
    while (Date.now() - start < opts.seconds * 1000) {
      await sleep(Math.max(10, Math.min(250, nextSample - Date.now())));
      if (Date.now() < nextSample && Date.now() - start < opts.seconds * 1000) continue;
      const now = Date.now();
      const fds = openFds(pid);
      const rss = rssKiB(pid);
      const c = population.counts;
      const rate = ((c.messages - lastMessages) * 1000) / (now - lastAt);
      process.stdout.write(
        `t=${((now - start) / 1000).toFixed(0)}s messages=${c.messages} (${rate.toFixed(0)}/s) open=${population.sockets.size} opened=${c.opened} closes=${c.closes} half-closes=${c.halfCloses} resets=${c.resets} drops=${c.drops} server fds=${fds} rss=${(rss / 1024).toFixed(1)} MiB\n`,
      );
      if (c.messages === lastMessages) failures.push(`no message echoed between ${((lastAt - start) / 1000).toFixed(0)} s and ${((now - start) / 1000).toFixed(0)} s`);
      // The server's fds beyond the client's open sockets: what a leak grows.
      const excess = fds - population.sockets.size;
      if (population.sockets.size >= opts.connections) population.filled = true;
      if (warm === null) {
        if ((now - start) / 1000 >= warmup && population.filled) warm = { excess, rss };
      } else {
        if (excess > warm.excess + fdBound) failures.push(`server fds rose to ${fds} with ${population.sockets.size} clients open: ${excess - warm.excess} more than after warm-up (bound ${fdBound})`);
        if (rss > warm.rss * 1.25) failures.push(`server RSS rose to ${rss} KiB, more than 25 % above ${warm.rss} KiB after warm-up`);
      }
      lastMessages = c.messages;
      lastAt = now;
      nextSample = now + opts.interval * 1000;
    }
    if (warm === null) failures.push(`warm-up never ended: the population did not reach ${opts.connections} open connections after ${warmup} s`);
    await population.stop();
    let fds = openFds(pid);
    const deadline = Date.now() + 5000;
    while (fds > baseFds && Date.now() < deadline) {
      await sleep(50);
      fds = openFds(pid);
    }
    process.stdout.write(`soak: every client gone; server fds ${fds} (at start ${baseFds})\n`);
    if (fds > baseFds) failures.push(`server fds stayed at ${fds} after every client closed (${baseFds} at start)`);
    failures.push(...population.failures);
    for (const [code, n] of population.errors) failures.push(`${n} client socket error(s) ${code}`);
  } finally {
    if (population !== null && !population.stopping) await population.stop();
    server.child.kill('SIGINT');
    await new Promise((r) => (server.child.exitCode !== null ? r() : server.child.once('exit', r)));
  }
  if (failures.length > 0) {
    for (const f of failures) process.stderr.write(`soak: FAILED: ${f}\n`);
    process.exit(1);
  }
  process.stdout.write('soak: passed\n');
}

main().catch((err) => {
  process.stderr.write(`soak: ${err.stack ?? err}\n`);
  process.exit(1);
});
