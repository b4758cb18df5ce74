/**
 * Istio's bookinfo reviews routing, in its Gateway API form (HTTPRoute, GAMMA) and its Istio form
 * (VirtualService + DestinationRule), through the real config store, mesh model and waypoint
 * translator, then encoded with Envoy's protos and decoded again: the waypoint is sent the
 * listener, route configuration, clusters and endpoints Istio's docs describe ("Request routing"
 * and "Traffic shifting" tasks: `end-user: jason` -> v2, else 90/10 v1/v2).
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { parseAllDocuments } from "yaml";
import type { KubeObject } from "../../src/kube/object.js";
import { objectValidator } from "../../src/kube/validate/validate.js";
import { ConfigStore } from "../../src/controlplane/model/store.js";
import { MeshModel } from "../../src/controlplane/model/mesh.js";
import { translateConfig } from "../../src/controlplane/translate/translate-config.js";
import { WaypointTranslator } from "../../src/controlplane/translate/routes/waypoint-resources.js";
import { clusterKind, endpointKind, listenerKind, routeKind } from "../../src/controlplane/xds/envoy-kinds.js";
import { envoyTypes } from "../../src/common/xds/envoy-proto.js";
import type protobuf from "protobufjs";
import { DEFAULT_RETRY_ON, DEFAULT_RETRY_POLICY } from "../../src/controlplane/translate/routes/resilience.js";

/** A route action's routing fields (timeouts and retries checked on their own). */
function routing(r: unknown): unknown {
  const { timeout: _t, maxGrpcTimeout: _g, retryPolicy: _r, ...rest } = (r ?? {}) as Record<string, unknown>;
  return rest;
}

const fixtures = path.join(__dirname, "../../../test/controlplane/fixtures/bookinfo");
const H = "reviews.bookinfo.svc.cluster.local";
const L = `inbound-vip|9080|http|${H}`;

function load(...files: string[]): KubeObject[] {
  return files.flatMap((f) =>
    parseAllDocuments(readFileSync(path.join(fixtures, f), "utf8"))
      .map((d) => d.toJS() as KubeObject)
      .filter(Boolean),
  );
}

function translate(files: string[], extra: KubeObject[] = []) {
  const validate = objectValidator();
  const store = new ConfigStore((o, origin) => validate(o, origin));
  store.apply([...load(...files), ...extra].map((object) => ({ type: "upsert" as const, object, origin: { source: "test" } })));
  const cfg = translateConfig();
  const mesh = new MeshModel(store, cfg);
  mesh.start();
  assert.deepEqual(store.invalid(), []);
  const t = new WaypointTranslator().translate({ cfg, store, services: mesh.services, workloads: mesh.workloads });
  return { t, wp: t.waypoints.get("bookinfo/waypoint")!, store, mesh };
}

const decode = <T>(kind: { encode(v: never): Uint8Array }, type: protobuf.Type, value: T) =>
  type.toObject(type.decode(kind.encode({ value, scopes: ["bookinfo/waypoint"] } as never)), {
    enums: String,
    longs: Number,
    defaults: false,
  }) as Record<string, unknown>;

