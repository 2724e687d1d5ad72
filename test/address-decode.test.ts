/**
 * decodeSlot reads IPv4 addresses in the scratch slot itself, in
 * JavaScript; these tests hold it to what the native decoder says.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { native } from '../src/native';
import { decodeSlot, encodeInet, newSlot, scratchSlot } from '../src/net/address';
import { runCleanups } from './cleanup';
import { pair, waitReadable } from './poll-fixtures';

/** What the native decoder gives for `host:port`, in decodeSlot's shape. */
function nativeDecoded(host: string, port: number): unknown {
  const d = native.decodeAddress(encodeInet({ host, port }, newSlot()).slot);
  return { family: d.family, address: d.address, port: d.port };
}

describe('decodeSlot on the scratch slot', () => {
  for (const [host, port] of [
    ['0.0.0.0', 0],
    ['127.0.0.1', 113],
    ['10.1.2.3', 1],
    ['255.255.255.255', 65535],
    ['192.168.200.7', 0x8001],
  ] as const) {
    it(`IPv4 ${host}:${port} matches the native decoder`, () => {
      const slot = encodeInet({ host, port }, scratchSlot()).slot;
      expect(decodeSlot(slot)).toEqual(nativeDecoded(host, port));
    });
  }

  it('IPv6 in the scratch slot still goes through the native decoder', () => {
    const slot = encodeInet({ host: '::1', port: 443 }, scratchSlot()).slot;
    expect(decodeSlot(slot)).toEqual({ family: 'IPv6', address: '::1', port: 443 });
  });

  it('an IPv4 address in a slot of its own decodes the same', () => {
    const slot = encodeInet({ host: '10.0.0.9', port: 4000 }).slot;
    expect(decodeSlot(slot)).toEqual({ family: 'IPv4', address: '10.0.0.9', port: 4000 });
  });
});

describe('a slot that recvFrom filled with no address', () => {
  afterEach(runCleanups);

  it('recvFrom on a connected TCP stream leaves a slot that decodes as null, not as an unnamed Unix peer', () => {
    const { client, server } = pair();
    expect(native.write(client.fd, Buffer.from('x'), 0, 1)).toBe(1);
    waitReadable(server);
    // An address already in the slot must not survive either.
    const slot = encodeInet({ host: '10.0.0.9', port: 4000 }).slot;
    expect(native.recvFrom(server.fd, Buffer.alloc(4), 0, 4, slot)).toBe(1);
    expect(native.decodeAddress(slot)).toBeNull();
  });
});
