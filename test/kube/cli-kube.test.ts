/**
 * The inspection verbs against a real kube-apiserver + etcd, no kubelet:
 * - the port-forward's failures (src/kube/client/kube-port-forward.ts): the pod is gone, the
 *   user may not create pods/portforward (RBAC), the API server does not answer, the pod's node
 *   has no reachable kubelet. Each gives one line naming the pod and port, within seconds (no
 *   hang), through the HTTP path the verbs use (targets.ts httpGet), and the CLI prints it as one
 *   line, no stack. The failures that need a kubelet (nothing listening on the pod's port, the
 *   pod deleted under an open forward) are steps of the test bed (test/k8s/inspect-steps.ts);
 * - a verb's log lines on stderr, so `-o json` stays JSON.
 */
import { after, before, test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { kubeBinaries } from "./binaries.js";
import { freePort, startKubeCluster, type KubeCluster, needCluster, KUBE_TEST_IP } from "./apiserver.js";
import { create, pod } from "./fixtures.js";
import { forwardPodPort } from "../../src/kube/client/kube-port-forward.js";
import { loadKubeconfig } from "../../src/kube/client/kube-config.js";
import { httpGet, type Endpoint } from "../../src/cli/targets.js";

const MAIN = path.resolve(__dirname, "../../src/cli/main.js");
const NOBODY = "weft-portforward-nobody-token";
const NS = "istio-system";

let cluster: KubeCluster | undefined;
let skipReason = "";
const need = (t: TestContext): KubeCluster | undefined => needCluster(t, cluster, skipReason);

function weft(args: string[]): Promise<{ code: number; stdout: string; stderr: string; ms: number }> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    execFile(process.execPath, [MAIN, ...args], { timeout: 60_000, env: { ...process.env, KUBECONFIG: "" } }, (e, stdout, stderr) => {
      resolve({ code: e ? (typeof e.code === "number" ? e.code : 1) : 0, stdout, stderr, ms: Date.now() - t0 });
    });
  });
}

/** A pod the API server thinks is Running on `node` (no kubelet runs it). */
async function runningPod(c: KubeCluster, name: string, node: string, labels: Record<string, string> = {}): Promise<void> {
  await create(c.admin, { apiVersion: "v1", resource: "pods", namespace: NS }, pod(NS, name, { nodeName: node, labels }));
  const r = await c.admin.request("PATCH", `/api/v1/namespaces/${NS}/pods/${name}/status`, {
    status: { phase: "Running", conditions: [{ type: "Ready", status: "True" }] },
  });
  if (!r.ok) assert.fail(`pod ${name} status: ${r.error.message}`);
}

before(async () => {
  const bins = kubeBinaries();
  if (!bins.ok) {
    skipReason = bins.reason;
    return;
  }
  cluster = await startKubeCluster(bins.value, { tokens: [{ token: NOBODY, user: "nobody" }] });
  await create(
    cluster.admin,
    { apiVersion: "v1", resource: "namespaces" },
    { apiVersion: "v1", kind: "Namespace", metadata: { name: NS } },
  );
  // A Node whose kubelet address has nothing listening (a loopback address of the test's range).
  await create(cluster.admin, { apiVersion: "v1", resource: "nodes" }, { apiVersion: "v1", kind: "Node", metadata: { name: "node-a" } });
  const st = await cluster.admin.request("PATCH", "/api/v1/nodes/node-a/status", {
    status: {
      addresses: [{ type: "InternalIP", address: KUBE_TEST_IP }],
      daemonEndpoints: { kubeletEndpoint: { Port: await freePort() } },
    },
  });
  if (!st.ok) assert.fail(`node status: ${st.error.message}`);
  await runningPod(cluster, "ztunnel-a", "node-a", { app: "ztunnel" });
  await create(
    cluster.admin,
    { apiVersion: "apps/v1", resource: "daemonsets", namespace: NS },
    {
      apiVersion: "apps/v1",
      kind: "DaemonSet",
      metadata: { name: "ztunnel", namespace: NS },
      spec: {
        selector: { matchLabels: { app: "ztunnel" } },
        template: { metadata: { labels: { app: "ztunnel" } }, spec: { containers: [{ name: "z", image: "registry.invalid/z:1" }] } },
      },
    },
  );
});

after(async () => {
  await cluster?.stop();
});

/** A forward's first GET, as the verbs make it: the failure, and how long it took. */
async function firstGet(kubeconfig: string, pod: string, port: number): Promise<{ message: string; ms: number }> {
  const cfg = loadKubeconfig(kubeconfig);
  assert.ok(cfg.ok);
  const f = await forwardPodPort(cfg.value, NS, pod, port);
  assert.ok(f.ok);
  const ep: Endpoint = { name: f.value.target, base: `http://127.0.0.1:${f.value.port}`, failure: () => f.value.lastError() };
  const t0 = Date.now();
  try {
    const r = await httpGet(ep, "/config_dump");
    assert.ok(!r.ok, "the GET fails");
    return { message: r.error.message, ms: Date.now() - t0 };
  } finally {
    await f.value.close();
  }
}

