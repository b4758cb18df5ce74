/**
 * IP addresses as xDS carries them (4 or 16 raw bytes) and as the domain holds them
 * (canonical text: dotted IPv4, lower-case RFC 5952 IPv6, IPv4-mapped IPv6 folded to IPv4 like
 * src/common/net/addr.ts canonicalIp). Text wrappers over src/common/net/ip.ts, which owns the
 * parsing and formatting. Pure.
 */
import { formatIp, ipFromBytes as addressFromBytes, ipToBytes as addressToBytes, parseIp, unmapV4 } from "../net/ip.js";

/** Canonical text of 4 or 16 address bytes; undefined for any other length. */
export function ipFromBytes(b: Uint8Array): string | undefined {
  const ip = addressFromBytes(b);
  return ip && formatIp(unmapV4(ip));
}

/** Raw bytes of an IPv4 or IPv6 text address; undefined if `text` is not an IP. */
export function ipToBytes(text: string): Uint8Array | undefined {
  const ip = parseIp(text);
  return ip && addressToBytes(ip);
}
