/**
 * ztunnel's DNS proxy (upstream ztunnel's `dns::Server`, Istio ambient's DNS capture): UDP and
 * TCP on port 15053. Queries of enrolled pods reach it through the capture backends (UDP port
 * 53 is redirected to 15053; TCP port 53 arrives on the outbound listener and is handed here,
 * docs/capture.md); it can also be asked directly.
 *
 * - The client is identified by its source address: it must be a workload on this node
 *   (otherwise SERVFAIL, as upstream: ztunnel answers only for the workloads it serves).
 * - `decideAnswer` (answer.ts) says whether ztunnel is the authority (Services, ServiceEntry
 *   hosts): then the answer is built here (AA set, RD copied, RA set). Otherwise the query is
 *   forwarded as it is (forwarder.ts) and the upstream's answer relayed, NXDOMAIN included;
 *   no upstream answer: SERVFAIL.
 * - A UDP answer larger than 512 bytes is sent truncated (TC, no records): the client asks
 *   again over TCP. Malformed queries get FORMERR when their header can be read, else nothing.
 * - Metrics: upstream ztunnel's `istio_dns_requests_total`, `istio_dns_upstream_requests_total`,
 *   `istio_dns_upstream_failures_total`; a debug line per query on the `dns` logger.
 */
import dgram from "node:dgram";
import net from "node:net";
import dnsPacket from "dns-packet";
import { Counter, type Registry } from "prom-client";
import { logger } from "../../common/log.js";
import { canonicalIp } from "../../common/net/addr.js";
import type { Workload } from "../../common/model/workload.js";
import { type Result, ok, err } from "../../common/result.js";
import type { StateView } from "../../proxy/state/state.js";
import { HostIndex, decideAnswer } from "./answer.js";
import type { DnsForwarder } from "./forwarder.js";

const log = logger("dns");

export const DNS_PORT = 15053;
const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2 } as const;
const MAX_UDP = 512;

export interface DnsServerDeps {
  readonly state: StateView & { readonly version: number };
  readonly node: string;
  readonly network: string;
  readonly clusterDomain: string;
  readonly forwarder: DnsForwarder;
  readonly registry?: Registry;
}

export class DnsServer {
  private readonly hosts: HostIndex;
  private udp?: dgram.Socket;
  private tcp?: net.Server;
  private readonly tcpClients = new Set<net.Socket>();
  private readonly requests?: Counter<string>;
  private readonly upstreamRequests?: Counter<string>;
  private readonly upstreamFailures?: Counter<string>;

  constructor(private readonly d: DnsServerDeps) {
    this.hosts = new HostIndex(d.state);
    if (d.registry) {
      const labelNames = ["source_canonical_service", "source_canonical_revision", "source_workload", "source_workload_namespace"];
      const mk = (name: string, help: string) => new Counter({ name, help, labelNames, registers: [d.registry!] });
      this.requests = mk("istio_dns_requests_total", "Total DNS requests");
      this.upstreamRequests = mk("istio_dns_upstream_requests_total", "DNS requests forwarded upstream");
      this.upstreamFailures = mk("istio_dns_upstream_failures_total", "DNS requests that failed upstream");
    }
  }

  /** Binds UDP and TCP on host:port (port 0: any free port, the same for both only by chance). */
  async listen(host: string, port: number): Promise<Result<{ udp: number; tcp: number }>> {
    const udp = dgram.createSocket(net.isIPv6(host) ? "udp6" : "udp4");
    const bound = await new Promise<Error | undefined>((resolve) => {
      udp.once("error", resolve);
      udp.bind(port, host, () => {
        udp.off("error", resolve);
        resolve(undefined);
      });
    });
    if (bound) return err(new Error(`dns: udp ${host}:${port}: ${bound.message}`));
    udp.on("error", (e) => log.warn({ err: e.message }, "dns udp socket error"));
    udp.on("message", (msg, rinfo) => void this.onUdp(udp, msg, rinfo));
    const tcp = net.createServer((s) => this.handleTcp(s));
    const tcpBound = await new Promise<Error | undefined>((resolve) => {
      tcp.once("error", resolve);
      tcp.listen(port === 0 ? 0 : port, host, () => {
        tcp.off("error", resolve);
        resolve(undefined);
      });
    });
    if (tcpBound) {
      udp.close();
      return err(new Error(`dns: tcp ${host}:${port}: ${tcpBound.message}`));
    }
    this.udp = udp;
    this.tcp = tcp;
    log.info({ address: `${host}:${port}` }, "DNS proxy listening (udp+tcp)");
    return ok({ udp: udp.address().port, tcp: (tcp.address() as net.AddressInfo).port });
  }

