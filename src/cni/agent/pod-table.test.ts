import { test } from "node:test";
import assert from "node:assert/strict";
import type { ConfigEvent } from "../../kube/source.js";
import { PodTable } from "./pod-table.js";

const origin = { source: "test" };
const ns = (name: string, labels: Record<string, string> = {}): ConfigEvent => ({
  type: "upsert",
  origin,
  object: { apiVersion: "v1", kind: "Namespace", metadata: { name, labels } },
});
const podObj = (name: string, labels: Record<string, string> = {}, nodeName = "node-0"): ConfigEvent => ({
  type: "upsert",
  origin,
  object: { apiVersion: "v1", kind: "Pod", metadata: { name, namespace: "demo", labels }, spec: { nodeName } },
});
const add = (name: string, containerId: string, veth: string, ip: string) => ({
  command: "ADD" as const,
  containerId,
  netns: "/run/netns/x",
  ifname: "eth0",
  namespace: "demo",
  name,
  ips: [ip],
  hostInterface: veth,
});

test("pod table: a namespace label change flips the desired captures of running pods", () => {
  const t = new PodTable("node-0");
  t.applyConfig([ns("demo"), podObj("web"), podObj("db", { "istio.io/dataplane-mode": "none" })]);
  t.applyCni(add("web", "c1", "veth1", "198.19.200.2"));
  t.applyCni(add("db", "c2", "veth2", "198.19.200.3"));
  assert.deepEqual([...t.desired().keys()], []);
  t.applyConfig([ns("demo", { "istio.io/dataplane-mode": "ambient" })]);
  assert.deepEqual([...t.desired().keys()], ["demo/web"]);
  t.applyConfig([{ type: "delete", origin, key: "/Namespace//demo" }]);
  assert.deepEqual([...t.desired().keys()], []);
});

test("pod table: a stale DEL for an old sandbox does not remove the new one", () => {
  const t = new PodTable("node-0");
  t.applyConfig([ns("demo", { "istio.io/dataplane-mode": "ambient" })]);
  t.applyCni(add("web", "old", "veth1", "198.19.200.2"));
  t.applyCni(add("web", "new", "veth9", "198.19.200.9"));
  assert.equal(t.applyCni({ ...add("web", "old", "", ""), command: "DEL" }), false);
  assert.equal(t.desired().get("demo/web")?.hostVeth, "veth9");
  assert.equal(t.applyCni({ ...add("web", "new", "", ""), command: "DEL" }), true);
  assert.equal(t.desired().size, 0);
});

test("pod table: sandboxes survive a restart through their records", () => {
  const t = new PodTable("node-0");
  t.applyCni(add("web", "c1", "veth1", "198.19.200.2"));
  const t2 = new PodTable("node-0");
  t2.restore(t.sandboxRecords());
  t2.applyConfig([ns("demo", { "istio.io/dataplane-mode": "ambient" })]);
  assert.deepEqual([...t2.desired().values()], [{ key: "demo/web", hostVeth: "veth1", ips: ["198.19.200.2"] }]);
  assert.ok(t2.hasSandbox("c1"));
});
