/**
 * `weft local ...` argument handling; the work is in src/local/cluster.ts and supervisor.ts.
 *
 *   weft local up [--nodes 2] [--backend ebpf|nftables] [--ip-family ipv4|dual|ipv6] [--dir STATE] [--name local] FILES|DIRS...
 *   weft local down|status [--dir STATE]
 *   weft local label namespace NAME | service NS/NAME | pod NS/NAME  key=value|key- ...
 *   weft local apply|delete FILES|DIRS...    add/replace or remove config objects (routes, waypoint Gateways)
 *   weft local echo [--port 8080] [--service NAME]   the echo backend, run as a pod's container
 *   weft local process stop|start NAME
 *   weft local supervise --dir STATE          (started by up; hidden)
 * Addresses and prefixes can be changed for tests: --prefix, --underlay, --pod-base, --pin-root.
 */
import { readdir, readFile, stat } from "node:fs/promises";
import * as path from "node:path";
import { Argument, Command, Option } from "commander";
import { defaultPlanOptions, down, labelNamespace, labelObject, setProcessEnabled, status, up } from "../local/cluster.js";
import { apply, remove } from "../local/apply.js";
import { startEcho } from "../local/echo.js";
import { defaultIpFamily } from "../local/network.js";
import { startClusterDns } from "../local/cluster-dns.js";
import type { ManifestFile } from "../local/manifests.js";
import type { IpFamilyMode } from "../local/plan.js";
import { Supervisor } from "../local/supervisor.js";
import { CliError, EXIT_OK, EXIT_USAGE, action, examples, subcommand } from "./command.js";
import { DEFAULT_LOCAL_DIR, localDir } from "./targets.js";

export const DEFAULT_BACKEND = "ebpf";

interface LocalOptions {
  dir?: string;
  port?: string;
  host?: string;
  service?: string;
  failEvery?: string;
  nodes?: string;
  backend?: string;
  name?: string;
  prefix?: string;
  underlay?: string;
  podBase?: string;
  pinRoot?: string;
  ipFamily?: string;
}

async function manifestFiles(args: readonly string[]): Promise<ManifestFile[]> {
  const out: ManifestFile[] = [];
  for (const a of args) {
    const abs = path.resolve(a);
    const st = await stat(abs).catch(() => undefined);
    if (!st) throw new CliError(`${a}: no such file or directory`, EXIT_USAGE);
    if (st.isDirectory()) {
      for (const f of (await readdir(abs)).sort())
        if (/\.(ya?ml|json)$/.test(f)) out.push({ path: path.join(abs, f), text: await readFile(path.join(abs, f), "utf8") });
    } else out.push({ path: abs, text: await readFile(abs, "utf8") });
  }
  return out;
}

function plan(v: LocalOptions) {
  const d = defaultPlanOptions();
  const nodes = Number(v.nodes ?? d.nodes);
  if (!Number.isInteger(nodes) || nodes < 1)
    throw new CliError(`--nodes: ${JSON.stringify(v.nodes)} is not a whole number >= 1`, EXIT_USAGE);
  return {
    prefix: v.prefix ?? d.prefix,
    cluster: v.name ?? d.cluster,
    nodes,
    underlay: v.underlay ?? d.underlay,
    podBase: v.podBase ?? d.podBase,
    pinRoot: v.pinRoot ?? d.pinRoot,
    ipFamily: v.ipFamily === "ipv4" || v.ipFamily === "dual" || v.ipFamily === "ipv6" ? (v.ipFamily as IpFamilyMode) : defaultIpFamily(),
  };
}

const dirOption = () => new Option("--dir <state>", `state folder (env WEFT_LOCAL_DIR, default ${DEFAULT_LOCAL_DIR})`);
const dirOf = (v: LocalOptions): string => path.resolve(localDir(v));

function testOptions(cmd: Command): Command {
  const d = defaultPlanOptions();
  for (const [flag, help] of [
    ["--prefix <prefix>", `network namespace name prefix (default ${d.prefix})`],
    ["--underlay <ip>", `underlay network address (default ${d.underlay})`],
    ["--pod-base <ip>", `first node's pod network (default ${d.podBase})`],
    ["--pin-root <dir>", `BPF pin root (default ${d.pinRoot})`],
  ] as const)
    cmd.addOption(new Option(flag, help).hideHelp(process.env.WEFT_HELP_ALL === undefined));
  return cmd;
}

