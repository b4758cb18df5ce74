/**
 * The Envoy encoders keep every field translation sets: each resource is encoded with Envoy's
 * protos, decoded again and compared field for field (protobufjs drops unknown keys silently,
 * so a misspelt field would show here as a missing one). The waypoint decodes these bytes.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type protobuf from "protobufjs";
import { HCM_TYPE_URL, TCP_PROXY_TYPE_URL, envoyTypes } from "../../common/xds/envoy-proto.js";
import type { Cluster, ClusterLoadAssignment, Listener, RouteConfiguration } from "../translate/routes/envoy-types.js";
import { clusterKind, endpointKind, listenerKind, routeKind } from "./envoy-kinds.js";

const decode = (type: protobuf.Type, bytes: Uint8Array) =>
  type.toObject(type.decode(bytes), { enums: String, longs: Number, defaults: false }) as Record<string, unknown>;
const scoped = <T>(value: T) => ({ value, scopes: ["ns/wp"] });

void describe("Envoy encoders", () => {
  void it("a RouteConfiguration with every field translation uses survives Envoy's protos unchanged", () => {
    const rc: RouteConfiguration = {
      name: "inbound-vip|80|http|web.ns.svc.cluster.local",
      virtualHosts: [
        {
          name: "web.ns.svc.cluster.local:80",
          domains: ["*"],
          routes: [
            {
              name: "HTTPRoute/ns/r/0/0",
              match: {
                pathSeparatedPrefix: "/api",
                caseSensitive: { value: false },
                headers: [
                  { name: ":method", stringMatch: { exact: "GET" } },
                  { name: "x-skip", stringMatch: { prefix: "a" }, invertMatch: true },
                  { name: "x-re", stringMatch: { safeRegex: { regex: "^v[0-9]$" } } },
                ],
                queryParameters: [{ name: "q", stringMatch: { exact: "1" } }],
              },
              route: {
                weightedClusters: {
                  clusters: [
                    { name: "a", weight: { value: 90 } },
                    { name: "invalid-backend|ns/x", weight: { value: 10 } },
                  ],
                },
                clusterNotFoundResponseCode: "INTERNAL_SERVER_ERROR",
                prefixRewrite: "/v2",
                hostRewriteLiteral: "web.internal",
                requestMirrorPolicies: [{ cluster: "m", runtimeFraction: { defaultValue: { numerator: 333333, denominator: "MILLION" } } }],
                timeout: { seconds: 1, nanos: 500_000_000 },
                retryPolicy: { retryOn: "5xx", numRetries: { value: 2 }, perTryTimeout: { seconds: 2, nanos: 1 } },
              },
              requestHeadersToAdd: [{ header: { key: "x-a", value: "1" }, appendAction: "APPEND_IF_EXISTS_OR_ADD" }],
              requestHeadersToRemove: ["x-b"],
              responseHeadersToAdd: [{ header: { key: "x-c", value: "2" }, appendAction: "OVERWRITE_IF_EXISTS_OR_ADD" }],
              responseHeadersToRemove: ["server"],
            },
            {
              name: "r2",
              match: { safeRegex: { regex: "/v[0-9]+" } },
              route: { cluster: "b", regexRewrite: { pattern: { regex: "^/.*$" }, substitution: "/x" } },
            },
            {
              name: "r3",
              match: { path: "/old" },
              redirect: {
                schemeRedirect: "https",
                hostRedirect: "h",
                portRedirect: 8443,
                pathRedirect: "/new",
                responseCode: "PERMANENT_REDIRECT",
              },
            },
            {
              name: "r4",
              match: { prefix: "/p" },
              redirect: { regexRewrite: { pattern: { regex: "^/p/?" }, substitution: "/" }, responseCode: "FOUND" },
            },
            { name: "r5", match: { prefix: "/" }, directResponse: { status: 500, body: { inlineString: "no" } } },
          ],
        },
      ],
    };
    const t = envoyTypes().RouteConfiguration;
    const bytes = routeKind.encode(scoped(rc));
    // Proto3 defaults are not on the wire: a BoolValue holding false is an empty message
    // (present, value false), and APPEND_IF_EXISTS_OR_ADD is append_action's default (0).
    const want = JSON.parse(
      JSON.stringify(rc)
        .replace('"caseSensitive":{"value":false}', '"caseSensitive":{}')
        .replace(',"appendAction":"APPEND_IF_EXISTS_OR_ADD"', ""),
    ) as unknown;
    assert.deepEqual(decode(t, bytes), want);
    const m = t.decode(bytes) as unknown as { virtualHosts: { routes: { match: { caseSensitive?: { value: boolean } } }[] }[] };
    assert.equal(m.virtualHosts[0]!.routes[0]!.match.caseSensitive?.value, false);
  });

  void it("a Listener: addresses, INBOUND, and the HCM / TCP proxy typed_config", () => {
    const t = envoyTypes();
    const http: Listener = {
      name: "L",
      address: { address: "10.96.0.1", portValue: 80 },
      additionalAddresses: [{ address: "fd00::1", portValue: 80 }],
      filter: { kind: "http", statPrefix: "L", codecType: "HTTP2", routeConfigName: "L" },
    };
    const l = decode(t.Listener, listenerKind.encode(scoped(http)));
    assert.deepEqual(l.additionalAddresses, [{ address: { socketAddress: { address: "fd00::1", portValue: 80 } } }]);
    assert.equal(l.trafficDirection, "INBOUND");
    const f = (l.filterChains as { filters: { name: string; typedConfig: { type_url: string; value: Uint8Array } }[] }[])[0]!.filters[0]!;
    assert.equal(f.typedConfig.type_url, HCM_TYPE_URL);
    const hcm = decode(t.HttpConnectionManager, f.typedConfig.value);
    assert.deepEqual(hcm.rds, { configSource: { ads: {}, resourceApiVersion: "V3" }, routeConfigName: "L" });
    assert.equal(hcm.codecType, "HTTP2");
    assert.deepEqual(
      (hcm.httpFilters as { name: string }[]).map((f) => f.name),
      ["envoy.filters.http.fault", "envoy.filters.http.local_ratelimit", "envoy.filters.http.router"],
    );

    const tcp = decode(
      t.Listener,
      listenerKind.encode(scoped({ ...http, filter: { kind: "tcp", statPrefix: "T", cluster: "outbound|80||h" } })),
    );
    const tf = (tcp.filterChains as { filters: { typedConfig: { type_url: string; value: Uint8Array } }[] }[])[0]!.filters[0]!;
    assert.equal(tf.typedConfig.type_url, TCP_PROXY_TYPE_URL);
    assert.deepEqual(decode(t.TcpProxy, tf.typedConfig.value), { statPrefix: "T", cluster: "outbound|80||h" });
  });

  void it("a Cluster and its ClusterLoadAssignment carry Istio's metadata", () => {
    const t = envoyTypes();
    const c: Cluster = {
      name: "outbound|80|v1|h",
      connectTimeout: { seconds: 10 },
      lbPolicy: "ROUND_ROBIN",
      traffic: { circuitBreakers: { thresholds: [] } },
      services: [{ host: "h", name: "web", namespace: "ns" }],
      subset: "v1",
    };
    const dc = decode(t.Cluster, clusterKind.encode(scoped(c)));
    const istio = (dc.metadata as { filterMetadata: { istio: { fields: Record<string, unknown> } } }).filterMetadata.istio.fields;
    assert.deepEqual(istio.subset, { stringValue: "v1" });
    assert.deepEqual(istio.services, {
      listValue: {
        values: [
          { structValue: { fields: { host: { stringValue: "h" }, name: { stringValue: "web" }, namespace: { stringValue: "ns" } } } },
        ],
      },
    });
    const a: ClusterLoadAssignment = {
      clusterName: c.name,
      localities: [
        {
          locality: { region: "r", zone: "z", subZone: "s" },
          endpoints: [
            {
              address: { address: "10.0.0.1", portValue: 8080 },
              weight: 1,
              workload: "web;ns;web;v1;Kubernetes",
              uid: "Kubernetes//Pod/ns/web-0",
            },
          ],
        },
      ],
    };
    const da = decode(t.ClusterLoadAssignment, endpointKind.encode(scoped(a))) as {
      endpoints: { locality: unknown; lbEndpoints: Record<string, unknown>[] }[];
    };
    assert.deepEqual(da.endpoints[0]!.locality, { region: "r", zone: "z", subZone: "s" });
    const e = da.endpoints[0]!.lbEndpoints[0]!;
    assert.equal(e.healthStatus, "HEALTHY");
    assert.deepEqual(e.loadBalancingWeight, { value: 1 });
    assert.deepEqual((e.metadata as { filterMetadata: { istio: { fields: unknown } } }).filterMetadata.istio.fields, {
      workload: { stringValue: "web;ns;web;v1;Kubernetes" },
      uid: { stringValue: "Kubernetes//Pod/ns/web-0" },
    });
  });
});
