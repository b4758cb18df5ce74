/**
 * The explicit SOCKS5 outbound listener (127.0.0.1:15080 by default): lets a local workload use
 * the mesh without capture (and tests run without root). The client is identified as a
 * workload by its source address, exactly like captured traffic; domain-name targets resolve
 * against the mesh's service hostnames only (no DNS leaves the mesh from here).
 */
import net from "node:net";
import { canonicalIp, type SocketAddress } from "../../common/net/addr.js";
import { logger } from "../../common/log.js";
import type { StateView } from "../../proxy/state/state.js";
import type { Outbound } from "./outbound.js";
import { greetingReply, parseGreeting, parseRequest, Reply, requestReply, type SocksTarget } from "./socks5.js";

const log = logger("ztunnel.socks5");
const HANDSHAKE_TIMEOUT_MS = 10_000;
const MAX_HANDSHAKE_BYTES = 600;

export class Socks5Server {
  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();

  constructor(
    private readonly outbound: Outbound,
    private readonly state: StateView,
    private readonly network: string,
  ) {
    this.server = net.createServer({ allowHalfOpen: true, noDelay: true }, (s) => this.accept(s));
  }

  listen(host: string, port: number): Promise<net.AddressInfo> {
    return new Promise((resolve, reject) => {
      this.server.once("error", (e) => reject(new Error(`ztunnel: socks5 listener ${host}:${port}: ${e.message}`, { cause: e })));
      this.server.listen({ host, port }, () => resolve(this.server.address() as net.AddressInfo));
    });
  }

  close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    return new Promise((r) => this.server.close(() => r()));
  }

  private accept(s: net.Socket): void {
    this.sockets.add(s);
    s.once("close", () => this.sockets.delete(s));
    s.on("error", () => {});
    s.setTimeout(HANDSHAKE_TIMEOUT_MS, () => s.destroy());
    let buf = Buffer.alloc(0);
    let phase: "greeting" | "request" = "greeting";
    // A FIN before the request is complete: the request can never complete (the listener allows
    // half-open connections for the tunnel's sake). Close now rather than at the handshake
    // timeout; found by the fuzzer (test/fuzz).
    const onEarlyEnd = () => {
      log.debug({ phase }, "socks5: client closed during the handshake");
      s.destroy();
    };
    s.once("end", onEarlyEnd);
    const onData = (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      if (buf.length > MAX_HANDSHAKE_BYTES) return s.destroy();
      if (phase === "greeting") {
        const g = parseGreeting(buf);
        if (g.state === "more") return;
        if (g.state === "error") {
          log.debug({ reason: g.reason }, "socks5 greeting refused");
          s.end(greetingReply(false));
          return;
        }
        s.write(greetingReply(true));
        buf = buf.subarray(g.consumed);
        phase = "request";
      }
      const r = parseRequest(buf);
      if (r.state === "more") return;
      s.off("data", onData);
      s.off("end", onEarlyEnd);
      s.pause();
      s.setTimeout(0);
      if (r.state === "error") {
        log.debug({ reason: r.reason }, "socks5 request refused");
        s.end(requestReply(r.reply ?? Reply.GENERAL_FAILURE));
        return;
      }
      const rest = buf.subarray(r.consumed);
      void this.connect(s, r.value, rest);
    };
    s.on("data", onData);
  }

  private resolve(t: SocksTarget): SocketAddress | undefined {
    if (t.kind === "ip") return { ip: canonicalIp(t.ip) ?? t.ip, port: t.port };
    for (const svc of this.state.services()) {
      if (svc.hostname === t.host || `${svc.name}.${svc.namespace}` === t.host) {
        const vip = svc.addresses.find((a) => a.network === this.network) ?? svc.addresses[0];
        if (vip) return { ip: vip.address, port: t.port };
      }
    }
    return undefined;
  }

  private async connect(s: net.Socket, t: SocksTarget, early: Buffer): Promise<void> {
    const target = this.resolve(t);
    if (!target) {
      log.info({ host: t.kind === "domain" ? t.host : t.ip }, "socks5: unknown host");
      s.end(requestReply(Reply.HOST_UNREACHABLE));
      return;
    }
    const client = { ip: canonicalIp(s.remoteAddress) ?? "", port: s.remotePort ?? 0 };
    const r = await this.outbound.connect(client, target);
    if (!r.ok) {
      log.info({ src: client.ip, dst: `${target.ip}:${target.port}`, reason: r.error.reason }, "socks5: connection refused");
      if (!s.destroyed) s.end(requestReply(r.error.socksReply));
      return;
    }
    if (s.destroyed) {
      r.value.upstream.destroy();
      return;
    }
    s.write(requestReply(Reply.SUCCEEDED));
    if (early.length) s.unshift(early);
    s.resume();
    await r.value.run(s);
  }
}
