/**
 * The node side of the chained plugin in a Kubernetes cluster (the CNI node agent does this
 * from its DaemonSet pod, with the host's directories mounted at the same paths):
 * - the plugin's runtime on the host: the container runtime runs the plugin on the host, not in
 *   weft's image, so the Node binary and the plugin's own modules (a handful of files, no
 *   node_modules) are copied to `<hostDir>/<version>/`, and the `weft-cni` wrapper in the CNI
 *   bin dir execs them;
 * - weft's entry chained into the primary network configuration (cni-chain.ts), re-checked
 *   periodically because network plugins rewrite their files;
 * - and all of it removed again on uninstall.
 */
import { copyFile, mkdir, readdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { type Result, ok, err } from "../common/result.js";
import { type ChainEntry, chain, primaryConfFile, unchain } from "./cni-chain.js";
import { PLUGIN_TYPE, installPlugin, pluginEntry } from "./plugin-install.js";

export interface ChainPaths {
  /** The container runtime's CNI conf dir, e.g. /etc/cni/net.d. */
  readonly confDir: string;
  /** The CNI plugin dir, e.g. /opt/cni/bin. */
  readonly binDir: string;
  /** Where the plugin's runtime is copied on the host, e.g. /opt/weft. */
  readonly hostDir: string;
}

/** The compiled tree's root (dist/), from this module's location (dist/src/capture/). */
const distRoot = (): string => path.join(__dirname, "..", "..");

/**
 * The files the plugin entry loads (its module closure inside dist/), relative to dist/: read
 * from the compiled `require("./...")` calls, so it does not depend on what this process loaded.
 * Package imports would be a mistake (the host copy has no node_modules): they are an error.
 */
export function pluginModuleFiles(): string[] {
  const seen = new Set<string>();
  const visit = (file: string): void => {
    if (seen.has(file)) return;
    seen.add(file);
    const text = readFileSync(file, "utf8");
    for (const m of text.matchAll(/require\("([^"]+)"\)/g)) {
      const spec = m[1]!;
      if (spec.startsWith("node:")) continue;
      if (!spec.startsWith("."))
        throw new Error(`${file}: the CNI plugin imports package ${JSON.stringify(spec)}; it must stay dependency-free`);
      visit(path.resolve(path.dirname(file), spec));
    }
  };
  visit(pluginEntry());
  return [...seen].map((f) => path.relative(distRoot(), f)).sort();
}

async function writeAtomic(file: string, text: string, mode = 0o644): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}`;
  await writeFile(tmp, text, { mode });
  await rename(tmp, file);
}

async function sameSize(a: string, b: string): Promise<boolean> {
  try {
    return (await stat(a)).size === (await stat(b)).size;
  } catch {
    return false;
  }
}

/** Copies Node and the plugin's modules to `<hostDir>/<version>/` (the Node binary only when missing or different). */
export async function installHostRuntime(hostDir: string, version: string): Promise<{ node: string; entry: string }> {
  const dir = path.join(hostDir, version);
  await mkdir(dir, { recursive: true });
  const node = path.join(dir, "node");
  if (!(await sameSize(process.execPath, node))) {
    await copyFile(process.execPath, `${node}.tmp-${process.pid}`);
    await rename(`${node}.tmp-${process.pid}`, node);
  }
  for (const rel of pluginModuleFiles()) {
    const to = path.join(dir, "dist", rel);
    await mkdir(path.dirname(to), { recursive: true });
    await writeAtomic(to, await readFile(path.join(distRoot(), rel), "utf8"));
  }
  // The modules are CommonJS; without a package.json the host's nearest one could say otherwise.
  await writeAtomic(path.join(dir, "package.json"), '{ "type": "commonjs" }\n');
  return { node, entry: path.join(dir, "dist", path.relative(distRoot(), pluginEntry())) };
}

export type ChainAction = "chained" | "unchanged";

/** Writes weft's entry into the primary conflist (a `.conf` is converted to `.conflist`). */
export async function ensureChained(confDir: string, entry: ChainEntry): Promise<Result<{ file: string; action: ChainAction }>> {
  let names: string[];
  try {
    names = await readdir(confDir);
  } catch (e) {
    return err(new Error(`CNI conf dir ${confDir}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`));
  }
  const primary = primaryConfFile(names);
  if (!primary) return err(new Error(`CNI conf dir ${confDir}: no network configuration yet (waiting for the primary network plugin)`));
  const file = path.join(confDir, primary);
  const r = chain(file, await readFile(file, "utf8"), entry);
  if (!r.ok) return r;
  if (r.value.unchanged) return ok({ file, action: "unchanged" });
  if (r.value.asConflist) {
    const list = file.replace(/\.(conf|json)$/, ".conflist");
    await writeAtomic(list, r.value.text);
    await rm(file, { force: true });
    return ok({ file: list, action: "chained" });
  }
  await writeAtomic(file, r.value.text);
  return ok({ file, action: "chained" });
}

/** Installs the host runtime and the wrapper, then chains. */
export async function installChain(
  p: ChainPaths,
  version: string,
  entry: ChainEntry,
): Promise<Result<{ file: string; action: ChainAction }>> {
  try {
    const rt = await installHostRuntime(p.hostDir, version);
    await installPlugin(p.binDir, rt.node, rt.entry);
  } catch (e) {
    return err(new Error(`installing the CNI plugin into ${p.binDir} and ${p.hostDir}: ${(e as Error).message}`));
  }
  return ensureChained(p.confDir, entry);
}

/** Removes weft's entry from every conflist of the dir, the wrapper and the host runtime; returns what changed. */
export async function removeChain(p: ChainPaths, version: string): Promise<Result<string[]>> {
  const done: string[] = [];
  try {
    for (const n of (await readdir(p.confDir).catch(() => [] as string[])).filter((x) => /\.(conflist|conf|json)$/.test(x))) {
      const file = path.join(p.confDir, n);
      const u = unchain(file, await readFile(file, "utf8"));
      if (u.ok && !u.value.unchanged) {
        await writeAtomic(file, u.value.text);
        done.push(`unchained ${file}`);
      }
    }
    const wrapper = path.join(p.binDir, PLUGIN_TYPE);
    if (
      await stat(wrapper).then(
        () => true,
        () => false,
      )
    ) {
      await rm(wrapper, { force: true });
      done.push(`removed ${wrapper}`);
    }
    const rt = path.join(p.hostDir, version);
    if (
      await stat(rt).then(
        () => true,
        () => false,
      )
    ) {
      await rm(rt, { recursive: true, force: true });
      done.push(`removed ${rt}`);
    }
  } catch (e) {
    return err(new Error(`removing the CNI plugin: ${(e as Error).message}`));
  }
  return ok(done);
}
