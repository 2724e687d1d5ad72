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
import { KIND_LISTENER, acceptAll } from './accept';
import type { LoopCore } from './core';
import { NODE_LOOP_TOKEN, WAKER_TOKEN } from './registry';
import { sourceEvent } from './sources';

/** Zero-timeout polls per attach() wake-up before Node gets the thread back. */
const ATTACH_BATCHES = 64;

/**
 * Drives one loop's Poll: waits, stamps the batch clock, hands each event
 * to its registration, runs due timers.
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
    return this.once(timeout);
  }

  /** Starts watching the Poll's fd from Node's own loop. */
  attach(): void {
    const core = this.core;
    core.checkIdle('attach()');
    check(core.poll.native.attach(this.onUvReady, this), 'uv_poll_start');
    core.state = 'attached';
    if (!this.referenced) core.poll.native.unref();
    core.timers.setAttached(true);
  }

  /** Undoes {@link attach}. */
  detach(): void {
    const core = this.core;
    if (core.state !== 'attached') return;
    core.poll.native.detach();
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

  private once(timeout: number): number {
    const core = this.core;
    const n = core.poll.poll(core.events, timeout);
    core.batchTime = core.timers.now();
    this.dispatch(n);
    core.timers.runDue();
    return n;
  }

  private drainAttached(): void {
    const core = this.core;
    if (core.state !== 'attached') return;
    for (let batch = 0; batch < ATTACH_BATCHES && core.state === 'attached'; batch++) {
      const n = core.poll.poll(core.events, 0);
      core.batchTime = core.timers.now();
      this.dispatch(n);
      if (n < core.events.capacity) break;
    }
    core.timers.runDue();
    core.timers.armNodeTimer();
  }

  /** Hands each of the batch's events to its live registration. */
  private dispatch(n: number): void {
    const core = this.core;
    const storage = core.events.storage;
    for (let i = 0; i < n; i++) {
      const token = storage[i * 2];
      const readiness = storage[i * 2 + 1];
      if (token === WAKER_TOKEN) {
        core.runWakeHooks();
        continue;
      }
      if (token === NODE_LOOP_TOKEN) continue;
      // Stale (closed earlier in this batch, maybe reused since): dropped.
      const entry = core.registry.lookup(token);
      if (entry === undefined) continue;
      if (entry.kind === KIND_CONNECTION) entry.onEvent(readiness);
      else if (entry.kind === KIND_LISTENER) acceptAll(core, entry);
      else sourceEvent(core, entry, readiness);
    }
  }
}
