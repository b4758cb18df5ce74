/**
 * @kubernetes/client-node is loaded only by code that talks to an API server (kube-lib.ts):
 * the `weft` entry point, which imports every command, and the ztunnel and waypoint proxies
 * never load it; a KubeSource loads it when it starts, not when it is constructed. Each case
 * runs in a fresh Node process and lists the library's modules it has loaded.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import path from "node:path";

const dist = path.resolve(__dirname, "../..");

/** Runs `body` (CommonJS, `d` = dist root) and returns how many client-node modules it loaded. */
function loadedAfter(body: string): number {
  const script = `const d = ${JSON.stringify(dist)}; ${body};
    process.stdout.write(String(Object.keys(require.cache).filter((k) => k.includes("@kubernetes/client-node")).length));`;
  const r = spawnSync(process.execPath, ["-e", script], { encoding: "utf8", env: { ...process.env, WEFT_LOG: "silent" } });
  assert.equal(r.status, 0, r.stderr);
  return Number(r.stdout.trim());
}

void test("lazy-load: the weft entry point, ztunnel and waypoint never load @kubernetes/client-node", () => {
  const cases: Array<[name: string, body: string, loads: boolean]> = [
    ["weft entry point with every command registered", `require(d + "/src/cli/main.js").buildProgram()`, false],
    ["ztunnel bootstrap", `require(d + "/src/ztunnel/bootstrap.js")`, false],
    ["waypoint proxy command", `require(d + "/src/cli/waypoint.js")`, false],
    [
      "control plane and TokenReview modules, imported",
      `require(d + "/src/controlplane/controlplane.js"); require(d + "/src/controlplane/auth/tokenreview.js")`,
      false,
    ],
    [
      "a KubeSource constructed but not started",
      `const { KubeSource } = require(d + "/src/kube/client/kube-source.js"); new KubeSource({ config: {} })`,
      false,
    ],
    ["a kubeconfig loaded (the library parses it)", `require(d + "/src/kube/client/kube-config.js").loadKubeconfig("/nonexistent")`, true],
  ];
  for (const [name, body, loads] of cases) assert.equal(loadedAfter(body) > 0, loads, name);
});
