/**
 * The API reference is generated from the TSDoc by `npm run docs` into a
 * gitignored folder: every export must be documented and every {@link} must
 * resolve, or typedoc warns and this fails. Only hand-written Markdown is
 * kept in git under docs/.
 */
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = path.join(__dirname, '..');
const TYPEDOC = path.join(ROOT, 'node_modules', 'typedoc', 'bin', 'typedoc');
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'edgeloop-docs-'));

/** Runs typedoc from the repository root with the project's typedoc.json and `args` on top. */
function typedoc(args: string[]): SpawnSyncReturns<string> {
  return spawnSync(process.execPath, [TYPEDOC, '--treatWarningsAsErrors', ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 120_000,
  });
}

function git(args: string[]): SpawnSyncReturns<string> {
  return spawnSync('git', args, { cwd: ROOT, encoding: 'utf8' });
}

afterAll(() => {
  fs.rmSync(work, { recursive: true, force: true });
});

describe('the API reference', () => {
  const out = path.join(work, 'api');
  let build: SpawnSyncReturns<string>;
  beforeAll(() => {
    build = typedoc(['--out', out]);
  }, 180_000);

  it('builds with every export documented and every link valid', () => {
    expect(build.stdout + build.stderr).not.toMatch(/\[warning\]|\[error\]/);
    expect(build.status).toBe(0);
  });

  it('writes an HTML page for an exported class', () => {
    expect(fs.existsSync(path.join(out, 'classes', 'Poll.html'))).toBe(true);
  });
});

it('the documentation check fails on an export without TSDoc', () => {
  // A one-file project under the project's own typedoc settings: proof that
  // the build above would catch an undocumented export.
  const dir = path.join(work, 'undocumented');
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, 'index.ts'), '/** Documented. */\nexport const documented = 1;\nexport const bare = 2;\n');
  fs.writeFileSync(
    path.join(dir, 'tsconfig.json'),
    JSON.stringify({ compilerOptions: { strict: true, module: 'node16', types: [] }, files: ['index.ts'] }),
  );
  const r = typedoc(['--entryPoints', path.join(dir, 'index.ts'), '--tsconfig', path.join(dir, 'tsconfig.json'), '--emit', 'none']);
  expect(r.stdout + r.stderr).toMatch(/bare.*does not have any documentation/);
  expect(r.status).not.toBe(0);
}, 180_000);

it("npm run docs writes into a folder git ignores", () => {
  const config = JSON.parse(fs.readFileSync(path.join(ROOT, 'typedoc.json'), 'utf8')) as { out: string };
  expect(git(['check-ignore', '--quiet', path.join(config.out, 'index.html')]).status).toBe(0);
});

it('git tracks only Markdown under docs/', () => {
  const r = git(['ls-files', 'docs']);
  expect(r.status).toBe(0);
  expect(r.stdout.split('\n').filter((f) => f !== '' && !f.endsWith('.md'))).toEqual([]);
});
