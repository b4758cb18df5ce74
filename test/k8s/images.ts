/**
 * weft's OCI images for the test bed: build/images/ as `npm run images` writes it
 * (src/image/main.ts). Built here when missing or older than the compiled CLI, so the test bed
 * always runs the code under test.
 */
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";

const repo = path.resolve(__dirname, "../../..");
const dir = path.join(repo, "build/images");

export interface TestbedImage {
  /** weft, pause, sample-app */
  readonly name: string;
  readonly ref: string;
  readonly file: string;
}

/** WEFT_TESTBED_IMAGES=DIR uses DIR's images as they are (e.g. built with main.js --repo from another worktree). */
export function ensureImages(log: (l: string) => void): TestbedImage[] {
  const given = process.env.WEFT_TESTBED_IMAGES;
  if (given) return readIndex(path.join(given, "images.json"));
  const index = path.join(dir, "images.json");
  // Rebuilt when anything an image is made of is newer than the last build: every compiled file (tsc is incremental and
  // rewrites only what changed, so dist/src/cli/main.js alone missed a changed ztunnel or CNI agent), the BPF objects,
  // the C sources, the lock.
  const inputs = ["images/pause.c", "images/echo-server.c", "package-lock.json"].map((i) => path.join(repo, i));
  const newest = Math.max(
    newestIn(path.join(repo, "dist/src")),
    newestIn(path.join(repo, "bpf/build")),
    ...inputs.map((i) => statSync(i).mtimeMs),
  );
  const stale = !existsSync(index) || statSync(index).mtimeMs < newest;
  if (stale) {
    const t0 = Date.now();
    execFileSync(process.execPath, [path.join(repo, "dist/src/image/main.js"), "--out", dir], { stdio: ["ignore", "ignore", "inherit"] });
    log(`images built into ${dir} (${Date.now() - t0} ms)`);
  }
  return readIndex(index);
}

/** The newest mtime of the files under `dir`. */
function newestIn(dir: string): number {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true }))
    if (e.isFile()) newest = Math.max(newest, statSync(path.join(e.parentPath, e.name)).mtimeMs);
  return newest;
}

function readIndex(index: string): TestbedImage[] {
  const list = JSON.parse(readFileSync(index, "utf8")) as { ref: string; file: string }[];
  return list.map((i) => ({ name: i.ref.split("/")[1]!.split(":")[0]!, ref: i.ref, file: i.file }));
}
