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
  enrolls = 0;
  /** Host veths released, in order (unenroll or cleanupStale). */
  readonly released: string[] = [];
  /** What version() answers: changing it stands for an upgrade of the programs. */
  versionValue = "fake/1";
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
    this.enrolls++;
    this.captured.set(pod.hostVeth, pod);
    return Promise.resolve(ok(undefined));
  }
  unenroll(pod: PodCapture): Promise<Result<void>> {
    this.released.push(pod.hostVeth);
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
    this.released.push(...had);
    this.captured.clear();
    return Promise.resolve(ok(had));
  }
  dump(): Promise<Result<CaptureDump>> {
    return Promise.resolve(err(new Error("fake: no dump")));
  }
  version(): Promise<Result<string>> {
    return Promise.resolve(ok(this.versionValue));
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

test("agent: a restart of the same backend version keeps the captures (no window), then re-enrolls every desired pod", async () => {
  type State = { capture?: { backend: string; version: string; applied: { key: string }[] } };
  const read = (): State => JSON.parse(readFileSync(stateFile, "utf8")) as State;
  // The state file is written after the round that enrolled api (the previous test saw the capture itself).
  await until("the state file lists both captures", () => read().capture?.applied.length === 2);
  const state = read();
  assert.deepEqual(
    { backend: state.capture?.backend, version: state.capture?.version, applied: state.capture?.applied.map((c) => c.key).sort() },
    { backend: "ebpf", version: "fake/1", applied: ["demo/api", "demo/web"] },
    "the state file records the applied captures with the backend's kind and version",
  );
  await agent.stop();
  const cleanups = backend.cleanups;
  const enrolls = backend.enrolls;
  const released = backend.released.length;
  assert.ok((await startAgent()).ok);
  assert.equal(backend.cleanups, cleanups, "nothing cleaned up");
  assert.ok(backend.captured.has("vweb") && backend.captured.has("vapi"), "captures still in place right after start");
  await until("both pods enrolled again by the first reconcile", () => backend.enrolls >= enrolls + 2);
  assert.deepEqual(backend.released.slice(released), [], "no pod released at any point of the restart");
  assert.deepEqual(
    agent.status().pods.map((p) => `${p.key}:${p.applied}`),
    ["demo/api:true", "demo/db:false", "demo/web:true"],
  );
});

test("agent: a restart on another backend version (an upgrade) cleans the previous run's state up, then re-applies", async () => {
  await agent.stop();
  const cleanups = backend.cleanups;
  backend.versionValue = "fake/2";
  try {
    assert.ok((await startAgent()).ok);
    assert.equal(backend.cleanups, cleanups + 1, "start cleans what a run of another version left");
    await until("captures re-applied", () => backend.captured.has("vweb") && backend.captured.has("vapi"));
    await until("the state file names the new version", () => readFileSync(stateFile, "utf8").includes('"version": "fake/2"'));
  } finally {
    backend.versionValue = "fake/1";
    await agent.stop();
    assert.ok((await startAgent()).ok);
  }
});

test("agent: a state file whose capture section is malformed is not trusted (clean up, re-apply)", async () => {
  await agent.stop();
  const s = JSON.parse(readFileSync(stateFile, "utf8")) as { capture: { applied: unknown[] } };
  s.capture.applied.push({ key: "demo/x", hostVeth: 7 });
  writeFileSync(stateFile, JSON.stringify(s));
  const cleanups = backend.cleanups;
  assert.ok((await startAgent()).ok);
  assert.equal(backend.cleanups, cleanups + 1);
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
