/**
 * The three images weft builds (`npm run images`), as layer lists: weft itself (every component,
 * one image), the pause image the test bed's kubelets use as pod sandbox, and the sample app of
 * the Kubernetes tests. Names and layout are the contract in docs/kubernetes-testbed.md.
 *
 * weft's image holds only what the product runs: the pinned Node binary, production
 * node_modules, compiled dist/src (no tests, no source maps), proto/, the BPF objects, the native
 * addon, and the network tools the capture backends execute (ip, tc, nft, bpftool, nsenter,
 * sysctl) with their shared libraries, all from installed Debian packages.
 */
import { execFileSync } from "node:child_process";
import path from "node:path";
import { mergedUsrLinks, systemFiles, treeEntries, fileEntry } from "./collect.js";
import { WEFT_NODE_FLAGS } from "../common/node-flags.js";
import type { ImageSpec } from "./oci.js";
import type { TarEntry } from "./tar.js";

/** The non-root user weft's image runs as unless a manifest says otherwise (distroless' "nonroot"). */
export const NONROOT = 65532;
export const APP_DIR = "/opt/weft";
export const IMAGE_REGISTRY = "weft.local";

export interface Inputs {
  readonly repo: string;
  readonly version: string;
  /** The pinned Node binary (.runtime/node-v<version>-linux-x64/bin/node). */
  readonly node: string;
  /** Statically linked programs built from images/*.c. */
  readonly pause: string;
  readonly echoServer: string;
}

export interface ImagePlan {
  readonly file: string;
  readonly spec: ImageSpec;
  /** Debian packages the image's system files come from. */
  readonly packages: readonly string[];
}

const NETWORK_TOOLS = ["/usr/sbin/ip", "/usr/sbin/tc", "/usr/sbin/nft", "/usr/sbin/bpftool", "/usr/bin/nsenter", "/usr/sbin/sysctl"];

function etcFiles(): TarEntry[] {
  const text = (s: string): Buffer => Buffer.from(s);
  return [
    {
      path: "etc/passwd",
      type: "file",
      data: text(`root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:${NONROOT}:${NONROOT}:nonroot:/home/nonroot:/sbin/nologin\n`),
    },
    { path: "etc/group", type: "file", data: text(`root:x:0:\nnonroot:x:${NONROOT}:\n`) },
    { path: "etc/nsswitch.conf", type: "file", data: text("hosts: files dns\n") },
    { path: "tmp", type: "dir", mode: 0o1777 },
    { path: "home/nonroot", type: "dir", mode: 0o700, uid: NONROOT, gid: NONROOT },
  ];
}

