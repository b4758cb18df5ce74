/**
 * IP addresses and CIDR blocks as integers, for policy matching on the data path.
 *
 * Parse once (at translation or policy compile time), compare 32-bit words at evaluation: an
 * IPv4 address is one word, an IPv6 address four words, most significant first. Parsing is
 * strict: no leading zeros in IPv4 octets, no zone ids, no hostnames. IPv4-mapped IPv6
 * addresses (`::ffff:1.2.3.4`) stay IPv6 when parsed; `unmapV4` folds them for connection
 * addresses, where Node.js reports dual-stack peers that way. Pure; no IO.
 */
import { type Result, ok, err } from "../result.js";

export type IpFamily = 4 | 6;

/** A parsed address. Invariant: `words.length` is 1 for IPv4 and 4 for IPv6, each an unsigned 32-bit value. */
export interface IpAddress {
  readonly family: IpFamily;
  readonly words: Uint32Array;
}

/** A network: its address with host bits cleared, and the prefix length. */
export interface Cidr {
  readonly family: IpFamily;
  readonly words: Uint32Array;
  readonly length: number;
}

const V6_GROUP = /^[0-9a-fA-F]{1,4}$/;

// Hand-rolled (no split/regex): connection addresses are parsed on every admission.
function parseV4Word(text: string): number | undefined {
  let word = 0;
  let octet = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 46 /* . */) {
      if (digits === 0 || dots === 3) return undefined;
      word = word * 256 + octet;
      octet = 0;
      digits = 0;
      dots++;
    } else if (c >= 48 && c <= 57) {
      if (digits > 0 && octet === 0) return undefined; // leading zero
      octet = octet * 10 + (c - 48);
      if (octet > 255) return undefined;
      digits++;
    } else return undefined;
  }
  if (dots !== 3 || digits === 0) return undefined;
  return (word * 256 + octet) >>> 0;
}

function parseV6(text: string): Uint32Array | undefined {
  if (text.length < 2 || text.includes("%")) return undefined;
  // An embedded IPv4 tail (`::ffff:1.2.3.4`) counts as two groups.
  let tail: number | undefined;
  let body = text;
  const lastColon = text.lastIndexOf(":");
  if (text.indexOf(".", lastColon) >= 0) {
    tail = parseV4Word(text.slice(lastColon + 1));
    if (tail === undefined) return undefined;
    body = text.slice(0, lastColon + 1) + "0:0";
  }
  const halves = body.split("::");
  if (halves.length > 2) return undefined;
  const head = halves[0] === "" ? [] : halves[0]!.split(":");
  const rest = halves.length === 2 ? (halves[1] === "" ? [] : halves[1]!.split(":")) : [];
  const groups = head.length + rest.length;
  if (halves.length === 1 ? groups !== 8 : groups > 7) return undefined;
  const all = [...head, ...new Array<string>(8 - groups).fill("0"), ...rest];
  const words = new Uint32Array(4);
  for (let i = 0; i < 8; i++) {
    const g = all[i]!;
    if (!V6_GROUP.test(g)) return undefined;
    words[i >> 1] = i % 2 === 0 ? parseInt(g, 16) * 0x10000 : words[i >> 1]! + parseInt(g, 16);
  }
  if (tail !== undefined) words[3] = tail;
  return words;
}

/** Parses a literal IPv4 or IPv6 address; undefined if `text` is not one. */
export function parseIp(text: string): IpAddress | undefined {
  if (text.includes(":")) {
    const words = parseV6(text);
    return words ? { family: 6, words } : undefined;
  }
  const w = parseV4Word(text);
  return w === undefined ? undefined : { family: 4, words: Uint32Array.of(w) };
}

/** `::ffff:a.b.c.d` -> `a.b.c.d`; anything else unchanged. */
export function unmapV4(ip: IpAddress): IpAddress {
  const w = ip.words;
  if (ip.family === 6 && w[0] === 0 && w[1] === 0 && w[2] === 0xffff) return { family: 4, words: Uint32Array.of(w[3]!) };
  return ip;
}

