import { test } from "node:test";
import assert from "node:assert/strict";
import { LISTENER_TYPE_URL, ROUTE_TYPE_URL } from "../../common/xds/envoy-proto.js";
import type { IncomingDeltaResponse } from "../../common/xds/delta-wire.js";
import { applyDelta } from "../../proxy/xds/apply-response.js";
import { encodeFromJson } from "./proto-json.js";
import { L7Store } from "./store.js";

const route = (name: string, cluster: string, extra: Record<string, unknown> = {}) => ({
  name,
  virtual_hosts: [{ name: "vh", domains: ["*"], routes: [{ name: "r0", match: { prefix: "/" }, route: { cluster, ...extra } }] }],
});
const listener = (name: string, ip: string) => ({
  name,
  address: { socket_address: { address: ip, port_value: 80 } },
  filter_chains: [
    {
      filters: [
        {
          name: "envoy.filters.network.tcp_proxy",
          typed_config: {
            "@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
            stat_prefix: "t",
            cluster: "c",
          },
        },
      ],
    },
  ],
});

function response(typeUrl: string, typeName: string, items: Array<[string, unknown]>, removed: string[] = []): IncomingDeltaResponse {
  return {
    typeUrl,
    nonce: "n1",
    systemVersionInfo: "",
    removed,
    resources: items.map(([name, json]) => {
      const bytes = encodeFromJson(typeName, json, name);
      assert.ok(bytes.ok, !bytes.ok ? bytes.error.message : "");
      return { name, version: "v1", aliases: [], resource: { typeUrl, value: bytes.value } };
    }),
  };
}

const sub = (store: L7Store, typeUrl: string) => store.subscriptions().find((s) => s.typeUrl === typeUrl)!;

test("store: an invalid route config is NACKed naming resource and field, and the last good version stays", () => {
  const store = new L7Store();
  const known = new Map<string, string>();
  const RC = "envoy.config.route.v3.RouteConfiguration";
  const first = applyDelta(response(ROUTE_TYPE_URL, RC, [["rt", route("rt", "good")]]), sub(store, ROUTE_TYPE_URL), known);
  assert.deepEqual(first.errors, []);
  const bad = applyDelta(
    response(ROUTE_TYPE_URL, RC, [
      ["rt", route("rt", "bad", { idle_timeout: "5s" })],
      ["other", route("other", "fine")],
    ]),
    sub(store, ROUTE_TYPE_URL),
    known,
  );
  assert.equal(bad.errors.length, 1);
  assert.deepEqual(bad.errors[0], {
    resource: "rt",
    field: "virtual_hosts[0].routes[0].route.idle_timeout",
    reason: "not supported by the weft waypoint (it would change how traffic is handled; docs/waypoint.md)",
  });
  const kept = store.routeTable("rt")?.virtualHosts[0]?.routes[0]?.action;
  assert.ok(kept?.kind === "forward" && kept.clusters[0]?.name === "good", "the last good version keeps routing");
  assert.ok(store.routeTable("other"), "the valid resource of the same response is applied");
  assert.equal(bad.applied, 1);
});

test("store: a listener on an address another listener serves is refused; removal frees it", () => {
  const store = new L7Store();
  const known = new Map<string, string>();
  const L = "envoy.config.listener.v3.Listener";
  assert.deepEqual(
    applyDelta(response(LISTENER_TYPE_URL, L, [["a", listener("a", "10.0.0.1")]]), sub(store, LISTENER_TYPE_URL), known).errors,
    [],
  );
  const clash = applyDelta(response(LISTENER_TYPE_URL, L, [["b", listener("b", "10.0.0.1")]]), sub(store, LISTENER_TYPE_URL), known);
  assert.match(clash.errors[0]?.reason ?? "", /10.0.0.1:80 is already served by listener a/);
  assert.equal(store.listenerFor("10.0.0.1", 80)?.name, "a");
  assert.equal(known.has("b"), false, "a refused resource is not recorded as known");
  applyDelta(response(LISTENER_TYPE_URL, L, [], ["a"]), sub(store, LISTENER_TYPE_URL), known);
  assert.equal(store.listenerFor("10.0.0.1", 80), undefined);
  assert.deepEqual(
    applyDelta(response(LISTENER_TYPE_URL, L, [["b", listener("b", "10.0.0.1")]]), sub(store, LISTENER_TYPE_URL), known).errors,
    [],
  );
  assert.equal(store.listenerFor("10.0.0.1", 80)?.name, "b");
});
