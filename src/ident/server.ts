/**
 * The ident server (RFC 1413) as library code: a line codec plus a service.
 *
 * @packageDocumentation
 */
import type { Connection } from '../connection';
import { EventLoop, type LoopListener } from '../event-loop';
import type { InetAddress } from '../net/address';
import { TcpListener, type TcpStream } from '../net/tcp';
import { Pending } from '../pending';
import { LineCodec } from '../service/codec';
import { serve, serveStream, type ServeOptions, type ServiceContext } from '../service/serve';
import { OwnerLookup, type OwnerLookupOptions } from './lookup';
import { errorReply, parseQuery, portPair, userReply, type IdentError } from './protocol';
import type { AnswerRules, RuleOwner, RuledOwner } from './rules';

/** Longest query line accepted, without CR LF. */
export const MAX_QUERY_LENGTH = 1000;
/** Default idle timeout: within RFC 1413's suggested 60-180 s. */
export const DEFAULT_IDLE_TIMEOUT_MS = 120_000;

/** Options for {@link createIdentServer}. */
export interface IdentServerOptions {
  /** Addresses to listen on. Default ['127.0.0.1']; ignored with `listeners`. */
  addresses?: string[];
  /**
   * Listening sockets to serve instead of binding `addresses` (the ones
   * systemd socket activation passes, say). The server owns them from here:
   * `close()` closes them, and so does a failed start.
   */
  listeners?: TcpListener[];
  /** Port. Default 113 (binding it needs root or CAP_NET_BIND_SERVICE). */
  port?: number;
  /** The loop. Default: a new one, closed by `close()`. */
  loop?: EventLoop;
  /** Close a connection idle this long (ms). Default 120000. */
  idleTimeoutMs?: number;
  /** Connections open at once (per address); more are accepted and closed. */
  maxConnections?: number;
  /** Operating system field of USERID replies. Default 'UNIX'. */
  opsys?: string;
  /** Optional character set field of USERID replies. */
  charset?: string;
  /** Reply this user id to every valid query, with no lookup. */
  fixedReply?: string;
  /** Reply this user id when the lookup finds no owner (instead of NO-USER). */
  failReply?: string;
  /** Answer every error as UNKNOWN-ERROR (hides which case occurred). */
  unknownErrorOnly?: boolean;
  /** Users answered as HIDDEN-USER, by name or numeric uid, before any `rules`. */
  hiddenUsers?: (string | number)[];
  /**
   * How to answer for a connection's owner once it is known (and not in
   * `hiddenUsers`), e.g. an {@link IdentRules} from a config file.
   * Default: the user's name. Not consulted with `fixedReply` (no
   * lookups) or when there is no owner (`failReply`, NO-USER). A rule
   * that throws or rejects gets UNKNOWN-ERROR and goes to `onError`.
   */
  rules?: AnswerRules;
  /** One call per answered query. */
  onQuery?: (entry: IdentLogEntry) => void;
  /** Lookup tuning (netlink, /proc fallback, name cache). */
  lookup?: OwnerLookupOptions;
  /**
   * Called with the cause whenever something fails while answering: a
   * user-name lookup (the query gets UNKNOWN-ERROR), the /proc fallback (a
   * miss), the service itself (UNKNOWN-ERROR), and, when the server makes
   * its own loop, a worker thread of its blocking pool. Called for each
   * failure: a program that logs them should drop repeats.
   */
  onError?: (error: Error) => void;
}

/** Receives the owner and answer when rules answered a query. */
type Seen = (owner: RuledOwner) => void;

/** What one query was and how it was answered. */
export interface IdentLogEntry {
  /** The querier's address. */
  peer: InetAddress;
  /** The query line (sanitised). */
  query: string;
  /** The reply line, without CR LF. */
  reply: string;
  /**
   * Who owns the connection and how `rules` answered, when rules answered:
   * a random or fixed reply is traceable to its user in the log.
   */
  owner?: RuledOwner;
}

/** A running ident server. */
export interface IdentServer {
  /** The loop it serves on. */
  readonly loop: EventLoop;
  /** One listener per address. */
  readonly listeners: readonly LoopListener[];
  /** The bound addresses. */
  readonly addresses: readonly InetAddress[];
  /** The owner lookup (netlink socket), for inspection. */
  readonly lookup: OwnerLookup;
  /**
   * Starts the lookup's worker threads and loads what they need (see
   * {@link OwnerLookup.prepare}); resolves at once when `fixedReply` means
   * no lookups. Await it before dropping privileges.
   */
  prepare(): Promise<void>;
  /**
   * Serves one already connected stream (inetd's fd 0) with the same
   * answers, limits and idle timeout as an accepted connection.
   *
   * @param onClose - called once the connection closed, with its error if it had one
   */
  serveConnection(stream: TcpStream, onClose?: (error?: Error) => void): Connection;
  /** Stops listening, closes connections and the lookup (and the loop if it made it). */
  close(): void;
}

/**
 * An RFC 1413 server. Each query names a port on this host and a port on
 * the querier's host; the connection looked up is always the one between
 * this query connection's own local address and its peer's address (RFC
 * 1413 section 3), so a host learns only about its own connections with
 * this host. Anything else is NO-USER.
 *
 * Stricter than the reference daemon: malformed ports get INVALID-PORT
 * (never an integer wraparound), lines are bounded at 1000 bytes (a longer
 * one gets INVALID-PORT and the connection closes, nothing is truncated and
 * misparsed), replies are stripped of CR, LF and NUL and capped at 512
 * octets, and the timeout is an idle timeout.
 *
 * The loop is not started: call `server.loop.attach()` (or `run()`).
 */
