/** The plugin installed as the node agent installs it on a host (temp dirs stand in for /etc/cni/net.d, /opt/cni/bin, /opt/weft). */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtemp, mkdir, readFile, readdir, rm, writeFile } from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { installChain, pluginModuleFiles, removeChain } from "./chain-install.js";

const bridge = { cniVersion: "1.0.0", name: "cbr0", plugins: [{ type: "bridge", bridge: "cni0", ipam: { type: "host-local" } }] };

void test("the plugin's module closure is small and has no node_modules", () => {
  const files = pluginModuleFiles();
  assert.ok(files.includes(path.join("src", "cli", "cni-plugin.js")), files.join());
  assert.ok(files.length < 15, `a handful of files: ${files.join(", ")}`);
  assert.ok(!files.some((f) => f.includes("node_modules")));
});

void test("install copies the runtime, writes a working wrapper and chains; again is unchanged; remove restores the host", async (t) => {
  const root = await mkdtemp(path.join(os.tmpdir(), "weft-chain-"));
  t.after(() => rm(root, { recursive: true, force: true }));
  const p = { confDir: path.join(root, "net.d"), binDir: path.join(root, "bin"), hostDir: path.join(root, "opt-weft") };
  await mkdir(p.confDir);
  const original = JSON.stringify(bridge, null, 2) + "\n";
  await writeFile(path.join(p.confDir, "10-bridge.conflist"), original);
  const entry = { type: "weft-cni" as const, agentSocket: "/run/weft/node-a/cni.sock" };

  const r = await installChain(p, "0.1.0", entry);
  assert.ok(r.ok, r.ok ? "" : r.error.message);
  assert.deepEqual(r.value, { file: path.join(p.confDir, "10-bridge.conflist"), action: "chained" });
  const chained = JSON.parse(await readFile(r.value.file, "utf8")) as typeof bridge;
  assert.deepEqual(chained.plugins.at(-1), entry);
  // The wrapper runs the copied runtime, not this process's tree: VERSION answers as the spec says.
  const out = execFileSync(path.join(p.binDir, "weft-cni"), {
    env: { CNI_COMMAND: "VERSION" },
    input: '{"cniVersion":"1.0.0"}',
  }).toString();
  assert.deepEqual(JSON.parse(out).cniVersion, "1.0.0");
  assert.match(await readFile(path.join(p.binDir, "weft-cni"), "utf8"), new RegExp(path.join(p.hostDir, "0.1.0", "node")));

  const again = await installChain(p, "0.1.0", entry);
  assert.ok(again.ok && again.value.action === "unchanged");

  const removed = await removeChain(p, "0.1.0");
  assert.ok(removed.ok);
  assert.equal(removed.value.length, 3, removed.value.join("; "));
  assert.equal(await readFile(path.join(p.confDir, "10-bridge.conflist"), "utf8"), original);
  assert.deepEqual(await readdir(p.binDir), []);
  assert.deepEqual(await readdir(p.hostDir), []);
  const twice = await removeChain(p, "0.1.0");
  assert.ok(twice.ok && twice.value.length === 0, "removing again does nothing");
});

void test("a missing conf dir or no network configuration yet is an error naming the dir", async (t) => {
  const root = await mkdtemp(path.join(os.tmpdir(), "weft-chain-"));
  t.after(() => rm(root, { recursive: true, force: true }));
  const p = { confDir: path.join(root, "net.d"), binDir: path.join(root, "bin"), hostDir: path.join(root, "opt-weft") };
  const entry = { type: "weft-cni" as const, agentSocket: "/s" };
  const missing = await installChain(p, "v", entry);
  assert.ok(!missing.ok && /^CNI conf dir .*net\.d: ENOENT/.test(missing.error.message));
  await mkdir(p.confDir);
  const empty = await installChain(p, "v", entry);
  assert.ok(!empty.ok && /no network configuration yet/.test(empty.error.message));
});
