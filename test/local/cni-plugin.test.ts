/**
 * CNI spec conformance of weft's chained plugin, running the real installed binary (the shell
 * wrapper from install.ts) with real CNI environment variables and config on stdin, as a
 * container runtime does. The node agent's side is `FakeAgent`, an HTTP server on a Unix
 * socket that records events (the real agent needs root and a backend; the e2e tests use it).
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import * as http from "node:http";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { installPlugin } from "../../src/capture/plugin-install.js";
import type { PodEvent } from "../../src/capture/agent-api.js";

const dir = mkdtempSync(path.join(tmpdir(), "weft-cni-"));
const socket = path.join(dir, "agent.sock");
let bin: string;

class FakeAgent {
  readonly events: PodEvent[] = [];
  status = 200;
  private server?: http.Server;
  start(): Promise<void> {
    this.server = http.createServer((req, res) => {
      let body = "";
      req.on("data", (d: Buffer) => (body += d.toString()));
      req.on("end", () => {
        this.events.push(JSON.parse(body) as PodEvent);
        res.writeHead(this.status, { "content-type": "application/json" });
        res.end(JSON.stringify(this.status === 200 ? { enrolled: true } : { error: "capture failed" }));
      });
    });
    return new Promise((r) => this.server!.listen(socket, r));
  }
  stop(): Promise<void> {
    return new Promise((r) => (this.server ? this.server.close(() => r()) : r()));
  }
}
const agent = new FakeAgent();

const prevResult = {
  cniVersion: "1.0.0",
  interfaces: [
    { name: "vethabc", mac: "aa:bb:cc:dd:ee:ff" },
    { name: "eth0", sandbox: "/run/netns/x" },
  ],
  ips: [{ address: "198.19.201.7/24", interface: 1, gateway: "198.19.201.1" }],
  routes: [{ dst: "0.0.0.0/0" }],
  dns: {},
};

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function runPlugin(command: string, conf: Record<string, unknown> | string, ns = "demo"): Promise<Run> {
  const env = {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    CNI_COMMAND: command,
    CNI_CONTAINERID: "abc123",
    CNI_NETNS: "/run/netns/x",
    CNI_IFNAME: "eth0",
    CNI_ARGS: `IgnoreUnknown=1;K8S_POD_NAMESPACE=${ns};K8S_POD_NAME=web-0`,
    CNI_PATH: path.dirname(bin),
  };
  return new Promise((resolve) => {
    const c = execFile(bin, [], { env }, (e, stdout, stderr) =>
      resolve({ code: e ? ((e as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
    c.stdin!.end(typeof conf === "string" ? conf : JSON.stringify(conf));
  });
}

const conf = (extra: Record<string, unknown> = {}) => ({
  cniVersion: "1.0.0",
  name: "weft-local",
  type: "weft-cni",
  agentSocket: socket,
  agentTimeoutMs: 2000,
  prevResult,
  ...extra,
});

before(async () => {
  bin = await installPlugin(path.join(dir, "bin"));
  await agent.start();
});

after(async () => {
  await agent.stop();
  rmSync(dir, { recursive: true, force: true });
});

test("cni VERSION: prints the supported versions in the requested version", async () => {
  const r = await runPlugin("VERSION", { cniVersion: "0.4.0" });
  assert.equal(r.code, 0);
  assert.deepEqual(JSON.parse(r.stdout), { cniVersion: "0.4.0", supportedVersions: ["0.3.0", "0.3.1", "0.4.0", "1.0.0"] });
});

test("cni ADD: forwards the pod to the agent and passes prevResult through unchanged", async () => {
  agent.events.length = 0;
  const r = await runPlugin("ADD", conf());
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), prevResult);
  assert.deepEqual(agent.events, [
    {
      command: "ADD",
      containerId: "abc123",
      netns: "/run/netns/x",
      ifname: "eth0",
      namespace: "demo",
      name: "web-0",
      ips: ["198.19.201.7"],
      hostInterface: "vethabc",
    },
  ]);
});

test("cni CHECK and DEL: forwarded; success prints nothing", async () => {
  agent.events.length = 0;
  for (const cmd of ["CHECK", "DEL"]) {
    const r = await runPlugin(cmd, conf());
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "");
  }
  assert.deepEqual(
    agent.events.map((e) => e.command),
    ["CHECK", "DEL"],
  );
});

test("cni ADD: the agent refusing (capture failed) fails the ADD with a spec error document", async () => {
  agent.status = 500;
  try {
    const r = await runPlugin("ADD", conf());
    assert.notEqual(r.code, 0);
    const doc = JSON.parse(r.stdout) as { cniVersion: string; code: number; msg: string; details: string };
    assert.equal(doc.cniVersion, "1.0.0");
    assert.equal(doc.code, 11);
    assert.match(doc.msg, /demo\/web-0/);
    assert.match(doc.details, /capture failed/);
  } finally {
    agent.status = 200;
  }
});

test("cni with the agent unreachable: ADD fails closed, except for excluded namespaces; DEL succeeds", async () => {
  const gone = conf({ agentSocket: path.join(dir, "nobody.sock") });
  const add = await runPlugin("ADD", gone);
  assert.notEqual(add.code, 0);
  assert.equal((JSON.parse(add.stdout) as { code: number }).code, 11);
  assert.match((JSON.parse(add.stdout) as { details: string }).details, /unreachable/);
  const sys = await runPlugin("ADD", gone, "kube-system");
  assert.equal(sys.code, 0, sys.stderr);
  assert.deepEqual(JSON.parse(sys.stdout), prevResult);
  const del = await runPlugin("DEL", { ...gone, prevResult: undefined });
  assert.equal(del.code, 0);
  assert.equal(del.stdout, "");
});

test("cni errors: bad config and environment give error documents with the spec's codes", async () => {
  const cases: [string, Record<string, unknown> | string, number, RegExp][] = [
    ["ADD", "{not json", 6, /not JSON/],
    ["ADD", conf({ cniVersion: "0.1.0" }), 1, /cniVersion/],
    ["ADD", conf({ prevResult: undefined }), 7, /prevResult: required/],
    ["ADD", conf({ agentSocket: 5 }), 7, /agentSocket/],
    ["BOGUS", conf(), 4, /CNI_COMMAND/],
  ];
  for (const [cmd, c, code, msg] of cases) {
    const r = await runPlugin(cmd, c);
    assert.notEqual(r.code, 0);
    const doc = JSON.parse(r.stdout) as { code: number; msg: string; cniVersion: string };
    assert.equal(doc.code, code, r.stdout);
    assert.match(doc.msg, msg);
    assert.ok(doc.cniVersion);
  }
});
