/**
 * weft's OCI images for the test bed: build/images/ as `npm run images` writes it
 * (src/image/main.ts). Built here when missing or older than the compiled CLI, so the test bed
 * always runs the code under test.
 */
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, statSync } from "node:fs";
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
  // Rebuilt when anything an image is made of is newer than the last build.
  const inputs = ["dist/src/cli/main.js", "dist/src/image/weft-images.js", "images/pause.c", "images/echo-server.c", "package-lock.json"];
  const newest = Math.max(...inputs.map((i) => statSync(path.join(repo, i)).mtimeMs));
  const stale = !existsSync(index) || statSync(index).mtimeMs < newest;
  if (stale) {
    const t0 = Date.now();
    execFileSync(process.execPath, [path.join(repo, "dist/src/image/main.js"), "--out", dir], { stdio: ["ignore", "ignore", "inherit"] });
    log(`images built into ${dir} (${Date.now() - t0} ms)`);
  }
  return readIndex(index);
}

function readIndex(index: string): TestbedImage[] {
  const list = JSON.parse(readFileSync(index, "utf8")) as { ref: string; file: string }[];
  return list.map((i) => ({ name: i.ref.split("/")[1]!.split(":")[0]!, ref: i.ref, file: i.file }));
}
