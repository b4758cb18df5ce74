/**
 * `weft authz explain --from SRC --to DST:PORT [--principal TD/ns/NS/sa/SA] [-n NS]`: asks the
 * ztunnel that serves the destination whether the connection would be allowed, and which
 * policy and rule decide, from its live state (GET /authz/explain). SRC and DST are IPs or pod
 * names; a source pod that is in the mesh presents its own identity unless --principal says
 * otherwise (--plaintext: as a client outside the mesh).
 *
 * With `--l7` or the request's L7 attributes (`--method`, `--path`, `--host`, `--header
 * NAME:VALUE`, `--claim NAME=VALUE` for a JWT taken as verified), it asks the waypoint that serves
 * the destination instead (found from a ztunnel's state, waypoint-target.ts: the Service's or the
 * workload's `waypoint`, then that waypoint's proxy pods; `--waypoint HOST:PORT` overrides): its
 * HTTP filters for that request, per policy rule, and the deciding policy and rule (GET
 * /authz/explain on the waypoint; src/waypoint/authz/explain.ts).
 *
 * The ztunnels and waypoints are found as for the other inspection verbs (targets.ts): the local
 * cluster, or a Kubernetes cluster, where each is reached through a port-forward to its pod.
 */
import type { Command } from "commander";
import { type Result, err } from "../common/result.js";
import { CliError, EXIT_OK, EXIT_USAGE, action, examples, subcommand } from "./command.js";
import {
  DEFAULT_WAYPOINT_ADMIN_PORT,
  type Endpoint,
  type TargetOptions,
  closeEndpoints,
  httpGet,
  httpGetJson,
  podEndpoint,
  targetOptions,
  ztunnelEndpoints,
} from "./targets.js";
import { type DumpedEndpoint, type DumpedService, waypointFor } from "./waypoint-target.js";
import { type DumpedWorkload, findWorkload, parseWorkloadRef, workloadPrincipal } from "./workload-ref.js";

interface ExplainOptions extends TargetOptions {
  from: string;
  to: string;
  principal?: string;
  plaintext?: boolean;
  namespace?: string;
  waypoint?: string;
  l7?: boolean;
  method?: string;
  path?: string;
  host?: string;
  header?: string[];
  claim?: string[];
}

const collect = (v: string, prev: string[] = []) => [...prev, v];

export const DEFAULT_NAMESPACE = "default";

export function registerAuthz(program: Command): void {
  const authz = subcommand(program, "authz", "authorization tools: explain a decision");
  const explain = subcommand(
    authz,
    "explain",
    "would a connection be allowed, and which policy and rule decide (asks the destination's ztunnel)",
  )
    .requiredOption("--from <src>", "source: IP, POD or NAMESPACE/POD")
    .requiredOption("--to <dst:port>", "destination: IP:PORT, POD:PORT or NAMESPACE/POD:PORT")
    .option("--principal <td/ns/NS/sa/SA>", "source identity (default: the source pod's own when it is in the mesh)")
    .option("--plaintext", "the source connects without mTLS (no identity)")
    .option("-n, --namespace <ns>", `namespace of bare pod names (default ${DEFAULT_NAMESPACE})`)
    .option("--l7", "L7: ask the waypoint that serves --to about an HTTP request (implied by the L7 flags below)")
    .option("--waypoint <host:port>", "L7: ask this waypoint (its admin address) instead of the one found from the mesh's state")
    .option("--method <method>", "L7: the request's method (default GET)")
    .option("--path <path>", "L7: the request's path, with query (default /)")
    .option("--host <host>", "L7: the request's host (default DST:PORT)")
    .option("--header <name:value>", "L7: a request header (repeatable)", collect)
    .option(
      "--claim <name=value>",
      "L7: a claim of a JWT taken as verified, e.g. iss=https://issuer sub=alice (repeatable; JSON values read as JSON)",
      collect,
    );
  targetOptions(explain, { ztunnel: true, kube: true });
  examples(explain, [
    "weft authz explain --from demo/client --to demo/server-0:8080",
    "weft authz explain -n demo --from client --to 198.19.0.10:80",
    "weft authz explain --from 10.0.0.5 --principal cluster.local/ns/demo/sa/client --to 10.0.1.7:8080 --ztunnel 127.0.0.1:15000",
    "weft authz explain -n demo --from client --to 198.19.0.10:80 --path /admin   # L7: the service's waypoint decides",
    "weft authz explain -n demo --from client --to server-0:8080 --kubeconfig ~/.kube/config   # Kubernetes: through port-forwards",
    "weft authz explain --waypoint 10.0.2.3:15000 --from 10.0.0.5 --principal cluster.local/ns/demo/sa/client --to 198.19.0.10:80 --method POST --path /admin --claim iss=https://issuer.example --claim sub=alice",
  ]);
  action(explain, (o: ExplainOptions) => runExplain(o));
}

