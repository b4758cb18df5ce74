/**
 * `weft dashboard`'s process: every interval it takes a window of figures (sources.ts) and the
 * mesh's inventory, builds the graph (graph.ts) and serves it:
 *   GET /            the page (page.ts), which polls /api/graph
 *   GET /api/graph   { source, updatedAt, problems, graph }
 *   GET /healthz     200 once a graph was built
 * It listens on loopback by default; it only reads, so it needs no credentials of the mesh.
 */
import * as http from "node:http";
import { logger } from "../common/log.js";
import { type Inventory, EMPTY_INVENTORY } from "./inventory.js";
import { type Graph, buildGraph } from "./graph.js";
import type { WindowSource } from "./sources.js";
import { PAGE } from "./page.js";

const log = logger("dashboard");

export interface DashboardOptions {
  readonly host: string;
  readonly port: number;
  readonly intervalMs: number;
  readonly window: WindowSource;
  readonly inventory: () => Promise<{ inventory: Inventory; problems: readonly string[] }>;
}

export interface Snapshot {
  readonly source: string;
  readonly updatedAt: string;
  readonly problems: readonly string[];
  readonly graph: Graph;
}

export class Dashboard {
  private server: http.Server | undefined;
  private timer: NodeJS.Timeout | undefined;
  private latest: Snapshot | undefined;
  private running = false;

  constructor(private readonly opts: DashboardOptions) {}

  /** Builds one graph now (also what the interval does). */
  async refresh(): Promise<Snapshot> {
    const [w, inv] = await Promise.all([this.opts.window.next(), this.opts.inventory()]);
    const window = w.window ?? { seconds: this.opts.intervalMs / 1000, increases: [], current: [] };
    const snap: Snapshot = {
      source: this.opts.window.description,
      updatedAt: new Date().toISOString(),
      problems: [...w.problems, ...inv.problems, ...(w.window ? [] : ["waiting for a second scrape to compute rates"])],
      graph: buildGraph(window, inv.inventory ?? EMPTY_INVENTORY),
    };
    this.latest = snap;
    return snap;
  }

  async start(): Promise<{ host: string; port: number }> {
    this.server = http.createServer((req, res) => this.handle(req, res));
    await new Promise<void>((resolve, reject) => {
      this.server!.once("error", reject);
      this.server!.listen(this.opts.port, this.opts.host, () => resolve());
    });
    const addr = this.server.address() as { address: string; port: number };
    this.running = true;
    const tick = async () => {
      try {
        await this.refresh();
      } catch (e) {
        log.warn({ error: (e as Error).message }, "dashboard refresh failed");
      }
      if (this.running) this.timer = setTimeout(() => void tick(), this.opts.intervalMs);
    };
    void tick();
    return { host: addr.address, port: addr.port };
  }

  async close(): Promise<void> {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    this.server?.closeAllConnections();
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? "/", "http://dashboard");
    if (req.method !== "GET") {
      res.writeHead(405, { allow: "GET" }).end();
      return;
    }
    if (url.pathname === "/") {
      res.writeHead(200, { "content-type": "text/html; charset=utf-8", "cache-control": "no-store" }).end(PAGE);
    } else if (url.pathname === "/api/graph") {
      if (!this.latest) res.writeHead(503, { "content-type": "application/json" }).end('{"error":"no graph yet"}');
      else res.writeHead(200, { "content-type": "application/json", "cache-control": "no-store" }).end(JSON.stringify(this.latest));
    } else if (url.pathname === "/healthz") {
      res.writeHead(this.latest ? 200 : 503).end(this.latest ? "ok\n" : "starting\n");
    } else {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
    }
  }
}
