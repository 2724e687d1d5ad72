/**
 * An echo server written directly on Poll, the low-level way mio's own
 * examples are: one listener token, one token per connection, level
 * triggered, and writable interest only while output is pending.
 *
 * Usage: node dist/examples/poll-echo.js [host:port]   (default 127.0.0.1:7007)
 *
 * @packageDocumentation
 */
import { Events, Interest, Poll, TcpListener, WOULD_BLOCK, type TcpStream } from '../index';

const LISTENER = 0;
const FIRST_CONNECTION = 1;
/** How long one poll may block before Node gets the thread back (signals). */
const SLICE_MS = 50;

interface Connection {
  stream: TcpStream;
  /** Bytes read but not yet written back. */
  pending: Buffer | null;
}

function main(): void {
  const where = process.argv[2] ?? '127.0.0.1:7007';
  const poll = new Poll();
  const events = new Events(1024);
  const listener = TcpListener.bind(where);
  poll.register(listener, LISTENER, Interest.READABLE);
  const connections = new Map<number, Connection>();
  let nextToken = FIRST_CONNECTION;
  const buf = Buffer.allocUnsafe(64 * 1024);
  const a = listener.localAddress();
  console.log(`poll-echo listening on ${a.address}:${a.port} (pid ${process.pid}); try: nc ${a.address} ${a.port}`);

  let stopping = false;
  const stop = (): void => {
    stopping = true;
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);

  const close = (token: number, conn: Connection): void => {
    conn.stream.close(); // deregisters first
    connections.delete(token);
  };

  const flush = (token: number, conn: Connection): void => {
    const out = conn.pending;
    if (out === null) return;
    const n = conn.stream.write(out);
    if (n === WOULD_BLOCK) return;
    conn.pending = n === out.length ? null : out.subarray(n);
    const interest = conn.pending === null ? Interest.READABLE : Interest.READABLE | Interest.WRITABLE;
    poll.reregister(conn.stream, token, interest);
  };

  const serve = (token: number, conn: Connection, readable: boolean): void => {
    try {
      flush(token, conn);
      // Stop reading while output is pending: the client must read first.
      while (readable && conn.pending === null) {
        const n = conn.stream.read(buf);
        if (n === WOULD_BLOCK) break;
        if (n === 0) return close(token, conn);
        conn.pending = Buffer.from(buf.subarray(0, n));
        flush(token, conn);
      }
    } catch {
      close(token, conn); // ECONNRESET, EPIPE: this connection only
    }
  };

  // Signal handlers run on Node's own loop, so each poll blocks for at most
  // SLICE_MS and then hands the thread back; ready sockets still return at
  // once. (The EventLoop's attach() mode avoids even that slice.)
  const tick = (): void => {
    poll.poll(events, SLICE_MS);
    for (let i = 0; i < events.length; i++) {
      const token = events.token(i);
      if (token === LISTENER) {
        for (;;) {
          const stream = listener.accept();
          if (stream === WOULD_BLOCK) break;
          stream.setNoDelay(true);
          const t = nextToken++;
          connections.set(t, { stream, pending: null });
          poll.register(stream, t, Interest.READABLE);
        }
      } else {
        const conn = connections.get(token);
        if (conn) serve(token, conn, events.isReadable(i) || events.isReadClosed(i));
      }
    }
    if (stopping) {
      for (const [t, c] of connections) close(t, c);
      listener.close();
      poll.close();
      console.log('poll-echo stopped');
      return;
    }
    setImmediate(tick);
  };
  tick();
}

main();
