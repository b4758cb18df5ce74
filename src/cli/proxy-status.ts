/**
 * `weft proxy-status`: every ztunnel and waypoint connected to the control plane, with its
 * sync state per xDS type (like `istioctl proxy-status`), from the control plane's
 * `/debug/adsz`. Per type: SYNCED (the last response was ACKed), STALE (a response is
 * unanswered, or changes wait, for longer than --stale-after), PENDING (unanswered, younger),
 * NACKED (the client rejected the last response; its error is in -o wide/json), NOT SENT.
 */
import type { Command } from "commander";
import { ADDRESS_TYPE_URL, AUTHORIZATION_TYPE_URL } from "../common/xds/proto.js";
import { CLUSTER_TYPE_URL, ENDPOINT_TYPE_URL, LISTENER_TYPE_URL, ROUTE_TYPE_URL } from "../common/xds/envoy-proto.js";
import { parseNodeId } from "../common/xds/node-id.js";
import { CliError, EXIT_FAILED, EXIT_OK, EXIT_USAGE, action, examples, outputFormat, outputOption, subcommand } from "./command.js";
import { type Column, age, render } from "./output.js";
import { type TargetOptions, closeEndpoints, controlPlaneEndpoint, httpGetJson, targetOptions } from "./targets.js";

/** How long a response may stay unanswered before it counts as stale. */
export const DEFAULT_STALE_AFTER_MS = 5000;

/** The type URLs shown, with istioctl-like column names. */
export const XDS_COLUMNS: ReadonlyArray<readonly [string, string]> = [
  ["ADDRESS", ADDRESS_TYPE_URL],
  ["AUTHZ", AUTHORIZATION_TYPE_URL],
  ["LDS", LISTENER_TYPE_URL],
  ["RDS", ROUTE_TYPE_URL],
  ["CDS", CLUSTER_TYPE_URL],
  ["EDS", ENDPOINT_TYPE_URL],
];

interface Stamp {
  nonce: string;
  at: string;
}
export interface AdszType {
  nacks: number;
  known: number;
  lastSent?: Stamp;
  lastAck?: Stamp;
  lastNack?: Stamp & { error: string };
  inFlight?: string;
  queued?: number;
  dirty?: number;
}
export interface AdszClient {
  id: string;
  node: string;
  identity: string;
  connectedAt?: string;
  peer?: string;
  types: Record<string, AdszType>;
}

export interface ProxyStatusRow {
  name: string;
  type: string;
  node: string;
  identity: string;
  connected: string;
  ages: string;
  types: Record<string, { status: string; resources: number; error?: string }>;
}

/** Pure: the sync state of one type on one stream at `now`. */
export function typeStatus(t: AdszType | undefined, now: number, staleAfterMs: number): string {
  if (!t) return "-";
  if (t.lastNack && t.lastSent && t.lastNack.nonce === t.lastSent.nonce) return "NACKED";
  if (!t.lastSent) return t.dirty ? "PENDING" : "NOT SENT";
  const waiting = t.inFlight !== undefined || (t.queued ?? 0) > 0 || (t.dirty ?? 0) > 0;
  if (!waiting) return "SYNCED";
  const since = now - Date.parse(t.lastSent.at);
  return since > staleAfterMs ? `STALE (${age(since)})` : "PENDING";
}

/** Pure: one row per connected proxy. */
export function proxyStatusRows(clients: readonly AdszClient[], now: number, staleAfterMs = DEFAULT_STALE_AFTER_MS): ProxyStatusRow[] {
  return clients
    .map((c) => {
      const id = parseNodeId(c.id.replace(/\/conn-\d+$/, ""));
      const types: ProxyStatusRow["types"] = {};
      for (const [col, url] of XDS_COLUMNS) {
        const t = c.types[url];
        types[col] = {
          status: typeStatus(t, now, staleAfterMs),
          resources: t?.known ?? 0,
          ...(t?.lastNack ? { error: t.lastNack.error } : {}),
        };
      }
      return {
        name: id.ok ? `${id.value.pod}.${id.value.namespace}` : c.id,
        type: id.ok ? (id.value.type === "router" ? "waypoint" : id.value.type) : "unknown",
        node: c.node,
        identity: c.identity,
        connected: c.connectedAt ?? "",
        ages: c.connectedAt ? age(now - Date.parse(c.connectedAt)) : "-",
        types,
      };
    })
    .sort((a, b) => a.type.localeCompare(b.type) || a.name.localeCompare(b.name));
}

const columns: Column<ProxyStatusRow>[] = [
  { header: "NAME", value: (r) => r.name },
  { header: "TYPE", value: (r) => r.type },
  { header: "NODE", value: (r) => r.node },
  ...XDS_COLUMNS.map(([col]) => ({ header: col, value: (r: ProxyStatusRow) => r.types[col]!.status })),
  { header: "AGE", value: (r) => r.ages },
  { header: "IDENTITY", value: (r) => r.identity, wide: true },
  {
    header: "NACK",
    value: (r) =>
      Object.entries(r.types)
        .filter(([, t]) => t.error)
        .map(([k, t]) => `${k}: ${t.error}`)
        .join("; "),
    wide: true,
  },
];

export function registerProxyStatus(program: Command): void {
  const cmd = subcommand(
    program,
    "proxy-status",
    "every ztunnel and waypoint connected to the control plane, and its xDS sync state",
  ).option("--stale-after <ms>", "an unanswered response older than this is STALE", String(DEFAULT_STALE_AFTER_MS));
  outputOption(cmd);
  targetOptions(cmd, { controlplane: true, kube: true });
  examples(cmd, [
    "sudo weft proxy-status",
    "weft proxy-status --kubeconfig ~/.kube/config",
    "weft proxy-status --controlplane 127.0.0.1:15014 -o wide",
    "sudo weft proxy-status -o json",
  ]);
  action(cmd, async (o: TargetOptions & { output?: string; staleAfter: string }) => {
    const staleAfter = Number(o.staleAfter);
    if (!Number.isFinite(staleAfter) || staleAfter < 0)
      throw new CliError(`--stale-after: ${o.staleAfter} is not a number of milliseconds`, EXIT_USAGE);
    const cp = await controlPlaneEndpoint(o, true);
    const adsz = await httpGetJson<{ clients: AdszClient[] }>(cp, "/debug/adsz").finally(() => closeEndpoints([cp]));
    if (!adsz.ok) throw new CliError(adsz.error.message);
    const rows = proxyStatusRows(adsz.value.clients, Date.now(), staleAfter);
    process.stdout.write(render(outputFormat(o), rows, columns));
    return rows.some((r) => Object.values(r.types).some((t) => t.status === "NACKED" || t.status.startsWith("STALE")))
      ? EXIT_FAILED
      : EXIT_OK;
  });
}
