/**
 * The control plane's Gateway controller against a real kube-apiserver + etcd (no
 * controller-manager, so no garbage collector): a waypoint Gateway gets its ServiceAccount,
 * Deployment and Service (owned by it) and the root-cert ConfigMap; a change re-applies; Gateway,
 * GatewayClass and route status are written through the status subresource and then stay put
 * (resourceVersions do not move while the controller keeps running passes); deleting the Gateway
 * removes what it owned; `--manage-waypoints=false` writes no objects and `--gateway-status=false`
 * no status. The tests share one cluster and run in order.
 */
import { after, before, describe, test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import type { ControlPlane } from "../../src/controlplane/controlplane.js";
import { startKubeControlPlane } from "./controlplane.js";
import { kubeBinaries } from "./binaries.js";
import { startKubeCluster, type KubeCluster, needCluster } from "./apiserver.js";
import { applyCrds, create, patch, remove, waitUntil } from "./fixtures.js";

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const HOST = "127.0.73.1";
const GW = { apiVersion: "gateway.networking.k8s.io/v1", resource: "gateways" };
const ROUTES = { apiVersion: "gateway.networking.k8s.io/v1", resource: "httproutes" };
let cluster: KubeCluster | undefined;
let skipReason = "";
const dirs: string[] = [];
const planes: ControlPlane[] = [];

const need = (t: TestContext): KubeCluster | undefined => needCluster(t, cluster, skipReason);

async function get(c: KubeCluster, p: string): Promise<Obj | undefined> {
  const r = await c.admin.request<Obj>("GET", p);
  if (r.ok) return r.value;
  if (r.error.httpStatus === 404) return undefined;
  assert.fail(`GET ${p}: ${r.error.message}`);
}

/** A control plane on the test cluster, stopped at the end of the file (or earlier by the test). */
async function startControlPlane(c: KubeCluster, extra: string[] = []): Promise<ControlPlane> {
  const dir = mkdtempSync(path.join(tmpdir(), "weft-gwctl-"));
  dirs.push(dir);
  const cp = await startKubeControlPlane(c, HOST, dir, ["--waypoint-image", "weft.local/weft:test", ...extra]);
  planes.push(cp);
  return cp;
}

const waypoint = (ns: string, extra: Obj = {}) => ({
  apiVersion: "gateway.networking.k8s.io/v1",
  kind: "Gateway",
  metadata: { name: "waypoint", namespace: ns, labels: { "istio.io/waypoint-for": "service" } },
  spec: { gatewayClassName: "istio-waypoint", listeners: [{ name: "mesh", port: 15008, protocol: "HBONE" }], ...extra },
});
const route = (name: string, parentRefs: unknown[], backendRefs: unknown[]) => ({
  apiVersion: "gateway.networking.k8s.io/v1",
  kind: "HTTPRoute",
  metadata: { name, namespace: "shop" },
  spec: { parentRefs, rules: [{ backendRefs }] },
});
const cond = (s: Obj | undefined, type: string): Obj | undefined => (s?.conditions as Obj[] | undefined)?.find((x) => x.type === type);

const objectPaths = (ns: string) => ({
  sa: `/api/v1/namespaces/${ns}/serviceaccounts/waypoint`,
  deployment: `/apis/apps/v1/namespaces/${ns}/deployments/waypoint`,
  service: `/api/v1/namespaces/${ns}/services/waypoint`,
  gateway: `/apis/gateway.networking.k8s.io/v1/namespaces/${ns}/gateways/waypoint`,
});

before(async () => {
  const bins = kubeBinaries();
  if (!bins.ok) {
    skipReason = bins.reason;
    return;
  }
  cluster = await startKubeCluster(bins.value);
  await applyCrds(cluster.admin);
  for (const [name, labels] of [
    ["shop", { "istio.io/use-waypoint": "waypoint" }],
    ["quiet", {}],
    ["statusonly", {}],
  ] as const)
    await create(
      cluster.admin,
      { apiVersion: "v1", resource: "namespaces" },
      { apiVersion: "v1", kind: "Namespace", metadata: { name, labels } },
    );
  await create(
    cluster.admin,
    { apiVersion: "v1", resource: "services", namespace: "shop" },
    {
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: "reviews", namespace: "shop" },
      spec: { ports: [{ name: "http", port: 9080 }] },
    },
  );
});

