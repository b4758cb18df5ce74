/**
 * Finds (or builds, once) the Kubernetes binaries the tests use: kube-apiserver and etcd for the
 * kube integration tests (scripts/kube-apiserver.sh), and the node and control-loop binaries of
 * the real Kubernetes test bed (scripts/kube-node.sh). Both scripts build from the Go module proxy
 * only and cache by version under $WEFT_CACHE/kube. With WEFT_SKIP_KUBE_BUILD set, a missing cache
 * is a skip, not a build.
 */
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";

const repo = path.resolve(__dirname, "../../..");

export interface KubeBinaries {
  readonly dir: string;
  readonly apiserver: string;
  readonly etcd: string;
}

export interface NodeBinaries {
  readonly dir: string;
  readonly kubelet: string;
  readonly controllerManager: string;
  readonly scheduler: string;
  readonly proxy: string;
  readonly kubectl: string;
}

type Found<T> = { ok: true; value: T } | { ok: false; reason: string };

/** Runs `script --print-dir`, checks the cache with `cached`, builds with `script` on a miss. */
function cachedBuild<T>(scriptName: string, what: string, minutes: string, cached: (dir: string) => T | undefined): Found<T> {
  const script = path.join(repo, "scripts", scriptName);
  const dirRes = spawnSync("bash", [script, "--print-dir"], { encoding: "utf8" });
  if (dirRes.status !== 0) return { ok: false, reason: `${script} --print-dir failed: ${dirRes.stderr}` };
  const dir = dirRes.stdout.trim();
  const hit = cached(dir);
  if (hit) return { ok: true, value: hit };
  if (process.env.WEFT_SKIP_KUBE_BUILD) {
    return { ok: false, reason: `${what} not built (${dir}) and WEFT_SKIP_KUBE_BUILD is set; run scripts/${scriptName}` };
  }
  const t0 = Date.now();
  console.warn(
    `\n!! kube tests: ${what} not cached in ${dir}.\n` +
      `!! BUILDING now from the Go module proxy with scripts/${scriptName} (${minutes} on 2 cores, once per version).\n` +
      `!! Set WEFT_SKIP_KUBE_BUILD=1 to skip these tests instead.\n`,
  );
  const build = spawnSync("bash", [script], { stdio: ["ignore", "pipe", "inherit"], encoding: "utf8" });
  const secs = Math.round((Date.now() - t0) / 1000);
  if (build.status !== 0)
    return { ok: false, reason: `building ${what} failed after ${secs}s (exit ${build.status}); see the output above` };
  console.warn(`!! kube tests: build of ${what} finished in ${secs}s`);
  const built = cached(dir);
  return built ? { ok: true, value: built } : { ok: false, reason: `build ended but ${dir} has no ${what}` };
}

function allPresent<T extends { dir: string }>(b: T, stamp: string): T | undefined {
  const files = Object.entries(b).filter(([k]) => k !== "dir");
  return existsSync(path.join(b.dir, stamp)) && files.every(([, f]) => existsSync(f as string)) ? b : undefined;
}

/** kube-apiserver and etcd, or a reason why the kube tests must skip. */
export function kubeBinaries(): Found<KubeBinaries> {
  return cachedBuild("kube-apiserver.sh", "kube-apiserver and etcd", "10-20 min", (dir) =>
    allPresent({ dir, apiserver: path.join(dir, "kube-apiserver"), etcd: path.join(dir, "etcd") }, "ready"),
  );
}

/** kubelet, kube-controller-manager, kube-scheduler, kube-proxy and kubectl, or a reason to skip. */
export function nodeBinaries(): Found<NodeBinaries> {
  return cachedBuild("kube-node.sh", "kubelet, controller-manager, scheduler, kube-proxy and kubectl", "15-30 min", (dir) =>
    allPresent(
      {
        dir,
        kubelet: path.join(dir, "kubelet"),
        controllerManager: path.join(dir, "kube-controller-manager"),
        scheduler: path.join(dir, "kube-scheduler"),
        proxy: path.join(dir, "kube-proxy"),
        kubectl: path.join(dir, "kubectl"),
      },
      "ready-node",
    ),
  );
}
