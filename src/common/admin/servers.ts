/**
 * The small HTTP servers every long-running weft component exposes. ztunnel lays them out as
 * upstream does:
 * - admin (localhost:15000): GET /config_dump, GET|POST /logging?level=, POST /quitquitquit
 * - metrics (15020): GET /metrics and /stats/prometheus
 * - readiness (15021): GET /healthz/ready (200 once every readiness gate is open, else 503)
 * The control plane serves the same routes on one monitoring port. Each listener is bound
 * before the component reports itself started, so a taken port fails loudly.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import type { Registry } from "prom-client";
import { rootLogger, logger } from "../log.js";

const log = logger("admin");

export interface AdminHooks {
  /** The full config dump (JSON-serialisable). */
  configDump(): unknown;
  /** Names of readiness gates still closed; empty when ready. */
  pendingReadiness(): string[];
  /** Graceful shutdown requested. */
  shutdown(): void;
  registry: Registry;
  /**
   * Refuse the state-changing routes (POST /logging, /quitquitquit) to callers not on loopback:
   * for a monitoring port bound beyond loopback (the control plane in Kubernetes serves probes
   * and Prometheus on 0.0.0.0:15014, and the cluster network must not be able to stop it).
   */
  loopbackOnlyWrites?: boolean;
}

const isLoopback = (addr: string | undefined): boolean =>
  addr !== undefined && (addr === "::1" || addr.startsWith("127.") || addr.startsWith("::ffff:127."));

export type Handler = (req: http.IncomingMessage, res: http.ServerResponse, url: URL) => void | Promise<void>;

function send(res: http.ServerResponse, status: number, body: string, type = "text/plain; charset=utf-8"): void {
  res.writeHead(status, { "content-type": type, "content-length": Buffer.byteLength(body) });
  res.end(body);
}

function serve(routes: Record<string, Handler>): http.Server {
  return http.createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://localhost");
    const h = routes[url.pathname];
    if (!h) return send(res, 404, `no route ${url.pathname}\n`);
    Promise.resolve(h(req, res, url)).catch((e: unknown) => {
      log.error({ err: e, path: url.pathname }, "admin handler failed");
      if (!res.headersSent) send(res, 500, `${(e as Error).message}\n`);
      else res.destroy();
    });
  });
}

export const LOG_LEVELS = ["trace", "debug", "info", "warn", "error", "fatal", "silent"];

export function adminRoutes(hooks: AdminHooks): Record<string, Handler> {
  const dump: Handler = (_req, res) => send(res, 200, JSON.stringify(hooks.configDump(), replacer, 2) + "\n", "application/json");
  return {
    "/config_dump": dump,
    // istiod serves its dump at /debug/config_dump on the monitoring port; tools ask there.
    "/debug/config_dump": dump,
    "/logging": (req, res, url) => {
      const level = url.searchParams.get("level");
      if (level !== null) {
        if (req.method !== "POST") return send(res, 405, "use POST to change the level\n");
        if (hooks.loopbackOnlyWrites && !isLoopback(req.socket.remoteAddress)) return send(res, 403, "only from loopback\n");
        if (!LOG_LEVELS.includes(level)) return send(res, 400, `unknown level ${JSON.stringify(level)}; one of ${LOG_LEVELS.join(", ")}\n`);
        rootLogger.level = level;
        log.info({ level }, "log level changed");
      }
      send(res, 200, `current log level is ${rootLogger.level}\n`);
    },
    "/quitquitquit": (req, res) => {
      if (req.method !== "POST") return send(res, 405, "use POST\n");
      if (hooks.loopbackOnlyWrites && !isLoopback(req.socket.remoteAddress)) return send(res, 403, "only from loopback\n");
      send(res, 200, "shutting down\n");
      setImmediate(() => hooks.shutdown());
    },
  };
}

export function metricsRoutes(registry: Registry): Record<string, Handler> {
  const h: Handler = async (_req, res) => send(res, 200, await registry.metrics(), registry.contentType);
  return { "/metrics": h, "/stats/prometheus": h };
}

export function readinessRoutes(hooks: Pick<AdminHooks, "pendingReadiness">): Record<string, Handler> {
  return {
    "/healthz/ready": (_req, res) => {
      const pending = hooks.pendingReadiness();
      if (pending.length === 0) send(res, 200, "ready\n");
      else send(res, 503, `not ready: waiting for ${pending.join(", ")}\n`);
    },
  };
}

/** Maps become objects and Dates ISO strings in dumps. */
function replacer(_key: string, value: unknown): unknown {
  if (value instanceof Map) return Object.fromEntries(value);
  if (value instanceof Set) return [...value];
  return value;
}

export class AdminServers {
  private readonly servers: http.Server[] = [];

  /** Binds one server for `routes`; rejects with the listener named if the port is taken. */
  async add(name: string, host: string, port: number, routes: Record<string, Handler>): Promise<AddressInfo> {
    const server = serve(routes);
    await new Promise<void>((resolve, reject) => {
      server.once("error", (e) => reject(new Error(`${name} listener ${host}:${port}: ${e.message}`, { cause: e })));
      server.listen(port, host, () => resolve());
    });
    this.servers.push(server);
    const address = server.address() as AddressInfo;
    log.info({ name, address: `${host}:${address.port}` }, "listening");
    return address;
  }

  /** ztunnel's layout: admin, metrics and readiness on their own ports. */
  async listen(hooks: AdminHooks, host: string, ports: { admin: number; metrics: number; readiness: number }): Promise<void> {
    await this.add("admin", host, ports.admin, adminRoutes(hooks));
    await this.add("metrics", host, ports.metrics, metricsRoutes(hooks.registry));
    await this.add("readiness", host, ports.readiness, readinessRoutes(hooks));
  }

  async close(): Promise<void> {
    await Promise.all(
      this.servers.map(
        (s) =>
          new Promise<void>((r) => {
            s.closeAllConnections();
            s.close(() => r());
          }),
      ),
    );
    this.servers.length = 0;
  }
}
