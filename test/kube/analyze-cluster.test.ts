/**
 * `weft analyze --cluster` against a real kube-apiserver + etcd: good and bad objects in two
 * namespaces, the findings equal to `weft analyze DIR` over the same objects (same validators,
 * same analyzers; only the origin differs: none in cluster mode), the namespace scope (-n, the
 * context's namespace, -A), exit codes, and one-line failures (API server down, a user RBAC
 * does not let list).
 */
import { after, before, test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { stringify } from "yaml";
import { kubeBinaries } from "./binaries.js";
import { freePort, startKubeCluster, type KubeCluster, needCluster } from "./apiserver.js";
import { applyCrds, create, pod, service } from "./fixtures.js";
import { analyzeCluster, analyzePaths } from "../../src/cli/analyze.js";
import { formatFinding, type Finding } from "../../src/cli/analyze-mesh.js";

const MAIN = path.resolve(__dirname, "../../src/cli/main.js");
const SETTINGS = { rootNamespace: "istio-system", trustDomain: "cluster.local", clusterDomain: "cluster.local", authzL4Mode: "istio" };
const NOBODY = "weft-analyze-nobody-token";

let cluster: KubeCluster | undefined;
let skipReason = "";
const tmp = mkdtempSync(path.join(tmpdir(), "weft-analyze-cluster-"));

const need = (t: TestContext): KubeCluster | undefined => needCluster(t, cluster, skipReason);

function weft(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [MAIN, ...args], { timeout: 60_000, env: { ...process.env, KUBECONFIG: "" } }, (e, stdout, stderr) => {
      resolve({ code: e ? (typeof e.code === "number" ? e.code : 1) : 0, stdout, stderr });
    });
  });
}

const meta = (namespace: string, name: string, labels?: Record<string, string>) => ({ name, namespace, ...(labels ? { labels } : {}) });
const AP = "security.istio.io/v1";
const GW = "gateway.networking.k8s.io/v1";

/** [apiVersion, resource, object]: the good namespace `shop` and the bad namespace `demo`. */
const OBJECTS: Array<[string, string, Record<string, unknown>]> = [
  [
    "v1",
    "namespaces",
    { apiVersion: "v1", kind: "Namespace", metadata: { name: "shop", labels: { "istio.io/use-waypoint": "waypoint" } } },
  ],
  ["v1", "namespaces", { apiVersion: "v1", kind: "Namespace", metadata: { name: "demo", labels: { "istio.io/use-waypoint": "nope" } } }],
  ["v1", "services", service("shop", "api")],
  ["v1", "pods", pod("shop", "api-1", { labels: { app: "api" } })],
  [
    GW,
    "gateways",
    {
      apiVersion: GW,
      kind: "Gateway",
      metadata: meta("shop", "waypoint"),
      spec: { gatewayClassName: "istio-waypoint", listeners: [{ name: "mesh", port: 15008, protocol: "HBONE" }] },
    },
  ],
  [
    AP,
    "authorizationpolicies",
    {
      apiVersion: AP,
      kind: "AuthorizationPolicy",
      metadata: meta("shop", "allow"),
      spec: {
        selector: { matchLabels: { app: "api" } },
        rules: [{ from: [{ source: { principals: ["cluster.local/ns/shop/sa/web"] } }] }],
      },
    },
  ],
  [
    GW,
    "httproutes",
    {
      apiVersion: GW,
      kind: "HTTPRoute",
      metadata: meta("shop", "api"),
      spec: { parentRefs: [{ group: "", kind: "Service", name: "api" }], rules: [{ backendRefs: [{ name: "api", port: 80 }] }] },
    },
  ],
  ["v1", "services", service("demo", "web")],
  ["v1", "pods", pod("demo", "web-1", { labels: { app: "web" } })],
  ["v1", "serviceaccounts", { apiVersion: "v1", kind: "ServiceAccount", metadata: meta("demo", "web") }],
  [AP, "authorizationpolicies", { apiVersion: AP, kind: "AuthorizationPolicy", metadata: meta("demo", "typo"), spec: { action: "DENI" } }],
  [
    AP,
    "authorizationpolicies",
    {
      apiVersion: AP,
      kind: "AuthorizationPolicy",
      metadata: meta("demo", "ghost"),
      spec: { selector: { matchLabels: { app: "ghost" } }, rules: [{ from: [{ source: { namespaces: ["demo"] } }] }] },
    },
  ],
  [
    GW,
    "httproutes",
    {
      apiVersion: GW,
      kind: "HTTPRoute",
      metadata: meta("demo", "web"),
      spec: { parentRefs: [{ group: "", kind: "Service", name: "web" }], rules: [{ backendRefs: [{ name: "web-v2", port: 80 }] }] },
    },
  ],
  [
    GW,
    "httproutes",
    {
      apiVersion: GW,
      kind: "HTTPRoute",
      metadata: meta("demo", "badport"),
      spec: { parentRefs: [{ group: "", kind: "Service", name: "web" }], rules: [{ backendRefs: [{ name: "web", port: "eighty" }] }] },
    },
  ],
];

const namespaced = (o: Record<string, unknown>) => (o.metadata as { namespace?: string }).namespace;

before(async () => {
  const bins = kubeBinaries();
  if (!bins.ok) {
    skipReason = bins.reason;
    return;
  }
  cluster = await startKubeCluster(bins.value, { tokens: [{ token: NOBODY, user: "nobody" }] });
  await applyCrds(cluster.admin);
  for (const [apiVersion, resource, body] of OBJECTS)
    await create(cluster.admin, { apiVersion, resource, namespace: namespaced(body) }, body);
});

