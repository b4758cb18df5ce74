/**
 * `weft dashboard`: the live service graph (src/dashboard). Figures come from Prometheus when
 * `--prometheus` names one, else from scraping every ztunnel's and waypoint's /metrics; the
 * inventory (workloads, services, policies, certificates) from the ztunnels' /config_dump.
 * Components are found as for the other inspection verbs (targets.ts): the local cluster in
 * --dir, or explicit addresses.
 */
import type { Command } from "commander";
import { type Result, err } from "../common/result.js";
import { Dashboard } from "../dashboard/server.js";
import { inventoryOf } from "../dashboard/inventory.js";
import { PrometheusWindowSource, ScrapeWindowSource, type WindowSource } from "../dashboard/sources.js";
import { readState } from "../local/cluster.js";
import { CliError, EXIT_OK, EXIT_USAGE, action, examples, subcommand } from "./command.js";
import { type Endpoint, type TargetOptions, httpGet, localDir, targetOptions, ztunnelEndpoints } from "./targets.js";

export const DEFAULT_DASHBOARD_LISTEN = "127.0.0.1:20001";
export const DEFAULT_INTERVAL_S = 5;
const METRICS_PORT = 15020;

interface Options extends TargetOptions {
  listen: string;
  interval: string;
  prometheus?: string;
  prometheusNetns?: string;
  metrics?: string[];
}

function hostPort(text: string, flag: string): { host: string; port: number } {
  const m = /^(\[[0-9a-fA-F:.]+\]|[^:\s/]+):(\d{1,5})$/.exec(text);
  const port = Number(m?.[2]);
  if (!m || port > 65535) throw new CliError(`${flag}: ${JSON.stringify(text)} is not HOST:PORT`, EXIT_USAGE);
  return { host: m[1]!.replace(/^\[|\]$/g, ""), port };
}

/** Every metrics endpoint of the local cluster (ztunnels and waypoints), or those given. */
async function metricsEndpoints(o: Options): Promise<Endpoint[]> {
  if (o.metrics?.length) return o.metrics.map((m) => ({ name: m, base: `http://${m}` }));
  if (o.ztunnel) return [{ name: o.ztunnel, base: `http://${hostPort(o.ztunnel, "--ztunnel").host}:${METRICS_PORT}` }];
  const zs = (await ztunnelEndpoints(o)).map((e) => ({
    ...e,
    name: `ztunnel ${e.name}`,
    base: e.base.replace(/:\d+$/, `:${METRICS_PORT}`),
  }));
  const state = await readState(localDir(o));
  const waypoints = (state?.waypoints ?? []).flatMap((w) => {
    const pod = state?.pods.find((p) => p.namespace === w.namespace && p.name === w.pod);
    return pod ? [{ name: `waypoint ${w.namespace}/${w.gateway}`, base: `http://${pod.ip}:${METRICS_PORT}`, netns: pod.netns }] : [];
  });
  return [...zs, ...waypoints];
}

function getter(endpoints: readonly Endpoint[]) {
  const byName = new Map(endpoints.map((e) => [e.name, e]));
  return async (name: string, path: string): Promise<Result<string>> => {
    const ep = byName.get(name);
    return ep ? httpGet(ep, path, 3) : err(new Error(`${name}: unknown endpoint`));
  };
}

export function registerDashboard(program: Command): void {
  const cmd = subcommand(program, "dashboard", "serve a live service graph of the mesh (workloads, services, traffic, mTLS, denies)")
    .option("--listen <host:port>", "where the page is served", DEFAULT_DASHBOARD_LISTEN)
    .option("--interval <seconds>", "how often figures are refreshed", String(DEFAULT_INTERVAL_S))
    .option("--prometheus <url>", "read figures from this Prometheus (e.g. http://127.0.0.1:9090) instead of scraping each component")
    .option("--prometheus-netns <name>", "the network namespace the Prometheus address lives in (local cluster)")
    .option("--metrics <host:port...>", "metrics endpoints to scrape instead of the local cluster's (ztunnels and waypoints, port 15020)");
  targetOptions(cmd, { ztunnel: true });
  examples(cmd, [
    "sudo weft dashboard                                   # the local cluster, page at http://127.0.0.1:20001/",
    "weft dashboard --ztunnel 127.0.0.1:15000 --metrics 127.0.0.1:15020",
    "sudo weft dashboard --prometheus http://10.77.0.2:9090 --prometheus-netns weft-demo-underlay",
  ]);
  action<Options>(cmd, async (o) => {
    const listen = hostPort(o.listen, "--listen");
    const interval = Number(o.interval);
    if (!Number.isFinite(interval) || interval < 0.2 || interval > 3600)
      throw new CliError(`--interval: ${JSON.stringify(o.interval)} is not a number of seconds in [0.2, 3600]`, EXIT_USAGE);
    const zt = await ztunnelEndpoints(o);
    let window: WindowSource;
    if (o.prometheus) {
      let url: URL;
      try {
        url = new URL(o.prometheus);
      } catch {
        throw new CliError(`--prometheus: ${JSON.stringify(o.prometheus)} is not a URL`, EXIT_USAGE);
      }
      const ep: Endpoint = { name: "prometheus", base: url.origin, ...(o.prometheusNetns ? { netns: o.prometheusNetns } : {}) };
      window = new PrometheusWindowSource("prometheus", getter([ep]));
    } else {
      const ms = await metricsEndpoints(o);
      window = new ScrapeWindowSource(
        ms.map((m) => m.name),
        getter(ms),
      );
    }
    const getZt = getter(zt);
    const inventory = async () => {
      const dumps = new Map<string, unknown>();
      const problems: string[] = [];
      await Promise.all(
        zt.map(async (z) => {
          const r = await getZt(z.name, "/config_dump");
          if (!r.ok) return void problems.push(r.error.message);
          try {
            dumps.set(z.name, JSON.parse(r.value));
          } catch {
            problems.push(`${z.name} /config_dump: answer is not JSON`);
          }
        }),
      );
      return { inventory: inventoryOf(dumps), problems };
    };
    const d = new Dashboard({ host: listen.host, port: listen.port, intervalMs: interval * 1000, window, inventory });
    const at = await d.start();
    process.stdout.write(
      `weft dashboard: http://${at.host.includes(":") ? `[${at.host}]` : at.host}:${at.port}/ (${window.description})\n`,
    );
    await new Promise<void>((resolve) => {
      const stop = () => resolve();
      process.once("SIGINT", stop);
      process.once("SIGTERM", stop);
    });
    await d.close();
    return EXIT_OK;
  });
}
