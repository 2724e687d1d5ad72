/**
 * Rule resolution for the ident daemon: which system rule applies to a
 * user, whether a user file's answer is within that rule's powers, and
 * the user id an answer sends.
 *
 * @packageDocumentation
 */
import { randomBytes } from 'node:crypto';
import type { EventLoop } from '../event-loop';
import type { Pending } from '../pending';
import type { IdentAction, IdentPower, SystemConfig } from './config';

/** The owner of the connection asked about. */
export interface RuleOwner {
  /** Its uid. */
  uid: number;
  /** Its user name, or null when the system has none for the uid. */
  name: string | null;
}

/** The rule in force for one user, after `user` rules inherit from `default`. */
export interface SystemRule {
  /** How the config names it in logs: 'default', 'user alice' or 'user 1001'. */
  label: string;
  /** The answer when the user's file does not choose one. */
  answer: IdentAction;
  /** The answers the user's file may choose; none means the file is not read. */
  powers: ReadonlySet<IdentPower>;
}

/** A connection's owner and how the rules answered for it, as logs see it. */
export interface RuledOwner extends RuleOwner {
  /** The rules' answer. */
  answer: IdentAnswer;
}

/** How a query about a user's connection is answered. */
export interface IdentAnswer {
  /** The user id to send, or null for ERROR : HIDDEN-USER. */
  userId: string | null;
  /** The kind of answer. */
  action: IdentPower;
  /** Whether the system rule chose it or the user's own file. */
  source: 'system' | 'user';
}

/**
 * What the ident server asks, once it knows a connection's owner, when it
 * has rules (`IdentServerOptions.rules`). `loop` is the server's loop, for
 * work that must not block it.
 */
export interface AnswerRules {
  /** The answer for a connection owned by `owner`. */
  answer(owner: RuleOwner, loop: EventLoop): IdentAnswer | Pending<IdentAnswer>;
}

/** Length of a `random` answer: 16 base32 characters, 80 random bits. */
export const RANDOM_ID_LENGTH = 16;

const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567';

/**
 * A new random user id: {@link RANDOM_ID_LENGTH} characters of lowercase
 * RFC 4648 base32 from the system's CSPRNG, so it says nothing about the
 * user and one query's answer does not predict the next.
 */
export function randomId(): string {
  const bytes = randomBytes((RANDOM_ID_LENGTH * 5) / 8);
  let out = '';
  let bits = 0;
  let acc = 0;
  for (const b of bytes) {
    acc = (acc << 8) | b;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out += BASE32[(acc >> bits) & 31];
    }
    acc &= (1 << bits) - 1;
  }
  return out;
}

/**
 * The rule for `uid` (named `name`): its `user UID` rule if there is one,
 * else its `user NAME` rule, else the default. A user rule inherits the
 * default's answer unless it sets one, and its powers are the default's
 * plus its own `allow`s minus its `deny`s.
 */
export function systemRule(config: SystemConfig, uid: number, name: string | null): SystemRule {
  const byUid = config.byUid.get(uid);
  const spec = byUid ?? (name === null ? undefined : config.byName.get(name));
  const defaults = config.defaults;
  if (spec === undefined) {
    return { label: 'default', answer: defaults.answer ?? { type: 'name' }, powers: new Set(defaults.allow) };
  }
  const powers = new Set([...defaults.allow, ...spec.allow]);
  for (const p of spec.deny) powers.delete(p);
  return {
    label: byUid !== undefined ? `user ${uid}` : `user ${name}`,
    answer: spec.answer ?? defaults.answer ?? { type: 'name' },
    powers,
  };
}

/** Whether `rule` lets the user's file choose `action`. */
export function permits(rule: SystemRule, action: IdentAction): boolean {
  return rule.powers.has(action.type);
}

/** The answer `action` gives for `owner`; `random` draws a new id each call. */
export function render(action: IdentAction, owner: RuleOwner, source: IdentAnswer['source']): IdentAnswer {
  const userId =
    action.type === 'name'
      ? (owner.name ?? String(owner.uid))
      : action.type === 'numeric'
        ? String(owner.uid)
        : action.type === 'random'
          ? randomId()
          : action.type === 'reply'
            ? action.userId
            : null;
  return { userId, action: action.type, source };
}
