/**
 * `weft local ...` argument handling; the work is in src/local/cluster.ts and supervisor.ts.
 *
 *   weft local up [--nodes 2] [--backend ebpf|nftables] [--dir STATE] [--name local] FILES|DIRS...
 *   weft local down|status [--dir STATE]
 *   weft local label namespace NAME key=value|key- ...
 *   weft local process stop|start NAME
 *   weft local supervise --dir STATE          (started by up; hidden)
 * Addresses and prefixes can be changed for tests: --prefix, --underlay, --pod-base, --pin-root.
 */
import { readdir, readFile, stat } from "node:fs/promises";
import * as path from "node:path";
import { Argument, Command, Option } from "commander";
import { defaultPlanOptions, down, labelNamespace, setProcessEnabled, status, up } from "../local/cluster.js";
import type { ManifestFile } from "../local/manifests.js";
import { Supervisor } from "../local/supervisor.js";
import { CliError, EXIT_OK, EXIT_USAGE, action, examples, subcommand } from "./command.js";
import { DEFAULT_LOCAL_DIR, localDir } from "./targets.js";

export const DEFAULT_BACKEND = "ebpf";

interface LocalOptions {
  dir?: string;
  nodes?: string;
  backend?: string;
  name?: string;
  prefix?: string;
  underlay?: string;
  podBase?: string;
  pinRoot?: string;
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
  const local = subcommand(program, "local", "up|down|status|label|process: a multi-node local cluster on network namespaces");
  examples(local, ["sudo weft local up examples/demo", "sudo weft local status", "sudo weft local down"]);

  const upCmd = subcommand(local, "up", "create the cluster and run the manifests' pods (root)")
    .argument("<files...>", "YAML files or folders of them (Namespace, Pod, Deployment, Service, mesh config)")
    .option("--nodes <n>", "number of nodes", String(d.nodes))
    .addOption(new Option("--backend <backend>", "capture backend").choices(["ebpf", "nftables"]).default(DEFAULT_BACKEND))
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

  const label = subcommand(local, "label", "change a namespace's labels (enrollment is live)")
    .argument("<kind>", "namespace")
    .argument("<name>", "namespace name")
    .argument("<edits...>", "key=value to set, key- to remove")
    .addOption(dirOption());
  examples(label, [
    "sudo weft local label namespace demo istio.io/dataplane-mode=ambient",
    "sudo weft local label namespace demo istio.io/dataplane-mode-",
  ]);
  action(label, async (v: LocalOptions) => {
    const [kind, name, ...edits] = label.args;
    if (kind !== "namespace") throw new CliError(`only namespaces can be labelled, not ${JSON.stringify(kind)}`, EXIT_USAGE);
    const r = await labelNamespace(dirOf(v), name!, edits);
    if (!r.ok) throw new CliError(r.error.message);
    process.stdout.write(`namespace/${name} labels: ${JSON.stringify(r.value)}\n`);
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
