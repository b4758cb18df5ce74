/**
 * Where the HBONE server listens without capture: ztunnel binds 15008 on the address of every
 * local workload (peers dial `<workload IP>:15008`, and the accepted socket's local address
 * selects the certificate), following local workloads as state changes. Accepted sockets are
 * handed to the HboneServer. (With capture, one transparent wildcard listener replaces this.)
 */
import net from "node:net";
import { logger } from "../common/log.js";
import type { HboneInboundServer } from "../proxy/hbone/engine.js";

const log = logger("ztunnel.hbone-listeners");

export class PerWorkloadHboneListeners {
  private readonly servers = new Map<string, net.Server>();

  constructor(
    private readonly hbone: Pick<HboneInboundServer, "adopt">,
    private readonly port: number,
  ) {}

  /** Makes the bound set equal `ips`: binds new addresses, closes vanished ones. Bind failures are logged and retried on the next sync. */
  async sync(ips: ReadonlySet<string>): Promise<void> {
    for (const [ip, server] of this.servers) {
      if (!ips.has(ip)) {
        this.servers.delete(ip);
        server.close();
        log.info({ address: `${ip}:${this.port}` }, "hbone listener closed");
      }
    }
    await Promise.all(
      [...ips]
        .filter((ip) => !this.servers.has(ip))
        .map(async (ip) => {
          const server = net.createServer({ allowHalfOpen: false, noDelay: true }, (s) => this.hbone.adopt(s));
          this.servers.set(ip, server);
          try {
            await new Promise<void>((resolve, reject) => {
              server.once("error", reject);
              server.listen({ host: ip, port: this.port }, () => {
                server.off("error", reject);
                resolve();
              });
            });
            server.on("error", (e) => log.error({ err: e, ip }, "hbone listener error"));
            log.info({ address: `${ip}:${this.port}` }, "hbone listener bound");
          } catch (e) {
            this.servers.delete(ip);
            log.error(
              { err: (e as Error).message, address: `${ip}:${this.port}` },
              "cannot bind hbone listener for a local workload (is the address configured on this host?)",
            );
          }
        }),
    );
  }

  get bound(): string[] {
    return [...this.servers.keys()].sort();
  }

  close(): void {
    for (const s of this.servers.values()) s.close();
    this.servers.clear();
  }
}
