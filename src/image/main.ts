/**
 * `npm run images`: builds weft's OCI images from this repository and installed Debian packages,
 * with no registry and no container engine, into build/images/ (or the directory given):
 * one OCI archive per image and images.json (reference, file, manifest digest, sizes, Debian
 * packages). Needs a built tree (tsc, scripts/setup.sh's BPF objects and native addon) and gcc.
 *
 * Usage: node dist/src/image/main.js [--out DIR] [--repo DIR]
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, renameSync, writeFileSync, existsSync } from "node:fs";
import path from "node:path";
import { buildImage } from "./oci.js";
import { pauseImage, sampleAppImage, weftImage, type Inputs } from "./weft-images.js";

const thisRepo = path.resolve(__dirname, "../../..");

function need(file: string, hint: string): string {
  if (!existsSync(file)) throw new Error(`images: ${file} is missing: ${hint}`);
  return file;
}

/** gcc -static: the C programs of the small images (images/*.c). */
function compileStatic(src: string, out: string): string {
  execFileSync("gcc", ["-static", "-O2", "-s", "-Wall", "-Wextra", "-Werror", "-o", out, src], { stdio: "inherit" });
  return out;
}

function main(): void {
  const repoIdx = process.argv.indexOf("--repo");
  // Another built worktree's product (e.g. a branch under review); the C programs are this one's.
  const repo = repoIdx > 0 ? path.resolve(process.argv[repoIdx + 1]!) : thisRepo;
  const outIdx = process.argv.indexOf("--out");
  const out = path.resolve(outIdx > 0 ? process.argv[outIdx + 1]! : path.join(repo, "build/images"));
  const pkg = JSON.parse(readFileSync(path.join(repo, "package.json"), "utf8")) as { version: string };
  const nodeVersion = process.env.WEFT_NODE_VERSION ?? process.versions.node;
  const binDir = path.join(out, "bin");
  mkdirSync(binDir, { recursive: true });
  const inp: Inputs = {
    repo,
    version: pkg.version,
    node: need(path.join(repo, `.runtime/node-v${nodeVersion}-linux-x64/bin/node`), "run scripts/setup.sh (it pins Node into .runtime/)"),
    pause: compileStatic(path.join(thisRepo, "images/pause.c"), path.join(binDir, "pause")),
    echoServer: compileStatic(path.join(thisRepo, "images/echo-server.c"), path.join(binDir, "echo-server")),
  };
  need(path.join(repo, "dist/src/cli/main.js"), "build first (npx tsc -p tsconfig.json)");
  need(path.join(repo, "native/build/Release/weft_native.node"), "run scripts/setup.sh (native addon)");
  need(path.join(repo, "bpf/build/capture_from_pod.o"), "run scripts/setup.sh (BPF objects)");
  const report = [];
  for (const plan of [weftImage(inp), pauseImage(inp), sampleAppImage(inp)]) {
    const t0 = Date.now();
    const img = buildImage(plan.spec);
    const file = path.join(out, plan.file);
    writeFileSync(`${file}.tmp`, img.archive);
    renameSync(`${file}.tmp`, file);
    const mb = (n: number): string => (n / 1e6).toFixed(1);
    console.log(`images: ${img.ref} -> ${file} (${mb(img.size)} MB compressed, ${img.manifestDigest.slice(0, 19)}, ${Date.now() - t0} ms)`);
    report.push({
      ref: img.ref,
      file,
      manifestDigest: img.manifestDigest,
      size: img.size,
      layers: img.layers,
      debianPackages: plan.packages,
    });
  }
  writeFileSync(path.join(out, "images.json"), JSON.stringify(report, null, 2) + "\n");
}

main();