after(async () => {
  for (const cp of planes) await cp.stop();
  await cluster?.stop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

void describe("gateway controller (real kube-apiserver)", { concurrency: false }, () => {
  let cp: ControlPlane | undefined;
  let gatewayUid = "";

  void test("a waypoint Gateway gets its ServiceAccount, Deployment and Service, owned by it", async (t) => {
    const c = need(t);
    if (!c) return;
    cp = await startControlPlane(c);
    const gw = await create(c.admin, { ...GW, namespace: "shop" }, waypoint("shop"));
    gatewayUid = gw.metadata.uid!;
    const p = objectPaths("shop");
    await waitUntil(
      "waypoint objects",
      async () => !!(await get(c, p.sa)) && !!(await get(c, p.deployment)) && !!(await get(c, p.service)),
    );
    const owner = [{ apiVersion: "gateway.networking.k8s.io/v1", kind: "Gateway", name: "waypoint", uid: gatewayUid }];
    for (const key of ["sa", "deployment", "service"] as const) {
      const o: Obj = (await get(c, p[key]))!;
      assert.deepEqual(o.metadata.ownerReferences, owner, `${key} is owned by the Gateway`);
      assert.equal(o.metadata.labels["gateway.networking.k8s.io/gateway-name"], "waypoint");
      assert.ok(
        (o.metadata.managedFields as Obj[]).some((m) => m.manager === "weft-gateway-controller" && m.operation === "Apply"),
        `${key} is server-side applied by weft's field manager`,
      );
    }
    const dep = (await get(c, p.deployment))!;
    const container = dep.spec.template.spec.containers[0];
    assert.equal(container.image, "weft.local/weft:test");
    assert.deepEqual(container.args.slice(0, 3), ["waypoint", "--name=waypoint", "--xds-address=istiod.istio-system.svc:15012"]);
    assert.equal(dep.spec.template.spec.serviceAccountName, "waypoint");
    assert.equal(container.readinessProbe.httpGet.port, 15021);
    const svc = (await get(c, p.service))!;
    assert.deepEqual(
      (svc.spec.ports as Obj[]).map((x) => [x.name, x.port, x.appProtocol]),
      [
        ["status-port", 15021, "tcp"],
        ["mesh", 15008, "hbone"],
      ],
    );
    assert.match(svc.spec.clusterIP, /^198\.19\./);
    await waitUntil("root cert ConfigMap", async () => !!(await get(c, "/api/v1/namespaces/shop/configmaps/istio-ca-root-cert")));
    const cm = (await get(c, "/api/v1/namespaces/shop/configmaps/istio-ca-root-cert"))!;
    assert.equal(cm.data["root-cert.pem"], cp.rootsPem.join(""));
    const gc = (await get(c, "/apis/gateway.networking.k8s.io/v1/gatewayclasses/istio-waypoint"))!;
    assert.equal(gc.spec.controllerName, "istio.io/mesh-controller");
  });

  void test("status: Gateway programmed with the Service's address, GatewayClass accepted, routes' parents", async (t) => {
    const c = need(t);
    if (!c || !cp) return;
    await create(
      c.admin,
      { ...ROUTES, namespace: "shop" },
      route("to-svc", [{ group: "", kind: "Service", name: "reviews" }], [{ name: "gone", port: 9080 }]),
    );
    await create(c.admin, { ...ROUTES, namespace: "shop" }, route("to-gw", [{ name: "waypoint" }], [{ name: "reviews", port: 9080 }]));
    const p = objectPaths("shop");
    await waitUntil("Gateway programmed", async () => cond((await get(c, p.gateway))?.status, "Programmed")?.status === "True");
    const gw = (await get(c, p.gateway))!;
    const svc = (await get(c, p.service))!;
    assert.deepEqual(gw.status.addresses, [
      { type: "IPAddress", value: svc.spec.clusterIP },
      { type: "Hostname", value: "waypoint.shop.svc.cluster.local" },
    ]);
    assert.equal(cond(gw.status, "Accepted")!.observedGeneration, gw.metadata.generation);
    await waitUntil("GatewayClass accepted", async () => {
      const gc = await get(c, "/apis/gateway.networking.k8s.io/v1/gatewayclasses/istio-waypoint");
      return cond(gc?.status, "Accepted")?.message === "Handled by Istio controller";
    });
    const parentOf = async (name: string) =>
      ((await get(c, `/apis/gateway.networking.k8s.io/v1/namespaces/shop/httproutes/${name}`))?.status?.parents as Obj[] | undefined)?.[0];
    await waitUntil("route status", async () => !!(await parentOf("to-svc")) && !!(await parentOf("to-gw")));
    const toSvc = (await parentOf("to-svc"))!;
    assert.deepEqual([cond(toSvc, "Accepted")!.status, cond(toSvc, "ResolvedRefs")!.reason], ["True", "BackendNotFound"]);
    assert.equal(toSvc.controllerName, "istio.io/gateway-controller");
    const toGw = (await parentOf("to-gw"))!;
    assert.deepEqual([cond(toGw, "Accepted")!.status, cond(toGw, "Accepted")!.reason], ["False", "NotAllowedByListeners"]);
    // The backend appears: ResolvedRefs follows.
    await create(
      c.admin,
      { apiVersion: "v1", resource: "services", namespace: "shop" },
      { apiVersion: "v1", kind: "Service", metadata: { name: "gone", namespace: "shop" }, spec: { ports: [{ name: "http", port: 9080 }] } },
    );
    await waitUntil("ResolvedRefs true", async () => cond(await parentOf("to-svc"), "ResolvedRefs")?.status === "True");
  });

  void test("a changed Gateway is re-applied; statuses follow its generation", async (t) => {
    const c = need(t);
    if (!c || !cp) return;
    const p = objectPaths("shop");
    await patch(
      c.admin,
      { ...GW, namespace: "shop", name: "waypoint" },
      {
        spec: { infrastructure: { labels: { team: "blue" } } },
        metadata: { annotations: { "networking.istio.io/service-type": "NodePort" } },
      },
    );
    await waitUntil("Deployment relabelled", async () => (await get(c, p.deployment))?.metadata.labels.team === "blue");
    await waitUntil("Service type", async () => (await get(c, p.service))?.spec.type === "NodePort");
    const gen = (await get(c, p.gateway))!.metadata.generation as number;
    assert.ok(gen >= 2);
    await waitUntil("observedGeneration", async () => cond((await get(c, p.gateway))?.status, "Accepted")?.observedGeneration === gen);
  });

  void test("statuses and objects stay put: no rewrite loop while passes keep running", async (t) => {
    const c = need(t);
    if (!c || !cp) return;
    const p = objectPaths("shop");
    const watched = [
      p.gateway,
      p.deployment,
      p.service,
      p.sa,
      "/apis/gateway.networking.k8s.io/v1/namespaces/shop/httproutes/to-svc",
      "/apis/gateway.networking.k8s.io/v1/namespaces/shop/httproutes/to-gw",
      "/apis/gateway.networking.k8s.io/v1/gatewayclasses/istio-waypoint",
    ];
    await cp.gateways!.settled();
    const rvs = async () => Promise.all(watched.map(async (w) => (await get(c, w))?.metadata.resourceVersion as string));
    const before = await rvs();
    const passes = cp.gateways!.passes;
    // Unrelated changes the controller's store sees: each one is a full pass.
    for (let i = 0; i < 5; i++) {
      await create(
        c.admin,
        { apiVersion: "v1", resource: "services", namespace: "quiet" },
        { apiVersion: "v1", kind: "Service", metadata: { name: `noise-${i}`, namespace: "quiet" }, spec: { ports: [{ port: 80 }] } },
      );
      await new Promise((r) => setTimeout(r, 300));
    }
    await waitUntil("passes ran", () => cp!.gateways!.passes >= passes + 3);
    await cp.gateways!.settled();
    assert.deepEqual(await rvs(), before, "no resourceVersion moved");
  });

  void test("deleting the Gateway removes what it owned (no garbage collector runs here)", async (t) => {
    const c = need(t);
    if (!c || !cp) return;
    const p = objectPaths("shop");
    await remove(c.admin, { ...GW, namespace: "shop", name: "waypoint" });
    await waitUntil(
      "waypoint objects deleted",
      async () => !(await get(c, p.sa)) && !(await get(c, p.deployment)) && !(await get(c, p.service)),
    );
    await cp.stop();
    cp = undefined;
  });

  void test("--manage-waypoints=false writes no objects (status still on)", async (t) => {
    const c = need(t);
    if (!c) return;
    const quiet = await startControlPlane(c, ["--manage-waypoints=false"]);
    await create(c.admin, { ...GW, namespace: "statusonly" }, waypoint("statusonly"));
    const p = objectPaths("statusonly");
    await waitUntil("status written", async () => cond((await get(c, p.gateway))?.status, "Programmed")?.reason === "AddressNotUsable");
    await quiet.gateways!.settled();
    assert.equal(await get(c, p.deployment), undefined);
    assert.equal(await get(c, p.service), undefined);
    assert.equal(await get(c, p.sa), undefined);
    await quiet.stop();
  });

  void test("--manage-waypoints=false --gateway-status=false: no controller, nothing written", async (t) => {
    const c = need(t);
    if (!c) return;
    const off = await startControlPlane(c, ["--manage-waypoints=false", "--gateway-status=false"]);
    assert.equal(off.gateways, undefined);
    const gw = await create(c.admin, { ...GW, namespace: "quiet" }, waypoint("quiet"));
    await waitUntil("store has the Gateway", () => !!off.store.get(`gateway.networking.k8s.io/Gateway/quiet/waypoint`));
    await new Promise((r) => setTimeout(r, 1000));
    const p = objectPaths("quiet");
    assert.equal(await get(c, p.deployment), undefined);
    const now = (await get(c, p.gateway))!;
    assert.equal(now.metadata.resourceVersion, gw.metadata.resourceVersion, "the Gateway (and its status) was not written");
    assert.equal(now.status, undefined);
  });
});
