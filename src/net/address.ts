/**
 * Socket addresses: parsing, and the native "address slot" they travel in.
 *
 * @packageDocumentation
 */
import { SysError, codedError } from '../errors';
import { native } from '../native';

/** An IPv4 or IPv6 socket address. */
export interface InetAddress {
  /** `'IPv4'` or `'IPv6'`. */
  readonly family: 'IPv4' | 'IPv6';
  /** Numeric host, e.g. `'127.0.0.1'` or `'::1'`. */
  readonly address: string;
  /** Port, 0..65535. */
  readonly port: number;
}

/** A Unix-domain socket address. */
export interface UnixAddress {
  /** Always `'unix'`. */
  readonly family: 'unix';
  /** The filesystem path or abstract name; `''` for an unnamed socket. */
  readonly path: string;
  /** True for a Linux abstract name (no file on disk). */
  readonly abstract: boolean;
}

/**
 * Where an inet socket binds or connects: `'127.0.0.1:8080'`, `'[::1]:80'`,
 * `{ host, port }`, or an {@link InetAddress}. Hosts are numeric; the one
 * name accepted is `localhost`, meaning 127.0.0.1 (name resolution can block
 * and belongs to the caller).
 */
export type InetAddressLike =
  | string
  | {
      /** Numeric host (or `localhost`). */
      host?: string;
      /** Same as host, as InetAddress spells it. */
      address?: string;
      /** Port, 0..65535 (0: pick a free one when binding). */
      port: number;
    }
  | InetAddress;

/**
 * Where a Unix socket binds or connects: a path, a string starting with NUL
 * for a Linux abstract name (`'\0name'`, as Node spells it), or
 * `{ path, abstract }`.
 */
export type UnixAddressLike =
  | string
  | Buffer
  | {
      /** The path, or the abstract name. */
      path: string | Buffer;
      /** True for a Linux abstract name. */
      abstract?: boolean;
    };

const SLOT_SIZE = native.constants.SLOT_SIZE;

/**
 * A fresh, 8-byte aligned address slot.
 *
 * @internal
 */
export function newSlot(): Uint8Array {
  return new Uint8Array(new ArrayBuffer(SLOT_SIZE));
}

function badAddress(what: string): TypeError {
  return codedError(TypeError, 'ERR_INVALID_ADDRESS', `invalid address: ${what}`);
}

/** A NUL byte cuts a C string short, so no host may contain one. */
function hasNul(what: string): TypeError {
  return badAddress(`${JSON.stringify(what)} contains a NUL byte`);
}

function checkPort(port: unknown, what: string): number {
  if (typeof port === 'string' && /^\d{1,5}$/.test(port)) port = Number(port);
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new RangeError(`port must be an integer in 0..65535 (${what})`);
  }
  return port;
}

/**
 * Parses an inet address into host and port without encoding it.
 *
 * @internal
 */
export function parseInet(addr: InetAddressLike): { host: string; port: number } {
  if (typeof addr === 'string') {
    // Refused by name before splitting: the NUL would otherwise surface as a
    // puzzling host:port complaint, or as a host the native side refuses.
    if (addr.includes('\0')) throw hasNul(addr);
    const bracketed = /^\[([^\]]+)\]:(\d+)$/.exec(addr);
    if (bracketed) return { host: bracketed[1], port: checkPort(bracketed[2], addr) };
    const colon = addr.lastIndexOf(':');
    if (colon <= 0 || addr.indexOf(':') !== colon) throw badAddress(`${addr} (expected host:port or [v6]:port)`);
    return { host: addr.slice(0, colon), port: checkPort(addr.slice(colon + 1), addr) };
  }
  if (typeof addr !== 'object' || addr === null) throw badAddress(String(addr));
  const host = 'host' in addr && addr.host !== undefined ? addr.host : addr.address;
  if (typeof host !== 'string') throw badAddress('host must be a string');
  if (host.includes('\0')) throw hasNul(host);
  return { host, port: checkPort(addr.port, host) };
}

const scratch = newSlot();
/** The scratch slot's length word and, on Linux, its sockaddr's family. */
const scratchLength = new Uint32Array(scratch.buffer, 0, 1);
const scratchFamily = new Uint16Array(scratch.buffer, native.constants.SLOT_HEADER, 1);
const SOCKADDR = native.constants.SLOT_HEADER;
const AF_INET = native.constants.AF_INET;
/** The BSDs' sockaddr_in starts with a length byte, then the family byte. */
const BSD_SOCKADDR = process.platform !== 'linux';
/** sizeof(struct sockaddr_in). */
const SOCKADDR_IN_SIZE = 16;

