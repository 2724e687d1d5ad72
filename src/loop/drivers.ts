/**
 * The two ways to drive a loop, blocking run() and Node-integrated
 * attach(), and the batch walk both share.
 *
 * @packageDocumentation
 */
import { isMainThread } from 'node:worker_threads';
import { KIND_CONNECTION } from '../connection';
import { check } from '../errors';
import { Interest, PollOpt } from '../interest';
import { native } from '../native';
import { KIND_LISTENER, acceptAll, acceptRecord } from './accept';
import type { LoopCore } from './core';
import { READINESS_MASK, RECORD_WORDS, REC_ACCEPT, REC_ERROR } from './pump';
import { NODE_LOOP_TOKEN, WAKER_TOKEN } from './registry';
import { sourceEvent } from './sources';

/** Zero-timeout polls per attach() wake-up before Node gets the thread back. */
const ATTACH_BATCHES = 64;

/**
 * Drives one loop's pump: one native call per turn (send the corked
 * writes, wait, read), then the batch clock, each record to its
 * registration, and due timers, with writes corked until the next call.
 *
 * @internal
 */
export class Drivers {
  private referenced = true;
  private readonly onUvReady = (): void => this.drainAttached();

  constructor(private readonly core: LoopCore) {}

  /** Blocks on the loop until a stop is requested. */
  run(): void {
    const core = this.core;
    core.checkIdle('run()');
    core.state = 'running';
    // In a worker, Node ends the thread (worker.terminate(), process.exit())
    // by signalling the worker's libuv loop and interrupting JavaScript; a
    // wait that never returns to libuv would hang the process. Watching that
    // loop's fd wakes the wait, and the interrupt then ends run().
    const nodeLoopFd = isMainThread ? -1 : native.uvBackendFd();
    if (nodeLoopFd >= 0) core.poll.register(nodeLoopFd, NODE_LOOP_TOKEN, Interest.READABLE, PollOpt.EDGE);
    try {
      while (Atomics.load(core.control, 0) === 0) this.once(core.timers.timeout());
    } finally {
      if (core.poll.isOpen) core.pump.flush();
      if (nodeLoopFd >= 0 && core.poll.isOpen) core.poll.deregister(nodeLoopFd);
      Atomics.store(core.control, 0, 0);
      if (core.state === 'running') core.state = 'idle';
    }
  }

  /** One poll, waiting at most `timeoutMs` (-1: until an event or timer). */
  turn(timeoutMs: number): number {
    this.core.checkIdle('turn()');
    let timeout = timeoutMs;
    const untilTimer = this.core.timers.timeout();
    if (untilTimer >= 0 && (timeout < 0 || untilTimer < timeout)) timeout = untilTimer;
    const n = this.once(timeout);
    if (this.core.poll.isOpen) this.core.pump.flush();
    return n;
  }

  /** Starts watching the Poll's fd from Node's own loop. */
  attach(): void {
    const core = this.core;
    core.checkIdle('attach()');
    core.pump.setAttached(true);
    const started = core.poll.native.attach(this.onUvReady, this);
    if (started < 0) core.pump.setAttached(false);
    check(started, 'uv_poll_start');
    core.state = 'attached';
    if (!this.referenced) core.poll.native.unref();
    core.timers.setAttached(true);
  }

  /** Undoes {@link attach}. */
  detach(): void {
    const core = this.core;
    if (core.state !== 'attached') return;
    core.poll.native.detach();
    if (core.poll.isOpen) core.pump.setAttached(false);
    core.state = 'idle';
    core.timers.setAttached(false);
  }

  /** Whether the attached loop keeps the process alive. */
  setReferenced(on: boolean): void {
    this.referenced = on;
    const core = this.core;
    if (core.state === 'attached') {
      if (on) core.poll.native.ref();
      else core.poll.native.unref();
    }
    core.timers.setReferenced(on);
  }

  /** One native turn, its records and due timers; the writes they make stay corked. */
  private once(timeout: number): number {
    const core = this.core;
    const end = core.pump.turn(timeout);
    core.stampBatch();
    core.pump.corking = true;
    try {
      this.dispatch(core.pump.eventStart, end);
      core.timers.runDue();
    } finally {
      core.pump.corking = false;
    }
    return end - core.pump.eventStart;
  }

  private drainAttached(): void {
    const core = this.core;
    if (core.state !== 'attached') return;
    const pump = core.pump;
    for (let batch = 0; batch < ATTACH_BATCHES && core.state === 'attached'; batch++) {
      const end = pump.turn(0);
      core.stampBatch();
      pump.corking = true;
      try {
        this.dispatch(pump.eventStart, end);
      } finally {
        pump.corking = false;
      }
      if (end - pump.eventStart < pump.eventsCapacity) break;
    }
    if (!core.poll.isOpen) return; // a handler closed the loop
    pump.corking = true;
    try {
      core.timers.runDue();
    } finally {
      pump.corking = false;
    }
    pump.flush();
    core.timers.armNodeTimer();
  }

  /** Hands each of the turn's event records to its live registration. */
  private dispatch(start: number, end: number): void {
    const core = this.core;
    const records = core.pump.records;
    const arena = core.pump.readArena;
    for (let i = start; i < end; i++) {
      const r = i * RECORD_WORDS;
      const token = records[r];
      const flags = records[r + 1];
      if (token === WAKER_TOKEN) {
        core.runWakeHooks();
        continue;
      }
      if (token === NODE_LOOP_TOKEN) continue;
      // Stale (closed earlier in this batch, maybe reused since): dropped.
      const entry = core.registry.lookup(token);
      if (entry === undefined) {
        // A ring accept for a listener closed earlier in this batch: nobody takes it.
        if ((flags & (REC_ACCEPT | REC_ERROR)) === REC_ACCEPT) native.close(records[r + 2]);
        continue;
      }
      if (entry.kind === KIND_CONNECTION) entry.onRecord(flags, arena, records[r + 2], records[r + 3], records[r + 4]);
      else if (entry.kind === KIND_LISTENER) {
        if ((flags & REC_ACCEPT) !== 0) acceptRecord(core, entry, flags, records[r + 2], records[r + 4]);
        else acceptAll(core, entry);
      } else sourceEvent(core, entry, flags & READINESS_MASK);
    }
  }
}