export function createIdentServer(options: IdentServerOptions = {}): IdentServer {
  const onError = options.onError;
  const failed = (err: unknown): void => onError?.(err instanceof Error ? err : new Error(String(err)));
  const ownLoop = options.loop === undefined;
  const loop = options.loop ?? new EventLoop(onError === undefined ? {} : { pool: { onWorkerError: onError } });
  const port = options.port ?? 113;
  const opsys = options.opsys ?? 'UNIX';
  const hidden = new Set((options.hiddenUsers ?? []).map((u) => String(u)));
  const listeners: LoopListener[] = [];
  const lookup = new OwnerLookup(loop, { onError, ...options.lookup });
  const onQuery = options.onQuery;
  const rules = options.rules;

  const error = (pair: string, e: IdentError): string =>
    errorReply(pair, options.unknownErrorOnly === true ? 'UNKNOWN-ERROR' : e);

  /** The reply `rules` give for `who`; `seen` learns the answer, for the log. */
  const byRules = (r: AnswerRules, pair: string, who: RuleOwner, seen: Seen | undefined): Pending<string> =>
    // Through then(): a rule that throws becomes a rejection handled below.
    Pending.resolved(who)
      .then((w) => r.answer(w, loop))
      .then(
        (a) => {
          seen?.({ ...who, answer: a });
          return a.userId === null ? error(pair, 'HIDDEN-USER') : userReply(pair, opsys, options.charset, a.userId);
        },
        (err: unknown) => {
          failed(err);
          return error(pair, 'UNKNOWN-ERROR');
        },
      );

  const answer = (line: string, ctx: ServiceContext, seen: Seen | undefined): string | Pending<string> => {
    const q = parseQuery(line);
    if (!q.ok) return error(q.echo, 'INVALID-PORT');
    const pair = portPair(q);
    if (options.fixedReply !== undefined) return userReply(pair, opsys, options.charset, options.fixedReply);
    const local = ctx.localAddress as InetAddress;
    const peer = ctx.peerAddress as InetAddress;
    const tuple = {
      local: { family: local.family, address: local.address, port: q.serverPort },
      remote: { family: peer.family, address: peer.address, port: q.clientPort },
    };
    return lookup.owner(tuple).then((owner): string | Pending<string> => {
      if (owner === null) {
        return options.failReply !== undefined
          ? userReply(pair, opsys, options.charset, options.failReply)
          : error(pair, 'NO-USER');
      }
      if (hidden.has(String(owner.uid))) return error(pair, 'HIDDEN-USER');
      return lookup.userName(owner.uid).then(
        (name): string | Pending<string> => {
          if (name !== null && hidden.has(name)) return error(pair, 'HIDDEN-USER');
          if (rules !== undefined) return byRules(rules, pair, { uid: owner.uid, name }, seen);
          return userReply(pair, opsys, options.charset, name ?? String(owner.uid));
        },
        (err: unknown) => {
          failed(err);
          return error(pair, 'UNKNOWN-ERROR');
        },
      );
    }) as Pending<string>;
  };

  const service = (line: string, ctx: ServiceContext): string | Pending<string> => {
    if (onQuery === undefined) return answer(line, ctx, undefined);
    let owner: IdentLogEntry['owner'];
    const reply = answer(line, ctx, (o) => {
      owner = o;
    });
    const log = (r: string): string => {
      const entry: IdentLogEntry = { peer: ctx.peerAddress as InetAddress, query: line.replace(/[\x00-\x1f\x7f]/g, '').slice(0, 100), reply: r };
      if (owner !== undefined) entry.owner = owner;
      onQuery(entry);
      return r;
    };
    return typeof reply === 'string' ? log(reply) : reply.then(log);
  };

  const serveOptions: ServeOptions<string, string> = {
    // UTF-8 both ways: replies are sanitised and capped as UTF-8, so they
    // must go out as UTF-8 (latin1 would turn U+010A into a bare LF).
    codec: () => new LineCodec({ maxLength: MAX_QUERY_LENGTH, encoding: 'utf8' }),
    service,
    idleTimeoutMs: options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS,
    maxConnections: options.maxConnections,
    // An over-long line can never be a valid query: say so, then close.
    onDecodeError: () => error('0, 0', 'INVALID-PORT'),
    onServiceError: (err) => {
      failed(err);
      return error('0, 0', 'UNKNOWN-ERROR');
    },
  };

  const given = options.listeners;
  try {
    if (given !== undefined) {
      for (const socket of given) listeners.push(serve(loop, socket, serveOptions));
    } else {
      for (const host of options.addresses ?? ['127.0.0.1']) {
        const socket = TcpListener.bind({ host, port }, { ipv6Only: host.includes(':') ? true : undefined });
        listeners.push(serve(loop, socket, serveOptions));
      }
    }
  } catch (err) {
    for (const l of listeners) l.close();
    // Given sockets not yet served are the server's too (closing twice is harmless).
    for (const socket of given ?? []) socket.close();
    lookup.close();
    if (ownLoop) loop.close();
    throw err;
  }

  return {
    loop,
    listeners,
    addresses: listeners.map((l) => l.socket.localAddress() as InetAddress),
    lookup,
    prepare: () => (options.fixedReply !== undefined ? Promise.resolve() : lookup.prepare()),
    serveConnection(stream, onClose): Connection {
      stream.setNoDelay(true);
      return serveStream(loop, stream, onClose === undefined ? serveOptions : { ...serveOptions, onClose: (_ctx, err) => onClose(err) });
    },
    close(): void {
      for (const l of listeners) l.close();
      lookup.close();
      if (ownLoop) loop.close();
    },
  };
}
