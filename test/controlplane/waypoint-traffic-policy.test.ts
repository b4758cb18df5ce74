/**
 * DestinationRule traffic policies through the real config store, mesh model and waypoint
 * translator, encoded with Envoy's protos and decoded again by the waypoint's own decoder:
 * Istio's merge rules (a subset's load balancer over the rule's connection pool and outlier
 * detection), a subset's retry budget, the cluster fields istiod writes, the route hash policy for a consistentHash
 * subset, and locality failover priorities relative to the waypoint pod's node.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { parseAllDocuments } from "yaml";
import type { KubeObject } from "../../src/kube/object.js";
import { objectValidator } from "../../src/kube/validate/validate.js";
import { translateWaypoints } from "../support/waypoint-translate.js";
import { clusterKind, endpointKind, routeKind } from "../../src/controlplane/xds/envoy-kinds.js";
import { CLUSTER_TYPE_URL, ENDPOINT_TYPE_URL, ROUTE_TYPE_URL } from "../../src/common/xds/envoy-proto.js";
import { decodeEnvoyResource } from "../../src/waypoint/envoy/decode.js";
import type { Cluster, ClusterEndpoints, ForwardAction, RouteTable } from "../../src/waypoint/envoy/types.js";

const fixtures = path.join(__dirname, "../../../test/controlplane/fixtures/bookinfo");
const H = "reviews.bookinfo.svc.cluster.local";
const L = `inbound-vip|9080|http|${H}`;

const yaml = (text: string) => parseAllDocuments(text).map((d) => d.toJS() as KubeObject);
const app = yaml(readFileSync(path.join(fixtures, "app.yaml"), "utf8"));
const node = (name: string, zone: string) =>
  ({
    apiVersion: "v1",
    kind: "Node",
    metadata: { name, labels: { "topology.kubernetes.io/region": "r1", "topology.kubernetes.io/zone": zone } },
  }) as KubeObject;
const remotePod = yaml(`
apiVersion: v1
kind: Pod
metadata: { name: reviews-v1-1, namespace: bookinfo, labels: { app: reviews, version: v1 } }
spec: { nodeName: node-b, serviceAccountName: bookinfo-reviews, containers: [{ name: app, image: local }] }
status: { phase: Running, podIP: 10.1.0.14, podIPs: [{ ip: 10.1.0.14 }], conditions: [{ type: Ready, status: "True" }] }
`);
const policy = yaml(`
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: reviews, namespace: bookinfo }
spec:
  host: reviews
  trafficPolicy:
    connectionPool:
      tcp: { maxConnections: 1, connectTimeout: 2s }
      http: { http1MaxPendingRequests: 1, maxRequestsPerConnection: 1 }
    outlierDetection: { consecutive5xxErrors: 1, interval: 1s, baseEjectionTime: 180s, maxEjectionPercent: 100 }
    portLevelSettings:
      - port: { number: 9999 }
        loadBalancer: { simple: RANDOM }
  subsets:
    - { name: v1, labels: { version: v1 } }
    - name: v2
      labels: { version: v2 }
      trafficPolicy:
        loadBalancer: { consistentHash: { httpHeaderName: x-user } }
        retryBudget: { percent: 25, minRetryConcurrency: 2 }
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: reviews, namespace: bookinfo }
spec:
  hosts: [reviews]
  http:
    - match: [{ headers: { end-user: { exact: jason } } }]
      route: [{ destination: { host: reviews, subset: v2 } }]
    - route: [{ destination: { host: reviews, subset: v1 } }]
`);

function translate(objects: KubeObject[]) {
  const { t } = translateWaypoints(objects);
  return { t, wp: t.waypoints.get("bookinfo/waypoint")! };
}

/** Encoded as the control plane serves it, decoded as the waypoint reads it. */
function roundTrip<T>(kind: { encode(v: never): Uint8Array }, typeUrl: string, value: unknown, name: string): T {
  const r = decodeEnvoyResource(typeUrl, kind.encode({ value, scopes: ["bookinfo/waypoint"] } as never), name);
  assert.ok(r.ok, JSON.stringify(!r.ok && r.error));
  return r.value.value as T;
}

