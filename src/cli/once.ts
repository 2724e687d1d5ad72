/**
 * Log lines without repeats, for causes that recur on every request.
 *
 * @packageDocumentation
 */

/**
 * Returns a function that passes each distinct message to `write` the
 * first time only. It remembers up to `limit` messages; past that, new ones
 * are written every time rather than lost.
 */
export function onceWriter(write: (message: string) => void, limit = 100): (message: string) => void {
  const seen = new Set<string>();
  return (message) => {
    if (seen.has(message)) return;
    if (seen.size < limit) seen.add(message);
    write(message);
  };
}
