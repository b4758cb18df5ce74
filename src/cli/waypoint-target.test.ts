import { test } from "node:test";
import assert from "node:assert/strict";
import { type DumpedEndpoint, type DumpedService, usedWaypoints, waypointFor } from "./waypoint-target.js";

const svc = (name: string, vip: string, waypoint?: DumpedService["waypoint"]): DumpedService => ({
  namespace: "wp",
  name,
  hostname: `${name}.wp.svc.cluster.local`,
  addresses: [{ address: vip }],
  ...(waypoint ? { waypoint } : {}),
});
const pod = (name: string, ip: string, extra: Partial<DumpedEndpoint> = {}): DumpedEndpoint => ({
  uid: `Kubernetes//Pod/wp/${name}`,
  name,
  namespace: "wp",
  addresses: [ip],
  node: "node-0",
  trustDomain: "cluster.local",
  serviceAccount: name,
  tunnelProtocol: "HBONE",
  status: "HEALTHY",
  ...extra,
});
const byHost = { kind: "hostname" as const, namespace: "wp", hostname: "waypoint.wp.svc.cluster.local" };
const services = [
  svc("echo", "198.19.0.10", byHost),
  svc("plain", "198.19.0.11"),
  svc("waypoint", "198.19.0.20"),
  svc("wl-waypoint", "198.19.0.21"),
  svc("lost", "198.19.0.12", { kind: "hostname", namespace: "wp", hostname: "gone.wp.svc.cluster.local" }),
];
const workloads = [
  pod("waypoint-b", "10.0.0.9", { status: "UNHEALTHY", services: { "wp/waypoint.wp.svc.cluster.local": [] } }),
  pod("waypoint-a", "10.0.0.8", { services: { "wp/waypoint.wp.svc.cluster.local": [] } }),
  pod("wl-waypoint-a", "10.0.0.7", { services: { "wp/wl-waypoint.wp.svc.cluster.local": [] } }),
  pod("echo-0", "10.0.0.2", { waypoint: { kind: "address", address: "198.19.0.21" } }),
  pod("plain-0", "10.0.0.3"),
];

test("waypointFor: a service's waypoint by hostname, healthy proxies first", () => {
  const r = waypointFor("198.19.0.10", services, workloads);
  assert.ok(r.ok, !r.ok ? r.error.message : "");
  assert.equal(r.value.destination, "Service wp/echo");
  assert.equal(r.value.waypoint.name, "waypoint");
  assert.deepEqual(
    r.value.proxies.map((p) => p.name),
    ["waypoint-a", "waypoint-b"],
  );
});

test("waypointFor: a pod address uses the workload's own waypoint (by VIP)", () => {
  const r = waypointFor("10.0.0.2", services, workloads);
  assert.ok(r.ok);
  assert.equal(r.value.destination, "Pod wp/echo-0");
  assert.equal(r.value.waypoint.name, "wl-waypoint");
  assert.deepEqual(
    r.value.proxies.map((p) => p.name),
    ["wl-waypoint-a"],
  );
});

test("waypointFor: errors name the destination and why", () => {
  const cases: Array<[string, RegExp]> = [
    ["198.19.0.99", /^no service or workload has address 198\.19\.0\.99$/],
    ["198.19.0.11", /^Service wp\/plain \(198\.19\.0\.11\) has no waypoint/],
    ["10.0.0.3", /^Pod wp\/plain-0 \(10\.0\.0\.3\) has no waypoint/],
    ["198.19.0.12", /^Service wp\/lost: its waypoint wp\/gone\.wp\.svc\.cluster\.local is no service the mesh knows$/],
  ];
  for (const [ip, re] of cases) {
    const r = waypointFor(ip, services, workloads);
    assert.ok(!r.ok, ip);
    assert.match(r.error.message, re);
  }
  const none = waypointFor("198.19.0.10", services, workloads.slice(2));
  assert.ok(!none.ok);
  assert.equal(none.error.message, "Service wp/echo: waypoint wp/waypoint has no proxy pod");
});

test("usedWaypoints: each waypoint a service or workload uses once, with its proxies; unknown or proxy-less ones left out", () => {
  const used = usedWaypoints(services, workloads);
  assert.deepEqual(
    used.map((u) => [u.waypoint.name, u.proxies.map((p) => p.name)]),
    [
      ["waypoint", ["waypoint-a", "waypoint-b"]],
      ["wl-waypoint", ["wl-waypoint-a"]],
    ],
  );
  // Nobody uses a waypoint: none; a used one without proxies: left out.
  assert.deepEqual(
    usedWaypoints(
      services.filter((s) => !s.waypoint),
      workloads.filter((w) => !w.waypoint),
    ),
    [],
  );
  assert.deepEqual(
    usedWaypoints(services, workloads.slice(2)).map((u) => u.waypoint.name),
    ["wl-waypoint"],
  );
});
