/**
 * `weft authz explain --from SRC --to DST:PORT [--principal TD/ns/NS/sa/SA] [-n NS]`: asks the
 * ztunnel that serves the destination whether the connection would be allowed, and which
 * policy and rule decide, from its live state (GET /authz/explain). SRC and DST are IPs or pod
 * names; a source pod that is in the mesh presents its own identity unless --principal says
 * otherwise (--plaintext: as a client outside the mesh).
 *
 * With `--waypoint HOST:PORT` (the waypoint's admin address) and the request's L7 attributes
 * (`--method`, `--path`, `--host`, `--header NAME:VALUE`, `--claim NAME=VALUE` for a JWT taken as
 * verified), it asks the waypoint instead: its HTTP filters for that request, per policy rule,
 * and the deciding policy and rule (GET /authz/explain on the waypoint; src/waypoint/authz/explain.ts).
 */
import type { Command } from "commander";
import { type Result, err } from "../common/result.js";
import { CliError, EXIT_OK, EXIT_USAGE, action, examples, subcommand } from "./command.js";
import { type Endpoint, type TargetOptions, httpGet, httpGetJson, targetOptions, ztunnelEndpoints } from "./targets.js";
import { type DumpedWorkload, findWorkload, parseWorkloadRef, workloadPrincipal } from "./workload-ref.js";

interface ExplainOptions extends TargetOptions {
  from: string;
  to: string;
  principal?: string;
  plaintext?: boolean;
  namespace?: string;
  waypoint?: string;
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
    .option("--waypoint <host:port>", "L7: ask this waypoint (its admin address) about an HTTP request to --to (a service VIP:PORT)")
    .option("--method <method>", "L7: the request's method (default GET)")
    .option("--path <path>", "L7: the request's path, with query (default /)")
    .option("--host <host>", "L7: the request's host (default DST:PORT)")
    .option("--header <name:value>", "L7: a request header (repeatable)", collect)
    .option(
      "--claim <name=value>",
      "L7: a claim of a JWT taken as verified, e.g. iss=https://issuer sub=alice (repeatable; JSON values read as JSON)",
      collect,
    );
  targetOptions(explain, { ztunnel: true });
  examples(explain, [
    "weft authz explain --from demo/client --to demo/server-0:8080",
    "weft authz explain -n demo --from client --to 198.19.0.10:80",
    "weft authz explain --from 10.0.0.5 --principal cluster.local/ns/demo/sa/client --to 10.0.1.7:8080 --ztunnel 127.0.0.1:15000",
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

const L7_FLAGS = ["method", "path", "host", "header", "claim"] as const;

async function runExplainL7(o: ExplainOptions): Promise<number> {
  const ns = o.namespace ?? DEFAULT_NAMESPACE;
  if (!o.waypoint)
    throw new CliError(
      "L7 flags (--method, --path, --host, --header, --claim) need --waypoint HOST:PORT (the waypoint's admin address)",
      EXIT_USAGE,
    );
  const from = parseWorkloadRef(o.from, ns, false);
  const to = parseWorkloadRef(o.to, ns, true);
  if (!from.ok || from.value.kind !== "ip") throw new CliError("--from: with --waypoint, give the source IP", EXIT_USAGE);
  if (!to.ok || to.value.kind !== "ip") throw new CliError("--to: with --waypoint, give the service VIP:PORT", EXIT_USAGE);
  if (o.principal && o.plaintext) throw new CliError("--principal and --plaintext are exclusive", EXIT_USAGE);
  const q = l7ExplainQuery(o, from.value.ip, to.value.ip, to.value.port!, o.plaintext ? undefined : o.principal);
  const ep = { name: `waypoint ${o.waypoint}`, base: `http://${o.waypoint}` };
  const r = await httpGet(ep, `/authz/explain?${q.toString()}`);
  if (!r.ok) throw new CliError(r.error.message);
  const who = `${from.value.ip} (${o.principal && !o.plaintext ? `spiffe://${o.principal.replace(/^spiffe:\/\//, "")}` : "plaintext"})`;
  process.stdout.write(
    `${q.get("method")} ${q.get("path")} from ${who} to ${to.value.ip}:${to.value.port}, decided by the waypoint at ${o.waypoint}\n${r.value}`,
  );
  return EXIT_OK;
}

async function runExplain(o: ExplainOptions): Promise<number> {
  if (o.waypoint || L7_FLAGS.some((f) => o[f] !== undefined)) return runExplainL7(o);
  const ns = o.namespace ?? DEFAULT_NAMESPACE;
  const from = parseWorkloadRef(o.from, ns, false);
  if (!from.ok) throw new CliError(`--from: ${from.error.message}`, EXIT_USAGE);
  const to = parseWorkloadRef(o.to, ns, true);
  if (!to.ok) throw new CliError(`--to: ${to.error.message}`, EXIT_USAGE);
  if (o.principal && o.plaintext) throw new CliError("--principal and --plaintext are exclusive", EXIT_USAGE);
  const ztunnels = await ztunnelEndpoints(o);
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
