/**
 * `weft ztunnel-config workloads|services|policies|certificates|connections [--node N]`: what
 * each ztunnel holds, like `istioctl ztunnel-config`, from its admin port (`/config_dump`,
 * `/connections`). Without --node every node's ztunnel is asked; rows say which node answered.
 */
import type { Command } from "commander";
import { CliError, EXIT_OK, EXIT_USAGE, action, examples, namespaceOptions, outputFormat, outputOption, subcommand } from "./command.js";
import { type Column, age, render } from "./output.js";
import { type Endpoint, type TargetOptions, closeEndpoints, httpGetJson, targetOptions, ztunnelEndpoints } from "./targets.js";

export const ZTUNNEL_CONFIG_KINDS = ["workloads", "services", "policies", "certificates", "connections"] as const;
type Kind = (typeof ZTUNNEL_CONFIG_KINDS)[number];

interface Options extends TargetOptions {
  node?: string;
  namespace?: string;
  allNamespaces?: boolean;
  output?: string;
}

type Row = Record<string, unknown> & { node: string };
const str = (v: unknown): string => (v === undefined || v === null ? "" : Array.isArray(v) ? v.join(",") : String(v));
const col = (header: string, f: (r: Row) => unknown, wide = false): Column<Row> => ({ header, value: (r) => str(f(r)), wide });

function waypointName(w: unknown): string {
  const g = w as { kind?: string; hostname?: string; address?: string } | undefined;
  return g ? (g.kind === "hostname" ? g.hostname!.split(".")[0]! : g.address!) : "None";
}

/** The table of each kind (istioctl's columns where it has them). */
export const COLUMNS: Record<Kind, Column<Row>[]> = {
  workloads: [
    col("NAMESPACE", (r) => r.namespace),
    col("POD NAME", (r) => r.name),
    col("ADDRESS", (r) => r.addresses),
    col("NODE", (r) => r.node),
    col("WAYPOINT", (r) => waypointName(r.waypoint)),
    col("PROTOCOL", (r) => r.tunnelProtocol),
    col("STATUS", (r) => r.status, true),
    col("IDENTITY", (r) => `spiffe://${str(r.trustDomain)}/ns/${str(r.namespace)}/sa/${str(r.serviceAccount)}`, true),
    col("FROM", (r) => r.from, true),
  ],
  services: [
    col("NAMESPACE", (r) => r.namespace),
    col("SERVICE NAME", (r) => r.name),
    col("SERVICE VIP", (r) => (r.addresses as Array<{ address: string }> | undefined)?.map((a) => a.address)),
    col("WAYPOINT", (r) => waypointName(r.waypoint)),
    col("PORTS", (r) =>
      (r.ports as Array<{ servicePort: number; targetPort: number }> | undefined)?.map((p) => `${p.servicePort}:${p.targetPort}`),
    ),
    col("HOSTNAME", (r) => r.hostname, true),
    col("FROM", (r) => r.from, true),
  ],
  policies: [
    col("NAMESPACE", (r) => r.namespace),
    col("POLICY NAME", (r) => r.name),
    col("ACTION", (r) => `${str(r.action)}${r.dryRun ? " (dry run)" : ""}`),
    col("SCOPE", (r) => r.scope),
    col("RULES", (r) => (r.rules as unknown[] | undefined)?.length ?? 0, true),
    col("FROM", (r) => r.from, true),
  ],
  certificates: [
    col("CERTIFICATE NAME", (r) => r.identity),
    col("STATE", (r) => r.state),
    col("SERIAL NUMBER", (r) => r.serial),
    col("NOT AFTER", (r) => r.notAfter),
    col("NOT BEFORE", (r) => r.notBefore, true),
    col("NEXT REFRESH", (r) => r.nextRefresh, true),
    col("LAST ERROR", (r) => r.lastError, true),
    col("NODE", (r) => r.from),
  ],
  connections: [
    col("DIRECTION", (r) => r.direction),
    col("SOURCE", (r) => `${str(r.srcWorkload) || "-"} ${str(r.src)}`),
    col("DESTINATION", (r) => `${str(r.dstWorkload) || "-"} ${str(r.dst)}`),
    col("SERVICE", (r) => r.dstService),
    col("SECURITY", (r) => r.security),
    col("AGE", (r) => age(Date.now() - Date.parse(str(r.startedAt)))),
    col("SENT", (r) => r.bytesSent, true),
    col("RECEIVED", (r) => r.bytesReceived, true),
    col("SOURCE IDENTITY", (r) => r.srcIdentity, true),
    col("DESTINATION IDENTITY", (r) => r.dstIdentity, true),
    col("NODE", (r) => r.from),
  ],
};

