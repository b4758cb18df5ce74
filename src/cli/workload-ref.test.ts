import { test } from "node:test";
import assert from "node:assert/strict";
import { findWorkload, parseWorkloadRef, type DumpedWorkload } from "./workload-ref.js";

const w = (namespace: string, name: string, ip: string): DumpedWorkload => ({
  uid: `c//Pod/${namespace}/${name}`,
  name,
  namespace,
  addresses: [ip],
  node: "node-0",
  trustDomain: "cluster.local",
  serviceAccount: name,
  tunnelProtocol: "HBONE",
});

test("parseWorkloadRef reads IPs, pod names with -n, ns/pod and ports", () => {
  const cases: Array<[string, boolean, unknown]> = [
    ["10.0.0.1", false, { kind: "ip", ip: "10.0.0.1" }],
    ["10.0.0.1:80", true, { kind: "ip", ip: "10.0.0.1", port: 80 }],
    ["[fd00::1]:80", true, { kind: "ip", ip: "fd00::1", port: 80 }],
    ["web", false, { kind: "pod", namespace: "dflt", name: "web" }],
    ["shop/web:8080", true, { kind: "pod", namespace: "shop", name: "web", port: 8080 }],
  ];
  for (const [text, port, want] of cases) {
    const r = parseWorkloadRef(text, "dflt", port);
    assert.ok(r.ok, text);
    assert.deepEqual(r.value, want, text);
  }
  for (const [text, port] of [
    ["10.0.0.1", true],
    ["web", true],
    ["web:99999", true],
    ["web:80", false],
    ["Web_1", false],
  ] as const)
    assert.equal(parseWorkloadRef(text, "d", port).ok, false, text);
});

test("findWorkload by name names the missing pod; by IP finds any address", () => {
  const all = [w("a", "x", "10.0.0.1"), w("b", "x", "10.0.0.2")];
  const byName = findWorkload({ kind: "pod", namespace: "b", name: "x" }, all);
  assert.ok(byName.ok && byName.value?.addresses[0] === "10.0.0.2");
  const missing = findWorkload({ kind: "pod", namespace: "c", name: "x" }, all);
  assert.ok(!missing.ok && /no pod c\/x/.test(missing.error.message));
  const byIp = findWorkload({ kind: "ip", ip: "10.0.0.1" }, all);
  assert.ok(byIp.ok && byIp.value?.namespace === "a");
});