/** The query of the waypoint's /authz/explain for the L7 flags (pure; validated here so usage errors exit 2). */
export function l7ExplainQuery(o: ExplainOptions, src: string, dst: string, port: number, principal: string | undefined): URLSearchParams {
  const q = new URLSearchParams({ dst, port: String(port), src, method: o.method ?? "GET", path: o.path ?? "/" });
  if (o.host) q.set("host", o.host);
  if (principal) q.set("principal", principal);
  for (const h of o.header ?? []) {
    if (h.indexOf(":") <= 0) throw new CliError(`--header ${JSON.stringify(h)}: want NAME:VALUE`, EXIT_USAGE);
    q.append("header", h);
  }
  for (const c of o.claim ?? []) {
    if (c.indexOf("=") <= 0) throw new CliError(`--claim ${JSON.stringify(c)}: want NAME=VALUE`, EXIT_USAGE);
    q.append("claim", c);
  }
  if (o.claim?.length && !o.claim.some((c) => c.startsWith("iss=")))
    throw new CliError("--claim: a JWT needs its issuer (--claim iss=...)", EXIT_USAGE);
  return q;
}

const L7_FLAGS = ["l7", "method", "path", "host", "header", "claim"] as const;

/** The source and destination of an L7 question: IPs, or pods resolved through a ztunnel's workloads. */
async function l7Endpoints(o: ExplainOptions, dump: () => Promise<ZtunnelDump>) {
  const ns = o.namespace ?? DEFAULT_NAMESPACE;
  const from = parseWorkloadRef(o.from, ns, false);
  if (!from.ok) throw new CliError(`--from: ${from.error.message}`, EXIT_USAGE);
  const to = parseWorkloadRef(o.to, ns, true);
  if (!to.ok) throw new CliError(`--to: ${to.error.message}`, EXIT_USAGE);
  const workloads = from.value.kind === "pod" || to.value.kind === "pod" ? (await dump()).workloads : [];
  const src = findWorkload(from.value, workloads);
  if (!src.ok) throw new CliError(`--from: ${src.error.message}`);
  const dst = findWorkload(to.value, workloads);
  if (!dst.ok) throw new CliError(`--to: ${dst.error.message}`);
  const srcIp = from.value.kind === "ip" ? from.value.ip : src.value!.addresses[0]!;
  const dstIp = to.value.kind === "ip" ? to.value.ip : dst.value!.addresses[0]!;
  // A source pod in the mesh presents its own identity (as at L4); an IP is plaintext unless --principal.
  const principal = o.plaintext
    ? undefined
    : (o.principal ?? (src.value?.tunnelProtocol === "HBONE" ? workloadPrincipal(src.value) : undefined));
  const srcName = src.value && from.value.kind === "pod" ? `${src.value.namespace}/${src.value.name} ` : "";
  return { srcIp, dstIp, port: to.value.port!, principal, srcName };
}

interface ZtunnelDump {
  readonly workloads: DumpedEndpoint[];
  readonly services: DumpedService[];
}

/**
 * The admin endpoint of the waypoint that serves `dstIp` (its first healthy proxy), found from the
 * mesh's state: inside the local cluster's pod, or through a port-forward to the Kubernetes pod.
 */
async function discoverWaypoint(o: ExplainOptions, dstIp: string, dump: ZtunnelDump): Promise<{ ep: Endpoint; what: string }> {
  const t = waypointFor(dstIp, dump.services, dump.workloads);
  if (!t.ok) throw new CliError(`--to: ${t.error.message}`);
  const proxy = t.value.proxies[0]!;
  const what = `waypoint ${t.value.waypoint.namespace}/${t.value.waypoint.name} (pod ${proxy.namespace}/${proxy.name}), serving ${t.value.destination}`;
  const ep = await podEndpoint(o, proxy.namespace, proxy.name, DEFAULT_WAYPOINT_ADMIN_PORT, true);
  if (!ep)
    throw new CliError(
      `--to: served by ${what}, whose admin port is on the pod's loopback: give --waypoint HOST:PORT ` +
        `(e.g. kubectl port-forward -n ${proxy.namespace} pod/${proxy.name} 15000)`,
    );
  return { ep: { ...ep, name: `waypoint ${t.value.waypoint.namespace}/${t.value.waypoint.name}` }, what };
}

/** Runs `fn` with a list it adds endpoints to; their port-forwards are closed when it ends. */
async function holding<T>(fn: (held: Endpoint[]) => Promise<T>): Promise<T> {
  const held: Endpoint[] = [];
  try {
    return await fn(held);
  } finally {
    await closeEndpoints(held);
  }
}

