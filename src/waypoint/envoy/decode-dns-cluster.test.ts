import { test } from "node:test";
import assert from "node:assert/strict";
import { CLUSTER_TYPE_URL } from "../../common/xds/envoy-proto.js";
import { decodeFromJson } from "./from-json.js";
import type { Cluster } from "./types.js";
import { isDnsName } from "./decode-dns-cluster.js";

const endpoint = (address: string, port = 443) => ({ endpoint: { address: { socket_address: { address, port_value: port } } } });

const cluster = (extra: Record<string, unknown>, endpoints = [endpoint("api.example.test")]) => ({
  name: "outbound|443||api.example.test",
  connect_timeout: "2s",
  lb_policy: "ROUND_ROBIN",
  load_assignment: { cluster_name: "outbound|443||api.example.test", endpoints: [{ lb_endpoints: endpoints }] },
  ...extra,
});

const decode = (o: Record<string, unknown>) => decodeFromJson(CLUSTER_TYPE_URL, o, "outbound|443||api.example.test");

test("decode: STRICT_DNS with DNS names inline, Istio's DNS settings", () => {
  const r = decode(
    cluster({ type: "STRICT_DNS", dns_lookup_family: "V4_ONLY", dns_refresh_rate: "60s", respect_dns_ttl: true }, [
      endpoint("api.example.test"),
      endpoint("192.0.2.4", 8443),
    ]),
  );
  assert.ok(r.ok, JSON.stringify(!r.ok && r.error));
  const c = r.value.value.value as Cluster;
  assert.ok(c.endpointsFrom.kind === "dns");
  assert.deepEqual(c.endpointsFrom.dns, {
    mode: "strict",
    targets: [
      { hostname: "api.example.test", port: 443, weight: 1, healthy: true, priority: 0, locality: "//", localityWeight: 0 },
      { hostname: "192.0.2.4", port: 8443, weight: 1, healthy: true, priority: 0, locality: "//", localityWeight: 0 },
    ],
    family: "V4_ONLY",
    refreshMs: 60_000,
    respectTtl: true,
    minRefreshMs: 5_000,
  });
  assert.equal(c.connectTimeoutMs, 2000);
});

test("decode: LOGICAL_DNS defaults (AUTO, 5 s) and its one-endpoint rule", () => {
  const r = decode(cluster({ type: "LOGICAL_DNS" }));
  assert.ok(r.ok, JSON.stringify(!r.ok && r.error));
  const c = r.value.value.value as Cluster;
  assert.ok(c.endpointsFrom.kind === "dns");
  assert.equal(c.endpointsFrom.dns.mode, "logical");
  assert.equal(c.endpointsFrom.dns.family, "AUTO");
  assert.equal(c.endpointsFrom.dns.refreshMs, 5_000);
  assert.equal(c.endpointsFrom.dns.respectTtl, false);
});

test("decode: DNS clusters refused with the field", () => {
  const cases: [Record<string, unknown>, string, RegExp][] = [
    [cluster({ type: "LOGICAL_DNS" }, [endpoint("a.test"), endpoint("b.test")]), "load_assignment", /exactly one endpoint/],
    [{ name: "outbound|443||api.example.test", type: "STRICT_DNS" }, "load_assignment", /endpoints \(DNS names\) inline/],
    [
      cluster({ type: "STRICT_DNS" }, [endpoint("bad name!")]),
      "load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address.address",
      /not an IP address or a DNS name/,
    ],
    [{ ...cluster({ type: "STATIC", dns_refresh_rate: "5s" }) }, "dnsRefreshRate", /only for DNS clusters/],
  ];
  for (const [o, field, reason] of cases) {
    const r = decode(o);
    assert.ok(!r.ok, `${field}: accepted`);
    const e = r.error.find((x) => x.field === field);
    assert.ok(e, `${field}: ${JSON.stringify(r.error)}`);
    assert.match(e.reason, reason);
  }
});

test("decode: a STATIC cluster still wants IPs", () => {
  const r = decode(cluster({ type: "STATIC" }));
  assert.ok(!r.ok);
  assert.match(r.error[0]!.reason, /is not an IP address$/);
});

test("isDnsName", () => {
  for (const n of ["api.example.test", "api.example.test.", "a", "x-1.b_c.d"]) assert.ok(isDnsName(n), n);
  for (const n of ["", ".", "-a.test", "a..b", "a b", `${"x".repeat(64)}.test`]) assert.ok(!isDnsName(n), n);
});
