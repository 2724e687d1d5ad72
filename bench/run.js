#!/usr/bin/env node
// The benchmark matrix: edgeloop (run and attach mode) against node:net, Bun,
// a C epoll reference and (where the kernel has what it needs) a C io_uring
// reference, side by side in one run, rounds interleaved.
//
//   npm run bench                 full matrix (about 15 minutes)
//   npm run bench -- --quick      one short round of everything (under 2 minutes)
//   options: --rounds N --seconds S --warmup S --idle N --out DIR
//            --report-from results.json   rewrite results.md/svg from saved figures
//
// Writes bench/results.md and bench/results.svg. Needs taskset and prlimit
// (util-linux), a C compiler, and optionally Bun (on PATH or in $BUN) and
// oidentd (Debian package) for the peers that use them.
'use strict';
const { spawn, spawnSync, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { writeSvg } = require('./svg');

const ROOT = path.join(__dirname, '..');
const BUILD = path.join(__dirname, 'build');

/** The options a bare `npm run bench` uses; the repeat command names only the others. */
const DEFAULTS = { rounds: 5, seconds: 5, warmup: 1, idle: 10000 };

function parseArgs(argv) {
  const opts = { quick: false, ...DEFAULTS, out: __dirname };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      const v = argv[++i];
      if (v === undefined) fail(`${a} needs a value`);
      return v;
    };
    if (a === '--quick') opts.quick = true;
    else if (a === '--rounds') opts.rounds = positive(a, next());
    else if (a === '--seconds') opts.seconds = positive(a, next());
    else if (a === '--warmup') opts.warmup = Number(next());
    else if (a === '--idle') opts.idle = positive(a, next());
    else if (a === '--out') opts.out = path.resolve(next());
    else if (a === '--report-from') opts.reportFrom = path.resolve(next());
    else fail(`unknown option ${a}`);
  }
  if (opts.quick) Object.assign(opts, { rounds: 1, seconds: 1.5, warmup: 0.5, idle: 2000 });
  return opts;
}

function positive(name, v) {
  const n = Number(v);
  if (!(n > 0)) fail(`${name} must be a positive number`);
  return n;
}

function fail(msg) {
  process.stderr.write(`bench: ${msg}\n`);
  process.exit(2);
}

