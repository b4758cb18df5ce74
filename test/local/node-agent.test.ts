/**
 * The node agent's behaviour without root: the real agent, the real folder ConfigSource on a
 * temp dir, the real CNI plugin code (sendToAgent) on the real Unix socket, and `FakeBackend`, a
 * RedirectBackend that records captures in memory and can be told to fail (the real backends
 * need root and are driven by test/e2e with both kinds; a fake is what lets a capture failure
 * be injected here).
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { type Result, ok, err } from "../../src/common/result.js";
import type { CaptureDump, NodeCapture, PodCapture, RedirectBackend } from "../../src/capture/backend.js";
import { validateNode } from "../../src/capture/node-config.js";
import { FileSource } from "../../src/kube/folder/file-source.js";
import { NodeAgent } from "../../src/cni/agent/agent.js";
import { sendToAgent } from "../../src/cni/plugin/plugin.js";
import type { PodEvent } from "../../src/capture/agent-api.js";

class FakeBackend implements RedirectBackend {
  readonly kind = "ebpf" as const;
  readonly node: NodeCapture;
  readonly captured = new Map<string, PodCapture>();
  failEnroll = false;
  cleanups = 0;
  constructor() {
    const n = validateNode({ instance: "fake" });
    if (!n.ok) throw n.error;
    this.node = n.value;
  }
  setup(): Promise<Result<void>> {
    return Promise.resolve(ok(undefined));
  }
  enroll(pod: PodCapture): Promise<Result<void>> {
    if (this.failEnroll) return Promise.resolve(err(new Error("fake: enroll refused")));
    this.captured.set(pod.hostVeth, pod);
    return Promise.resolve(ok(undefined));
  }
  unenroll(pod: PodCapture): Promise<Result<void>> {
    this.captured.delete(pod.hostVeth);
    return Promise.resolve(ok(undefined));
  }
  teardown(): Promise<Result<void>> {
    this.captured.clear();
    return Promise.resolve(ok(undefined));
  }
  cleanupStale(): Promise<Result<string[]>> {
    this.cleanups++;
    const had = [...this.captured.keys()];
    this.captured.clear();
    return Promise.resolve(ok(had));
  }
  dump(): Promise<Result<CaptureDump>> {
    return Promise.resolve(err(new Error("fake: no dump")));
  }
}

const dir = mkdtempSync(path.join(tmpdir(), "weft-agent-"));
const config = path.join(dir, "config");
const socket = path.join(dir, "run", "cni.sock");
const stateFile = path.join(dir, "run", "agent-state.json");
const backend = new FakeBackend();
let agent: NodeAgent;

const nsYaml = (labels: string) => `apiVersion: v1\nkind: Namespace\nmetadata: { name: demo, labels: { ${labels} } }\n`;
const podYaml = (name: string, labels = "") =>
  `apiVersion: v1\nkind: Pod\nmetadata: { name: ${name}, namespace: demo, labels: { ${labels} } }\nspec: { nodeName: node-0, containers: [{ name: c, image: x }] }\n`;
const ev = (command: PodEvent["command"], name: string, veth: string, ip: string, containerId = `c-${name}`): PodEvent => ({
  command,
  containerId,
  netns: "",
  ifname: "eth0",
  namespace: "demo",
  name,
  ips: [ip],
  hostInterface: veth,
});

async function until(what: string, f: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!f()) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

function startAgent(): Promise<Result<void>> {
  agent = new NodeAgent({
    node: "node-0",
    socketPath: socket,
    stateFile,
    backend,
    source: new FileSource({ dir: config, debounceMs: 10, rescanMs: 200 }),
    resyncMs: 200,
  });
  return agent.start();
}

before(async () => {
  mkdirSync(config, { recursive: true });
  writeFileSync(path.join(config, "ns.yaml"), nsYaml(""));
  writeFileSync(path.join(config, "web.yaml"), podYaml("web"));
  writeFileSync(path.join(config, "db.yaml"), podYaml("db", "istio.io/dataplane-mode: none"));
  const s = await startAgent();
  assert.ok(s.ok, !s.ok ? s.error.message : "");
});

after(async () => {
  await agent.stop();
  rmSync(dir, { recursive: true, force: true });
});

test("agent: CNI ADD registers pods; an unlabelled namespace captures nothing", async () => {
  for (const e of [ev("ADD", "web", "vweb", "198.19.201.2"), ev("ADD", "db", "vdb", "198.19.201.3")]) {
    const r = await sendToAgent(socket, e, 3000);
    assert.ok(r.ok && r.value.enrolled === false, JSON.stringify(r));
  }
  assert.equal(backend.captured.size, 0);
});

test("agent: labelling the namespace enrolls running pods live, except pods labelled none", async () => {
  writeFileSync(path.join(config, "ns.yaml"), nsYaml("istio.io/dataplane-mode: ambient"));
  await until("web captured", () => backend.captured.has("vweb"));
  assert.deepEqual([...backend.captured.keys()], ["vweb"]);
  assert.deepEqual(backend.captured.get("vweb")!.ips, ["198.19.201.2"]);
  const st = agent.status();
  assert.deepEqual(
    st.pods.map((p) => `${p.key}:${p.applied}`),
    ["demo/db:false", "demo/web:true"],
  );
});

test("agent: an ADD whose capture fails is refused (the runtime retries), and the retry loop enrolls it later", async () => {
  backend.failEnroll = true;
  const r = await sendToAgent(socket, ev("ADD", "api", "vapi", "198.19.201.4"), 3000);
  assert.ok(!r.ok);
  assert.match(r.error.message, /500.*must be enrolled but capture failed.*fake: enroll refused/);
  backend.failEnroll = false;
  await until("api captured by the periodic reconcile", () => backend.captured.has("vapi"));
});

test("agent: sandboxes survive an agent restart (state file) and are re-applied after cleanupStale", async () => {
  assert.match(readFileSync(stateFile, "utf8"), /"vweb"/);
  await agent.stop();
  const before = backend.cleanups;
  assert.ok((await startAgent()).ok);
  assert.equal(backend.cleanups, before + 1, "start cleans what a previous run left");
  await until("captures re-applied", () => backend.captured.has("vweb") && backend.captured.has("vapi"));
});

test("agent: DEL releases the pod; a stale DEL for an older sandbox is ignored", async () => {
  await sendToAgent(socket, ev("ADD", "web", "vweb2", "198.19.201.9", "c-web-2"), 3000);
  await until("web moved to the new sandbox", () => backend.captured.has("vweb2") && !backend.captured.has("vweb"));
  assert.ok((await sendToAgent(socket, ev("DEL", "web", "", "", "c-web"), 3000)).ok);
  assert.ok(backend.captured.has("vweb2"), "old sandbox's DEL does not remove the new one");
  assert.ok((await sendToAgent(socket, ev("DEL", "web", "", "", "c-web-2"), 3000)).ok);
  await until("web released", () => !backend.captured.has("vweb2"));
});

test("agent: removing the label releases every pod; malformed events get 400", async () => {
  writeFileSync(path.join(config, "ns.yaml"), nsYaml(""));
  await until("all released", () => backend.captured.size === 0);
  const bad = await sendToAgent(socket, { ...ev("ADD", "x", "v", "198.19.201.5"), containerId: "" }, 3000);
  assert.ok(!bad.ok);
  assert.match(bad.error.message, /400.*containerId/);
});
