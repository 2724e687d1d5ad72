/**
 * edgeloop-identd's line per query.
 *
 * @packageDocumentation
 */
import type { IdentLogEntry } from '../ident/server';

/**
 * `PEER "QUERY" -> REPLY` (the log adds the command's name), and when the config's rules answered
 * with something other than the user's name (hidden, numeric, random, a
 * fixed reply), who the owner really is and which rule chose the answer:
 * ` [uid 1000 alice: random by their file]`. Those answers say nothing
 * about the user on the wire, so the log is where an administrator finds
 * out whose connection it was.
 */
export function queryLine(q: IdentLogEntry): string {
  const base = `${q.peer.address} "${q.query}" -> ${q.reply}`;
  const o = q.owner;
  if (o === undefined || (o.answer.action === 'name' && o.answer.source === 'system')) return base;
  const who = o.name === null ? `uid ${o.uid}` : `uid ${o.uid} ${o.name}`;
  return `${base} [${who}: ${o.answer.action} by ${o.answer.source === 'user' ? 'their file' : 'the config'}]`;
}