const has = (cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;

/**
 * Builds the C programs and the package if needed. Returns why an optional
 * program could not be built (its name -> reason); the others must build.
 */
function build() {
  fs.mkdirSync(BUILD, { recursive: true });
  const cc = process.env.CC ?? 'cc';
  const failed = {};
  for (const [src, out, optional] of [
    ['loadgen.c', 'loadgen'],
    ['servers/c-echo.c', 'c-echo'],
    ['servers/c-identd.c', 'c-identd'],
    // Needs linux/io_uring.h recent enough for buffer rings (Linux 5.19+ headers).
    ['servers/c-uring-echo.c', 'c-uring-echo', true],
    ['syscall-cost.c', 'syscall-cost'],
  ]) {
    const srcPath = path.join(__dirname, src);
    const outPath = path.join(BUILD, out);
    if (!fs.existsSync(outPath) || fs.statSync(outPath).mtimeMs < fs.statSync(srcPath).mtimeMs) {
      const r = spawnSync(cc, ['-O2', '-Wall', '-o', outPath, srcPath], { stdio: ['ignore', 'inherit', 'pipe'], encoding: 'utf8' });
      if (r.status !== 0 && optional) failed[out] = `${src} did not compile: ${(r.stderr ?? '').trim().split('\n').find((l) => l.includes('error')) ?? `exit ${r.status}`}`;
      else if (r.status !== 0) fail(`${src} did not compile:\n${r.stderr ?? r.error}`);
      else if (r.stderr) process.stderr.write(r.stderr);
    }
  }
  if (!fs.existsSync(path.join(ROOT, 'dist', 'cli', 'echo.js'))) {
    execFileSync('npx', ['tsc', '-p', ROOT], { stdio: 'inherit', cwd: ROOT });
  }
  // Loads the addon (building it if missing) before anything is timed.
  execFileSync(process.execPath, ['-e', `require(${JSON.stringify(ROOT)})`], { stdio: 'inherit' });
  return failed;
}

/**
 * Whether the C io_uring server can run here: its --probe sets up a ring,
 * checks the opcodes it uses and registers a buffer ring. Resolves to
 * { ok: true, mode } or { ok: false, reason }.
 */
function uringProbe(buildFailed) {
  if (buildFailed['c-uring-echo']) return { ok: false, reason: buildFailed['c-uring-echo'] };
  const r = spawnSync(path.join(BUILD, 'c-uring-echo'), ['--probe'], { encoding: 'utf8', timeout: 10000 });
  if (r.status === 0) return { ok: true, mode: r.stdout.trim().replace(/^ok: /, '') };
  const why = `${r.stderr ?? ''}${r.stdout ?? ''}`.trim().replace(/^c-uring-echo: /, '');
  return { ok: false, reason: why || (r.error ? r.error.message : `probe exited with ${r.status ?? r.signal}`) };
}

function bunPath() {
  if (process.env.BUN) return process.env.BUN;
  if (has('bun')) return 'bun';
  const local = path.join(ROOT, 'node_modules', '@oven', 'bun-linux-x64', 'bin', 'bun');
  return fs.existsSync(local) ? local : null;
}

/** The echo servers; each prints a line with its port once listening. */
function echoServers(bun, uring) {
  const node = process.execPath;
  const echo = path.join(ROOT, 'dist', 'cli', 'echo.js');
  const list = [
    { name: 'edgeloop run()', cmd: [node, echo, '--port', '0', '--mode', 'run'] },
    { name: 'edgeloop attach()', cmd: [node, echo, '--port', '0', '--mode', 'attach'] },
    { name: 'node:net', cmd: [node, path.join(__dirname, 'servers', 'node-net.js'), '0'] },
    { name: 'C epoll', cmd: [path.join(BUILD, 'c-echo'), '0'] },
  ];
  if (bun) list.splice(3, 0, { name: 'Bun.listen', cmd: [bun, path.join(__dirname, 'servers', 'bun-echo.js'), '0'] });
  if (uring.ok) list.push({ name: 'C io_uring', cmd: [path.join(BUILD, 'c-uring-echo'), '0'] });
  // The EventLoop's own io_uring backend, where its probe passes.
  const { ioUringUnavailableReason } = require(path.join(ROOT, 'dist', 'index.js'));
  if (ioUringUnavailableReason() === '') {
    list.splice(2, 0, { name: 'edgeloop io_uring', cmd: [node, echo, '--port', '0', '--mode', 'run', '--backend', 'io_uring'] });
  }
  return list;
}

/** Runs `cmd` with a raised fd limit, pinned to `core`. */
function spawnPinned(core, cmd, extra = {}) {
  const args = ['--nofile=20000:20000', 'taskset', '-c', String(core), ...cmd];
  return spawn('prlimit', args, { stdio: ['pipe', 'pipe', 'inherit'], ...extra });
}

/** Starts a server on core 0 and resolves with its pid and port. */
function startServer(server) {
  return new Promise((resolve, reject) => {
    const child = spawnPinned(0, server.cmd);
    let out = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${server.name} did not start`));
    }, 15000);
    child.stdout.on('data', (d) => {
      out += d;
      const m = /listening (?:on \S+?:)?(\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ child, pid: child.pid, port: Number(m[1]) });
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${server.name} exited (${code}) before listening`));
    });
  });
}

function stopServer(s) {
  return new Promise((resolve) => {
    if (s.child.exitCode !== null || s.child.signalCode !== null) return resolve();
    const kill = setTimeout(() => s.child.kill('SIGKILL'), 5000);
    s.child.once('exit', () => {
      clearTimeout(kill);
      resolve();
    });
    s.child.kill('SIGTERM');
  });
}

