/**
 * Byte layouts of the eBPF backend's maps, kept in sync with bpf/config.h: keys and values as
 * the kernel stores them, for the addon's bpf() calls. Pure.
 */
import { isIPv4, isIPv6 } from "node:net";
import { formatIp, ipFromBytes, ipToBytes, parseIp } from "../common/net/ip.js";
import type { NodeCapture } from "./backend.js";

export const CONFIG_VALUE_SIZE = 48;
export const ENROLLED_KEY_SIZE = 4;
/** weft_enrolled6: IPv6 pod addresses (16 bytes, network order). */
export const ENROLLED6_KEY_SIZE = 16;
export const ENROLLED_VALUE_SIZE = 4;
export const POD_ENROLLED = 0x1;
export const CFG_READY = 0x1;
export const CFG_DNS = 0x2;

/** struct weft_config, host (little-endian) byte order, with WEFT_CFG_READY set; dns_addr6 at 32-47. */
export function encodeConfig(node: NodeCapture): Buffer {
  const b = Buffer.alloc(CONFIG_VALUE_SIZE);
  b.writeUInt32LE(node.marks.capture >>> 0, 0);
  b.writeUInt32LE(node.marks.ztunnel >>> 0, 4);
  b.writeUInt32LE(node.marks.loop >>> 0, 8);
  b.writeUInt32LE(node.marks.mask >>> 0, 12);
  b.writeUInt16LE(node.ports.outbound, 16);
  b.writeUInt16LE(node.ports.inboundPlaintext, 18);
  b.writeUInt16LE(node.ports.hbone, 20);
  b.writeUInt16LE(CFG_READY | (node.dns ? CFG_DNS : 0), 22);
  b.writeUInt16LE(node.dns?.port ?? 0, 24);
  if (node.dns?.address) ipKey(node.dns.address).copy(b, 28);
  if (node.dns?.address6) ip6Key(node.dns.address6).copy(b, 32);
  return b;
}

export interface DecodedConfig {
  readonly marks: { capture: number; ztunnel: number; loop: number; mask: number };
  readonly ports: { outbound: number; inboundPlaintext: number; hbone: number };
  readonly ready: boolean;
  /** The DNS capture port and address, when DNS capture is on. */
  readonly dnsPort?: number;
  readonly dnsAddress?: string;
  /** The IPv6 DNS capture address; absent when all zero (IPv6 queries are not redirected). */
  readonly dnsAddress6?: string;
}

export function decodeConfig(b: Buffer): DecodedConfig {
  if (b.length !== CONFIG_VALUE_SIZE) throw new Error(`weft_config value: ${b.length} bytes, expected ${CONFIG_VALUE_SIZE}`);
  return {
    marks: { capture: b.readUInt32LE(0), ztunnel: b.readUInt32LE(4), loop: b.readUInt32LE(8), mask: b.readUInt32LE(12) },
    ports: { outbound: b.readUInt16LE(16), inboundPlaintext: b.readUInt16LE(18), hbone: b.readUInt16LE(20) },
    ready: (b.readUInt16LE(22) & CFG_READY) !== 0,
    ...((b.readUInt16LE(22) & CFG_DNS) !== 0 ? { dnsPort: b.readUInt16LE(24), dnsAddress: [...b.subarray(28, 32)].join(".") } : {}),
    ...(b.subarray(32, 48).some((x) => x !== 0) ? { dnsAddress6: ipFromKey(b.subarray(32, 48)) } : {}),
  };
}

/** weft_enrolled key: the IPv4 address in network byte order. Throws on a non-IPv4 (validated earlier). */
export function ipKey(ip: string): Buffer {
  if (!isIPv4(ip)) throw new Error(`weft_enrolled key: ${JSON.stringify(ip)} is not an IPv4 address`);
  return Buffer.from(ip.split(".").map(Number));
}

/** weft_enrolled6 key: the IPv6 address's 16 bytes in network order. Throws on a non-IPv6 (validated earlier). */
export function ip6Key(ip: string): Buffer {
  const parsed = isIPv6(ip) ? parseIp(ip) : undefined;
  if (!parsed || parsed.family !== 6) throw new Error(`weft_enrolled6 key: ${JSON.stringify(ip)} is not an IPv6 address`);
  return Buffer.from(ipToBytes(parsed));
}

/** The map a pod address is enrolled in (IPv4 or IPv6) and its key there. */
export function enrolledKey(ip: string): { readonly map: "weft_enrolled" | "weft_enrolled6"; readonly key: Buffer } {
  return isIPv6(ip) ? { map: "weft_enrolled6", key: ip6Key(ip) } : { map: "weft_enrolled", key: ipKey(ip) };
}

/** The address of a weft_enrolled (4-byte) or weft_enrolled6 (16-byte) key, canonical text. */
export function ipFromKey(key: Buffer): string {
  if (key.length === ENROLLED6_KEY_SIZE) return formatIp(ipFromBytes(key)!);
  return [...key.subarray(0, 4)].join(".");
}

export function enrolledValue(flags = POD_ENROLLED): Buffer {
  const b = Buffer.alloc(ENROLLED_VALUE_SIZE);
  b.writeUInt32LE(flags >>> 0, 0);
  return b;
}

export const PORT_KEY_SIZE = 4;
export const PORT_VALUE_SIZE = 8;
export const PORT_BRIDGED = 0x1;

/** weft_ports key: the host veth's ifindex (host byte order, as the program reads skb->ifindex). */
export function portKey(ifindex: number): Buffer {
  const b = Buffer.alloc(PORT_KEY_SIZE);
  b.writeUInt32LE(ifindex >>> 0, 0);
  return b;
}

/** struct weft_port: the veth's own MAC ("aa:bb:..") and WEFT_PORT_BRIDGED. */
export function portValue(mac: string): Buffer {
  const b = Buffer.alloc(PORT_VALUE_SIZE);
  Buffer.from(mac.split(":").map((x) => parseInt(x, 16))).copy(b, 0);
  b.writeUInt16LE(PORT_BRIDGED, 6);
  return b;
}