after(async () => {
  await cluster?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

const withoutOrigin = (f: Finding) => formatFinding({ ...f, origin: "" });

test("analyze --cluster: the same findings as analyze DIR over the same objects, without file:line", async (t) => {
  const c = need(t);
  if (!c) return;
  const fromCluster = await analyzeCluster(c.config, SETTINGS, 20_000);
  const dir = path.join(tmp, "objects");
  const docs = OBJECTS.map(([, , o]) => stringify(o)).join("---\n");
  mkdirSync(dir);
  writeFileSync(path.join(dir, "all.yaml"), docs);
  const fromDir = await analyzePaths([dir], SETTINGS);
  assert.ok(
    fromCluster.every((f) => f.origin === ""),
    "cluster findings name no file",
  );
  assert.deepEqual(fromCluster.map(withoutOrigin).sort(), fromDir.map(withoutOrigin).sort());
  const lines = fromCluster.map(formatFinding);
  const expected = [
    /^Error \[UseWaypointNotFound\] \(Namespace demo\): metadata\.labels\["istio\.io\/use-waypoint"\]: no waypoint Gateway demo\/nope/,
    /^Error \[PolicyFailsClosed\] \(AuthorizationPolicy demo\/typo\): spec\.action: unknown action "DENI"/,
    /^Warning \[PolicySelectsNothing\] \(AuthorizationPolicy demo\/ghost\): spec\.selector\.matchLabels: no pod in namespace demo/,
    /^Error \[ReferencedResourceNotFound\] \(HTTPRoute demo\/web\): spec\.rules\[0\]\.backendRefs\[0\]: backend Service demo\/web-v2 does not exist/,
    /^Error \[SchemaValidationError\] \(HTTPRoute demo\/badport\): spec\.rules\[0\]\.backendRefs\[0\]\.port: /,
  ];
  for (const re of expected) assert.equal(lines.filter((l) => re.test(l)).length, 1, `one finding ${re}\n${lines.join("\n")}`);
  assert.equal(lines.length, expected.length, lines.join("\n"));
});

test("weft analyze --cluster: -n scopes the findings, the context's namespace is the default, -A shows all; exit codes", async (t) => {
  const c = need(t);
  if (!c) return;
  const k = ["--cluster", "--kubeconfig", c.kubeconfigPath];
  const shop = await weft(["analyze", ...k, "-n", "shop"]);
  assert.equal(shop.code, 0, shop.stderr);
  assert.equal(shop.stdout, "✔ No validation issues found when analyzing namespace: shop.\n");

  const demo = await weft(["analyze", ...k, "-n", "demo"]);
  assert.equal(demo.code, 1, demo.stderr);
  assert.equal(demo.stdout.trim().split("\n").length, 5, demo.stdout);
  assert.match(demo.stdout, /\(HTTPRoute demo\/badport\): spec\.rules\[0\]\.backendRefs\[0\]\.port/);

  // The kubeconfig's context has no namespace: `default`, which holds nothing.
  const dflt = await weft(["analyze", ...k]);
  assert.equal(dflt.code, 0, dflt.stderr);
  assert.match(dflt.stdout, /namespace: default\.$/m);
  // A context with a namespace: that one.
  // (beside the original: its CA path is relative)
  const withNs = path.join(c.dir, "kubeconfig-demo");
  const kc = readFileSync(c.kubeconfigPath, "utf8");
  writeFileSync(withNs, kc.replace("user: admin}", "user: admin, namespace: demo}"));
  const ctx = await weft(["analyze", "--cluster", "--kubeconfig", withNs, "-o", "json"]);
  assert.equal(ctx.code, 1, ctx.stderr);
  const json = JSON.parse(ctx.stdout) as Finding[];
  assert.equal(json.length, 5);
  assert.ok(json.every((f) => f.object.includes("demo")));

  const all = await weft(["analyze", ...k, "-A"]);
  assert.equal(all.code, 1);
  assert.equal(all.stdout.trim().split("\n").length, 5);

  const both = await weft(["analyze", ...k, "-A", "-n", "demo"]);
  assert.equal(both.code, 2);
  assert.equal(both.stderr, "weft analyze: -n and -A are exclusive\n");
  const kubeWithoutCluster = await weft(["analyze", "-n", "demo", "examples"]);
  assert.equal(kubeWithoutCluster.code, 2);
  assert.equal(kubeWithoutCluster.stderr, "weft analyze: -n need --cluster\n");
});

test("weft analyze --cluster: an API server that does not answer, a user who may not list: one line, exit 1", async (t) => {
  const c = need(t);
  if (!c) return;
  const kc = readFileSync(c.kubeconfigPath, "utf8");
  const down = path.join(c.dir, "kubeconfig-down");
  writeFileSync(down, kc.replace(`:${c.apiserver.port}`, `:${await freePort()}`));
  const r = await weft(["analyze", "--cluster", "--kubeconfig", down, "-A"]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^weft analyze: cluster https:\/\/127\.0\.40\.1:\d+: GET \/version: .*ECONNREFUSED.*\n$/);
  assert.equal(r.stdout, "");

  const nobody = path.join(c.dir, "kubeconfig-nobody");
  writeFileSync(nobody, kc.replace(/token: "[^"]*"/, `token: "${NOBODY}"`));
  const n = await weft(["analyze", "--cluster", "--kubeconfig", nobody, "-A", "--timeout", "3s"]);
  assert.equal(n.code, 1, n.stdout);
  assert.match(n.stderr, /^weft analyze: cluster .*: could not list .*Namespace\/v1.* within 3000 ms \(RBAC needs list/);
  assert.equal(n.stdout, "");
});