/**
 * A slot shared by calls that hand it to the kernel and decode it at once
 * (getsockname, getpeername): an ArrayBuffer per call would cost more than
 * the syscall. Valid until the next call.
 *
 * @internal
 */
export function scratchSlot(): Uint8Array {
  return scratch;
}

/**
 * Encodes an inet address into `slot` (a new one by default).
 *
 * @internal
 */
export function encodeInet(
  addr: InetAddressLike,
  slot: Uint8Array = newSlot(),
): { slot: Uint8Array; host: string; port: number; family: number } {
  const { host, port } = parseInet(addr);
  const numeric = host === 'localhost' ? '127.0.0.1' : host;
  const r = native.encodeInet(numeric, port, slot);
  if (r < 0) throw badAddress(`${host} is not a numeric IPv4 or IPv6 address`);
  // Sound only because the native side parsed the whole string (it refuses
  // a NUL, which would hide a tail): numeric IPv4 never has a colon, IPv6
  // always does.
  const family = numeric.includes(':') ? native.constants.AF_INET6 : native.constants.AF_INET;
  return { slot, host: numeric, port, family };
}

/**
 * Encodes a Unix address into a new slot.
 *
 * @internal
 */
export function encodeUnix(addr: UnixAddressLike, syscall = 'bind'): { slot: Uint8Array; display: string } {
  let path: Buffer;
  let abstract = false;
  if (typeof addr === 'string') {
    abstract = addr.startsWith('\0');
    path = Buffer.from(abstract ? addr.slice(1) : addr);
  } else if (Buffer.isBuffer(addr)) {
    abstract = addr.length > 0 && addr[0] === 0;
    path = abstract ? addr.subarray(1) : addr;
  } else if (typeof addr === 'object' && addr !== null && (typeof addr.path === 'string' || Buffer.isBuffer(addr.path))) {
    abstract = addr.abstract === true;
    path = Buffer.from(addr.path);
  } else {
    throw badAddress('expected a path string, Buffer or { path, abstract }');
  }
  if (!abstract && path.length === 0) throw badAddress('empty Unix socket path');
  const slot = newSlot();
  const r = native.encodeUnix(path, abstract, slot);
  if (r < 0) throw new SysError(r, syscall, (abstract ? '@' : '') + path.toString());
  return { slot, display: (abstract ? '@' : '') + path.toString() };
}

/**
 * Decodes a slot written by the kernel. Throws a TypeError for a slot that
 * holds no address (recvFrom on a socket that names no sender, such as a
 * connected stream) or one of a family other than inet and Unix.
 *
 * @internal
 */
export function decodeSlot(slot: Uint8Array): InetAddress | UnixAddress {
  // IPv4 in the scratch slot (every getsockname/getpeername) is read here:
  // the native decoder's object with named properties costs more than
  // the syscall that filled the slot.
  if (slot === scratch && scratchLength[0] >= SOCKADDR_IN_SIZE) {
    const family = BSD_SOCKADDR ? slot[SOCKADDR + 1] : scratchFamily[0];
    if (family === AF_INET) {
      const a = SOCKADDR + 4;
      return {
        family: 'IPv4',
        address: `${slot[a]}.${slot[a + 1]}.${slot[a + 2]}.${slot[a + 3]}`,
        port: (slot[SOCKADDR + 2] << 8) | slot[SOCKADDR + 3],
      };
    }
  }
  const decoded = native.decodeAddress(slot);
  if (decoded === null) throw new TypeError('no address, or an unsupported address family');
  if (decoded.family === 'unix') {
    return { family: 'unix', path: decoded.path.toString(), abstract: decoded.abstract };
  }
  return { family: decoded.family, address: decoded.address, port: decoded.port };
}

/** Formats an address as `host:port`, `[v6]:port` or a path. */
export function formatAddress(addr: InetAddress | UnixAddress): string {
  if (addr.family === 'unix') return addr.abstract ? `@${addr.path}` : addr.path;
  return addr.family === 'IPv6' ? `[${addr.address}]:${addr.port}` : `${addr.address}:${addr.port}`;
}