/** Pure: the rows of `kind` in one ztunnel's answer, tagged with where they came from. */
export function rowsOf(kind: Kind, answer: unknown, from: string): Row[] {
  const list =
    kind === "connections"
      ? (answer as { connections?: unknown[] }).connections
      : (answer as Record<string, unknown>)[kind === "policies" ? "policies" : kind];
  return Array.isArray(list) ? list.map((x) => ({ ...(x as Row), from })) : [];
}

/** Pure: workloads, services and policies are the same on every node: keep one of each. */
export function dedupe(kind: Kind, rows: Row[]): Row[] {
  if (kind === "certificates" || kind === "connections") return rows;
  const seen = new Map<string, Row>();
  for (const r of rows) {
    const key =
      kind === "workloads"
        ? str(r.uid)
        : kind === "services"
          ? `${str(r.namespace)}/${str(r.hostname)}`
          : `${str(r.namespace)}/${str(r.name)}`;
    if (!seen.has(key)) seen.set(key, r);
  }
  return [...seen.values()];
}

export function registerZtunnelConfig(program: Command): void {
  const zc = subcommand(program, "ztunnel-config", "what a ztunnel holds: workloads, services, policies, certificates, connections");
  examples(zc, [
    "sudo weft ztunnel-config workloads",
    "sudo weft ztunnel-config certificates --node node-1",
    "weft ztunnel-config workloads --node node-1 --kubeconfig ~/.kube/config",
    "weft ztunnel-config connections --ztunnel 127.0.0.1:15000 -o json",
  ]);
  for (const kind of ZTUNNEL_CONFIG_KINDS) {
    const cmd = subcommand(zc, kind, `the ${kind} ztunnel holds`).option(
      "--node <name>",
      "only the ztunnel of this node (default: every node)",
    );
    if (kind !== "certificates") namespaceOptions(cmd, true);
    outputOption(cmd);
    targetOptions(cmd, { ztunnel: true, kube: true });
    action(cmd, (o: Options) => run(kind, o));
  }
}

async function run(kind: Kind, o: Options): Promise<number> {
  if (o.namespace && o.allNamespaces) throw new CliError("-n and -A are exclusive", EXIT_USAGE);
  const all: Endpoint[] = await ztunnelEndpoints(o, true, o.node);
  const path = kind === "connections" ? "/connections" : "/config_dump";
  const rows: Row[] = [];
  try {
    let eps = all;
    if (o.node) {
      eps = eps.filter((e) => e.name === o.node);
      if (!eps.length) throw new CliError(`--node: no node ${JSON.stringify(o.node)} in the local cluster`, EXIT_USAGE);
    }
    for (const ep of eps) {
      const r = await httpGetJson<unknown>(ep, path);
      if (!r.ok) throw new CliError(r.error.message);
      rows.push(...rowsOf(kind, r.value, ep.name));
    }
  } finally {
    await closeEndpoints(all);
  }
  const ns = o.namespace;
  const nsOf = (r: Row): string =>
    str(kind === "connections" ? (r.direction === "inbound" ? r.dstNamespace : r.srcNamespace) : r.namespace);
  const shown = dedupe(kind, rows).filter((r) => !ns || kind === "certificates" || nsOf(r) === ns);
  process.stdout.write(render(outputFormat(o), shown, COLUMNS[kind]));
  return EXIT_OK;
}
