/**
 * What `weft dashboard` reads, found as for the other inspection verbs (targets.ts):
 * - the ztunnels' admin ports (`/config_dump`, the inventory) and metrics ports (15020);
 * - the waypoints' metrics ports: in the local cluster from its state, in Kubernetes the proxy
 *   pods of every waypoint some service or workload uses (from a ztunnel's config dump,
 *   waypoint-target.ts `usedWaypoints`);
 * - or the addresses given (`--ztunnel`, `--metrics`).
 * In Kubernetes each is a port-forward to its pod. Pods come and go while the dashboard runs, so
 * `LiveTargets` discovers again when a request failed since the last discovery, or when the last
 * one is older than REDISCOVER_MS (new waypoints), at most once per refresh.
 */
import { type Result, err } from "../common/result.js";
import { readState } from "../local/cluster.js";
import { CliError, EXIT_USAGE } from "./command.js";
import {
  type Endpoint,
  type TargetOptions,
  closeEndpoints,
  httpGet,
  httpGetJson,
  localDir,
  modeOf,
  podEndpoint,
  ztunnelEndpoints,
} from "./targets.js";
import { type DumpedEndpoint, type DumpedService, usedWaypoints } from "./waypoint-target.js";

/** ztunnel's and the waypoint's Prometheus port (Istio's merged metrics port). */
export const METRICS_PORT = 15020;
/** How old a Kubernetes discovery may get before it is made again (to see new waypoints). */
export const REDISCOVER_MS = 60_000;

export interface DashboardTargetOptions extends TargetOptions {
  metrics?: string[];
}

export interface DashboardTargets {
  /** The ztunnels' admin endpoints, named by node (or address). */
  readonly admin: readonly Endpoint[];
  /** Every metrics endpoint, named `ztunnel NODE` / `waypoint NS/NAME`. */
  readonly metrics: readonly Endpoint[];
}

export function hostPort(text: string, flag: string): { host: string; port: number } {
  const m = /^(\[[0-9a-fA-F:.]+\]|[^:\s/]+):(\d{1,5})$/.exec(text);
  const port = Number(m?.[2]);
  if (!m || port > 65535) throw new CliError(`${flag}: ${JSON.stringify(text)} is not HOST:PORT`, EXIT_USAGE);
  return { host: m[1]!.replace(/^\[|\]$/g, ""), port };
}

async function kubeWaypointMetrics(o: DashboardTargetOptions, admin: readonly Endpoint[]): Promise<Endpoint[]> {
  const dump = await httpGetJson<{ workloads?: DumpedEndpoint[]; services?: DumpedService[] }>(admin[0]!, "/config_dump");
  if (!dump.ok) throw new CliError(dump.error.message);
  const out: Endpoint[] = [];
  try {
    for (const u of usedWaypoints(dump.value.services ?? [], dump.value.workloads ?? []))
      for (const p of u.proxies) {
        const ep = await podEndpoint(o, p.namespace, p.name, METRICS_PORT, true);
        const name = `waypoint ${u.waypoint.namespace}/${u.waypoint.name}${u.proxies.length > 1 ? ` pod ${p.name}` : ""}`;
        if (ep) out.push({ ...ep, name });
      }
  } catch (e) {
    await closeEndpoints(out);
    throw e;
  }
  return out;
}

/** The dashboard's endpoints now (port-forwards in Kubernetes: the caller closes them); `metrics` false: the admin ones only. */
export async function discoverTargets(o: DashboardTargetOptions, metrics = true): Promise<DashboardTargets> {
  const admin = await ztunnelEndpoints(o, true);
  if (!metrics) return { admin, metrics: [] };
  if (o.metrics?.length) return { admin, metrics: o.metrics.map((m) => (hostPort(m, "--metrics"), { name: m, base: `http://${m}` })) };
  if (o.ztunnel) return { admin, metrics: [{ name: o.ztunnel, base: `http://${hostPort(o.ztunnel, "--ztunnel").host}:${METRICS_PORT}` }] };
  const held: Endpoint[] = [...admin];
  try {
    const zt = (await ztunnelEndpoints(o, true, undefined, METRICS_PORT)).map((e) => ({ ...e, name: `ztunnel ${e.name}` }));
    held.push(...zt);
    if (modeOf(o, undefined, true).kind === "kube") return { admin, metrics: [...zt, ...(await kubeWaypointMetrics(o, admin))] };
    const state = await readState(localDir(o));
    const waypoints = (state?.waypoints ?? []).flatMap((w) => {
      const pod = state?.pods.find((p) => p.namespace === w.namespace && p.name === w.pod);
      return pod ? [{ name: `waypoint ${w.namespace}/${w.gateway}`, base: `http://${pod.ip}:${METRICS_PORT}`, netns: pod.netns }] : [];
    });
    return { admin, metrics: [...zt, ...waypoints] };
  } catch (e) {
    await closeEndpoints(held);
    throw e;
  }
}

/** The dashboard's endpoints, discovered again in Kubernetes when they failed or got old. */
export class LiveTargets {
  private failedSince = false;
  private at = 0;
  private pending: Promise<void> | undefined;

  private constructor(
    private current: DashboardTargets,
    private readonly rediscover: (() => Promise<DashboardTargets>) | undefined,
    private readonly now: () => number,
  ) {
    this.at = now();
  }

  static async start(o: DashboardTargetOptions, metrics = true, now: () => number = Date.now): Promise<LiveTargets> {
    const first = await discoverTargets(o, metrics);
    const kube = !o.ztunnel && !o.metrics?.length && modeOf(o, undefined, true).kind === "kube";
    return new LiveTargets(first, kube ? () => discoverTargets(o, metrics) : undefined, now);
  }

  metricsNames(): string[] {
    return this.current.metrics.map((m) => m.name);
  }

  adminNames(): string[] {
    return this.current.admin.map((m) => m.name);
  }

  /** Called once per refresh: discovers again when due (a failure, or age); a failed discovery keeps the old endpoints. */
  async maybeRediscover(): Promise<string | undefined> {
    if (!this.rediscover || (!this.failedSince && this.now() - this.at < REDISCOVER_MS)) return undefined;
    if (this.pending) return undefined;
    let problem: string | undefined;
    this.pending = (async () => {
      try {
        const next = await this.rediscover!();
        const old = this.current;
        this.current = next;
        this.failedSince = false;
        await closeEndpoints([...old.admin, ...old.metrics]);
      } catch (e) {
        problem = `discovering the mesh's pods again: ${(e as Error).message}`;
      }
      this.at = this.now();
    })();
    await this.pending;
    this.pending = undefined;
    return problem;
  }

  /** GET from the endpoint called `name` (admin or metrics) among the current ones. */
  async get(kind: "admin" | "metrics", name: string, path: string): Promise<Result<string>> {
    const ep = this.current[kind].find((e) => e.name === name);
    if (!ep) return err(new Error(`${name}: no longer discovered`));
    const r = await httpGet(ep, path, 3);
    if (!r.ok) this.failedSince = true;
    return r;
  }

  async close(): Promise<void> {
    await closeEndpoints([...this.current.admin, ...this.current.metrics]);
  }
}