async function runExplainL7(o: ExplainOptions, held: Endpoint[]): Promise<number> {
  if (o.principal && o.plaintext) throw new CliError("--principal and --plaintext are exclusive", EXIT_USAGE);
  // Validated before anything is asked, so usage errors exit 2.
  l7ExplainQuery(o, "0.0.0.0", "0.0.0.0", 1, undefined);
  let cached: ZtunnelDump | undefined;
  const dump = async (): Promise<ZtunnelDump> => {
    if (cached) return cached;
    const zs = await ztunnelEndpoints(o, true);
    held.push(...zs);
    const z = await httpGetJson<{ workloads?: DumpedEndpoint[]; services?: DumpedService[] }>(zs[0]!, "/config_dump");
    if (!z.ok) throw new CliError(z.error.message);
    cached = { workloads: z.value.workloads ?? [], services: z.value.services ?? [] };
    return cached;
  };
  const e = await l7Endpoints(o, dump);
  const q = l7ExplainQuery(o, e.srcIp, e.dstIp, e.port, e.principal);
  const at = o.waypoint
    ? { ep: { name: `waypoint ${o.waypoint}`, base: `http://${o.waypoint}` }, what: `the waypoint at ${o.waypoint}` }
    : await discoverWaypoint(o, e.dstIp, await dump());
  held.push(at.ep);
  const r = await httpGet(at.ep, `/authz/explain?${q.toString()}`);
  if (!r.ok) throw new CliError(r.error.message);
  const who = `${e.srcName}${e.srcIp} (${e.principal ? `spiffe://${e.principal.replace(/^spiffe:\/\//, "")}` : "plaintext"})`;
  process.stdout.write(`${q.get("method")} ${q.get("path")} from ${who} to ${e.dstIp}:${e.port}, decided by ${at.what}\n${r.value}`);
  return EXIT_OK;
}

function runExplain(o: ExplainOptions): Promise<number> {
  return holding((held) => (o.waypoint || L7_FLAGS.some((f) => o[f] !== undefined) ? runExplainL7(o, held) : runExplainL4(o, held)));
}

async function runExplainL4(o: ExplainOptions, held: Endpoint[]): Promise<number> {
  const ns = o.namespace ?? DEFAULT_NAMESPACE;
  const from = parseWorkloadRef(o.from, ns, false);
  if (!from.ok) throw new CliError(`--from: ${from.error.message}`, EXIT_USAGE);
  const to = parseWorkloadRef(o.to, ns, true);
  if (!to.ok) throw new CliError(`--to: ${to.error.message}`, EXIT_USAGE);
  if (o.principal && o.plaintext) throw new CliError("--principal and --plaintext are exclusive", EXIT_USAGE);
  const ztunnels = await ztunnelEndpoints(o, true);
  held.push(...ztunnels);
  const workloads = await dumpedWorkloads(ztunnels[0]!);
  if (!workloads.ok) throw new CliError(workloads.error.message);
  const src = findWorkload(from.value, workloads.value);
  if (!src.ok) throw new CliError(`--from: ${src.error.message}`);
  const dst = findWorkload(to.value, workloads.value);
  if (!dst.ok) throw new CliError(`--to: ${dst.error.message}`);
  const srcIp = from.value.kind === "ip" ? from.value.ip : src.value!.addresses[0]!;
  const dstIp = to.value.kind === "ip" ? to.value.ip : dst.value!.addresses[0]!;
  if (!dst.value) throw new CliError(`--to: no workload has address ${dstIp}`);
  const principal = o.plaintext
    ? undefined
    : (o.principal ?? (src.value?.tunnelProtocol === "HBONE" ? workloadPrincipal(src.value) : undefined));
  // The destination's own ztunnel decides; with one explicit --ztunnel, that one.
  const zt = ztunnels.find((z) => z.name === dst.value!.node) ?? ztunnels[0]!;
  const q = new URLSearchParams({ src: srcIp, dst: dstIp, port: String(to.value.port), ...(principal ? { principal } : {}) });
  const r = await httpGet(zt, `/authz/explain?${q.toString()}`);
  if (!r.ok) throw new CliError(r.error.message);
  const who = `${src.value ? `${src.value.namespace}/${src.value.name} ` : ""}${srcIp} (${principal ? `spiffe://${principal.replace(/^spiffe:\/\//, "")}` : "plaintext"})`;
  process.stdout.write(
    `from ${who} to ${dst.value.namespace}/${dst.value.name} ${dstIp}:${to.value.port}, decided by the ztunnel on ${zt.name}\n${r.value}`,
  );
  return EXIT_OK;
}

export async function dumpedWorkloads(ep: Endpoint): Promise<Result<DumpedWorkload[]>> {
  const dump = await httpGetJson<{ workloads?: DumpedWorkload[] }>(ep, "/config_dump");
  if (!dump.ok) return dump;
  return Array.isArray(dump.value.workloads)
    ? { ok: true, value: dump.value.workloads }
    : err(new Error(`${ep.name}: config dump has no workloads`));
}
