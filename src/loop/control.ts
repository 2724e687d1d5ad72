/**
 * The loop's own interest changes, made straight on the native poll.
 *
 * @packageDocumentation
 */
import { SysError } from '../errors';
import { PollOpt } from '../interest';
import type { NativePoll } from '../native';
import type { Poll } from '../poll';
import type { Evented } from '../source';

/**
 * Arms and disarms the sockets the loop registered itself (connections,
 * listeners). Tokens come from
 * the loop's registry and interest sets from the connection's own state, so
 * they are valid by construction: unlike the public {@link Poll.register},
 * nothing is re-validated per call. Always level-triggered.
 *
 * @internal
 */
export class InterestControl {
  private readonly native: NativePoll;

  /** @param poll - the loop's Poll, open; its native handle is taken once */
  constructor(private readonly poll: Poll) {
    this.native = poll.native;
  }

  /**
   * Moves `socket` from interest `from` to `to` (0 meaning not registered):
   * one register, reregister or deregister call.
   *
   * @throws SysError when the kernel refuses (a closed or foreign fd)
   */
  change(socket: Evented, token: number, from: number, to: number): void {
    const fd = socket.fd;
    if (to === 0) {
      const r = this.native.deregister(fd);
      this.poll.untrackSource(socket);
      if (r < 0) throw new SysError(r, 'deregister');
      return;
    }
    if (from === 0) {
      const r = this.native.register(fd, token, to, PollOpt.LEVEL);
      if (r < 0) throw new SysError(r, 'register');
      this.poll.trackSource(socket);
      return;
    }
    const r = this.native.reregister(fd, token, to, PollOpt.LEVEL);
    if (r < 0) throw new SysError(r, 'reregister');
  }
}
