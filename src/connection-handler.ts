/**
 * What the EventLoop calls for a connection.
 *
 * @packageDocumentation
 */
import type { Connection } from './connection';

/**
 * What the loop calls for a connection. Every method is optional.
 *
 * Exceptions: a SysError thrown from a handler (ECONNRESET from a read, say)
 * closes the connection with that error, as a normal event. Any other
 * exception is a bug in the handler: the loop closes that one connection and
 * reports the error (see `EventLoopOptions.onHandlerError`).
 */
export interface ConnectionHandler {
  /**
   * Bytes arrived: `data[offset .. offset+length)`. The loop read them, with
   * every other ready connection's, in the one native call of its turn.
   * `data` is the loop's read arena: the bytes are valid only until this
   * call returns (copy what you keep; writing them back with `conn.write`
   * is fine and copies nothing). A handler with `onData` gets no
   * `onReadable` calls.
   */
  onData?(conn: Connection, data: Buffer, offset: number, length: number): void;
  /**
   * The peer finished sending (with `onData` only). Without this method the
   * loop calls `conn.end()`: what is queued is sent, then the connection
   * closes.
   */
  onEnd?(conn: Connection): void;
  /** Data (or EOF: `read` returns 0) can be read. Not called when `onData` is set. */
  onReadable?(conn: Connection): void;
  /** The socket can take bytes, and the handler asked with `wantWritable`. */
  onWritable?(conn: Connection): void;
  /** The outgoing queue just became empty after having data. */
  onDrain?(conn: Connection): void;
  /**
   * The connection closed: by `close()`, by the loop shutting down, or by an
   * error (then `error` says which). Called exactly once.
   */
  onClose?(conn: Connection, error?: Error): void;
  /** A socket error arrived (before the close it causes). */
  onError?(conn: Connection, error: Error): void;
}
