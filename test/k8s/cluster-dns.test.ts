import { test } from "node:test";
import assert from "node:assert/strict";
import { records, resolve } from "./cluster-dns.js";

const recs = records(
  [
    { metadata: { name: "echo", namespace: "app" }, spec: { clusterIPs: ["10.252.0.20"] } },
    { metadata: { name: "db", namespace: "app" }, spec: { clusterIP: "None" } },
  ],
  [
    {
      metadata: { namespace: "app", labels: { "kubernetes.io/service-name": "db" } },
      endpoints: [
        { addresses: ["10.251.1.7"], conditions: { ready: true } },
        { addresses: ["10.251.2.9"], conditions: { ready: false } },
        { addresses: ["10.251.2.3"] },
      ],
    },
    { metadata: { namespace: "other", labels: { "kubernetes.io/service-name": "db" } }, endpoints: [{ addresses: ["10.9.9.9"] }] },
  ],
);

for (const [qname, qtype, rcode, ips] of [
  ["echo.app.svc.cluster.local", "A", "NOERROR", ["10.252.0.20"]],
  ["ECHO.app.svc.cluster.local.", "A", "NOERROR", ["10.252.0.20"]],
  ["echo.app.svc.cluster.local", "AAAA", "NOERROR", []],
  ["db.app.svc.cluster.local", "A", "NOERROR", ["10.251.1.7", "10.251.2.3"]],
  ["nope.app.svc.cluster.local", "A", "NXDOMAIN", []],
  ["app.svc.cluster.local", "A", "NOERROR", []],
  ["a.b.c.svc.cluster.local", "A", "NXDOMAIN", []],
  ["echo.app.cluster.local", "A", "NXDOMAIN", []],
  ["example.com", "A", "REFUSED", []],
  ["echo.app.svc.cluster.local.example.com", "A", "REFUSED", []],
] as const) {
  test(`cluster DNS: ${qtype} ${qname} -> ${rcode} ${ips.join(",")}`, () => {
    assert.deepEqual(resolve(recs, "cluster.local", qname, qtype), { rcode, ips: [...ips] });
  });
}
