/**
 * onceWriter (src/cli/once.ts): the daemon's error log writes a cause once,
 * however many queries it fails.
 */
import { describe, expect, it } from 'vitest';
import { onceWriter } from '../src/cli/once';

describe('onceWriter', () => {
  it('writes a message the first time only', () => {
    const out: string[] = [];
    const write = onceWriter((m) => out.push(m));
    write('worker could not start');
    write('worker could not start');
    expect(out).toEqual(['worker could not start']);
  });

  it('writes each different message', () => {
    const out: string[] = [];
    const write = onceWriter((m) => out.push(m));
    write('a');
    write('b');
    write('a');
    expect(out).toEqual(['a', 'b']);
  });

  it('keeps writing new messages once it remembers `limit` of them', () => {
    const out: string[] = [];
    const write = onceWriter((m) => out.push(m), 1);
    write('a');
    write('b');
    write('b');
    write('a');
    expect(out).toEqual(['a', 'b', 'b']);
  });
});