  async close(): Promise<void> {
    this.udp?.close();
    for (const s of this.tcpClients) s.destroy();
    await new Promise<void>((r) => (this.tcp ? this.tcp.close(() => r()) : r()));
  }

  private async onUdp(sock: dgram.Socket, msg: Buffer, rinfo: dgram.RemoteInfo): Promise<void> {
    const reply = await this.respond(msg, rinfo.address, false);
    if (reply) sock.send(reply, rinfo.port, rinfo.address);
  }

  /** Serves DNS over one TCP connection (length-prefixed messages, RFC 7766), from 15053 or captured port 53. */
  handleTcp(s: net.Socket): void {
    this.tcpClients.add(s);
    s.on("close", () => this.tcpClients.delete(s));
    s.on("error", () => {});
    s.setTimeout(10_000, () => s.destroy());
    let buf = Buffer.alloc(0);
    s.on("data", (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        const msg = buf.subarray(2, 2 + buf.readUInt16BE(0));
        buf = buf.subarray(2 + msg.length);
        void this.respond(Buffer.from(msg), s.remoteAddress ?? "", true).then((reply) => {
          if (!reply || s.destroyed) return;
          const len = Buffer.alloc(2);
          len.writeUInt16BE(reply.length);
          s.write(Buffer.concat([len, reply]));
        });
      }
    });
  }

  private client(ip: string): Workload | undefined {
    const c = canonicalIp(ip);
    const w = c ? this.d.state.workloadByAddress(this.d.network, c) : undefined;
    return w && w.node === this.d.node ? w : undefined;
  }

  /** The reply to one query from `ip` (raw bytes), or undefined when nothing can be said. */
  async respond(msg: Buffer, ip: string, tcp: boolean): Promise<Buffer | undefined> {
    let q: ReturnType<typeof dnsPacket.decode>;
    try {
      q = dnsPacket.decode(msg);
    } catch {
      return msg.length >= 12 ? errorReply(msg, RCODE.FORMERR) : undefined;
    }
    if (q.type !== "query") return undefined;
    const question = q.questions?.[0];
    if (!question || (q.questions?.length ?? 0) !== 1) return errorReply(msg, RCODE.FORMERR);
    const client = this.client(ip);
    if (!client) {
      log.debug({ src: ip, domain: question.name }, "dns query from an unknown source");
      return errorReply(msg, RCODE.SERVFAIL);
    }
    const labels = {
      source_canonical_service: client.canonicalName,
      source_canonical_revision: client.canonicalRevision,
      source_workload: client.workloadName,
      source_workload_namespace: client.namespace,
    };
    this.requests?.inc(labels);
    const decision = decideAnswer(this.d.state, this.hosts, client, question, { clusterDomain: this.d.clusterDomain });
    const access = { "src.workload": client.name, "src.namespace": client.namespace, query: question.type, domain: question.name };
    if (decision.kind === "forward") {
      this.upstreamRequests?.inc(labels);
      const r = await this.d.forwarder.forward(msg, tcp);
      if (!r.ok) {
        this.upstreamFailures?.inc(labels);
        log.debug({ ...access, result: `forwarding failed (${r.error.message})` }, "dns");
        return errorReply(msg, RCODE.SERVFAIL);
      }
      log.debug({ ...access, result: "forwarded" }, "dns");
      return r.value;
    }
    log.debug({ ...access, result: "success", endpoints: decision.records.length }, "dns");
    const flags = dnsPacket.AUTHORITATIVE_ANSWER | dnsPacket.RECURSION_AVAILABLE | ((q.flags ?? 0) & dnsPacket.RECURSION_DESIRED);
    const answer = dnsPacket.encode({
      type: "response",
      id: q.id ?? 0,
      flags: flags & ~0xf,
      questions: [question],
      answers: decision.records.map((r) => ({ type: r.type, name: r.name, ttl: r.ttl, class: "IN" as const, data: r.data })),
    });
    if (!tcp && answer.length > MAX_UDP)
      return dnsPacket.encode({
        type: "response",
        id: q.id ?? 0,
        flags: (flags & ~0xf) | dnsPacket.TRUNCATED_RESPONSE,
        questions: [question],
      });
    return answer;
  }
}

/** The query's header and question with QR set and `rcode`, no records. */
function errorReply(msg: Buffer, rcode: number): Buffer {
  let question: dnsPacket.Question[] = [];
  try {
    question = dnsPacket.decode(msg).questions ?? [];
  } catch {
    // header only
  }
  const id = msg.readUInt16BE(0);
  const rd = msg.readUInt16BE(2) & dnsPacket.RECURSION_DESIRED;
  return dnsPacket.encode({ type: "response", id, flags: rd | dnsPacket.RECURSION_AVAILABLE | rcode, questions: question });
}