void describe("DestinationRule traffic policy at the waypoint", () => {
  const { t, wp } = translate([...app, node("node-a", "z1"), node("node-b", "z2"), ...remotePod, ...policy]);
  const cluster = (subset: string) => {
    const name = `outbound|9080|${subset}|${H}`;
    return roundTrip<Cluster>(
      clusterKind,
      CLUSTER_TYPE_URL,
      wp.clusters.find((c) => c.name === name)!,
      name,
    );
  };

  void it("is translated without problems", () => assert.deepEqual(t.problems, []));

  void it("a subset's retryBudget reaches the waypoint as the threshold's retry_budget; the other subset has none", () => {
    const c = cluster("v2");
    assert.deepEqual(c.circuitBreakers.retryBudget, { budgetPercent: 25, minRetryConcurrency: 2 });
    assert.equal(c.circuitBreakers.maxConnections, 1, "the rule's connection pool is inherited beside it");
    assert.equal(cluster("v1").circuitBreakers.retryBudget, undefined);
  });

  void it("the rule's connection pool and outlier detection, Istio's default LEAST_REQUEST", () => {
    const c = cluster("v1");
    assert.equal(c.lbPolicy, "LEAST_REQUEST");
    assert.equal(c.connectTimeoutMs, 2000);
    assert.deepEqual(c.circuitBreakers, { maxConnections: 1, maxPendingRequests: 1, maxRequests: 4294967295, maxRetries: 4294967295 });
    assert.deepEqual(c.httpOptions, { maxRequestsPerConnection: 1 });
    assert.equal(c.outlierDetection?.consecutive5xx, 1);
    assert.equal(c.outlierDetection?.enforcingConsecutive5xx, 100);
    assert.equal(c.outlierDetection?.intervalMs, 1000);
    assert.equal(c.outlierDetection?.baseEjectionTimeMs, 180_000);
    assert.equal(c.outlierDetection?.maxEjectionPercent, 100);
    assert.equal(c.lb.panicThresholdPercent, 0, "minHealthPercent 0: no panic");
  });

  void it("a subset's load balancer overrides the rule's; its connection pool is inherited (Istio's merge)", () => {
    const c = cluster("v2");
    assert.equal(c.lbPolicy, "RING_HASH");
    assert.equal(c.lb.minRingSize, 1024);
    assert.equal(c.circuitBreakers.maxConnections, 1);
    assert.equal(c.outlierDetection?.consecutive5xx, 1);
  });

  void it("the route to the consistent-hash subset hashes on the header; the other route has no hash policy", () => {
    const rt = roundTrip<RouteTable>(
      routeKind,
      ROUTE_TYPE_URL,
      wp.routes.find((r) => r.name === L)!,
      L,
    );
    const actions = rt.virtualHosts[0]!.routes.map((r) => r.action as ForwardAction);
    assert.deepEqual(actions[0]!.hashPolicy, [{ kind: "header", name: "x-user", terminal: false }]);
    assert.equal(actions[1]!.hashPolicy, undefined);
  });

  void it("with outlier detection, endpoints in another zone than the waypoint's are the failover priority", () => {
    const name = `outbound|9080|v1|${H}`;
    const cla = roundTrip<ClusterEndpoints>(
      endpointKind,
      ENDPOINT_TYPE_URL,
      wp.endpoints.find((e) => e.clusterName === name)!,
      name,
    );
    assert.deepEqual(
      cla.endpoints.map((e) => [e.ip, e.locality, e.priority]),
      [
        ["10.1.0.11", "r1/z1/", 0],
        ["10.1.0.14", "r1/z2/", 1],
      ],
    );
  });

  void it("without a DestinationRule: LEAST_REQUEST, unlimited circuit breakers, no outlier detection, no priorities", () => {
    const bare = translate([...app, node("node-a", "z1"), node("node-b", "z2"), ...remotePod]).wp;
    const name = `outbound|9080||${H}`;
    const c = roundTrip<Cluster>(
      clusterKind,
      CLUSTER_TYPE_URL,
      bare.clusters.find((x) => x.name === name)!,
      name,
    );
    assert.equal(c.lbPolicy, "LEAST_REQUEST");
    assert.equal(c.circuitBreakers.maxRequests, 4294967295);
    assert.equal(c.outlierDetection, undefined);
    const cla = bare.endpoints.find((e) => e.clusterName === name)!;
    assert.ok(cla.localities.every((l) => !l.priority));
  });

  void it("an invalid traffic policy is refused at the edge, naming the field", () => {
    const validate = objectValidator();
    const bad = yaml(`
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: bad, namespace: bookinfo }
spec:
  host: reviews
  trafficPolicy:
    outlierDetection: { maxEjectionPercent: 120 }
`)[0]!;
    const r = validate(bad, { source: "test" });
    assert.ok(!r.ok);
    assert.match(JSON.stringify(r.error), /spec\.trafficPolicy\.outlierDetection\.maxEjectionPercent/);
  });
});
