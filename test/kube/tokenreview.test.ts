/**
 * TokenReviewAuthenticator against a real kube-apiserver: real service-account tokens from the
 * TokenRequest API (audience istio-ca, bound to a pod on a node, or unbound) are accepted with
 * the right identity and node; garbage, wrong-audience and stale pod-bound tokens are rejected.
 * The authenticator runs with the least privilege the control plane gets (deploy/ RBAC rules:
 * create tokenreviews, get pods), not as admin.
 */
import { after, before, describe, test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { TokenReviewAuthenticator } from "../../src/controlplane/auth/tokenreview.js";
import { kubeBinaries } from "./binaries.js";
import { freePort, startKubeCluster, type KubeCluster } from "./apiserver.js";
import { create, pod, RecordingSink, remove, waitUntil } from "./fixtures.js";
import { KubeSource } from "../../src/kube/client/kube-source.js";
import { renderManifests } from "../../src/cli/install/manifests.js";

let cluster: KubeCluster | undefined;
let skipReason = "";
let authn: TokenReviewAuthenticator | undefined;
let ztunnelPodUid = "";
let controlPlaneToken = "";

function need(t: TestContext): { c: KubeCluster; a: TokenReviewAuthenticator } | undefined {
  if (!cluster || !authn) {
    console.warn(`!! SKIPPED kube integration test "${t.name}": ${skipReason}`);
    t.skip(skipReason);
    return undefined;
  }
  return { c: cluster, a: authn };
}

async function requestToken(c: KubeCluster, ns: string, sa: string, spec: Record<string, unknown>): Promise<string> {
  const r = await c.admin.request<{ status: { token: string } }>("POST", `/api/v1/namespaces/${ns}/serviceaccounts/${sa}/token`, {
    apiVersion: "authentication.k8s.io/v1",
    kind: "TokenRequest",
    spec: { expirationSeconds: 3600, ...spec },
  });
  if (!r.ok) assert.fail(`TokenRequest ${ns}/${sa}: ${r.error.message}`);
  return r.value.status.token;
}

before(async () => {
  const bins = kubeBinaries();
  if (!bins.ok) {
    skipReason = bins.reason;
    return;
  }
  const c = (cluster = await startKubeCluster(bins.value));
  const a = c.admin;
  for (const n of ["istio-system"]) await create(a, { apiVersion: "v1", resource: "namespaces" }, { metadata: { name: n } });
  await create(a, { apiVersion: "v1", resource: "nodes" }, { metadata: { name: "node-a" } });
  await create(a, { apiVersion: "v1", resource: "serviceaccounts", namespace: "istio-system" }, { metadata: { name: "ztunnel" } });
  await create(
    a,
    { apiVersion: "v1", resource: "serviceaccounts", namespace: "istio-system" },
    { metadata: { name: "weft-controlplane" } },
  );
  const zt = await create(
    a,
    { apiVersion: "v1", resource: "pods", namespace: "istio-system" },
    pod("istio-system", "ztunnel-abc", { nodeName: "node-a", serviceAccountName: "ztunnel" }),
  );
  ztunnelPodUid = zt.metadata.uid ?? "";

  // The control plane's own RBAC, as deploy/weft.yaml renders it (src/cli/install/), bound to its service account.
  for (const o of renderManifests().filter((m) => m.metadata.name === "weft-controlplane")) {
    const resource = o.kind === "ClusterRole" ? "clusterroles" : o.kind === "ClusterRoleBinding" ? "clusterrolebindings" : undefined;
    if (resource) await create(a, { apiVersion: "rbac.authorization.k8s.io/v1", resource }, o);
  }
  controlPlaneToken = await requestToken(c, "istio-system", "weft-controlplane", {});
  authn = new TokenReviewAuthenticator({ config: c.configWith({ token: controlPlaneToken }) });
});

after(async () => {
  await cluster?.stop();
});

void describe("TokenReviewAuthenticator against a real kube-apiserver", () => {
  void test("a pod-bound istio-ca token yields the service account identity and the pod's node", async (t) => {
    const n = need(t);
    if (!n) return;
    const token = await requestToken(n.c, "istio-system", "ztunnel", {
      audiences: ["istio-ca"],
      boundObjectRef: { kind: "Pod", apiVersion: "v1", name: "ztunnel-abc", uid: ztunnelPodUid },
    });
    const r = await n.a.authenticate(token);
    assert.ok(r.ok, r.ok ? "" : r.error.message);
    assert.deepEqual(r.value, {
      identity: "spiffe://cluster.local/ns/istio-system/sa/ztunnel",
      node: "node-a",
      pod: { namespace: "istio-system", name: "ztunnel-abc", uid: ztunnelPodUid },
    });
  });

  void test("an unbound istio-ca token yields the identity without a node", async (t) => {
    const n = need(t);
    if (!n) return;
    const token = await requestToken(n.c, "istio-system", "ztunnel", { audiences: ["istio-ca"] });
    const r = await n.a.authenticate(token);
    assert.ok(r.ok, r.ok ? "" : r.error.message);
    assert.deepEqual(r.value, { identity: "spiffe://cluster.local/ns/istio-system/sa/ztunnel" });
  });

  void test("garbage, empty and wrong-audience tokens are rejected with a reason", async (t) => {
    const n = need(t);
    if (!n) return;
    const wrongAudience = await requestToken(n.c, "istio-system", "ztunnel", {}); // API server audience only
    const cases: Array<[string, string, RegExp]> = [
      ["garbage", "not-a-token", /token rejected by the API server/],
      ["forged JWT", "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln", /token rejected by the API server/],
      ["empty", "  ", /empty bearer token/],
      ["wrong audience", wrongAudience, /token rejected by the API server|not valid for audience istio-ca/],
    ];
    for (const [name, token, why] of cases) {
      const r = await n.a.authenticate(token);
      assert.ok(!r.ok, name);
      assert.match(r.error.message, why, name);
    }
  });

  void test("a token bound to a pod that was deleted is rejected", async (t) => {
    const n = need(t);
    if (!n) return;
    const p = await create(
      n.c.admin,
      { apiVersion: "v1", resource: "pods", namespace: "istio-system" },
      pod("istio-system", "short-lived", { nodeName: "node-a", serviceAccountName: "ztunnel" }),
    );
    const token = await requestToken(n.c, "istio-system", "ztunnel", {
      audiences: ["istio-ca"],
      boundObjectRef: { kind: "Pod", apiVersion: "v1", name: "short-lived", uid: p.metadata.uid },
    });
    assert.ok((await n.a.authenticate(token)).ok, "valid while the pod exists");
    await remove(n.c.admin, { apiVersion: "v1", resource: "pods", namespace: "istio-system", name: "short-lived" });
    await waitUntil("pod gone", async () => !(await n.c.admin.request("GET", "/api/v1/namespaces/istio-system/pods/short-lived")).ok);
    // The API server caches successful token authentications for a few seconds, so the
    // rejection may lag the deletion; it must come.
    const t0 = Date.now();
    let last: Awaited<ReturnType<TokenReviewAuthenticator["authenticate"]>> | undefined;
    await waitUntil("token of the deleted pod rejected", async () => !(last = await n.a.authenticate(token)).ok, 30_000);
    assert.ok(last && !last.ok);
    assert.match(last.error.message, /token rejected by the API server/);
    console.log(`tokenreview: token of a deleted pod rejected ${Date.now() - t0} ms after the deletion`);
  });

  void test("an unreachable API server is an error value, not a throw", async (t) => {
    const n = need(t);
    if (!n) return;
    const down = new TokenReviewAuthenticator({
      config: n.c.configWith({ server: `https://127.0.40.1:${await freePort()}` }),
      timeoutMs: 2000,
    });
    const r = await down.authenticate("whatever");
    assert.ok(!r.ok);
    assert.match(r.error.message, /token review failed: .*ECONNREFUSED/);
  });

  void test("the control plane's RBAC also suffices for KubeSource to list and watch every kind", async (t) => {
    const n = need(t);
    if (!n) return;
    const source = new KubeSource({ config: n.c.configWith({ token: controlPlaneToken }), reflector: { absentRecheckMs: 60_000 } });
    const sink = new RecordingSink();
    await source.start(sink);
    try {
      await source.waitSynced();
      assert.ok(sink.state.has("/Pod/istio-system/ztunnel-abc"));
      for (const [kind, s] of Object.entries(source.stats())) assert.equal(s.errors, 0, `${kind}: ${JSON.stringify(s)}`);
    } finally {
      await source.stop();
    }
  });
});