void describe("bookinfo reviews through the waypoint", () => {
  void it("HTTPRoute form: the header route first (Gateway API precedence), then the 90/10 split, over Envoy's protos", () => {
    const { t, wp } = translate(["app.yaml", "httproute.yaml"]);
    assert.deepEqual(t.problems, []);
    const names = wp.listeners.map((l) => l.name).sort();
    assert.ok(names.includes(L), names.join(","));
    const types = envoyTypes();
    const listener = decode(
      listenerKind,
      types.Listener,
      wp.listeners.find((l) => l.name === L)!,
    );
    assert.deepEqual(listener.address, { socketAddress: { address: "198.19.1.10", portValue: 9080 } });
    const chain = (listener.filterChains as { filters: { name: string; typedConfig: { type_url: string; value: Uint8Array } }[] }[])[0]!;
    assert.equal(chain.filters[0]!.name, "envoy.filters.network.http_connection_manager");
    const hcm = types.HttpConnectionManager.toObject(types.HttpConnectionManager.decode(chain.filters[0]!.typedConfig.value), {
      enums: String,
      defaults: true, // AUTO is enum value 0, which proto3 leaves off the wire
    });
    assert.equal((hcm.rds as { routeConfigName: string }).routeConfigName, L);
    assert.equal(hcm.codecType, "AUTO");

    const rc = decode(
      routeKind,
      types.RouteConfiguration,
      wp.routes.find((r) => r.name === L)!,
    );
    const vh = (rc.virtualHosts as { name: string; domains: string[]; routes: Record<string, unknown>[] }[])[0]!;
    assert.equal(vh.name, `${H}:9080`);
    assert.deepEqual(vh.domains, ["*"]);
    assert.deepEqual(
      vh.routes.map((r) => r.name),
      ["HTTPRoute/bookinfo/reviews/1", "HTTPRoute/bookinfo/reviews/0"],
    );
    assert.deepEqual(vh.routes[0]!.match, { prefix: "/", headers: [{ name: "end-user", stringMatch: { exact: "jason" } }] });
    assert.deepEqual(routing(vh.routes[0]!.route), { cluster: "outbound|9080||reviews-v2.bookinfo.svc.cluster.local" });
    // Decoded from Envoy's protos: Istio's default retry policy on every route (0s timeouts are proto defaults, left off).
    assert.equal((vh.routes[0]!.route as { retryPolicy?: { retryOn?: string } }).retryPolicy?.retryOn, DEFAULT_RETRY_ON);
    assert.deepEqual(routing(vh.routes[1]!.route), {
      weightedClusters: {
        clusters: [
          { name: "outbound|9080||reviews-v1.bookinfo.svc.cluster.local", weight: { value: 90 } },
          { name: "outbound|9080||reviews-v2.bookinfo.svc.cluster.local", weight: { value: 10 } },
        ],
      },
    });

    const clusters = wp.clusters.map((c) => c.name).sort();
    for (const c of [
      "outbound|9080||reviews-v1.bookinfo.svc.cluster.local",
      "outbound|9080||reviews-v2.bookinfo.svc.cluster.local",
      `outbound|9080||${H}`,
    ])
      assert.ok(clusters.includes(c), `${c} in ${clusters.join(",")}`);
    const c1 = decode(
      clusterKind,
      types.Cluster,
      wp.clusters.find((c) => c.name.includes("reviews-v1"))!,
    );
    assert.equal(c1.type, "EDS");
    assert.deepEqual(c1.edsClusterConfig, {
      edsConfig: { ads: {}, resourceApiVersion: "V3" },
      serviceName: "outbound|9080||reviews-v1.bookinfo.svc.cluster.local",
    });
    const e1 = decode(
      endpointKind,
      types.ClusterLoadAssignment,
      wp.endpoints.find((e) => e.clusterName.includes("reviews-v1"))!,
    );
    const lb = (e1.endpoints as { lbEndpoints: Record<string, unknown>[] }[])[0]!.lbEndpoints;
    assert.equal(lb.length, 1);
    assert.deepEqual((lb[0]!.endpoint as { address: unknown }).address, { socketAddress: { address: "10.1.0.11", portValue: 9080 } });
    assert.equal(lb[0]!.healthStatus, "HEALTHY");
  });

  void it("VirtualService form: first match wins, subsets become clusters of the pods with the subset's labels", () => {
    const { t, wp } = translate(["app.yaml", "virtualservice.yaml"]);
    assert.deepEqual(t.problems, []);
    const rc = wp.routes.find((r) => r.name === L)!;
    const routes = rc.virtualHosts[0]!.routes;
    assert.deepEqual(
      routes.map((r) => r.name),
      ["VirtualService/bookinfo/reviews/0", "VirtualService/bookinfo/reviews/1"],
    );
    assert.deepEqual(routing(routes[0]!.route), { cluster: `outbound|9080|v2|${H}` });
    assert.deepEqual(routes[1]!.route?.retryPolicy, DEFAULT_RETRY_POLICY);
    assert.deepEqual(routing(routes[1]!.route), {
      weightedClusters: {
        clusters: [
          { name: `outbound|9080|v1|${H}`, weight: { value: 90 } },
          { name: `outbound|9080|v2|${H}`, weight: { value: 10 } },
        ],
      },
    });
    const ips = (sub: string) =>
      wp.endpoints
        .find((e) => e.clusterName === `outbound|9080|${sub}|${H}`)!
        .localities.flatMap((l) => l.endpoints.map((e) => e.address.address));
    assert.deepEqual(ips("v1"), ["10.1.0.11"]);
    assert.deepEqual(ips("v2"), ["10.1.0.12"]);
    assert.deepEqual(ips("v3"), ["10.1.0.13"]);
    assert.deepEqual(ips(""), ["10.1.0.11", "10.1.0.12", "10.1.0.13"]);
  });

  void it("both forms at once: the HTTPRoute applies and the VirtualService is reported by name", () => {
    const { t, wp } = translate(["app.yaml", "httproute.yaml", "virtualservice.yaml"]);
    assert.equal(wp.routes.find((r) => r.name === L)!.virtualHosts[0]!.routes[0]!.name, "HTTPRoute/bookinfo/reviews/1");
    const p = t.problems.find((x) => x.object === "VirtualService bookinfo/reviews");
    assert.ok(p, JSON.stringify(t.problems));
    assert.match(p.reason, /HTTPRoute bookinfo\/reviews also targets it/);
  });

  void it("no route: one default route to the service's own cluster; the waypoint's own service is not bound to itself", () => {
    const { wp } = translate(["app.yaml"]);
    const rc = wp.routes.find((r) => r.name === L)!;
    assert.deepEqual(rc.virtualHosts[0]!.routes, [
      {
        name: "default",
        match: { prefix: "/" },
        // Istio's default outbound route: no timeout, the default retry policy.
        route: {
          cluster: `outbound|9080||${H}`,
          timeout: { seconds: 0 },
          maxGrpcTimeout: { seconds: 0 },
          retryPolicy: DEFAULT_RETRY_POLICY,
        },
      },
    ]);
    assert.ok(!wp.listeners.some((l) => l.name.includes("waypoint.bookinfo")));
  });

  void it("a consumer route (another namespace) does not apply at the producer's waypoint, and says so", () => {
    const consumer = load("httproute.yaml")[0]!;
    const spec = consumer.spec as { parentRefs: Record<string, unknown>[] };
    const other: KubeObject = {
      ...consumer,
      metadata: { ...consumer.metadata, namespace: "frontend", name: "consumer" },
      spec: { ...spec, parentRefs: spec.parentRefs.map((p) => ({ ...p, namespace: "bookinfo" })) },
    };
    const ns: KubeObject = { apiVersion: "v1", kind: "Namespace", metadata: { name: "frontend" } };
    const { t, wp } = translate(["app.yaml"], [ns, other]);
    assert.equal(wp.routes.find((r) => r.name === L)!.virtualHosts[0]!.routes[0]!.name, "default");
    assert.ok(t.problems.some((p) => p.object === "HTTPRoute frontend/consumer" && /consumer route/.test(p.reason)));
  });

  void it("a route parented to the waypoint Gateway itself does not apply (Istio: the HBONE listener takes no routes), and says so", () => {
    const r = load("httproute.yaml")[0]!;
    const onGateway: KubeObject = {
      ...r,
      metadata: { ...r.metadata, name: "on-gateway" },
      spec: { ...(r.spec as object), parentRefs: [{ group: "gateway.networking.k8s.io", kind: "Gateway", name: "waypoint" }] },
    };
    const { t, wp } = translate(["app.yaml"], [onGateway]);
    assert.deepEqual(
      wp.routes.find((x) => x.name === L)!.virtualHosts[0]!.routes.map((x) => x.name),
      ["default"],
    );
    const p = t.problems.find((x) => x.object === "HTTPRoute bookinfo/on-gateway");
    assert.equal(p?.field, "spec.parentRefs[0]");
    assert.match(p!.reason, /NotAllowedByListeners.*attach them to the Service/);
  });
});
