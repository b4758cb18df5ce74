/**
 * SOCKS5 (RFC 1928) framing for ztunnel's explicit outbound listener (127.0.0.1:15080 by
 * default): no-authentication method only, CONNECT only, IPv4 / IPv6 / domain-name targets.
 * Pure parsers over a byte buffer: each returns "need more bytes", a parsed value with the
 * number of bytes consumed, or a protocol error carrying the reply code to send.
 */
export const SOCKS_VERSION = 5;

export const Reply = {
  SUCCEEDED: 0x00,
  GENERAL_FAILURE: 0x01,
  NOT_ALLOWED: 0x02,
  NETWORK_UNREACHABLE: 0x03,
  HOST_UNREACHABLE: 0x04,
  CONNECTION_REFUSED: 0x05,
  COMMAND_NOT_SUPPORTED: 0x07,
  ADDRESS_TYPE_NOT_SUPPORTED: 0x08,
} as const;

export type Parse<T> =
  | { readonly state: "more" }
  | { readonly state: "done"; readonly value: T; readonly consumed: number }
  | { readonly state: "error"; readonly reason: string; readonly reply?: number };

const MORE = { state: "more" } as const;

/** Client greeting: VER NMETHODS METHODS... Succeeds only if "no authentication" (0) is offered. */
export function parseGreeting(buf: Buffer): Parse<{ methods: number[] }> {
  if (buf.length < 2) return MORE;
  if (buf[0] !== SOCKS_VERSION) return { state: "error", reason: `socks: unsupported version ${buf[0]}` };
  const n = buf[1]!;
  if (n === 0) return { state: "error", reason: "socks: greeting offers no methods" };
  if (buf.length < 2 + n) return MORE;
  const methods = [...buf.subarray(2, 2 + n)];
  if (!methods.includes(0)) return { state: "error", reason: "socks: client does not offer the no-authentication method" };
  return { state: "done", value: { methods }, consumed: 2 + n };
}

export type SocksTarget =
  | { readonly kind: "ip"; readonly ip: string; readonly port: number }
  | { readonly kind: "domain"; readonly host: string; readonly port: number };

/** Request: VER CMD RSV ATYP DST.ADDR DST.PORT. */
export function parseRequest(buf: Buffer): Parse<SocksTarget> {
  if (buf.length < 4) return MORE;
  if (buf[0] !== SOCKS_VERSION) return { state: "error", reason: `socks: unsupported version ${buf[0]}`, reply: Reply.GENERAL_FAILURE };
  if (buf[1] !== 1)
    return { state: "error", reason: `socks: command ${buf[1]} not supported (only CONNECT)`, reply: Reply.COMMAND_NOT_SUPPORTED };
  const atyp = buf[3];
  let offset = 4;
  let target: SocksTarget;
  if (atyp === 1) {
    if (buf.length < offset + 4 + 2) return MORE;
    const ip = [...buf.subarray(offset, offset + 4)].join(".");
    offset += 4;
    target = { kind: "ip", ip, port: buf.readUInt16BE(offset) };
  } else if (atyp === 4) {
    if (buf.length < offset + 16 + 2) return MORE;
    const groups: string[] = [];
    for (let i = 0; i < 8; i++) groups.push(buf.readUInt16BE(offset + i * 2).toString(16));
    offset += 16;
    target = { kind: "ip", ip: compressIpv6(groups), port: buf.readUInt16BE(offset) };
  } else if (atyp === 3) {
    if (buf.length < offset + 1) return MORE;
    const len = buf[offset]!;
    if (len === 0) return { state: "error", reason: "socks: empty domain name", reply: Reply.GENERAL_FAILURE };
    if (buf.length < offset + 1 + len + 2) return MORE;
    const host = buf.subarray(offset + 1, offset + 1 + len).toString("latin1");
    if (!/^[A-Za-z0-9._-]+$/.test(host))
      return { state: "error", reason: `socks: invalid domain name ${JSON.stringify(host)}`, reply: Reply.HOST_UNREACHABLE };
    offset += 1 + len;
    target = { kind: "domain", host: host.toLowerCase(), port: buf.readUInt16BE(offset) };
  } else {
    return { state: "error", reason: `socks: address type ${atyp} not supported`, reply: Reply.ADDRESS_TYPE_NOT_SUPPORTED };
  }
  offset += 2;
  if (target.port === 0) return { state: "error", reason: "socks: destination port 0", reply: Reply.GENERAL_FAILURE };
  return { state: "done", value: target, consumed: offset };
}

/** The method-selection answer: "no authentication required", or "no acceptable methods". */
export function greetingReply(accepted: boolean): Buffer {
  return Buffer.from([SOCKS_VERSION, accepted ? 0x00 : 0xff]);
}

/** A reply with an all-zero IPv4 bound address (clients ignore BND for CONNECT). */
export function requestReply(code: number): Buffer {
  return Buffer.from([SOCKS_VERSION, code, 0, 1, 0, 0, 0, 0, 0, 0]);
}

function compressIpv6(groups: string[]): string {
  // Longest run of zero groups (length >= 2) becomes "::", as RFC 5952 asks.
  let best = -1,
    bestLen = 0;
  for (let i = 0; i < groups.length;) {
    if (groups[i] !== "0") {
      i++;
      continue;
    }
    let j = i;
    while (j < groups.length && groups[j] === "0") j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (bestLen < 2) return groups.join(":");
  return `${groups.slice(0, best).join(":")}::${groups.slice(best + bestLen).join(":")}`;
}
