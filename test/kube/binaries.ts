/**
 * Finds (or builds, once) the kube-apiserver and etcd binaries the kube integration tests use.
 * The build is scripts/kube-apiserver.sh (Go module proxy only, cached by version under
 * $WEFT_CACHE/kube). With WEFT_SKIP_KUBE_BUILD set, a missing cache is a skip, not a build.
 */
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";

const repo = path.resolve(__dirname, "../../..");
const script = path.join(repo, "scripts/kube-apiserver.sh");

export interface KubeBinaries {
  readonly dir: string;
  readonly apiserver: string;
  readonly etcd: string;
}

function cached(dir: string): KubeBinaries | undefined {
  const b = { dir, apiserver: path.join(dir, "kube-apiserver"), etcd: path.join(dir, "etcd") };
  return existsSync(path.join(dir, "ready")) && existsSync(b.apiserver) && existsSync(b.etcd) ? b : undefined;
}

/** The binaries, or a reason why the kube tests must skip. */
export function kubeBinaries(): { ok: true; value: KubeBinaries } | { ok: false; reason: string } {
  const dirRes = spawnSync("bash", [script, "--print-dir"], { encoding: "utf8" });
  if (dirRes.status !== 0) return { ok: false, reason: `${script} --print-dir failed: ${dirRes.stderr}` };
  const dir = dirRes.stdout.trim();
  const hit = cached(dir);
  if (hit) return { ok: true, value: hit };
  if (process.env.WEFT_SKIP_KUBE_BUILD) {
    return { ok: false, reason: `kube-apiserver is not built (${dir}) and WEFT_SKIP_KUBE_BUILD is set; run scripts/kube-apiserver.sh` };
  }
  const t0 = Date.now();
  console.warn(
    `\n!! kube tests: kube-apiserver and etcd are not cached in ${dir}.\n` +
      `!! BUILDING them now from the Go module proxy with scripts/kube-apiserver.sh (10-20 min on 2 cores, once per version).\n` +
      `!! Set WEFT_SKIP_KUBE_BUILD=1 to skip these tests instead.\n`,
  );
  const build = spawnSync("bash", [script], { stdio: ["ignore", "pipe", "inherit"], encoding: "utf8" });
  const secs = Math.round((Date.now() - t0) / 1000);
  if (build.status !== 0)
    return { ok: false, reason: `building kube-apiserver failed after ${secs}s (exit ${build.status}); see the output above` };
  console.warn(`!! kube tests: build finished in ${secs}s`);
  const built = cached(dir);
  return built ? { ok: true, value: built } : { ok: false, reason: `build ended but ${dir} has no binaries` };
}
