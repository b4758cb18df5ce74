/**
 * Forwarding of DNS queries ztunnel is not the authority for, to the upstream resolvers: by
 * default the nameservers of ztunnel's own resolv.conf (as upstream ztunnel's SystemForwarder;
 * in a cluster that is the cluster DNS, the same server the pods' resolv.conf names), or those
 * given with `--dns-upstream`.
 *
 * The query goes out as the client sent it (same id, flags, EDNS), over UDP from a fresh socket
 * per query (a random source port each time), retried over TCP when the answer is truncated;
 * queries that came over TCP go over TCP. Each upstream is tried in order with a timeout; the
 * first answer wins. `resolve` asks A records for hostname workloads (ServiceEntry resolution
 * DNS, WorkloadEntries with a DNS address).
 */
import dgram from "node:dgram";
import net from "node:net";
import { readFileSync } from "node:fs";
import dnsPacket from "dns-packet";
import { type Result, ok, err } from "../../common/result.js";
import type { SocketAddress } from "../../common/net/addr.js";

export const DEFAULT_FORWARD_TIMEOUT_MS = 2500;

/** Nameservers (port 53) of a resolv.conf text. */
export function parseResolvConf(text: string): SocketAddress[] {
  const out: SocketAddress[] = [];
  for (const line of text.split("\n")) {
    const m = /^\s*nameserver\s+(\S+)/.exec(line);
    if (m && net.isIP(m[1]!)) out.push({ ip: m[1]!, port: 53 });
  }
  return out;
}

export function systemUpstreams(path = "/etc/resolv.conf"): SocketAddress[] {
  try {
    return parseResolvConf(readFileSync(path, "utf8"));
  } catch {
    return [];
  }
}

function udpExchange(up: SocketAddress, query: Buffer, timeoutMs: number): Promise<Result<Buffer>> {
  return new Promise((resolve) => {
    const sock = dgram.createSocket(net.isIPv6(up.ip) ? "udp6" : "udp4");
    const id = query.readUInt16BE(0);
    const done = (r: Result<Buffer>) => {
      clearTimeout(timer);
      sock.close();
      resolve(r);
    };
    const timer = setTimeout(() => done(err(new Error(`${up.ip}:${up.port}: no answer in ${timeoutMs} ms`))), timeoutMs);
    sock.on("error", (e) => done(err(new Error(`${up.ip}:${up.port}: ${e.message}`))));
    sock.on("message", (msg, rinfo) => {
      // Only the asked server's answer to this id counts (anything else is ignored, not trusted).
      if (rinfo.address !== up.ip || rinfo.port !== up.port || msg.length < 12 || msg.readUInt16BE(0) !== id) return;
      done(ok(msg));
    });
    sock.send(query, up.port, up.ip);
  });
}

function tcpExchange(up: SocketAddress, query: Buffer, timeoutMs: number): Promise<Result<Buffer>> {
  return new Promise((resolve) => {
    const sock = net.connect({ host: up.ip, port: up.port });
    let buf = Buffer.alloc(0);
    const done = (r: Result<Buffer>) => {
      clearTimeout(timer);
      sock.destroy();
      resolve(r);
    };
    const timer = setTimeout(() => done(err(new Error(`${up.ip}:${up.port} (tcp): no answer in ${timeoutMs} ms`))), timeoutMs);
    sock.on("error", (e) => done(err(new Error(`${up.ip}:${up.port} (tcp): ${e.message}`))));
    sock.on("connect", () => {
      const len = Buffer.alloc(2);
      len.writeUInt16BE(query.length);
      sock.write(Buffer.concat([len, query]));
    });
    sock.on("data", (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) done(ok(buf.subarray(2, 2 + buf.readUInt16BE(0))));
    });
    sock.on("end", () => done(err(new Error(`${up.ip}:${up.port} (tcp): closed before answering`))));
  });
}

export class DnsForwarder {
  constructor(
    readonly upstreams: readonly SocketAddress[],
    private readonly timeoutMs = DEFAULT_FORWARD_TIMEOUT_MS,
  ) {}

  /** The upstream's answer to `query` (raw message), or why there is none. */
  async forward(query: Buffer, tcp: boolean): Promise<Result<Buffer>> {
    if (this.upstreams.length === 0) return err(new Error("no upstream resolver configured"));
    const problems: string[] = [];
    for (const up of this.upstreams) {
      let r = tcp ? await tcpExchange(up, query, this.timeoutMs) : await udpExchange(up, query, this.timeoutMs);
      if (r.ok && !tcp && (r.value.readUInt16BE(2) & dnsPacket.TRUNCATED_RESPONSE) !== 0) r = await tcpExchange(up, query, this.timeoutMs);
      if (r.ok) return r;
      problems.push(r.error.message);
    }
    return err(new Error(problems.join("; ")));
  }

  /** IPv4 addresses of a host name, asked upstream (no search domains). */
  async resolve(host: string): Promise<Result<string[]>> {
    const query = dnsPacket.encode({
      type: "query",
      id: Math.floor(Math.random() * 65536),
      flags: dnsPacket.RECURSION_DESIRED,
      questions: [{ type: "A", name: host }],
    });
    const r = await this.forward(query, false);
    if (!r.ok) return r;
    let msg: ReturnType<typeof dnsPacket.decode>;
    try {
      msg = dnsPacket.decode(r.value);
    } catch (e) {
      return err(new Error(`${host}: undecodable answer: ${(e as Error).message}`));
    }
    const ips = (msg.answers ?? []).flatMap((a) => (a.type === "A" ? [a.data] : []));
    if (ips.length === 0) return err(new Error(`${host}: no A record (${(msg as { rcode?: string }).rcode ?? "NOERROR"})`));
    return ok(ips);
  }
}
