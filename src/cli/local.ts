/**
 * `weft local ...` argument handling; the work is in cluster.ts and supervisor.ts.
 *
 *   weft local up [--nodes 2] [--backend ebpf|nftables] [--dir STATE] [--name local] FILES|DIRS...
 *   weft local down [--dir STATE]
 *   weft local status [--dir STATE]
 *   weft local label namespace NAME key=value|key- ...
 *   weft local process stop|start NAME
 *   weft local supervise --dir STATE          (started by up; not for users)
 * Addresses and prefixes can be changed for tests: --prefix, --underlay, --pod-base, --pin-root.
 */
import { readdir, readFile, stat } from "node:fs/promises";
import * as path from "node:path";
import { parseArgs } from "node:util";
import { defaultPlanOptions, down, labelNamespace, setProcessEnabled, status, up } from "../local/cluster.js";
import type { ManifestFile } from "../local/manifests.js";
import { Supervisor } from "../local/supervisor.js";

const USAGE = `usage:
  weft local up [--nodes N] [--backend ebpf|nftables] [--dir STATE] [--name CLUSTER] FILES|DIRS...
  weft local down [--dir STATE]
  weft local status [--dir STATE]
  weft local label namespace NAME key=value|key- ... [--dir STATE]
  weft local process stop|start NAME [--dir STATE]
`;

const DEFAULT_DIR = "/run/weft-local";

async function manifestFiles(args: readonly string[]): Promise<ManifestFile[]> {
  const out: ManifestFile[] = [];
  for (const a of args) {
    const abs = path.resolve(a);
    if ((await stat(abs)).isDirectory()) {
      for (const f of (await readdir(abs)).sort())
        if (/\.(ya?ml|json)$/.test(f)) out.push({ path: path.join(abs, f), text: await readFile(path.join(abs, f), "utf8") });
    } else out.push({ path: abs, text: await readFile(abs, "utf8") });
  }
  return out;
}

export async function runLocal(argv: string[]): Promise<number> {
  const [verb, ...rest] = argv;
  let parsed: ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true; args: string[] }>>;
  const OPTIONS = {
    dir: { type: "string" },
    nodes: { type: "string" },
    backend: { type: "string" },
    name: { type: "string" },
    prefix: { type: "string" },
    underlay: { type: "string" },
    "pod-base": { type: "string" },
    "pin-root": { type: "string" },
  } as const;
  try {
    parsed = parseArgs({ args: rest, options: OPTIONS, allowPositionals: true });
  } catch (e) {
    process.stderr.write(`weft local: ${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  const v = parsed.values;
  const dir = path.resolve(v.dir ?? process.env.WEFT_LOCAL_DIR ?? DEFAULT_DIR);
  const d = defaultPlanOptions();
  const plan = {
    prefix: v.prefix ?? d.prefix,
    cluster: v.name ?? d.cluster,
    nodes: Number(v.nodes ?? d.nodes),
    underlay: v.underlay ?? d.underlay,
    podBase: v["pod-base"] ?? d.podBase,
    pinRoot: v["pin-root"] ?? d.pinRoot,
  };
  const pos = parsed.positionals;
  switch (verb) {
    case "up": {
      if (process.getuid?.() !== 0) {
        process.stderr.write("weft local up: needs root (network namespaces, eBPF, nftables)\n");
        return 1;
      }
      const backend = v.backend ?? "ebpf";
      if (backend !== "ebpf" && backend !== "nftables") {
        process.stderr.write(`weft local up: --backend: ${backend} is not ebpf or nftables\n`);
        return 2;
      }
      let files: ManifestFile[];
      try {
        files = await manifestFiles(pos);
      } catch (e) {
        process.stderr.write(`weft local up: ${(e as Error).message}\n`);
        return 2;
      }
      const r = await up({ dir, plan, backend, files, say: (l) => process.stdout.write(`${l}\n`) });
      if (!r.ok) {
        process.stderr.write(`weft local up: ${r.error.message}\n(logs in ${dir}/logs; everything created was removed)\n`);
        return 1;
      }
      process.stdout.write(`cluster up: ${r.value.nodes.length} nodes, ${r.value.pods.length} pods; state in ${dir}\n`);
      return 0;
    }
    case "down": {
      const removed = await down(dir, plan);
      process.stdout.write(`removed: ${removed.length ? removed.join(", ") : "nothing"}\n`);
      return 0;
    }
    case "status": {
      const r = await status(dir);
      if (!r.ok) {
        process.stderr.write(`${r.error.message}\n`);
        return 1;
      }
      process.stdout.write(r.value);
      return 0;
    }
    case "label": {
      if (pos[0] !== "namespace" || !pos[1] || pos.length < 3) {
        process.stderr.write(USAGE);
        return 2;
      }
      const r = await labelNamespace(dir, pos[1], pos.slice(2));
      if (!r.ok) {
        process.stderr.write(`${r.error.message}\n`);
        return 1;
      }
      process.stdout.write(`namespace/${pos[1]} labels: ${JSON.stringify(r.value)}\n`);
      return 0;
    }
    case "process": {
      if ((pos[0] !== "stop" && pos[0] !== "start") || !pos[1]) {
        process.stderr.write(USAGE);
        return 2;
      }
      const r = await setProcessEnabled(dir, pos[1], pos[0] === "start");
      if (!r.ok) {
        process.stderr.write(`${r.error.message}\n`);
        return 1;
      }
      return 0;
    }
    case "supervise":
      await new Supervisor(dir).run();
      return 0;
    default:
      process.stderr.write(USAGE);
      return 2;
  }
}
