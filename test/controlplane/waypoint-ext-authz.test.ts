/**
 * CUSTOM authorization from Istio's API to the waypoint's decoder: the mesh config's ext authz
 * provider and a CUSTOM AuthorizationPolicy targeting the waypoint, through the real config
 * store, mesh model, WaypointAuthz and waypoint translator, encoded with Envoy's protos and
 * decoded by the waypoint's own decoder. The waypoint's HTTP listener gets the CUSTOM RBAC
 * filter and ext_authz; the waypoint is sent the provider Service's cluster with its endpoint.
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
import { WaypointAuthz } from "../../src/controlplane/waypoint-authz.js";
import { listenerKind } from "../../src/controlplane/xds/envoy-kinds.js";
import { LISTENER_TYPE_URL } from "../../src/common/xds/envoy-proto.js";
import { decodeEnvoyResource } from "../../src/waypoint/envoy/decode.js";
import { parseMeshConfig } from "../../src/controlplane/mesh-config.js";

const fixtures = path.join(__dirname, "../../../test/controlplane/fixtures/bookinfo");
const L = "inbound-vip|9080|http|reviews.bookinfo.svc.cluster.local";
const AUTHZ = "ext-authz.authz.svc.cluster.local";
const CLUSTER = `outbound|9000||${AUTHZ}`;
const PROVIDER = `apiVersion: v1
kind: Service
metadata: { name: ext-authz, namespace: authz }
spec: { clusterIP: 198.19.9.8, selector: { app: ext-authz }, ports: [{ name: grpc, port: 9000 }] }
---
apiVersion: v1
kind: Pod
metadata: { name: ext-authz-0, namespace: authz, labels: { app: ext-authz } }
spec: { nodeName: node-0, containers: [{ name: ext-authz, image: local }] }
status: { podIP: 198.19.9.21, phase: Running, conditions: [{ type: Ready, status: "True" }] }
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: ext, namespace: bookinfo }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: Gateway, name: waypoint }]
  action: CUSTOM
  provider: { name: grpc-authz }
  rules: [{ to: [{ operation: { paths: ["/admin/*"] } }] }]
`;

function translate(mesh: string) {
  const docs = [readFileSync(path.join(fixtures, "app.yaml"), "utf8"), PROVIDER]
    .flatMap((t) => parseAllDocuments(t).map((d) => d.toJS() as KubeObject))
    .filter(Boolean);
  const validate = objectValidator();
  const store = new ConfigStore((o, origin) => validate(o, origin));
  store.apply(docs.map((object) => ({ type: "upsert" as const, object, origin: { source: "test" } })));
  const m = parseMeshConfig(mesh, "mesh.yaml");
  assert.ok(m.ok);
  const cfg = translateConfig({ mesh: m.value });
  const model = new MeshModel(store, cfg);
  model.start();
  assert.deepEqual(store.invalid(), []);
  const authz = new WaypointAuthz({ rootNamespace: cfg.rootNamespace, trustDomain: "cluster.local" }, () => undefined, undefined, {
    config: m.value,
    clusterDomain: cfg.clusterDomain,
  });
  authz.refresh(store);
  const t = new WaypointTranslator().translate({
    cfg,
    store,
    services: model.services,
    workloads: model.workloads,
    httpFilters: authz.filtersFor,
  });
  return { t, wp: t.waypoints.get("bookinfo/waypoint")!, problems: authz.problems };
}

function decodedAuthz(wp: ReturnType<typeof translate>["wp"]) {
  const l = wp.listeners.find((x) => x.name === L)!;
  const bytes = listenerKind.encode({ value: l, scopes: ["bookinfo/waypoint"] } as never);
  const d = decodeEnvoyResource(LISTENER_TYPE_URL, bytes, L);
  assert.ok(d.ok, JSON.stringify(!d.ok && d.error));
  return (
    d.value as unknown as {
      value: { filter: { authz: { kind: string; service?: unknown; shadowRules?: { policies: { name: string }[] } }[] } };
    }
  ).value.filter.authz;
}

void describe("waypoint CUSTOM: mesh config provider + AuthorizationPolicy -> Envoy -> the waypoint's decoder", () => {
  void it("the waypoint gets the CUSTOM RBAC filter, ext_authz to the provider's cluster, and that cluster with its endpoint", () => {
    const { wp, problems } = translate(`extensionProviders:
  - name: grpc-authz
    envoyExtAuthzGrpc: { service: ${AUTHZ}, port: 9000, timeout: 1s }
`);
    // bookinfo's waypoint also serves TCP ports: there CUSTOM is a fail-closed DENY (no network ext_authz in weft).
    assert.deepEqual(
      problems.filter((p) => !/on a TCP port/.test(p.reason)),
      [],
    );
    const authz = decodedAuthz(wp);
    assert.deepEqual(
      authz.map((f) => f.kind),
      ["rbac", "ext_authz"],
    );
    assert.deepEqual(
      authz[0]!.shadowRules!.policies.map((p) => p.name),
      ["istio-ext-authz-grpc-authz-ns[bookinfo]-policy[ext]-rule[0]"],
    );
    assert.deepEqual(authz[1]!.service, { kind: "grpc", cluster: CLUSTER, authority: AUTHZ, timeoutMs: 1000 });
    assert.ok(wp.clusters.some((c) => c.name === CLUSTER));
    const cla = wp.endpoints.find((e) => e.clusterName === CLUSTER);
    assert.deepEqual(
      cla?.localities.flatMap((l) => l.endpoints.map((e) => `${e.address.address}:${e.address.portValue}`)),
      ["198.19.9.21:9000"],
    );
  });

  void it("without the provider in the mesh config the CUSTOM rules deny, reported; no ext_authz, no cluster", () => {
    const { wp, problems } = translate("");
    const authz = decodedAuthz(wp);
    assert.deepEqual(
      authz.map((f) => f.kind),
      ["rbac"],
    );
    assert.ok(!wp.clusters.some((c) => c.name === CLUSTER), "no cluster");
    assert.ok(
      problems.some((p) => /available providers are \[\] but found "grpc-authz"/.test(p.reason)),
      JSON.stringify(problems),
    );
  });
});
