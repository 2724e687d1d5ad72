/**
 * The README's examples are files under examples/, quoted verbatim; each is
 * run here against a real client so the README never rots.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

const ROOT = path.join(__dirname, '..');
const README = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
const children: ChildProcess[] = [];

afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

/** Starts an example on port 0 and resolves with the port it prints. */
function start(file: string): Promise<number> {
  const child = spawn(process.execPath, [path.join(ROOT, 'examples', file), '0'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    const timer = setTimeout(() => reject(new Error(`${file} did not start: ${err}`)), 10000);
    child.stdout?.on('data', (d) => {
      out += d;
      const m = /listening (\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    child.stderr?.on('data', (d) => (err += d));
    child.once('exit', (code) => reject(new Error(`${file} exited with ${code}: ${err}`)));
  });
}

/** Sends `text`, half-closes, and resolves with everything the server sent back. */
function exchange(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => s.end(text));
    let got = '';
    s.setEncoding('utf8');
    s.on('data', (d) => (got += d));
    s.on('close', () => resolve(got));
    s.on('error', reject);
    s.setTimeout(5000, () => s.destroy(new Error('no answer within 5 s')));
  });
}

describe.each(['poll.js', 'event-loop.js', 'run-in-worker.js', 'serve.js'])('examples/%s', (file) => {
  it('is quoted verbatim in the README', () => {
    const body = fs.readFileSync(path.join(ROOT, 'examples', file), 'utf8').trim();
    expect(README.includes(body)).toBe(true);
  });
});

describe('the README examples serve real clients', () => {
  it('examples/poll.js echoes', async () => {
    const port = await start('poll.js');
    // The bare-Poll example closes on EOF; it may close before echoing a
    // half-closed peer's last bytes, so send and wait for the echo first.
    const got = await new Promise<string>((resolve, reject) => {
      const s = net.connect(port, '127.0.0.1', () => s.write('ping'));
      s.setEncoding('utf8');
      s.once('data', (d: string) => {
        s.destroy();
        resolve(d);
      });
      s.on('error', reject);
    });
    expect(got).toBe('ping');
  });

  it('examples/event-loop.js echoes everything before closing', async () => {
    const port = await start('event-loop.js');
    const text = 'x'.repeat(200_000);
    expect(await exchange(port, text)).toBe(text);
  });

  it('examples/run-in-worker.js echoes from a worker thread', async () => {
    const port = await start('run-in-worker.js');
    const got = await new Promise<string>((resolve, reject) => {
      const s = net.connect(port, '127.0.0.1', () => s.write('hello'));
      s.setEncoding('utf8');
      s.once('data', (d: string) => {
        s.destroy();
        resolve(d);
      });
      s.on('error', reject);
    });
    expect(got).toBe('hello');
  });

  it('examples/run-in-worker.js stops on SIGINT', async () => {
    await start('run-in-worker.js');
    const child = children[children.length - 1];
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGINT');
    expect(await exited).toBe(0);
  });

  it('examples/serve.js answers lines in order, the slow one first', async () => {
    const port = await start('serve.js');
    expect(await exchange(port, 'slow one\nfast two\n')).toBe('SLOW ONE\r\nFAST TWO\r\n');
  });
});
