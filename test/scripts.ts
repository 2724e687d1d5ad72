/**
 * Pieces of the plain-JavaScript scripts that tests write for worker
 * threads and child processes, which run without vitest's TypeScript
 * transform and load the compiled package from dist/.
 */

/**
 * An echo handler factory, as source text for `loop.listen(address, ...)`:
 * echoes what it reads and ends after the peer's EOF. The script must have
 * `loop` and `WOULD_BLOCK` in scope.
 */
export const ECHO_HANDLER_JS = `() => ({
  onReadable(conn) {
    const buf = loop.readBuffer;
    for (;;) {
      const n = conn.read(buf);
      if (n === WOULD_BLOCK) return;
      if (n === 0) return conn.end();
      conn.write(buf, 0, n);
    }
  },
})`;
