/**
 * `weft dashboard`: the live service graph (src/dashboard). Figures come from Prometheus when
 * `--prometheus` names one, else from scraping every ztunnel's and waypoint's /metrics; the
 * inventory (workloads, services, policies, certificates) from the ztunnels' /config_dump.
 * Components are found as for the other inspection verbs (dashboard-targets.ts): the local
 * cluster, a Kubernetes cluster (port-forwards to the pods), or explicit addresses.
 */
import type { Command } from "commander";
import { Dashboard } from "../dashboard/server.js";
import { inventoryOf } from "../dashboard/inventory.js";
import { PrometheusWindowSource, ScrapeWindowSource, type WindowSource } from "../dashboard/sources.js";
import { CliError, EXIT_OK, EXIT_USAGE, action, examples, subcommand } from "./command.js";
import { type DashboardTargetOptions, LiveTargets, hostPort } from "./dashboard-targets.js";
import { type Endpoint, httpGet, targetOptions } from "./targets.js";

export const DEFAULT_DASHBOARD_LISTEN = "127.0.0.1:20001";
export const DEFAULT_INTERVAL_S = 5;

interface Options extends DashboardTargetOptions {
  listen: string;
  interval: string;
  prometheus?: string;
  prometheusNetns?: string;
}

export function registerDashboard(program: Command): void {
  const cmd = subcommand(program, "dashboard", "serve a live service graph of the mesh (workloads, services, traffic, mTLS, denies)")
    .option("--listen <host:port>", "where the page is served", DEFAULT_DASHBOARD_LISTEN)
    .option("--interval <seconds>", "how often figures are refreshed", String(DEFAULT_INTERVAL_S))
    .option("--prometheus <url>", "read figures from this Prometheus (e.g. http://127.0.0.1:9090) instead of scraping each component")
    .option("--prometheus-netns <name>", "the network namespace the Prometheus address lives in (local cluster)")
    .option("--metrics <host:port...>", "metrics endpoints to scrape instead of the local cluster's (ztunnels and waypoints, port 15020)");
  targetOptions(cmd, { ztunnel: true, kube: true });
  examples(cmd, [
    "sudo weft dashboard                                   # the local cluster, page at http://127.0.0.1:20001/",
    "weft dashboard --ztunnel 127.0.0.1:15000 --metrics 127.0.0.1:15020",
    "sudo weft dashboard --prometheus http://10.77.0.2:9090 --prometheus-netns weft-demo-underlay",
    "weft dashboard --kubeconfig ~/.kube/config              # Kubernetes: ztunnels and waypoints through port-forwards",
  ]);
  action<Options>(cmd, async (o) => {
    const listen = hostPort(o.listen, "--listen");
    const interval = Number(o.interval);
    if (!Number.isFinite(interval) || interval < 0.2 || interval > 3600)
      throw new CliError(`--interval: ${JSON.stringify(o.interval)} is not a number of seconds in [0.2, 3600]`, EXIT_USAGE);
    let url: URL | undefined;
    if (o.prometheus) {
      try {
        url = new URL(o.prometheus);
      } catch {
        throw new CliError(`--prometheus: ${JSON.stringify(o.prometheus)} is not a URL`, EXIT_USAGE);
      }
    }
    const targets = await LiveTargets.start(o, !url);
    let window: WindowSource;
    if (url) {
      const ep: Endpoint = { name: "prometheus", base: url.origin, ...(o.prometheusNetns ? { netns: o.prometheusNetns } : {}) };
      window = new PrometheusWindowSource("prometheus", (_name, path) => httpGet(ep, path, 3));
    } else {
      window = new ScrapeWindowSource(
        () => targets.metricsNames(),
        (name, path) => targets.get("metrics", name, path),
      );
    }
    const inventory = async () => {
      const dumps = new Map<string, unknown>();
      const problems: string[] = [];
      const again = await targets.maybeRediscover();
      if (again) problems.push(again);
      await Promise.all(
        targets.adminNames().map(async (z) => {
          const r = await targets.get("admin", z, "/config_dump");
          if (!r.ok) return void problems.push(r.error.message);
          try {
            dumps.set(z, JSON.parse(r.value));
          } catch {
            problems.push(`${z} /config_dump: answer is not JSON`);
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
    await targets.close();
    return EXIT_OK;
  });
}
