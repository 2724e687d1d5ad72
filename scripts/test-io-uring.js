#!/usr/bin/env node
// Runs the suites of everything a loop serves once more on the io_uring
// backend (EDGELOOP_LOOP_BACKEND=io_uring makes it every loop's default),
// or says why it cannot here and skips. `npm test` runs it after the main
// run; extra arguments go to vitest.
'use strict';
const { spawnSync } = require('node:child_process');
const path = require('node:path');

const ROOT = path.join(__dirname, '..');
const SUITES = [
  'test/event-loop', 'test/echo', 'test/serve', 'test/ident', 'test/attach', 'test/close',
  'test/emfile', 'test/workers', 'test/waker', 'test/udp', 'test/unix', 'test/io-uring',
];

const { ioUringUnavailableReason } = require(path.join(ROOT, 'dist', 'index.js'));
const reason = ioUringUnavailableReason();
if (reason !== '') {
  process.stdout.write(`test:io_uring skipped: io_uring unavailable here (${reason})\n`);
  process.exit(0);
}
process.stdout.write('test:io_uring: the loop, echo, service and ident suites on the io_uring backend\n');
const vitest = path.join(ROOT, 'node_modules', 'vitest', 'vitest.mjs');
const r = spawnSync(process.execPath, [vitest, 'run', ...SUITES, ...process.argv.slice(2)], {
  cwd: ROOT,
  stdio: 'inherit',
  env: { ...process.env, EDGELOOP_LOOP_BACKEND: 'io_uring' },
});
process.exit(r.status ?? 1);
