/**
 * A node:net client for the server suites (echo server, serve(), attach(),
 * the ident server): connects to loopback, collects every byte it receives,
 * and waits, bounded, for bytes, lines or the close. Destroyed after the
 * test (register `afterEach(runCleanups)` from ./cleanup).
 */
import * as net from 'node:net';
import { later } from './cleanup';
import { Waitable } from './waits';

/** Where {@link NetClient.connect} connects from and to. */
export interface ConnectOptions {
  /** Default 127.0.0.1. */
  host?: string;
  /** A local address to connect from. */
  localAddress?: string;
  /** How long the connect may take; default 3000 ms. */
  ms?: number;
}

/** A connected node:net client collecting what it receives. */
export class NetClient extends Waitable {
  /** The server's FIN arrived. */
  ended = false;
  /** The socket closed (either side, or an error). */
  closed = false;
  /** Date.now() when the socket closed. */
  closedAt = 0;
  /** The socket's error, if any (it then closes too). */
  error: Error | null = null;
  private chunks: Buffer[] = [];
  private length = 0;
  /** Octets already handed out by {@link read}. */
  private taken = 0;

  private constructor(readonly sock: net.Socket) {
    super();
    sock.setNoDelay(true);
    sock.on('data', (d: Buffer) => {
      this.chunks.push(d);
      this.length += d.length;
      this.notify();
    });
    sock.on('end', () => {
      this.ended = true;
      this.notify();
    });
    sock.on('close', () => {
      this.closed = true;
      this.closedAt = Date.now();
      this.notify();
    });
    sock.on('error', (err) => {
      this.error = err;
    });
  }

  /** Connects to `port`; rejects on error or after `options.ms`. */
  static connect(port: number, options: ConnectOptions = {}): Promise<NetClient> {
    const { host = '127.0.0.1', localAddress, ms = 3000 } = options;
    return new Promise((resolve, reject) => {
      const sock = net.connect({ host, port, localAddress });
      const timer = setTimeout(() => {
        sock.destroy();
        reject(new Error(`connect to ${host}:${port} timed out`));
      }, ms);
      sock.once('connect', () => {
        clearTimeout(timer);
        const c = new NetClient(sock);
        later(() => c.destroy());
        resolve(c);
      });
      sock.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
  }

  /** How many octets arrived so far. */
  get receivedBytes(): number {
    return this.length;
  }

  /** Everything received so far. */
  get bytes(): Buffer {
    if (this.chunks.length > 1) this.chunks = [Buffer.concat(this.chunks)];
    return this.chunks[0] ?? Buffer.alloc(0);
  }

  /** Everything received so far, as latin1 (one character per octet). */
  get text(): string {
    return this.bytes.toString('latin1');
  }

  /** What arrived and was not taken by {@link read} yet. */
  get pending(): string {
    return this.text.slice(this.taken);
  }

  protected describeState(): string {
    return `received ${JSON.stringify(this.text.slice(0, 200))} (${this.length} octets), ended=${this.ended}, closed=${this.closed}`;
  }

  /** Sends `data`; a string goes out as latin1. */
  write(data: string | Buffer): void {
    if (typeof data === 'string') this.sock.write(data, 'latin1');
    else this.sock.write(data);
  }

  /** Waits until `n` octets arrived in total, or the socket closed. */
  receivedAtLeast(n: number, ms = 5000): Promise<void> {
    return this.until(() => this.length >= n || this.closed, ms, `${n} octets`);
  }

  /** Waits until the socket closed. */
  waitClosed(ms = 5000): Promise<void> {
    return this.until(() => this.closed, ms, 'the connection to close');
  }

  /** Takes the next `n` octets not taken yet, as latin1; fails if the socket closes first. */
  async read(n: number, ms = 5000): Promise<string> {
    await this.receivedAtLeast(this.taken + n, ms);
    if (this.length < this.taken + n) throw new Error(`connection closed after ${JSON.stringify(this.text)}`);
    const out = this.text.slice(this.taken, this.taken + n);
    this.taken += n;
    return out;
  }

  /**
   * Sends `data` and takes as many octets back (see {@link read}): anything
   * stray still pending comes first, so an echo of the wrong bytes fails.
   */
  async exchange(data: string, ms?: number): Promise<string>;
  async exchange(data: Buffer, ms?: number): Promise<Buffer>;
  async exchange(data: string | Buffer, ms = 5000): Promise<string | Buffer> {
    this.write(data);
    const back = await this.read(data.length, ms);
    return typeof data === 'string' ? back : Buffer.from(back, 'latin1');
  }

  /** Waits for `n` CR LF lines in total; returns all complete lines so far (without CR LF). */
  async lines(n: number, ms = 5000): Promise<string[]> {
    const count = (): number => this.text.split('\r\n').length - 1;
    await this.until(() => count() >= n || this.closed, ms, `${n} reply lines`);
    const all = this.text.split('\r\n');
    all.pop();
    if (all.length < n) throw new Error(`connection closed after ${JSON.stringify(this.text)}`);
    return all;
  }

  /** Closes the socket at once. */
  destroy(): void {
    this.sock.destroy();
  }
}
