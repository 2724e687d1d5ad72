/**
 * The package as users get it: `npm pack`, installed into a fresh project.
 * With the linux-x64 prebuild and no compiler on PATH (PREBUILDS_ONLY=1) it
 * must load and serve; without the prebuild, install must compile it.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = path.join(__dirname, '..');
const SMOKE = path.join(__dirname, 'fixtures', 'pack-smoke.js');
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'edgeloop-pack-'));
const copy = path.join(work, 'edgeloop');
const bin = path.join(work, 'bin');
let tarball = '';
let packed: string[] = [];

/** A PATH with node and npm and the shell tools npm uses, but no compiler. */
function compilerFreePath(): string {
  fs.mkdirSync(bin, { recursive: true });
  for (const tool of ['node', 'sh', 'bash', 'env', 'uname', 'cat', 'ls', 'rm', 'mkdir', 'cp', 'mv', 'chmod', 'ln', 'dirname', 'basename', 'sed', 'grep']) {
    const found = spawnSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).stdout.trim();
    if (found) fs.symlinkSync(fs.realpathSync(found), path.join(bin, tool));
  }
  // npm and npx are scripts run by node; link the real files.
  for (const tool of ['npm', 'npx']) {
    const found = spawnSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).stdout.trim();
    fs.symlinkSync(fs.realpathSync(found), path.join(bin, tool));
  }
  return bin;
}

function newProject(name: string): string {
  const dir = path.join(work, name);
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name, version: '1.0.0', private: true }));
  return dir;
}

function run(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = process.env): string {
  return execFileSync(cmd, args, { cwd, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 300_000 });
}

beforeAll(() => {
  // Work on a copy: prebuildify rebuilds build/, which other tests use.
  fs.mkdirSync(copy);
  for (const entry of ['package.json', 'package-lock.json', 'binding.gyp', 'README.md', 'LICENSE', 'tsconfig.json', 'native', 'src', 'scripts']) {
    fs.cpSync(path.join(ROOT, entry), path.join(copy, entry), { recursive: true });
  }
  fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(copy, 'node_modules'));
  // prepack builds the prebuild (npm run prebuildify) before packing.
  const out = run('npm', ['pack', '--json', '--pack-destination', work], copy);
  // Lifecycle scripts print to the same stdout: the JSON starts at a line "[".
  const json = out.slice(out.search(/^\[$/m));
  const info = JSON.parse(json)[0] as { filename: string; files: { path: string }[] };
  tarball = path.join(work, info.filename);
  packed = info.files.map((f) => f.path);
}, 600_000);

afterAll(() => {
  fs.rmSync(work, { recursive: true, force: true });
});

describe('npm pack', () => {
  it('ships dist/, prebuilds/, native/, binding.gyp and nothing else', () => {
    const allowed = /^(dist\/|prebuilds\/|native\/|binding\.gyp$|package\.json$|README\.md$|LICENSE$)/;
    expect(packed.filter((f) => !allowed.test(f))).toEqual([]);
  });

  it('ships the MIT licence text package.json names', () => {
    expect(packed).toContain('LICENSE');
  });

  it('includes the linux-x64 prebuild, tagged for glibc', () => {
    expect(packed).toContain('prebuilds/linux-x64/edgeloop.glibc.node');
  });

  it('includes the CommonJS and ES module entries with their types', () => {
    for (const f of ['dist/index.js', 'dist/index.d.ts', 'dist/index.mjs', 'dist/index.d.mts']) expect(packed).toContain(f);
  });

  it('leaves out build/, tests and sources', () => {
    expect(packed.some((f) => f.startsWith('build/') || f.startsWith('test/') || f.startsWith('src/'))).toBe(false);
  });
});

describe('installed with no compiler on PATH', () => {
  let project = '';
  let env: NodeJS.ProcessEnv = {};

  beforeAll(() => {
    project = newProject('consumer-prebuilt');
    env = { HOME: process.env.HOME, PATH: compilerFreePath(), PREBUILDS_ONLY: '1' };
    expect(spawnSync('sh', ['-c', 'command -v cc || command -v g++ || command -v make'], { env }).status).not.toBe(0);
    run('npm', ['install', '--no-audit', '--no-fund', tarball], project, env);
  }, 300_000);

  it('does not compile anything', () => {
    expect(fs.existsSync(path.join(project, 'node_modules', 'edgeloop', 'build'))).toBe(false);
  });

  it('loads the prebuild and serves an echo round trip (require)', () => {
    fs.copyFileSync(SMOKE, path.join(project, 'smoke.js'));
    expect(run('node', ['smoke.js'], project, env).trim()).toBe('echo: ping');
  });

  it('loads through import with named exports', () => {
    const out = run('node', ['--input-type=module', '-e', "import { Poll, Events } from 'edgeloop'; const p = new Poll(); console.log(p.poll(new Events(1), 0)); p.close();"], project, env);
    expect(out.trim()).toBe('0');
  });

  it('runs npx edgeloop-echo --port 0 from the installed package', async () => {
    // Its own process group: npx runs the server as a child of its own, which
    // a signal to npx alone would leave running.
    const child = spawn('npx', ['edgeloop-echo', '--port', '0'], { cwd: project, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    try {
      const port = await new Promise<number>((resolve, reject) => {
        let out = '';
        const timer = setTimeout(() => reject(new Error(`no listening line: ${out}`)), 60_000);
        child.stdout.on('data', (d) => {
          out += d;
          const m = /listening on 127\.0\.0\.1:(\d+)/.exec(out);
          if (m) {
            clearTimeout(timer);
            resolve(Number(m[1]));
          }
        });
      });
      const echoed = await new Promise<string>((resolve, reject) => {
        const s = net.connect(port, '127.0.0.1', () => s.write('hi'));
        s.setEncoding('utf8');
        s.once('data', (d: string) => {
          s.destroy();
          resolve(d);
        });
        s.on('error', reject);
      });
      expect(echoed).toBe('hi');
    } finally {
      if (child.pid !== undefined) process.kill(-child.pid, 'SIGTERM');
    }
  }, 90_000);
});

describe('installed where no prebuild fits', () => {
  it('compiles the addon from source during install', () => {
    // The same package without prebuilds/: node-gyp-build falls back to a build.
    const unpacked = path.join(work, 'unpacked');
    fs.mkdirSync(unpacked);
    run('tar', ['xzf', tarball, '-C', unpacked], work);
    fs.rmSync(path.join(unpacked, 'package', 'prebuilds'), { recursive: true, force: true });
    const dest = path.join(work, 'source-only');
    fs.mkdirSync(dest);
    const sourceOnly = run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', dest, path.join(unpacked, 'package')], work);
    const file = path.join(dest, (JSON.parse(sourceOnly)[0] as { filename: string }).filename);
    const project = newProject('consumer-source');
    run('npm', ['install', '--no-audit', '--no-fund', file], project);
    expect(fs.existsSync(path.join(project, 'node_modules', 'edgeloop', 'build', 'Release', 'edgeloop.node'))).toBe(true);
    fs.copyFileSync(SMOKE, path.join(project, 'smoke.js'));
    expect(run('node', ['smoke.js'], project).trim()).toBe('echo: ping');
  }, 600_000);
});
