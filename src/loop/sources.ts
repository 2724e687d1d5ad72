/**
 * Raw sources: any fd the user registers with the loop, delivered as
 * readiness to its handler.
 *
 * @packageDocumentation
 */
import type { Source } from '../source';
import type { LoopCore } from './core';
import type { SourceHandler, SourceRegistration } from './types';

/** Slab entry kind of a raw source. @internal */
export const KIND_SOURCE = 2;

/** A raw source as the registry holds it. @internal */
export interface SourceEntry extends SourceRegistration {
  readonly kind: typeof KIND_SOURCE;
  readonly handler: SourceHandler;
}

/** Registers `source` through the public Poll (user input is validated). @internal */
export function addSource(core: LoopCore, source: Source, handler: SourceHandler, interest: number, opts?: number): SourceRegistration {
  const entry: SourceEntry = {
    kind: KIND_SOURCE,
    token: core.registry.nextToken(),
    source,
    handler,
    reregister(newInterest: number, newOpts?: number): void {
      core.poll.reregister(source, entry.token, newInterest, newOpts);
    },
    deregister(): void {
      if (!core.registry.holds(entry)) return;
      core.poll.deregister(source);
      core.registry.remove(entry);
    },
  };
  core.poll.register(source, entry.token, interest, opts);
  core.registry.insert(entry);
  return entry;
}

/** Calls a source's handler; what it throws is reported, not fatal. @internal */
export function sourceEvent(core: LoopCore, entry: SourceEntry, readiness: number): void {
  try {
    entry.handler.onReady(entry, readiness);
  } catch (err) {
    core.reportHandlerError(err);
  }
}

/** Takes a source off the loop at close, closing it when it can be. @internal */
export function closeSource(core: LoopCore, entry: SourceEntry): void {
  core.registry.remove(entry);
  const source = entry.source;
  if (typeof source === 'object' && 'close' in source && typeof source.close === 'function') {
    (source as { close(): void }).close();
  }
}
