/**
 * Socket address helpers shared by ztunnel's listeners and routing: canonical IP text
 * (IPv4-mapped IPv6 folded to IPv4, IPv6 in RFC 5952 form), and `host:port` authorities as HBONE
 * writes them (`10.0.0.1:8080`, `[fd00::1]:8080`, upstream ztunnel's format). Pure.
 *
 * Invariant: every address weft indexes or compares (workload and service addresses, a
 * connection's local and peer address, an HBONE authority) goes through `canonicalIp`, so
 * `fd00:0:0::1`, `FD00::1` and a socket's `fd00::1` are one key.
 */
import { isIP } from "node:net";
import { type Result, ok, err } from "../result.js";
import { formatIp, parseIp, unmapV4 } from "./ip.js";

/** Canonical text form of an IP: `::ffff:1.2.3.4` -> `1.2.3.4`, IPv6 per RFC 5952. Undefined if not an IP. */
export function canonicalIp(ip: string | undefined): string | undefined {
  if (!ip) return undefined;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  const v = mapped ? mapped[1]! : ip;
  const family = isIP(v);
  if (family === 4) return v;
  if (family !== 6) return undefined;
  // Zone ids (`fe80::1%eth0`) are not workload addresses: parseIp refuses them.
  const parsed = parseIp(v);
  return parsed ? formatIp(unmapV4(parsed)) : undefined;
}

/** Whether two canonical IPs are of one family (a socket can only bind a source of the destination's family). */
export function sameFamily(a: string, b: string): boolean {
  return a.includes(":") === b.includes(":");
}

/** The wildcard address of `ip`'s family: `::` for IPv6, `0.0.0.0` for IPv4. */
export function wildcardFor(ip: string): string {
  return ip.includes(":") ? "::" : "0.0.0.0";
}

export interface SocketAddress {
  readonly ip: string;
  readonly port: number;
}

export function formatAddress(a: SocketAddress): string {
  return a.ip.includes(":") ? `[${a.ip}]:${a.port}` : `${a.ip}:${a.port}`;
}

/**
 * Parses `ip:port` or `[ipv6]:port`. Hostnames are not accepted: HBONE authorities and
 * listener addresses in weft are always literal IPs.
 */
export function parseAddress(text: string): Result<SocketAddress> {
  let host: string;
  let portText: string;
  if (text.startsWith("[")) {
    const close = text.indexOf("]");
    if (close < 0 || text[close + 1] !== ":") return err(new Error(`address ${JSON.stringify(text)}: expected [ipv6]:port`));
    host = text.slice(1, close);
    portText = text.slice(close + 2);
  } else {
    const colon = text.lastIndexOf(":");
    if (colon < 0) return err(new Error(`address ${JSON.stringify(text)}: missing port`));
    host = text.slice(0, colon);
    portText = text.slice(colon + 1);
    if (host.includes(":")) return err(new Error(`address ${JSON.stringify(text)}: IPv6 must be bracketed`));
  }
  const ip = canonicalIp(host);
  if (!ip || (text.startsWith("[") && isIP(host) !== 6))
    return err(new Error(`address ${JSON.stringify(text)}: ${JSON.stringify(host)} is not an IP address`));
  if (!/^\d{1,5}$/.test(portText)) return err(new Error(`address ${JSON.stringify(text)}: invalid port ${JSON.stringify(portText)}`));
  const port = Number(portText);
  if (port < 1 || port > 65535) return err(new Error(`address ${JSON.stringify(text)}: port ${port} out of range 1-65535`));
  return ok({ ip, port });
}
