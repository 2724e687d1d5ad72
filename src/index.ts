/**
 * edgeloop: a readiness Poll over epoll/kqueue and non-blocking sockets that
 * bypass libuv's stream machinery.
 *
 * @packageDocumentation
 */
import { native } from './native';

export { SysError, WOULD_BLOCK, isWouldBlock, type WouldBlock } from './errors';
export { Events, MAX_EVENTS_CAPACITY } from './events';
export { Interest, MAX_TOKEN, PollOpt, Ready } from './interest';
export { Poll } from './poll';
export type { Evented, Source } from './source';
export { RemoteWaker, Waker, type Wakeable, type WakerHandle } from './waker';
export * from './net/index';

/** The readiness backend compiled into this build: `'epoll'` or `'kqueue'`. */
export const backend: 'epoll' | 'kqueue' = native.backend;
export {
  ioUringUnavailableReason,
  type BackendName,
  type BackendOption,
  type IoUringUnavailableError,
} from './loop/backend';
export { Slab, type VacantEntry } from './slab';
export { Connection, DEFAULT_HIGH_WATER_MARK, type ConnectionHandler } from './connection';
export {
  EventLoop,
  MAX_REGISTRATIONS,
  type EventLoopOptions,
  type HandlerFactory,
  type ListenOptions,
  type LoopHandle,
  type LoopListener,
  type LoopState,
  type SourceHandler,
  type SourceRegistration,
} from './event-loop';
export { DEFAULT_LOOP_WORKER_LIMITS, LoopWorkers, runLoopInWorker, type LoopWorkersOptions } from './workers';
export { Pending } from './pending';
export * from './service/index';
export { BlockingPool, PoolError, type BlockingTask, type PoolOptions } from './pool';
export { createEchoServer, type EchoServer, type EchoServerOptions, type EchoStats } from './echo/server';
export {
  createIdentServer,
  DEFAULT_IDLE_TIMEOUT_MS,
  MAX_QUERY_LENGTH,
  type IdentLogEntry,
  type IdentServer,
  type IdentServerOptions,
} from './ident/server';
export { OwnerLookup, type ConnectionTuple, type OwnerLookupOptions } from './ident/lookup';
export type { Owner } from './ident/tasks';
export { parseQuery, userReply, errorReply, type IdentError, type IdentQuery, type BadQuery } from './ident/protocol';
export { IdentRules, USER_FILE_TIMEOUT_MS, type IdentRulesOptions } from './ident/policy';
export { RANDOM_ID_LENGTH, type AnswerRules, type IdentAnswer, type RuleOwner, type RuledOwner } from './ident/rules';
export {
  parseSystemConfig,
  readSystemConfig,
  type IdentAction,
  type IdentPower,
  type RuleSpec,
  type SystemConfig,
} from './ident/config';
export { ConfigError } from './ident/config-line';
export { USER_FILE_NAME, type UserFileRead } from './ident/user-file';