export function registerLocal(program: Command): void {
  const d = defaultPlanOptions();
  const local = subcommand(
    program,
    "local",
    "up|down|status|label|apply|delete|process|echo|dns: a multi-node local cluster on network namespaces",
  );
  examples(local, ["sudo weft local up examples/demo", "sudo weft local status", "sudo weft local down"]);

  const upCmd = subcommand(local, "up", "create the cluster and run the manifests' pods (root)")
    .argument("<files...>", "YAML files or folders of them (Namespace, Pod, Deployment, Service, mesh config)")
    .option("--nodes <n>", "number of nodes", String(d.nodes))
    .addOption(new Option("--backend <backend>", "capture backend").choices(["ebpf", "nftables"]).default(DEFAULT_BACKEND))
    .addOption(
      new Option(
        "--ip-family <family>",
        "pod addresses: ipv4, dual (IPv4 and an IPv6 ULA address, captured in both) or ipv6 (the IPv6 ULA address only); default dual when the host has IPv6",
      ).choices(["ipv4", "dual", "ipv6"]),
    )
    .option("--name <cluster>", "cluster name", d.cluster)
    .addOption(dirOption());
  testOptions(upCmd);
  examples(upCmd, ["sudo weft local up examples/demo", "sudo weft local up --nodes 3 --backend nftables app.yaml policies/"]);
  action(upCmd, async (v: LocalOptions) => {
    if (process.getuid?.() !== 0) throw new CliError("needs root (network namespaces, eBPF, nftables)");
    const dir = dirOf(v);
    const files = await manifestFiles(upCmd.args);
    const r = await up({
      dir,
      plan: plan(v),
      backend: (v.backend ?? DEFAULT_BACKEND) as "ebpf" | "nftables",
      files,
      say: (l) => process.stdout.write(`${l}\n`),
    });
    if (!r.ok) throw new CliError(`${r.error.message}\n(logs in ${dir}/logs; everything created was removed)`);
    process.stdout.write(`cluster up: ${r.value.nodes.length} nodes, ${r.value.pods.length} pods; state in ${dir}\n`);
    return EXIT_OK;
  });

  // The plan options matter when the state is gone (a crashed run): they name what to remove.
  const downCmd = subcommand(local, "down", "stop every process and remove the namespaces, captures and pins")
    .option("--name <cluster>", "cluster name, when the state folder is lost", d.cluster)
    .option("--nodes <n>", "number of nodes, when the state folder is lost", String(d.nodes))
    .addOption(dirOption());
  testOptions(downCmd);
  action(downCmd, async (v: LocalOptions) => {
    const removed = await down(dirOf(v), plan(v));
    process.stdout.write(`removed: ${removed.length ? removed.join(", ") : "nothing"}\n`);
    return EXIT_OK;
  });

  const statusCmd = subcommand(local, "status", "nodes, pods with their capture state, services and processes").addOption(dirOption());
  action(statusCmd, async (v: LocalOptions) => {
    const r = await status(dirOf(v));
    if (!r.ok) throw new CliError(r.error.message);
    process.stdout.write(r.value);
    return EXIT_OK;
  });

  const label = subcommand(local, "label", "change a namespace's, service's or pod's labels (live, as kubectl label)")
    .addArgument(new Argument("<kind>", "what to label").choices(["namespace", "service", "pod"]))
    .argument("<name>", "namespace name, or NAMESPACE/NAME of a service or pod")
    .argument("<edits...>", "key=value to set, key- to remove")
    .addOption(dirOption());
  examples(label, [
    "sudo weft local label namespace demo istio.io/dataplane-mode=ambient",
    "sudo weft local label namespace demo istio.io/dataplane-mode-",
    "sudo weft local label service bookinfo/reviews istio.io/use-waypoint=waypoint",
  ]);
  action(label, async (v: LocalOptions) => {
    const [kind, name, ...edits] = label.args;
    const r =
      kind === "namespace"
        ? await labelNamespace(dirOf(v), name!, edits)
        : await labelObject(dirOf(v), kind as "service" | "pod", name!, edits);
    if (!r.ok) throw new CliError(r.error.message);
    process.stdout.write(`${kind}/${name} labels: ${JSON.stringify(r.value)}\n`);
    return EXIT_OK;
  });

  for (const verb of ["apply", "delete"] as const) {
    const cmd = subcommand(
      local,
      verb,
      verb === "apply"
        ? "add or replace config objects of a running cluster (routes, policies, waypoint Gateways: their pods start)"
        : "remove config objects of a running cluster (a waypoint Gateway's pod and Service go with it)",
    )
      .argument("<files...>", "YAML files or folders of them")
      .addOption(dirOption());
    examples(cmd, [
      `sudo weft local ${verb} examples/bookinfo-waypoint/waypoint`,
      `sudo weft local ${verb} examples/bookinfo-waypoint/httproute`,
    ]);
    action(cmd, async (v: LocalOptions) => {
      if (process.getuid?.() !== 0) throw new CliError("needs root (pod network namespaces)");
      const files = await manifestFiles(cmd.args);
      const r = verb === "apply" ? await apply(dirOf(v), files) : await remove(dirOf(v), files);
      if (!r.ok) throw new CliError(r.error.message);
      for (const l of r.value.lines) process.stdout.write(`${l}\n`);
      return EXIT_OK;
    });
  }

  const echo = subcommand(local, "echo", "the echo backend (a pod's container): JSON of its pod and the request, HTTP/1.1, h2c, gRPC")
    .option("--port <port>", "port (env PORT)", process.env.PORT ?? "8080")
    .option("--host <ip>", "address to listen on", "0.0.0.0")
    .option("--service <name>", "service name to report (env SERVICE_NAME)")
    .option("--fail-every <n>", "answer every nth request with 503 (a partly failing backend, for resilience tests)");
  examples(echo, ["weft local echo --port 9080 --service reviews", "weft local echo --fail-every 2   # half the requests get 503"]);
  action(echo, async (v: LocalOptions) => {
    const port = Number(v.port);
    if (!Number.isInteger(port) || port < 1 || port > 65535)
      throw new CliError(`--port: ${JSON.stringify(v.port)} is not a port`, EXIT_USAGE);
    const failEvery = v.failEvery === undefined ? undefined : Number(v.failEvery);
    if (failEvery !== undefined && (!Number.isInteger(failEvery) || failEvery < 2))
      throw new CliError(`--fail-every: ${JSON.stringify(v.failEvery)} is not an integer >= 2`, EXIT_USAGE);
    const env = process.env;
    const host = v.host ?? "0.0.0.0";
    const s = await startEcho({
      host,
      port,
      pod: env.POD_NAME ?? "",
      namespace: env.POD_NAMESPACE ?? "",
      node: env.NODE_NAME ?? "",
      service: v.service ?? env.SERVICE_NAME ?? "",
      log: (l) => process.stdout.write(`${l}\n`),
      ...(failEvery !== undefined ? { failEvery } : {}),
    });
    if (!s.ok) throw new CliError(s.error.message);
    process.stdout.write(`echo listening on ${host}:${s.value.port} (HTTP/1.1, h2c, gRPC)\n`);
    await new Promise<void>((resolve) => {
      process.once("SIGTERM", resolve);
      process.once("SIGINT", resolve);
    });
    await s.value.close();
    return EXIT_OK;
  });

  const dns = subcommand(local, "dns", "the cluster DNS (a pod's nameserver): A records of the Services, NXDOMAIN otherwise")
    .requiredOption(
      "--listen <ip:port>",
      "address to serve on (UDP and TCP; repeatable; IPv6 as [ip]:port)",
      (x: string, prev: string[] = []) => [...prev, x],
    )
    .requiredOption("--zone <file>", "JSON: name -> addresses (IPv4 and IPv6)");
  action(dns, async (v: { listen: string[]; zone: string }) => {
    const at: { host: string; port: number }[] = [];
    for (const l of v.listen) {
      const i = l.lastIndexOf(":");
      const port = Number(l.slice(i + 1));
      if (i < 0 || !Number.isInteger(port) || port < 1 || port > 65535) throw new CliError(`--listen: ${l} is not IP:PORT`, EXIT_USAGE);
      at.push({ host: l.slice(0, i).replace(/^\[(.*)\]$/, "$1"), port });
    }
    const zone = JSON.parse(await readFile(v.zone, "utf8")) as Record<string, string[]>;
    const servers = [];
    for (const a of at) {
      const s = await startClusterDns(a.host, a.port, zone);
      if (!s.ok) throw new CliError(s.error.message);
      servers.push(s.value);
    }
    process.stdout.write(`cluster dns on ${v.listen.join(", ")}: ${Object.keys(zone).length} names\n`);
    await new Promise<void>((resolve) => {
      process.once("SIGTERM", resolve);
      process.once("SIGINT", resolve);
    });
    for (const s of servers) await s.close();
    return EXIT_OK;
  });

  const proc = subcommand(local, "process", "stop or start one of the cluster's processes (the supervisor stops restarting it)")
    .addArgument(new Argument("<verb>", "stop or start").choices(["stop", "start"]))
    .argument("<name>", "process name, e.g. ztunnel-node-0 (see weft local status)")
    .addOption(dirOption());
  examples(proc, ["sudo weft local process stop ztunnel-node-1", "sudo weft local process start ztunnel-node-1"]);
  action(proc, async (v: LocalOptions) => {
    const [verb, name] = proc.args;
    const r = await setProcessEnabled(dirOf(v), name!, verb === "start");
    if (!r.ok) throw new CliError(r.error.message);
    return EXIT_OK;
  });

  const sup = new Command("supervise");
  local.addCommand(sup, { hidden: true });
  sup.addOption(dirOption()).exitOverride();
  action(sup, async (v: LocalOptions) => {
    await new Supervisor(dirOf(v)).run();
    return EXIT_OK;
  });
}
