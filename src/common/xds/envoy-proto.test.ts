import { test } from "node:test";
import assert from "node:assert/strict";
import { envoyTypes } from "./envoy-proto.js";

test("envoy types load from the shipped protos and round-trip a RouteConfiguration", () => {
  const { RouteConfiguration } = envoyTypes();
  const rc = {
    name: "inbound-vip|9080|http|reviews.default.svc.cluster.local",
    virtualHosts: [
      {
        name: "reviews",
        domains: ["*"],
        routes: [{ match: { prefix: "/" }, route: { cluster: "outbound|9080|v1|reviews.default.svc.cluster.local" } }],
      },
    ],
  };
  const bytes = RouteConfiguration.encode(RouteConfiguration.fromObject(rc)).finish();
  const back = RouteConfiguration.toObject(RouteConfiguration.decode(bytes)) as typeof rc;
  assert.equal(back.name, rc.name);
  assert.equal(back.virtualHosts[0]?.routes[0]?.route.cluster, "outbound|9080|v1|reviews.default.svc.cluster.local");
});

test("envoy types: field numbers are Envoy's (RouteConfiguration.virtual_hosts = 2)", () => {
  assert.equal(envoyTypes().RouteConfiguration.fields.virtualHosts?.id, 2);
  assert.equal(envoyTypes().Listener.fields.filterChains?.id, 3);
});
