/**
 * KubeSource against a real kube-apiserver + etcd (test/kube/apiserver.ts): initial sync of all
 * kinds, CRD kinds appearing later, events for adds/changes/deletes, validation hook, a watch
 * resumed across an apiserver restart, and a 410 Gone re-list after etcd compaction.
 * The tests share one cluster and run in order.
 */
import { after, before, describe, test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { err } from "../../src/common/result.js";
import { kubeApi } from "../../src/kube/client/kube-api.js";
import type { KubeObject } from "../../src/kube/object.js";
import { KubeSource, type KubeSourceOptions } from "../../src/kube/client/kube-source.js";
import { objectValidator } from "../../src/kube/validate/validate.js";
import { builtinKinds } from "../../src/kube/client/kube-kinds.js";
import { kubeBinaries } from "./binaries.js";
import { startKubeCluster, type KubeCluster, needCluster } from "./apiserver.js";
import { applyCrds, create, list, patch, pod, RecordingSink, remove, service, waitUntil } from "./fixtures.js";

let cluster: KubeCluster | undefined;
let skipReason = "";
const sources: KubeSource[] = [];

const need = (t: TestContext): KubeCluster | undefined => needCluster(t, cluster, skipReason);

async function startSource(
  t: TestContext,
  c: KubeCluster,
  extra: Partial<KubeSourceOptions> = {},
): Promise<{ source: KubeSource; sink: RecordingSink }> {
  const source = new KubeSource({
    config: c.config,
    reflector: { absentRecheckMs: 300, backoff: { initialMs: 50, maxMs: 500 }, watchTimeoutSeconds: 60, pageSize: 2 },
    ...extra,
  });
  sources.push(source);
  t.after(() => source.stop());
  const sink = new RecordingSink();
  await source.start(sink);
  return { source, sink };
}

/** The source's view of a kind equals the API server's, object by object (resourceVersion included). */
async function assertMirrors(c: KubeCluster, sink: RecordingSink, apiVersion: string, kind: string, resource: string): Promise<void> {
  const group = apiVersion.includes("/") ? apiVersion.split("/")[0] : "";
  const want = new Map(
    (await list(c.admin, apiVersion, resource)).map((o) => [
      `${group}/${kind}/${o.metadata.namespace ?? ""}/${o.metadata.name}`,
      o.metadata.resourceVersion,
    ]),
  );
  const got = new Map([...sink.state].filter(([k]) => k.startsWith(`${group}/${kind}/`)).map(([k, o]) => [k, o.metadata.resourceVersion]));
  assert.deepEqual(got, want, `${kind}: source state differs from the API server`);
}

const ns = (name: string, labels?: Record<string, string>) => ({
  apiVersion: "v1",
  kind: "Namespace",
  metadata: { name, ...(labels ? { labels } : {}) },
});

before(async () => {
  const bins = kubeBinaries();
  if (!bins.ok) {
    skipReason = bins.reason;
    return;
  }
  const t0 = Date.now();
  cluster = await startKubeCluster(bins.value);
  console.log(`kube harness: etcd + kube-apiserver ready in ${Date.now() - t0} ms`);
});

after(async () => {
  for (const s of sources) await s.stop(); // idempotent: the tests stop theirs already
  await cluster?.stop();
});

void describe("KubeSource against a real kube-apiserver", () => {
  void test("initial sync delivers every built-in kind; missing CRD kinds are skipped, not fatal", async (t) => {
    const c = need(t);
    if (!c) return;
    const a = c.admin;
    await create(a, { apiVersion: "v1", resource: "namespaces" }, ns("shop", { "istio.io/dataplane-mode": "ambient" }));
    await create(a, { apiVersion: "v1", resource: "nodes" }, { metadata: { name: "node-a" } });
    await create(a, { apiVersion: "v1", resource: "serviceaccounts", namespace: "shop" }, { metadata: { name: "cart" } });
    await create(a, { apiVersion: "v1", resource: "services", namespace: "shop" }, service("shop", "cart"));
    for (const n of ["cart-1", "cart-2", "cart-3"]) {
      await create(
        a,
        { apiVersion: "v1", resource: "pods", namespace: "shop" },
        pod("shop", n, { labels: { app: "cart" }, nodeName: "node-a", serviceAccountName: "cart" }),
      );
    }
    await create(
      a,
      { apiVersion: "discovery.k8s.io/v1", resource: "endpointslices", namespace: "shop" },
      {
        metadata: { name: "cart-abc", namespace: "shop", labels: { "kubernetes.io/service-name": "cart" } },
        addressType: "IPv4",
        endpoints: [{ addresses: ["198.19.0.5"], conditions: { ready: true } }],
        ports: [{ name: "http", port: 8080, protocol: "TCP" }],
      },
    );

    const { source, sink } = await startSource(t, c);
    await source.waitSynced();
    assert.equal(sink.syncedCalls, 1);
    // Objects as a real API server serves them pass the default (strict) validation.
    assert.deepEqual(sink.invalid, []);
    // Everything listed was applied before synced() (page size 2 forces pagination).
    assert.equal(sink.stateAtSync, sink.state.size);
    for (const key of [
      "/Namespace//shop",
      "/Node//node-a",
      "/ServiceAccount/shop/cart",
      "/Service/shop/cart",
      "/Pod/shop/cart-1",
      "/Pod/shop/cart-3",
      "discovery.k8s.io/EndpointSlice/shop/cart-abc",
    ]) {
      assert.ok(sink.state.has(key), `missing ${key}`);
    }
    const upsertedPod = sink.state.get("/Pod/shop/cart-2");
    assert.equal(upsertedPod?.apiVersion, "v1");
    assert.equal(upsertedPod?.kind, "Pod");
    await assertMirrors(c, sink, "v1", "Pod", "pods");
    await assertMirrors(c, sink, "v1", "Namespace", "namespaces");
    const stats = source.stats();
    assert.equal(stats["AuthorizationPolicy.security.istio.io/v1"]?.absent, true);
    assert.equal(stats["Pod/v1"]?.absent, false);
    assert.ok((stats["Pod/v1"]?.lists ?? 0) >= 1);
  });

  void test("CRDs installed later: Istio, Gateway API and weft objects are delivered", async (t) => {
    const c = need(t);
    if (!c) return;
    const { source, sink } = await startSource(t, c);
    await source.waitSynced();
    await applyCrds(c.admin);
    const objects: Array<[apiVersion: string, resource: string, kind: string, spec: object]> = [
      ["security.istio.io/v1", "authorizationpolicies", "AuthorizationPolicy", { action: "ALLOW", rules: [{}] }],
      ["security.istio.io/v1", "peerauthentications", "PeerAuthentication", { mtls: { mode: "STRICT" } }],
      ["security.istio.io/v1", "requestauthentications", "RequestAuthentication", { jwtRules: [{ issuer: "x" }] }],
      ["networking.istio.io/v1", "destinationrules", "DestinationRule", { host: "cart.shop.svc.cluster.local" }],
      ["networking.istio.io/v1", "serviceentries", "ServiceEntry", { hosts: ["example.test"] }],
      ["networking.istio.io/v1", "virtualservices", "VirtualService", { hosts: ["cart"] }],
      ["networking.istio.io/v1", "workloadentries", "WorkloadEntry", { address: "10.9.0.1", labels: { app: "vm" } }],
      [
        "gateway.networking.k8s.io/v1",
        "gateways",
        "Gateway",
        { gatewayClassName: "istio-waypoint", listeners: [{ name: "mesh", port: 15008, protocol: "HBONE" }] },
      ],
      ["gateway.networking.k8s.io/v1", "httproutes", "HTTPRoute", { rules: [] }],
      ["gateway.networking.k8s.io/v1", "grpcroutes", "GRPCRoute", { rules: [] }],
      ["telemetry.istio.io/v1", "telemetries", "Telemetry", { tracing: [{ randomSamplingPercentage: 10 }] }],
      [
        "networking.weft.io/v1alpha1",
        "localratelimits",
        "LocalRateLimit",
        { targetRefs: [{ kind: "Service", name: "cart" }], tokenBucket: { maxTokens: 5, fillInterval: "1s" } },
      ],
    ];
    for (const [apiVersion, resource, kind, spec] of objects) {
      await create(
        c.admin,
        { apiVersion, resource, namespace: "shop" },
        { apiVersion, kind, metadata: { name: `my-${resource}`, namespace: "shop" }, spec },
      );
    }
    for (const [apiVersion, resource, kind, spec] of objects) {
      const key = `${apiVersion.split("/")[0]}/${kind}/shop/my-${resource}`;
      await waitUntil(`${key} delivered`, () => sink.state.has(key));
      assert.deepEqual(sink.state.get(key)?.spec, spec);
    }
    await waitUntil("CRD kinds no longer absent", () => Object.values(source.stats()).every((s) => !s.absent));
    assert.deepEqual(sink.invalid, []);
  });

  void test("a CRD removed later: its objects are deleted and the kind counts as absent again", async (t) => {
    const c = need(t);
    if (!c) return;
    const { source, sink } = await startSource(t, c);
    await source.waitSynced();
    const key = "gateway.networking.k8s.io/GRPCRoute/shop/my-grpcroutes";
    await waitUntil("GRPCRoute present", () => sink.state.has(key));
    await remove(c.admin, {
      apiVersion: "apiextensions.k8s.io/v1",
      resource: "customresourcedefinitions",
      name: "grpcroutes.gateway.networking.k8s.io",
    });
    await waitUntil(
      "GRPCRoute deleted and kind absent",
      () => !sink.state.has(key) && source.stats()["GRPCRoute.gateway.networking.k8s.io/v1"]?.absent === true,
      30_000,
    );
    assert.equal(sink.history(key).at(-1), `-${key}`);
    assert.ok(sink.state.has("gateway.networking.k8s.io/HTTPRoute/shop/my-httproutes"), "other kinds untouched");
  });

  void test("adds, changes and deletes of Pods and Services arrive as events, in order", async (t) => {
    const c = need(t);
    if (!c) return;
    const { source, sink } = await startSource(t, c);
    await source.waitSynced();
    const podRef = { apiVersion: "v1", resource: "pods", namespace: "shop", name: "web-1" };
    const svcRef = { apiVersion: "v1", resource: "services", namespace: "shop", name: "web" };
    await create(c.admin, podRef, pod("shop", "web-1", { labels: { app: "web" } }));
    await create(c.admin, svcRef, service("shop", "web"));
    await patch(c.admin, podRef, { metadata: { labels: { app: "web", version: "v2" } } });
    await patch(c.admin, svcRef, { spec: { ports: [{ name: "http", port: 8080, targetPort: 8080 }] } });
    await remove(c.admin, podRef);
    await remove(c.admin, svcRef);
    await waitUntil(
      "pod and service deleted",
      () =>
        sink.history("/Service/shop/web").at(-1) === "-/Service/shop/web" && sink.history("/Pod/shop/web-1").at(-1) === "-/Pod/shop/web-1",
    );
    // Pod deletion is graceful: the API server may first set deletionTimestamp (an update).
    const podHistory = sink.history("/Pod/shop/web-1").filter((l) => !l.endsWith(" terminating"));
    assert.deepEqual(podHistory, ["+/Pod/shop/web-1@app=web", "+/Pod/shop/web-1@app=web,version=v2", "-/Pod/shop/web-1"]);
    const svc = sink.history("/Service/shop/web");
    assert.equal(svc.length, 3, svc.join(" "));
    assert.equal(svc[2], "-/Service/shop/web");
    assert.equal(sink.state.has("/Service/shop/web"), false);
    await assertMirrors(c, sink, "v1", "Pod", "pods");
    await assertMirrors(c, sink, "v1", "Service", "services");
  });

  void test("an object the validator rejects goes to onInvalid and is not applied", async (t) => {
    const c = need(t);
    if (!c) return;
    const strict = objectValidator();
    const { source, sink } = await startSource(t, c, {
      validate: (o: KubeObject, origin) =>
        o.metadata.labels?.["weft.test/bad"]
          ? err({
              origin,
              object: `${o.kind} ${o.metadata.namespace}/${o.metadata.name}`,
              field: "metadata.labels",
              reason: "bad on purpose",
            })
          : strict(o, origin),
    });
    await source.waitSynced();
    await create(
      c.admin,
      { apiVersion: "v1", resource: "pods", namespace: "shop" },
      pod("shop", "bad-1", { labels: { "weft.test/bad": "yes" } }),
    );
    await create(c.admin, { apiVersion: "v1", resource: "pods", namespace: "shop" }, pod("shop", "good-1"));
    await waitUntil("good pod delivered", () => sink.state.has("/Pod/shop/good-1"));
    await waitUntil("bad pod reported", () => sink.invalid.length === 1);
    assert.equal(sink.state.has("/Pod/shop/bad-1"), false);
    assert.equal(sink.invalid[0]?.object, "Pod shop/bad-1");
    assert.equal(sink.invalid[0]?.field, "metadata.labels");
    assert.match(sink.invalid[0]?.origin.source ?? "", /\/api\/v1\/pods\/shop\/bad-1@/);
  });

  void test("bookmarks move an idle kind's resourceVersion forward", async (t) => {
    const c = need(t);
    if (!c) return;
    // Only Pods are watched; other kinds change, so etcd's revision moves on without Pod events.
    const { source } = await startSource(t, c, {
      kinds: builtinKinds.filter((k) => k.kind === "Pod"),
      reflector: { watchTimeoutSeconds: 5 },
    });
    await source.waitSynced();
    const listed = source.stats()["Pod/v1"]!.resourceVersion;
    for (let i = 0; i < 3; i++)
      await create(c.admin, { apiVersion: "v1", resource: "serviceaccounts", namespace: "shop" }, { metadata: { name: `idle-${i}` } });
    await waitUntil(
      "a bookmark with a newer resourceVersion",
      () => {
        const s = source.stats()["Pod/v1"]!;
        return s.bookmarks > 0 && s.resourceVersion !== listed;
      },
      15_000,
    );
    assert.equal(source.stats()["Pod/v1"]!.events, 0, "no Pod changed");
  });

  void test("a watch broken by an apiserver restart resumes from its resourceVersion without losing events", async (t) => {
    const c = need(t);
    if (!c) return;
    // Serve the restarted apiserver without a watch cache: the resumed watch then replays
    // exactly the etcd history since our resourceVersion (no re-list).
    await c.restartApiserver(undefined, { watchCache: false, crash: true });
    await create(c.admin, { apiVersion: "v1", resource: "pods", namespace: "shop" }, pod("shop", "doomed"));
    await create(c.admin, { apiVersion: "v1", resource: "pods", namespace: "shop" }, pod("shop", "changes"));
    const { source, sink } = await startSource(t, c);
    await source.waitSynced();
    await waitUntil("pods listed", () => sink.state.has("/Pod/shop/doomed") && sink.state.has("/Pod/shop/changes"));
    const before = source.stats()["Pod/v1"]!;

    await c.restartApiserver(
      async () => {
        const other = await c.startApiserver();
        const b = kubeApi(c.configWith({ server: other.url }));
        try {
          await create(b, { apiVersion: "v1", resource: "pods", namespace: "shop" }, pod("shop", "born-while-down"));
          await patch(
            b,
            { apiVersion: "v1", resource: "pods", namespace: "shop", name: "changes" },
            { metadata: { labels: { changed: "while-down" } } },
          );
          await remove(b, { apiVersion: "v1", resource: "pods", namespace: "shop", name: "doomed" });
        } finally {
          await other.stop({ crash: true });
        }
      },
      { watchCache: false },
    );

    await waitUntil(
      "changes made while the apiserver was down delivered",
      () =>
        sink.state.has("/Pod/shop/born-while-down") &&
        !sink.state.has("/Pod/shop/doomed") &&
        sink.state.get("/Pod/shop/changes")?.metadata.labels?.changed === "while-down",
      30_000,
    );
    const afterStats = source.stats()["Pod/v1"]!;
    assert.equal(afterStats.gone, before.gone, "resumed by watch, not by a 410 re-list");
    assert.equal(afterStats.lists, before.lists, "no re-list was needed");
    assert.ok(afterStats.watches > before.watches, "the watch was re-established");
    assert.deepEqual(sink.history("/Pod/shop/doomed").at(-1), "-/Pod/shop/doomed");
    await assertMirrors(c, sink, "v1", "Pod", "pods");
  });

  void test("410 Gone after etcd compaction re-lists and emits the deletes and upserts missed meanwhile", async (t) => {
    const c = need(t);
    if (!c) return;
    await create(c.admin, { apiVersion: "v1", resource: "services", namespace: "shop" }, service("shop", "gone-soon"));
    await create(c.admin, { apiVersion: "v1", resource: "services", namespace: "shop" }, service("shop", "stays"));
    const { source, sink } = await startSource(t, c);
    await source.waitSynced();
    const before = source.stats()["Service/v1"]!;

    await c.restartApiserver(
      async () => {
        const other = await c.startApiserver();
        const b = kubeApi(c.configWith({ server: other.url }));
        try {
          await remove(b, { apiVersion: "v1", resource: "services", namespace: "shop", name: "gone-soon" });
          await create(b, { apiVersion: "v1", resource: "services", namespace: "shop" }, service("shop", "new-while-down"));
          await patch(
            b,
            { apiVersion: "v1", resource: "services", namespace: "shop", name: "stays" },
            { metadata: { labels: { touched: "yes" } } },
          );
        } finally {
          await other.stop({ crash: true });
        }
        await c.compactEtcd(); // the source's resourceVersion is now history
      },
      { watchCache: false, crash: true },
    ); // killed: the watch connection resets mid-stream

    await waitUntil(
      "missed changes delivered by the re-list",
      () =>
        !sink.state.has("/Service/shop/gone-soon") &&
        sink.state.has("/Service/shop/new-while-down") &&
        sink.state.get("/Service/shop/stays")?.metadata.labels?.touched === "yes",
      30_000,
    );
    const afterStats = source.stats()["Service/v1"]!;
    assert.ok(afterStats.gone > before.gone, `expected a 410 Gone (stats ${JSON.stringify(afterStats)})`);
    assert.ok(afterStats.lists > before.lists, "a re-list followed the 410");
    assert.equal(sink.history("/Service/shop/gone-soon").at(-1), "-/Service/shop/gone-soon");
    await assertMirrors(c, sink, "v1", "Service", "services");
    await assertMirrors(c, sink, "v1", "Pod", "pods");
  });

  void test("a crashed apiserver with its watch cache (the default) loses no events either", async (t) => {
    const c = need(t);
    if (!c) return;
    await c.restartApiserver(undefined, { watchCache: true, crash: true });
    await create(c.admin, { apiVersion: "v1", resource: "services", namespace: "shop" }, service("shop", "cached-gone"));
    const { source, sink } = await startSource(t, c);
    await source.waitSynced();
    const before = source.stats()["Service/v1"]!;
    await c.restartApiserver(
      async () => {
        const other = await c.startApiserver();
        const b = kubeApi(c.configWith({ server: other.url }));
        try {
          await remove(b, { apiVersion: "v1", resource: "services", namespace: "shop", name: "cached-gone" });
          await create(b, { apiVersion: "v1", resource: "services", namespace: "shop" }, service("shop", "cached-new"));
        } finally {
          await other.stop({ crash: true });
        }
      },
      { watchCache: true, crash: true },
    );
    await waitUntil(
      "changes made while down delivered",
      () => !sink.state.has("/Service/shop/cached-gone") && sink.state.has("/Service/shop/cached-new"),
      30_000,
    );
    const s = source.stats()["Service/v1"]!;
    // A fresh watch cache may serve the old resourceVersion or answer 410; both must converge.
    console.log(`kube: after a restart with watch cache, Service watch ${s.gone > before.gone ? "re-listed after 410 Gone" : "resumed"}`);
    await assertMirrors(c, sink, "v1", "Service", "services");
  });
});