/** node_modules paths of the production dependency tree (npm ls --omit=dev), relative to the repo. */
function productionPackages(repo: string, omitDev: boolean): string[] {
  const args = ["ls", "--all", "--parseable", ...(omitDev ? ["--omit=dev"] : [])];
  const out = execFileSync("npm", args, { cwd: repo, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
  return out
    .split("\n")
    .filter((l) => l.startsWith(repo + "/node_modules/"))
    .map((l) => path.relative(path.join(repo, "node_modules"), l));
}

/** Keeps a node_modules path when the innermost package holding it is a production one. */
export function productionFilter(prod: readonly string[], all: readonly string[]): (rel: string, isDir: boolean) => boolean {
  const prodSet = new Set(prod);
  const allSorted = [...new Set([...all, ...prod])].sort((a, b) => b.length - a.length);
  return (rel, isDir) => {
    if (rel === ".bin" || rel.endsWith("/.bin") || rel === ".package-lock.json") return false;
    if (!isDir && /(\.d\.ts|\.d\.mts|\.d\.cts|\.map|\.md|\.markdown)$/i.test(rel) && !/licen[cs]e/i.test(rel)) return false;
    // A directory on the way to a production package (a scope, a dev package's node_modules/).
    if (isDir && prod.some((p) => p.startsWith(rel + "/"))) return true;
    const owner = allSorted.find((p) => rel === p || rel.startsWith(p + "/"));
    return owner !== undefined && prodSet.has(owner);
  };
}

export function weftImage(inp: Inputs): ImagePlan {
  const sys = systemFiles(NETWORK_TOOLS, [inp.node, path.join(inp.repo, "native/build/Release/weft_native.node")]);
  const nodeDir = path.dirname(path.dirname(inp.node)); // .runtime/node-v24.x-linux-x64
  const nodeInImage = `${APP_DIR}/.runtime/${path.basename(nodeDir)}/bin/node`;
  const nm = path.join(inp.repo, "node_modules");
  const keepModule = productionFilter(productionPackages(inp.repo, true), productionPackages(inp.repo, false));
  const keepDist = (rel: string, isDir: boolean): boolean => isDir || (rel.endsWith(".js") && !rel.endsWith(".test.js"));
  const app: TarEntry[] = [
    fileEntry(path.join(inp.repo, "package.json"), `${APP_DIR}/package.json`),
    // tsc emits the JSON that dist/src imports (package.json) beside dist/src.
    fileEntry(path.join(inp.repo, "dist/package.json"), `${APP_DIR}/dist/package.json`),
    ...treeEntries(path.join(inp.repo, "dist/src"), `${APP_DIR}/dist/src`, { keep: keepDist }),
    ...treeEntries(path.join(inp.repo, "proto"), `${APP_DIR}/proto`),
    ...treeEntries(path.join(inp.repo, "bpf/build"), `${APP_DIR}/bpf/build`, { keep: (r, d) => d || r.endsWith(".o") }),
    fileEntry(path.join(inp.repo, "native/build/Release/weft_native.node"), `${APP_DIR}/native/build/Release/weft_native.node`),
  ];
  return {
    file: `weft-${inp.version}.tar`,
    packages: [...sys.packages].sort(),
    spec: {
      ref: `${IMAGE_REGISTRY}/weft:${inp.version}`,
      layers: [
        {
          comment: "base: Debian libc and the network tools of the capture backends",
          entries: [...mergedUsrLinks(), ...etcFiles(), ...sys.entries],
        },
        {
          comment: `Node.js ${path.basename(nodeDir)}`,
          entries: [
            fileEntry(inp.node, nodeInImage),
            fileEntry(path.join(nodeDir, "LICENSE"), `${APP_DIR}/.runtime/${path.basename(nodeDir)}/LICENSE`),
            { path: "usr/local/bin/node", type: "symlink", target: nodeInImage },
          ],
        },
        { comment: "production node_modules", entries: treeEntries(nm, `${APP_DIR}/node_modules`, { keep: keepModule }) },
        { comment: "weft", entries: app },
      ],
      config: {
        User: `${NONROOT}:${NONROOT}`,
        Env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "NODE_ENV=production"],
        Entrypoint: [nodeInImage, ...WEFT_NODE_FLAGS, `${APP_DIR}/dist/src/cli/main.js`],
        Cmd: ["--help"],
        WorkingDir: APP_DIR,
        Labels: { "org.opencontainers.image.title": "weft", "org.opencontainers.image.version": inp.version },
      },
    },
  };
}

function staticImage(name: string, binary: string, inp: Inputs, config: ImageSpec["config"]): ImagePlan {
  return {
    file: `${name}-${inp.version}.tar`,
    packages: [],
    spec: {
      ref: `${IMAGE_REGISTRY}/${name}:${inp.version}`,
      layers: [{ comment: `${name}: one static binary`, entries: [fileEntry(binary, `/${path.basename(binary)}`)] }],
      config,
    },
  };
}

export function pauseImage(inp: Inputs): ImagePlan {
  return staticImage("pause", inp.pause, inp, { User: "65535:65535", Entrypoint: [`/${path.basename(inp.pause)}`] });
}

export function sampleAppImage(inp: Inputs): ImagePlan {
  return staticImage("sample-app", inp.echoServer, inp, {
    User: `${NONROOT}:${NONROOT}`,
    Env: ["PORT=8080"],
    Entrypoint: [`/${path.basename(inp.echoServer)}`],
  });
}
