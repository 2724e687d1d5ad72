/**
 * The API reference is generated from the TSDoc: every export must be
 * documented and every {@link} must resolve, or typedoc warns and this fails.
 */
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { expect, it } from 'vitest';

it('typedoc finds every export documented and every link valid', () => {
  const root = path.join(__dirname, '..');
  const typedoc = path.join(root, 'node_modules', 'typedoc', 'bin', 'typedoc');
  const r = spawnSync(process.execPath, [typedoc, '--emit', 'none', '--treatWarningsAsErrors'], {
    cwd: root,
    encoding: 'utf8',
    timeout: 120_000,
  });
  expect(r.stdout + r.stderr).not.toMatch(/\[warning\]|\[error\]/);
  expect(r.status).toBe(0);
}, 180_000);