function maskWord(bits: number): number {
  if (bits <= 0) return 0;
  if (bits >= 32) return 0xffffffff;
  return (0xffffffff << (32 - bits)) >>> 0;
}

/**
 * Parses `ip` or `ip/len`. A bare address is a host network (/32 or /128). Host bits set
 * below the prefix (`10.0.0.1/8`) are cleared, as Envoy and Go's netip.Prefix.Masked do,
 * and reported through `hostBitsSet` so callers can warn.
 */
export function parseCidr(text: string): Result<Cidr & { readonly hostBitsSet: boolean }> {
  const slash = text.indexOf("/");
  const addrText = slash < 0 ? text : text.slice(0, slash);
  const ip = parseIp(addrText);
  if (!ip) return err(new Error(`${JSON.stringify(text)} is not an IP address or CIDR: bad address ${JSON.stringify(addrText)}`));
  const max = ip.family === 4 ? 32 : 128;
  let length = max;
  if (slash >= 0) {
    const lenText = text.slice(slash + 1);
    if (!/^(0|[1-9]\d{0,2})$/.test(lenText) || Number(lenText) > max) {
      return err(new Error(`${JSON.stringify(text)} is not a valid CIDR: prefix length ${JSON.stringify(lenText)} must be 0-${max}`));
    }
    length = Number(lenText);
  }
  const words = new Uint32Array(ip.words.length);
  let hostBitsSet = false;
  for (let i = 0; i < words.length; i++) {
    const m = maskWord(length - i * 32);
    words[i] = (ip.words[i]! & m) >>> 0;
    if (words[i] !== ip.words[i]) hostBitsSet = true;
  }
  return ok({ family: ip.family, words, length, hostBitsSet });
}

/** Whether `ip` lies in `cidr`. Different families never match (unmap connection addresses first). */
export function cidrContains(cidr: Cidr, ip: IpAddress): boolean {
  if (cidr.family !== ip.family) return false;
  const n = cidr.words.length;
  for (let i = 0; i < n; i++) {
    const bits = cidr.length - i * 32;
    if (bits <= 0) return true;
    if ((ip.words[i]! & maskWord(bits)) >>> 0 !== cidr.words[i]) return false;
  }
  return true;
}

/** Canonical text: dotted quad, or RFC 5952 IPv6 (lower case, longest zero run compressed). */
export function formatIp(ip: IpAddress): string {
  if (ip.family === 4) {
    const w = ip.words[0]!;
    return `${w >>> 24}.${(w >>> 16) & 255}.${(w >>> 8) & 255}.${w & 255}`;
  }
  const groups: number[] = [];
  for (const w of ip.words) groups.push(w >>> 16, w & 0xffff);
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (gs: number[]) => gs.map((g) => g.toString(16)).join(":");
  if (bestStart < 0) return hex(groups);
  return `${hex(groups.slice(0, bestStart))}::${hex(groups.slice(bestStart + bestLen))}`;
}

export function formatCidr(c: Cidr): string {
  return `${formatIp({ family: c.family, words: c.words })}/${c.length}`;
}

/** Network-order bytes (4 or 16), as `istio.security.Address.address` carries them. */
export function ipToBytes(ip: IpAddress): Uint8Array {
  const out = new Uint8Array(ip.words.length * 4);
  ip.words.forEach((w, i) => {
    out[i * 4] = w >>> 24;
    out[i * 4 + 1] = (w >>> 16) & 255;
    out[i * 4 + 2] = (w >>> 8) & 255;
    out[i * 4 + 3] = w & 255;
  });
  return out;
}

/** The inverse of ipToBytes; undefined unless exactly 4 or 16 bytes. */
export function ipFromBytes(bytes: Uint8Array): IpAddress | undefined {
  if (bytes.length !== 4 && bytes.length !== 16) return undefined;
  const words = new Uint32Array(bytes.length / 4);
  for (let i = 0; i < words.length; i++) {
    words[i] = ((bytes[i * 4]! << 24) | (bytes[i * 4 + 1]! << 16) | (bytes[i * 4 + 2]! << 8) | bytes[i * 4 + 3]!) >>> 0;
  }
  return { family: bytes.length === 4 ? 4 : 6, words };
}
