/**
 * The echo server as library code.
 *
 * @packageDocumentation
 */
import type { Connection, ConnectionHandler } from '../connection';
import { EventLoop, type LoopListener } from '../event-loop';
import type { InetAddress } from '../net/address';

/** Options for {@link createEchoServer}. */
export interface EchoServerOptions {
  /** Address to listen on. Default '127.0.0.1'. */
  host?: string;
  /** Port; 0 picks a free one. Default 7007. */
  port?: number;
  /** The loop to serve on. Default: a new one (closed by `close()`). */
  loop?: EventLoop;
  /** SO_REUSEPORT, for several servers (worker threads) on one port. */
  reusePort?: boolean;
  /** Connections open at once; more are accepted and closed. Default unlimited. */
  maxConnections?: number;
  /** Close a connection idle this long (ms). Default never. */
  idleTimeoutMs?: number;
  /**
   * Bytes queued for a client that does not read before the server stops
   * reading from it (backpressure). Default 64 KiB.
   */
  highWaterMark?: number;
}

/** Totals since the server started. */
export interface EchoStats {
  /** Connections accepted. */
  connections: number;
  /** Bytes echoed. */
  bytes: number;
  /** Reads echoed (one message per read, at most one per connection per turn). */
  messages: number;
}

/** A running echo server. */
export interface EchoServer {
  /** The loop it serves on. */
  readonly loop: EventLoop;
  /** The listening socket's registration. */
  readonly listener: LoopListener;
  /** The bound address (with the real port when 0 was asked). */
  readonly address: InetAddress;
  /** Running totals. */
  readonly stats: EchoStats;
  /** Stops listening and closes every connection (and the loop, if it made it). */
  close(): void;
}

/**
 * Echoes every byte back exactly as it arrives, however the client splits or
 * pipelines it. A client that does not read makes its queue grow to
 * `highWaterMark`; the server then stops reading from it until the queue
 * drains, so memory stays bounded.
 *
 * The loop is not started: call `server.loop.attach()` or `run()`.
 */
export function createEchoServer(options: EchoServerOptions = {}): EchoServer {
  const ownLoop = options.loop === undefined;
  const loop = options.loop ?? new EventLoop();
  const highWaterMark = options.highWaterMark ?? 64 * 1024;
  if (!Number.isInteger(highWaterMark) || highWaterMark < 1) throw new RangeError('highWaterMark must be a positive integer');
  const stats: EchoStats = { connections: 0, bytes: 0, messages: 0 };
  const open = new Set<Connection>();

  const handler: ConnectionHandler = {
    onData(conn: Connection, data: Buffer, offset: number, length: number): void {
      stats.bytes += length;
      stats.messages++;
      // The bytes go back as they are: corked by reference to the loop's
      // read arena, sent with every other connection's by the next turn.
      if (!conn.write(data, offset, length)) conn.pauseReading();
    },
    onDrain(conn: Connection): void {
      conn.resumeReading();
    },
    onClose(conn: Connection): void {
      open.delete(conn);
    },
  };

  let listener: LoopListener;
  try {
    listener = loop.listen(
      { host: options.host ?? '127.0.0.1', port: options.port ?? 7007 },
      (conn) => {
        stats.connections++;
        open.add(conn);
        conn.highWaterMark = highWaterMark;
        return handler;
      },
      {
        reusePort: options.reusePort,
        maxConnections: options.maxConnections,
        idleTimeoutMs: options.idleTimeoutMs,
      },
    );
  } catch (err) {
    if (ownLoop) loop.close();
    throw err;
  }
  const address = listener.socket.localAddress() as InetAddress;
  return {
    loop,
    listener,
    address,
    stats,
    close(): void {
      listener.close();
      for (const conn of [...open]) conn.close();
      if (ownLoop) loop.close();
    },
  };
}