test("port-forward failures: one line naming the pod and port and why, within seconds", async (t) => {
  const c = need(t);
  if (!c) return;
  const kc = readFileSync(c.kubeconfigPath, "utf8");
  const nobody = path.join(c.dir, "kubeconfig-pf-nobody");
  writeFileSync(nobody, kc.replace(/token: "[^"]*"/, `token: "${NOBODY}"`));
  const down = path.join(c.dir, "kubeconfig-pf-down");
  writeFileSync(down, kc.replace(`:${c.apiserver.port}`, `:${await freePort()}`));
  const server = c.apiserver.url;
  const cases: Array<[what: string, kubeconfig: string, pod: string, want: RegExp]> = [
    ["pod gone", c.kubeconfigPath, "no-such-pod", /: pod istio-system\/no-such-pod not found \(HTTP 404\)$/],
    ["RBAC forbidden", nobody, "ztunnel-a", /: forbidden \(HTTP 403\): RBAC must let the user create pods\/portforward in istio-system$/],
    ["API server down", down, "ztunnel-a", /: .*ECONNREFUSED/],
    [
      "no kubelet on the node",
      c.kubeconfigPath,
      "ztunnel-a",
      /: the API server could not reach the pod's node \(HTTP 5\d\d\): is its kubelet up and reachable\?$/,
    ],
  ];
  for (const [what, kubeconfig, name, want] of cases) {
    const r = await firstGet(kubeconfig, name, 15000);
    t.diagnostic(`${what}: ${r.message} (${r.ms} ms)`);
    assert.doesNotMatch(r.message, /\n/, `${what}: one line: ${r.message}`);
    assert.ok(r.ms < 10_000, `${what}: failed within 10 s, not ${r.ms} ms`);
    const where = kubeconfig === down ? server.replace(/:\d+$/, "") : server;
    assert.ok(
      r.message.startsWith(`pod ${NS}/${name} port 15000 /config_dump: port-forward to pod ${NS}/${name} port 15000`),
      `${what}: names the pod and port: ${r.message}`,
    );
    assert.ok(r.message.includes(where), `${what}: names the API server: ${r.message}`);
    assert.match(r.message, want, what);
  }
});

test("weft ztunnel-config over a port-forward that fails: one line, exit 1, no stack, no hang", async (t) => {
  const c = need(t);
  if (!c) return;
  const r = await weft(["ztunnel-config", "workloads", `--kubeconfig=${c.kubeconfigPath}`]);
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.equal(r.stdout, "");
  assert.match(
    r.stderr,
    /^weft ztunnel-config workloads: ztunnel pod istio-system\/ztunnel-a \(node node-a\) port 15000 \/config_dump: port-forward to pod istio-system\/ztunnel-a port 15000 through https:\/\/127\.0\.40\.1:\d+: [^\n]+\n$/,
  );
  assert.ok(r.ms < 20_000, `took ${r.ms} ms`);
  const nobody = path.join(c.dir, "kubeconfig-pf-nobody");
  const denied = await weft(["authz", "explain", "--from", "10.0.0.1", "--to", "10.0.0.2:80", `--kubeconfig=${nobody}`]);
  assert.equal(denied.code, 1);
  assert.match(denied.stderr, /^weft authz explain: DaemonSet istio-system\/ztunnel: .*403[^\n]*\n$/);
});

test("a verb's logs go to stderr: WEFT_LOG=info weft analyze --cluster -o json prints JSON alone on stdout", async (t) => {
  const c = need(t);
  if (!c) return;
  const r = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
    execFile(
      process.execPath,
      [MAIN, "analyze", "--cluster", "-A", "-o", "json", `--kubeconfig=${c.kubeconfigPath}`],
      { timeout: 60_000, env: { ...process.env, KUBECONFIG: "", WEFT_LOG: "info" } },
      (e, stdout, stderr) => resolve({ code: e ? (typeof e.code === "number" ? e.code : 1) : 0, stdout, stderr }),
    ),
  );
  assert.ok(r.code === 0 || r.code === 1, `exit ${r.code}: ${r.stderr}`);
  assert.doesNotThrow(() => JSON.parse(r.stdout), `stdout is JSON: ${r.stdout.slice(0, 300)}`);
  assert.match(r.stderr, /"msg":"watching the Kubernetes API"/, "the log lines are on stderr");
});