/** Runs the load generator on core 1 and parses its JSON line. */
function loadgen(args) {
  return new Promise((resolve, reject) => {
    const child = spawnPinned(1, [path.join(BUILD, 'loadgen'), ...args]);
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.once('exit', (code) => {
      if (code !== 0) return reject(new Error(`loadgen ${args.join(' ')} exited with ${code}`));
      try {
        resolve(JSON.parse(out.trim().split('\n').pop()));
      } catch (err) {
        reject(err);
      }
    });
  });
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

function rssKiB(pid) {
  // VmRSS of the whole process (all threads), from /proc.
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : NaN;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

let step = 0;
let steps = 0;
function progress(text) {
  step++;
  process.stderr.write(`\r\x1b[K[${step}/${steps}] ${text}`);
}

const CELLS = [
  { id: 'a', label: '(a) 1 connection, 64 B ping-pong', c: 1, d: 1, s: 64 },
  { id: 'b', label: '(b) 100 connections, 64 B', c: 100, d: 1, s: 64 },
  { id: 'c', label: '(c) 1000 connections, 64 B', c: 1000, d: 1, s: 64 },
  { id: 'd', label: '(d) 10 connections, 16 KiB', c: 10, d: 1, s: 16384 },
];

async function echoMatrix(opts, servers) {
  const results = {}; // cell -> server -> [runs]
  for (const cell of CELLS) {
    results[cell.id] = {};
    for (const s of servers) results[cell.id][s.name] = [];
  }
  for (let round = 0; round < opts.rounds; round++) {
    for (const cell of CELLS) {
      // Rotate the order each round so no server always runs first.
      const order = servers.map((_, i) => servers[(i + round) % servers.length]);
      for (const server of order) {
        progress(`${cell.label} · ${server.name} · round ${round + 1}/${opts.rounds}`);
        const s = await startServer(server);
        try {
          const args = ['--port', String(s.port), '-c', String(cell.c), '-d', String(cell.d), '-s', String(cell.s)];
          args.push('-t', String(opts.seconds), '-w', String(opts.warmup), '--pid', String(s.pid), '--busy-poll');
          results[cell.id][server.name].push(await loadgen(args));
        } finally {
          await stopServer(s);
        }
      }
    }
  }
  return results;
}

async function memoryMatrix(opts, servers) {
  const out = {};
  for (const server of servers) {
    progress(`memory: ${opts.idle} idle connections · ${server.name}`);
    const s = await startServer(server);
    try {
      await sleep(500);
      const before = rssKiB(s.pid);
      const child = spawnPinned(1, [path.join(BUILD, 'loadgen'), '--port', String(s.port), '--idle', String(opts.idle), '--hold', '120']);
      await new Promise((resolve, reject) => {
        let buf = '';
        child.stdout.on('data', (d) => {
          buf += d;
          if (buf.includes('\n')) resolve();
        });
        child.once('exit', (code) => reject(new Error(`idle loadgen exited with ${code}`)));
      });
      await sleep(1000);
      const after = rssKiB(s.pid);
      child.stdin.end();
      child.kill('SIGTERM');
      out[server.name] = { before, after, perConn: (after - before) / opts.idle };
    } finally {
      await stopServer(s);
    }
  }
  return out;
}

function crossing() {
  progress('crossing cost: edgeloop calls next to the same syscalls from C');
  const r = spawnSync(process.execPath, [path.join(__dirname, 'crossing.js')], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`crossing.js failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim());
}

/**
 * Where a run() echo server spends its time at (b): V8's sampling profiler
 * on the loop's worker thread, self time per function. Native calls (the
 * syscalls and their N-API crossing) are charged to the JS function that
 * made them.
 */
async function profile(opts) {
  progress('profile: edgeloop run() at (b), --cpu-prof');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'edgeloop-prof-'));
  const server = { name: 'profiled', cmd: [process.execPath, '--cpu-prof', `--cpu-prof-dir=${dir}`, path.join(ROOT, 'dist', 'cli', 'echo.js'), '--port', '0', '--mode', 'run'] };
  const s = await startServer(server);
  try {
    await loadgen(['--port', String(s.port), '-c', '100', '-d', '1', '-s', '64', '-t', String(opts.seconds), '-w', String(opts.warmup), '--busy-poll']);
  } finally {
    s.child.kill('SIGINT');
    await new Promise((r) => s.child.once('exit', r));
  }
  let best = null;
  for (const file of fs.readdirSync(dir)) {
    const p = JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8'));
    const byId = new Map(p.nodes.map((n) => [n.id, n]));
    const self = new Map();
    let total = 0;
    p.samples.forEach((id, i) => {
      const n = byId.get(id);
      const key = n.callFrame.functionName || '(anonymous)';
      const url = n.callFrame.url.split('/').slice(-2).join('/');
      const k = `${key} (${url || 'native'})`;
      const dt = p.timeDeltas[i] ?? 0;
      self.set(k, (self.get(k) ?? 0) + dt);
      total += dt;
    });
    const idle = self.get('(idle) (native)') ?? 0;
    // The loop's thread is the busy one; the main thread only waits.
    if (best === null || total - idle > best.busy) best = { busy: total - idle, total, self };
  }
  fs.rmSync(dir, { recursive: true, force: true });
  const rows = [...best.self.entries()].sort((a, b) => b[1] - a[1]).slice(0, 8);
  return rows.map(([name, t]) => ({ name, share: t / best.total }));
}

function gcCheck() {
  progress('zero allocation: GC count during a million polls');
  const r = spawnSync(process.execPath, ['--expose-gc', path.join(__dirname, 'gc-polls.js')], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`gc-polls failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim());
}

/** Concurrent ident clients measured (256: the netlink socket's burst). */
const IDENT_CLIENTS = [1, 64, 256];

async function identMatrix(opts) {
  const node = process.execPath;
  // Servers that keep a connection open for more queries (RFC 1413 allows
  // it) see the client close first, so the client's end waits in TIME_WAIT:
  // with one source address, connect()'s search past those ports would set
  // the pace, so their clients are spread over 64 (see loadgen.c). oidentd
  // closes first (its end waits in TIME_WAIT, not the client's) and forks
  // per connection; with clients spread the same way it answered 25
  // queries/s instead of about 1900 here (why is not pinned down), so its
  // clients keep the one address, which is not what limits it.
  const peers = [
    { name: 'C epoll identd', cmd: [path.join(BUILD, 'c-identd'), '11315'], port: 11315, sources: 64 },
    { name: 'edgeloop-identd', cmd: [node, path.join(ROOT, 'dist', 'cli', 'identd.js'), '-a', '127.0.0.1', '-p', '11313', '-q'], port: 11313, sources: 64 },
  ];
  if (has('oidentd')) peers.push({ name: 'oidentd 2.5', cmd: ['oidentd', '-i', '-S', '-q', '-a', '127.0.0.1', '-p', '11314'], port: 11314 });
  const out = {};
  for (const peer of peers) out[peer.name] = Object.fromEntries(IDENT_CLIENTS.map((c) => [c, []]));
  for (let round = 0; round < opts.rounds; round++) {
    for (const peer of peers) {
      for (const clients of IDENT_CLIENTS) {
        progress(`ident: ${clients} client(s) · ${peer.name} · round ${round + 1}/${opts.rounds}`);
        const child = spawnPinned(0, peer.cmd);
        try {
          await waitPort(peer.port);
          const args = ['--port', String(peer.port), '--ident', '-c', String(clients), '-t', String(opts.seconds), '-w', String(opts.warmup)];
          if (peer.sources) args.push('--sources', String(peer.sources));
          args.push('--pid', String(child.pid));
          out[peer.name][clients].push(await loadgen(args));
        } finally {
          await stopServer({ child });
          // oidentd forks; its children go with the process group of prlimit.
          if (peer.name.startsWith('oidentd')) spawnSync('pkill', ['-f', `oidentd -i -S -q -a 127.0.0.1 -p ${peer.port}`]);
        }
      }
    }
  }
  return { peers: peers.map((p) => p.name), results: out };
}

async function waitPort(port) {
  const net = require('node:net');
  for (let i = 0; i < 100; i++) {
    const ok = await new Promise((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => {
        s.destroy();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });
    if (ok) return;
    await sleep(100);
  }
  throw new Error(`nothing listens on ${port}`);
}

function machineFacts(bun, uring) {
  const cpu = os.cpus()[0]?.model ?? 'unknown';
  const v = (cmd, args) => {
    try {
      return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim().split('\n')[0];
    } catch {
      return 'not found';
    }
  };
  return {
    date: new Date().toISOString().slice(0, 16).replace('T', ' ') + ' UTC',
    cpu: `${cpu}, ${os.cpus().length} cores`,
    memory: `${Math.round(os.totalmem() / 2 ** 30)} GiB`,
    kernel: `${os.type()} ${os.release()}`,
    node: process.version,
    bun: bun ? v(bun, ['--version']) : 'not found (skipped)',
    cc: v(process.env.CC ?? 'cc', ['--version']),
    // A '|' in the probe's words would split the Markdown table cell.
    'C io_uring': (uring.ok ? `available (${uring.mode})` : `not available (${uring.reason})`).replace(/\|/g, '/'),
  };
}

const fmt = (x, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : 'n/a');
const range = (xs, d = 1) => (xs.length > 1 ? ` (${fmt(Math.min(...xs), d)}–${fmt(Math.max(...xs), d)})` : '');

function summarize(echo, servers) {
  const table = {};
  for (const cell of CELLS) {
    table[cell.id] = {};
    for (const s of servers) {
      const runs = echo[cell.id][s.name];
      table[cell.id][s.name] = {
        msgs: median(runs.map((r) => r.msgs_per_s)),
        msgsAll: runs.map((r) => r.msgs_per_s),
        mb: median(runs.map((r) => r.mb_per_s)),
        p50: median(runs.map((r) => r.p50_us)),
        p99: median(runs.map((r) => r.p99_us)),
        cpu: median(runs.map((r) => r.server_cpu_us_per_msg)),
        cpuAll: runs.map((r) => r.server_cpu_us_per_msg),
      };
    }
  }
  return table;
}

/**
 * The targets the batched I/O work set (CPU per message as a ratio to C
 * epoll in the same run; memory per idle connection), each met or missed.
 */
function targets(table, memory, gc, ident) {
  const run = 'edgeloop run()';
  const att = 'edgeloop attach()';
  const lines = [];
  const check = (ok, text) => lines.push(`- ${ok === null ? 'n/a' : ok ? 'met' : '**missed**'}: ${text}`);
  const toC = (id, name) => table[id][name].cpu / table[id]['C epoll'].cpu;
  check(toC('b', run) <= 1.05, `(b) 100 connections: run() CPU/msg at most 1.05x C epoll: ${fmt(table.b[run].cpu, 2)} vs ${fmt(table.b['C epoll'].cpu, 2)} µs (${fmt(toC('b', run), 2)}x)`);
  const bun = table.b['Bun.listen'];
  if (bun) check(table.b[run].cpu <= bun.cpu * 0.9, `(b) run() CPU/msg at most 0.90x Bun's: ${fmt(table.b[run].cpu / bun.cpu, 2)}x (${fmt(bun.cpu, 2)} µs)`);
  else check(null, '(b) run() at most 0.90x Bun: Bun not available');
  check(toC('a', run) <= 1.15, `(a) 1 connection: run() at most 1.15x C: ${fmt(toC('a', run), 2)}x`);
  check(toC('c', run) <= toC('b', run), `(c) 1000 connections no worse a ratio to C than (b): ${fmt(toC('c', run), 2)}x vs ${fmt(toC('b', run), 2)}x`);
  check(table.b[att].cpu <= table.b[run].cpu * 1.05, `(b) attach() CPU/msg at most 1.05x run(): ${fmt(table.b[att].cpu / table.b[run].cpu, 2)}x`);
  check(table.d[run].mb >= table.d['C epoll'].mb * 0.95, `(d) 16 KiB MB/s at least 0.95x C: ${fmt(table.d[run].mb / table.d['C epoll'].mb, 2)}x`);
  check(memory[run].perConn <= 0.5 && memory[att].perConn <= 0.5, `memory per idle connection at most 0.5 KiB: run() ${fmt(memory[run].perConn, 2)} KiB, attach() ${fmt(memory[att].perConn, 2)} KiB`);
  check(table.b[run].cpu <= table.b['node:net'].cpu * 0.72, `(b) run() at most 0.72x node:net's CPU/msg: ${fmt(table.b[run].cpu / table.b['node:net'].cpu, 2)}x`);
  check(gc.gcCount === 0, `zero GC during ${gc.polls} polls: ${gc.gcCount} collections`);
  const e = ident.results['edgeloop-identd'];
  const o = ident.results['oidentd 2.5'];
  if (o) {
    const ratio = median(e[64].map((r) => r.queries_per_s)) / median(o[64].map((r) => r.queries_per_s));
    check(ratio >= 20, `ident queries/s with 64 clients at least 20x oidentd: ${fmt(ratio, 1)}x`);
  } else check(null, 'ident vs oidentd: oidentd not installed');
  const eCpu = median(e[64].map((r) => r.server_cpu_us_per_query));
  check(eCpu <= 20, `ident server CPU per query with 64 clients at most 20 µs: ${fmt(eCpu)} µs`);
  const c = ident.results['C epoll identd'];
  if (c) {
    const cCpu = median(c[64].map((r) => r.server_cpu_us_per_query));
    const cQps = median(c[64].map((r) => r.queries_per_s));
    const oQps = o ? median(o[64].map((r) => r.queries_per_s)) : 0;
    lines.push(`- info: ident with 64 clients, the C epoll ident server as the bound: ${fmt(cCpu)} µs per query (edgeloop ${fmt(eCpu / cCpu, 2)}x), ${fmt(cQps, 0)} queries/s${o ? ` (${fmt(cQps / oQps, 1)}x oidentd)` : ''}`);
    // A single-threaded server whose every query costs cCpu of its core can
    // answer no more than 1e6 / cCpu per second, however fast its clients.
    const ceiling = 1e6 / cCpu;
    lines.push(`- info: ident, one server core at the C server's ${fmt(cCpu)} µs per query answers at most ${fmt(ceiling, 0)} queries/s${o ? ` (${fmt(ceiling / oQps, 1)}x oidentd)` : ''}`);
  }
  const ring = 'edgeloop io_uring';
  if (table.b[ring]) {
    check(toC('b', ring) <= 0.9, `(b) io_uring backend CPU/msg at most 0.90x C epoll: ${fmt(table.b[ring].cpu, 2)} vs ${fmt(table.b['C epoll'].cpu, 2)} µs (${fmt(toC('b', ring), 2)}x)`);
    if (table.b['C io_uring']) check(table.b[ring].cpu <= table.b['C io_uring'].cpu * 1.1, `(b) io_uring backend at most 1.10x C io_uring: ${fmt(table.b[ring].cpu / table.b['C io_uring'].cpu, 2)}x`);
    check(table.d[ring].mb >= table.d['C epoll'].mb, `(d) io_uring backend 16 KiB MB/s at least 1.0x C epoll: ${fmt(table.d[ring].mb / table.d['C epoll'].mb, 2)}x`);
  } else check(null, 'io_uring backend: not available in this run');
  const uring = table.b['C io_uring'];
  if (uring) lines.push(`- info: (b) C io_uring CPU/msg as a ratio to C epoll, the bound the io_uring backend works against: ${fmt(uring.cpu / table.b['C epoll'].cpu, 2)}x (${fmt(uring.cpu, 2)} vs ${fmt(table.b['C epoll'].cpu, 2)} µs)`);
  else lines.push('- info: (b) C io_uring vs C epoll: C io_uring not measured in this run');
  return lines;
}

/** The ident bullet, from the measured CPU per query of the servers. */
function identFinding(ident) {
  const at64 = (name) => ident.results[name]?.[64] ?? [];
  const e = at64('edgeloop-identd');
  const o = at64('oidentd 2.5');
  const c = at64('C epoll identd');
  if (e.length === 0 || o.length === 0 || c.length === 0) return '- Ident: oidentd or the C ident server was not measured.';
  const cpu = (runs) => median(runs.map((r) => r.server_cpu_us_per_query));
  const qps = (runs) => median(runs.map((r) => r.queries_per_s));
  const busy = (runs) => (cpu(runs) * qps(runs)) / 1e4;
  return `- Ident: each query is a new TCP connection (connect, accept, a FIN each way); the clients of the C server and edgeloop-identd come from 64 loopback source addresses (see bench/run.js). With 64 clients the C epoll ident server, the same syscalls with nothing above them, used ${fmt(cpu(c))} µs of server CPU per query; edgeloop-identd used ${fmt(cpu(e))} µs (${fmt(cpu(e) / cpu(c), 2)}x C) and oidentd ${fmt(cpu(o))} µs (it forks per connection). On loopback the kernel runs the peer's side of each send and close inside the sender's call, so a server's figure includes much of its client's teardown: the C server's ${fmt(cpu(c))} µs is the floor for this workload here. The C server kept ${fmt(busy(c), 0)} % of its core busy and edgeloop-identd ${fmt(busy(e), 0)} %; below 100 % the pace is set by the load generator, which pays for each connection's handshake on its own core. 20x oidentd would be ${fmt(20 * qps(o), 0)} queries/s; the C server reached ${fmt(qps(c), 0)}.`;
}

function report(opts, facts, servers, table, memory, gc, ident, command, cross, prof) {
  const L = [];
  L.push('# edgeloop benchmark results', '');
  L.push(`Produced by \`${command}\`. Server pinned to core 0, load generator to core 1 (taskset), loopback, TCP_NODELAY everywhere, load generator busy-polling.`);
  L.push(`${opts.rounds} interleaved round(s) of ${opts.seconds} s after ${opts.warmup} s warm-up per cell; figures are medians, ranges are min–max over rounds.`, '');
  L.push('| machine | |', '|---|---|');
  for (const [k, v] of Object.entries(facts)) L.push(`| ${k} | ${v} |`);
  L.push('');
  L.push('Server CPU per message is (utime + stime of the whole server process over the timed window) / messages echoed: the figure that matters when the load generator saturates its own core.', '');
  for (const cell of CELLS) {
    L.push(`## ${cell.label}`, '');
    L.push('| server | messages/s | MB/s | p50 µs | p99 µs | server CPU µs/msg | CPU vs C |', '|---|---:|---:|---:|---:|---:|---:|');
    const c = table[cell.id]['C epoll'];
    for (const s of servers) {
      const r = table[cell.id][s.name];
      L.push(`| ${s.name} | ${fmt(r.msgs, 0)}${range(r.msgsAll, 0)} | ${fmt(r.mb, 2)} | ${fmt(r.p50)} | ${fmt(r.p99)} | ${fmt(r.cpu, 2)}${range(r.cpuAll, 2)} | ${fmt(r.cpu / c.cpu, 2)}x |`);
    }
    L.push('');
  }
  L.push(`## Memory: ${opts.idle} idle connections`, '', '| server | RSS before KiB | RSS after KiB | KiB per connection |', '|---|---:|---:|---:|');
  for (const s of servers) {
    const m = memory[s.name];
    L.push(`| ${s.name} | ${m.before} | ${m.after} | ${fmt(m.perConn, 2)} |`);
  }
  L.push('', 'The kernel\'s own socket memory is in no process\'s RSS.', '');
  L.push('## Zero allocation', '', `${gc.polls} polls of a ready socket (\`bench/gc-polls.js\`): ${gc.gcCount} garbage collections, ${fmt(gc.nsPerPoll, 0)} ns per poll.`, '');
  L.push('## Ident (RFC 1413)', '', 'Each client connects, asks about its own connection (a real lookup answered with USERID), reads the reply and closes, in a loop.', '');
  L.push('| server | clients | queries/s | p50 µs | p99 µs | server CPU µs/query | errors |', '|---|---:|---:|---:|---:|---:|---:|');
  for (const name of ident.peers) {
    for (const clients of IDENT_CLIENTS) {
      const runs = ident.results[name][clients];
      if (runs === undefined || runs.length === 0) continue; // saved by a run that did not measure it
      const q = runs.map((r) => r.queries_per_s);
      L.push(`| ${name} | ${clients} | ${fmt(median(q), 0)}${range(q, 0)} | ${fmt(median(runs.map((r) => r.p50_us)))} | ${fmt(median(runs.map((r) => r.p99_us)))} | ${fmt(median(runs.map((r) => r.server_cpu_us_per_query)))} | ${runs.reduce((a, r) => a + r.errors, 0)} |`);
    }
  }
  L.push('', 'Server CPU per query counts the server process and the children it reaped (oidentd forks).');
  L.push('', '## Where the time goes', '');
  L.push(`Cost of one call through edgeloop next to the same syscall from C (\`bench/crossing.js\`, \`bench/syscall-cost.c\`): a read that finds nothing takes ${fmt(cross.read_would_block_ns, 0)} ns (C recv: ${fmt(cross.c_recv_eagain_ns, 0)} ns); a poll with nothing ready ${fmt(cross.poll_empty_ns, 0)} ns (C epoll_wait: ${fmt(cross.c_epoll_wait_empty_ns, 0)} ns). The difference is the N-API crossing and the JavaScript around it. An empty native call costs ${fmt(cross.empty_call_ns, 0)} ns. One EventLoop echo turn (the pump's native call, which waits and reads every ready connection, then the flush of the corked echoes) costs ${fmt(cross.pump_turn_1_ns, 0)} / ${fmt(cross.pump_turn_10_ns, 0)} / ${fmt(cross.pump_turn_100_ns, 0)} ns with 1 / 10 / 100 connections ready (C, epoll_wait plus a read and a write each: ${fmt(cross.c_turn_1_ns, 0)} / ${fmt(cross.c_turn_10_ns, 0)} / ${fmt(cross.c_turn_100_ns, 0)} ns).`, '');
  L.push('Self time on the run() loop\'s thread at (b), from V8\'s sampling profiler (native calls are charged to the JavaScript function that made them):', '');
  L.push('| function | share |', '|---|---:|');
  for (const row of prof) L.push(`| ${row.name} | ${fmt(row.share * 100)} % |`);
  L.push('', '## Targets', '', ...targets(table, memory, gc, ident), '');
  L.push('## What the profile shows, and what remains', '');
  L.push(
    `- Echo CPU per message: ${pumpShare(prof)} the same syscalls the C server makes (its sends include the peer's loopback receive path, which the kernel runs in the sender's call); the loop's JavaScript is the small rest. That call sends the corked writes, waits and reads every ready connection; how much that saves per message is what the CPU-per-message rows above show.`,
    '- 16 KiB messages (d): the same calls move 256 times more bytes; the kernel\'s copies dominate and edgeloop stays close to C, while node:net and Bun pay for their stream layers.',
    identFinding(ident),
    '',
  );
  return L.join('\n');
}

/** The command that repeats a run with `opts`, naming every non-default option. */
/**
 * The profile's finding about the pump: the share of the loop thread's
 * samples charged to the pump's turn, the one JavaScript function that makes
 * the native call (and so carries its syscalls and crossing).
 */
function pumpShare(prof) {
  const turn = prof.find((r) => r.name.startsWith('turn (loop/pump'));
  if (turn === undefined) return 'the pump\'s turn is not among the top functions of this profile; its native call holds';
  return `${fmt(turn.share * 100, 0)} % of the run() loop thread's samples are in the pump's turn, whose one native call per turn holds`;
}

function benchCommand(opts) {
  const args = [];
  if (opts.quick) args.push('--quick');
  for (const [key, def] of Object.entries(DEFAULTS)) {
    if (!opts.quick && opts[key] !== def) args.push(`--${key} ${opts[key]}`);
  }
  return `npm run bench${args.length ? ` -- ${args.join(' ')}` : ''}`;
}

function writeResults(outDir, saved) {
  const { opts, facts, echo, memory, gc, ident, cross, prof, servers } = saved;
  const list = servers.map((name) => ({ name }));
  const table = summarize(echo, list);
  const command = benchCommand(opts);
  const md = report(opts, facts, list, table, memory, gc, ident, command, cross, prof);
  // --out may name a directory that does not exist yet; losing a whole run's
  // figures to ENOENT at the very end is the worst way for a bench to fail.
  fs.mkdirSync(outDir, { recursive: true });
  fs.writeFileSync(path.join(outDir, 'results.md'), md);
  fs.writeFileSync(path.join(outDir, 'results.json'), JSON.stringify(saved, null, 1));
  writeSvg(path.join(outDir, 'results.svg'), servers, table, CELLS, memory, facts);
  return md;
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  if (opts.reportFrom) {
    const saved = JSON.parse(fs.readFileSync(opts.reportFrom, 'utf8'));
    saved.servers ??= Object.keys(saved.memory);
    process.stdout.write(`${writeResults(opts.out, saved)}\n`);
    return;
  }
  for (const tool of ['taskset', 'prlimit']) if (!has(tool)) fail(`${tool} is needed (Debian package util-linux)`);
  const uring = uringProbe(build());
  const bun = bunPath();
  if (!bun) process.stderr.write('bench: Bun not found (set BUN or put bun on PATH); its column is skipped\n');
  if (!uring.ok) process.stderr.write(`bench: C io_uring not available (${uring.reason}); its column is skipped\n`);
  const servers = echoServers(bun, uring);
  const identPeers = has('oidentd') ? 3 : 2;
  steps = opts.rounds * CELLS.length * servers.length + servers.length + 3 + opts.rounds * identPeers * IDENT_CLIENTS.length;
  const facts = machineFacts(bun, uring);
  const echo = await echoMatrix(opts, servers);
  const memory = await memoryMatrix(opts, servers);
  const gc = gcCheck();
  const cross = crossing();
  const prof = await profile(opts);
  const ident = await identMatrix(opts);
  process.stderr.write('\n');
  const saved = { opts, facts, echo, memory, gc, ident, cross, prof, servers: servers.map((s) => s.name) };
  process.stdout.write(`${writeResults(opts.out, saved)}\n`);
}

main().catch((err) => {
  process.stderr.write(`\nbench: ${err.stack ?? err}\n`);
  process.exit(1);
});
