import { test } from "node:test";
import assert from "node:assert/strict";
import { hashPolicyOf, withHashPolicies } from "./hash-policy.js";
import type { Route } from "./envoy-types.js";

test("hash policy: each consistentHash key as istiod's ConsistentHashToHashPolicy", () => {
  assert.deepEqual(hashPolicyOf({ httpHeaderName: "x-user" }), { header: { headerName: "x-user" } });
  assert.deepEqual(hashPolicyOf({ httpCookie: { name: "user", ttl: "0s" } }), { cookie: { name: "user", ttl: { seconds: 0, nanos: 0 } } });
  assert.deepEqual(hashPolicyOf({ httpCookie: { name: "user", ttl: "10s", path: "/" } }), {
    cookie: { name: "user", ttl: { seconds: 10, nanos: 0 }, path: "/" },
  });
  assert.deepEqual(hashPolicyOf({ httpCookie: { name: "user" } }), { cookie: { name: "user" } });
  assert.deepEqual(hashPolicyOf({ useSourceIp: true }), { connectionProperties: { sourceIp: true } });
  assert.deepEqual(hashPolicyOf({ httpQueryParameterName: "u" }), { queryParameter: { name: "u" } });
});

test("hash policy: one entry per destination with a consistent hash, in destination order; other routes unchanged", () => {
  const routes: Route[] = [
    {
      name: "a",
      match: { prefix: "/" },
      route: {
        weightedClusters: {
          clusters: [
            { name: "c1", weight: { value: 50 } },
            { name: "c2", weight: { value: 50 } },
          ],
        },
      },
    },
    { name: "b", match: { prefix: "/b" }, route: { cluster: "plain" } },
    { name: "c", match: { prefix: "/c" }, directResponse: { status: 200 } },
  ];
  const keys: Record<string, Record<string, unknown>> = { c1: { httpHeaderName: "h1" }, c2: { useSourceIp: true } };
  const out = withHashPolicies(routes, (c) => keys[c]);
  assert.deepEqual(out[0]!.route!.hashPolicy, [{ header: { headerName: "h1" } }, { connectionProperties: { sourceIp: true } }]);
  assert.equal(out[1], routes[1]);
  assert.equal(out[2], routes[2]);
});
