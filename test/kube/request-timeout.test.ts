/**
 * The per-request timeout (src/kube/client/kube-request-timeout.ts) against a real
 * kube-apiserver that stalls: a loopback proxy in front of it (stall-proxy.ts) stops forwarding,
 * as an overloaded or paused API server does. Every verb of the client facade fails with a
 * `timeout` KubeError naming the method, the object's path and the bound; `weft install` and
 * `weft uninstall` (run as a user does, a child process) retry what timed out, say so, finish
 * when the stall ends, and fail with one clear line when it does not, instead of hanging.
 */
import { after, before, describe, test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import * as path from "node:path";
import { kubeApi, KubeError } from "../../src/kube/client/kube-api.js";
import { clientNode } from "../../src/kube/client/kube-lib.js";
import { kubeBinaries } from "./binaries.js";
import { KUBE_TEST_IP, startKubeCluster, type KubeCluster, needCluster } from "./apiserver.js";
import { StallProxy } from "./stall-proxy.js";
import { create, patch, pod } from "./fixtures.js";
import { INSTALL_SELECTOR } from "../../src/cli/install/manifest.js";

const MAIN = path.resolve(__dirname, "../../src/cli/main.js");

let cluster: KubeCluster | undefined;
let proxy: StallProxy | undefined;
/** A kubeconfig whose server is the proxy. */
let stallingKubeconfig = "";
let skipReason = "";

const need = (t: TestContext): KubeCluster | undefined => needCluster(t, cluster, skipReason);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

before(async () => {
  const bins = kubeBinaries();
  if (!bins.ok) {
    skipReason = bins.reason;
    return;
  }
  cluster = await startKubeCluster(bins.value);
  proxy = await StallProxy.start(KUBE_TEST_IP, { host: KUBE_TEST_IP, port: cluster.apiserver.port });
  stallingKubeconfig = path.join(cluster.dir, "kubeconfig-stalling");
  writeFileSync(
    stallingKubeconfig,
    [
      "apiVersion: v1",
      "kind: Config",
      "current-context: stalling",
      "contexts: [{name: stalling, context: {cluster: stalling, user: admin}}]",
      `clusters: [{name: stalling, cluster: {server: "https://${KUBE_TEST_IP}:${proxy.port}", certificate-authority: ca.pem}}]`,
      `users: [{name: admin, user: {token: "${cluster.parts.token}"}}]`,
      "",
    ].join("\n"),
    { mode: 0o600 },
  );
});

after(async () => {
  proxy?.resume();
  await proxy?.close();
  await cluster?.stop();
});

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  readonly ms: number;
}

/**
 * `weft <args>` against the stalling proxy; `onLine` sees each stdout line as it comes (to stall
 * at a given step). Killed after 120 s, as test/kube/install.test.ts's runs are.
 */
function weft(args: string[], onLine: (line: string) => void = () => undefined): Promise<Run> {
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [MAIN, ...args, "--kubeconfig", stallingKubeconfig], {
      env: { ...process.env, KUBECONFIG: "" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), 120_000);
    let stdout = "";
    let stderr = "";
    let partial = "";
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString();
      partial += d.toString();
      const lines = partial.split("\n");
      partial = lines.pop()!;
      for (const l of lines) onLine(l);
    });
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.once("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr, ms: Date.now() - started });
    });
  });
}

/** Stalls the proxy the first time `re` matches a line, for `ms` (or for good), then runs `then`. */
function stallOn(re: RegExp, ms: number | "forever", then: () => Promise<void> = async () => undefined): (line: string) => void {
  let done = false;
  return (line) => {
    if (done || !re.test(line)) return;
    done = true;
    proxy!.stall();
    if (ms === "forever") return;
    void sleep(ms).then(async () => {
      proxy!.resume();
      await then();
    });
  };
}

void describe("per-request timeout against a stalled kube-apiserver", () => {
  void test("every verb of the client facade fails with a timeout naming method, path and bound; after the stall they work", async (t) => {
    const c = need(t);
    if (!c) return;
    await create(c.admin, { apiVersion: "v1", resource: "namespaces" }, { metadata: { name: "stall" } });
    const api = kubeApi(c.configWith({ server: `https://${KUBE_TEST_IP}:${proxy!.port}` }), { requestTimeoutMs: 1000 });
    const { CoreV1Api, PatchStrategy } = clientNode();
    const cm = (data: Record<string, string>) => ({
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: "cm", namespace: "stall" },
      data,
    });
    const path1 = "/api/v1/namespaces/stall/configmaps/cm";
    const calls: [string, string, () => Promise<unknown>][] = [
      ["create", "POST /api/v1/namespaces/stall/configmaps", () => api.objects.create(cm({ a: "1" }))],
      ["get", `GET ${path1}`, () => api.objects.read(cm({}))],
      ["list", "GET /api/v1/namespaces/stall/configmaps", () => api.objects.list("v1", "ConfigMap", "stall")],
      [
        "server-side apply",
        `PATCH ${path1}`,
        () => api.objects.patch(cm({ a: "2" }), undefined, undefined, "weft-test", true, PatchStrategy.ServerSideApply),
      ],
      ["replace", `PUT ${path1}`, () => api.objects.replace(cm({ a: "3" }))],
      ["typed client list", "GET /api/v1/namespaces", () => api.api(CoreV1Api).listNamespace()],
      [
        "raw request",
        `GET ${path1}`,
        async () => {
          const r = await api.request("GET", path1);
          if (!r.ok) throw r.error;
          return r.value;
        },
      ],
      ["delete", `DELETE ${path1}`, () => api.objects.delete(cm({}))],
    ];
    proxy!.stall();
    try {
      // The object API's first call of an apiVersion asks discovery where its kind lives: that request is bounded too.
      const discovery = await api.objects.read(cm({})).then(
        () => undefined,
        (x: unknown) => x,
      );
      assert.ok(discovery instanceof KubeError && discovery.code === "timeout", String(discovery));
      assert.equal(discovery.message, "Failed to fetch resource metadata for v1/ConfigMap: GET /api/v1: no answer within 1 s");
      proxy!.resume();
      await api.objects.list("v1", "ConfigMap", "stall"); // discovery cached
      proxy!.stall();
      for (const [verb, label, call] of calls) {
        const started = Date.now();
        const e = await call().then(
          () => undefined,
          (x: unknown) => x,
        );
        const ms = Date.now() - started;
        assert.ok(e instanceof KubeError, `${verb}: expected a KubeError, got ${String(e)}`);
        assert.equal(e.code, "timeout", verb);
        assert.equal(e.message, `${label}: no answer within 1 s`, verb);
        assert.ok(ms >= 900 && ms < 5000, `${verb}: gave up after ${ms} ms`);
      }
    } finally {
      proxy!.resume();
    }
    // The same calls, flowing again (create first: the rest need the object).
    for (const [verb, , call] of calls) await assert.doesNotReject(call(), verb);
  });

  void test("install: a stall outlasting the retries fails with one line naming the object, verb and bound, not a hang", async (t) => {
    const c = need(t);
    if (!c) return;
    const r = await weft(["install", "--wait=false", "--request-timeout", "2s"], stallOn(/ created$/, "forever"));
    proxy!.resume();
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.ok(r.ms < 40_000, `gave up after ${r.ms} ms`);
    assert.match(r.stdout, /: no answer within 2 s: trying again \(attempt 2\/3\)\n/);
    assert.match(r.stdout, /: no answer within 2 s: trying again \(attempt 3\/3\)\n/);
    assert.equal(r.stderr.split("\n").length, 2, `one line: ${r.stderr}`);
    assert.match(
      r.stderr,
      /^weft install: \S+ [^:]+: (read|apply): (GET|PATCH) \/api\S+: no answer within 2 s \(3 attempts\) \(the API server did not answer in time: overloaded or unreachable\? --request-timeout sets the bound\)\n$/,
    );
  });

  void test("install: a stall shorter than the retries is reported and the install completes", async (t) => {
    const c = need(t);
    if (!c) return;
    const r = await weft(["install", "--wait=false", "--request-timeout", "2s"], stallOn(/ (created|unchanged)$/, 3000));
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.equal(r.stderr, "");
    assert.match(r.stdout, /: no answer within 2 s: trying again \(attempt 2\/3\)\n/);
    assert.match(r.stdout, /weft applied: /);
    // Everything is there: a second run changes nothing.
    const again = await weft(["install", "--wait=false"]);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /weft applied: \d+ unchanged\n/);
  });

  void test("install: the readiness wait counts a timed-out check as failed and goes on to its own deadline", async (t) => {
    const c = need(t);
    if (!c) return;
    const r = await weft(["install", "--timeout", "12s", "--request-timeout", "2s"], stallOn(/^waiting for readiness/, 5000));
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stdout, /: no answer within 2 s: counted as a failed check, still waiting\n/);
    // After the stall the checks answer again: the failure is the real state (no controllers here), not the stall.
    assert.match(
      r.stderr,
      /^weft install: not ready after 12 s: Deployment istio-system\/weft-controlplane: waiting for the deployment controller; /,
    );
    assert.ok(r.ms < 60_000, `took ${r.ms} ms`);
  });

  void test("uninstall: stalls during both of its waits are reported as failed checks and uninstall completes", async (t) => {
    const c = need(t);
    if (!c) return;
    // A pod of the install (its DaemonSet's, as far as uninstall can tell) that stays until the test deletes it,
    // and an object that stays Terminating until the test removes its finalizer: both waits have to poll.
    const [k1, v1] = INSTALL_SELECTOR.split(",")[0]!.split("=");
    const [k2, v2] = INSTALL_SELECTOR.split(",")[1]!.split("=");
    await create(
      c.admin,
      { apiVersion: "v1", resource: "pods", namespace: "istio-system" },
      pod("istio-system", "node-agent", {
        labels: { [k1!]: v1!, [k2!]: v2! },
      }),
    );
    const cmRef = { apiVersion: "v1", resource: "configmaps", namespace: "istio-system", name: "istio-ca-root-cert" };
    await patch(c.admin, cmRef, { metadata: { finalizers: ["weft.test/hold"] } });
    const deletePod = async () => {
      const d = await c.admin.request("DELETE", "/api/v1/namespaces/istio-system/pods/node-agent", { gracePeriodSeconds: 0 });
      assert.ok(d.ok, d.ok ? "" : d.error.message);
    };
    const release = async () => void (await patch(c.admin, cmRef, { metadata: { finalizers: null } }));
    const pods = stallOn(/^ {2}Pods .*: 1 left$/, 5000, deletePod);
    const gone = stallOn(/^waiting for the \d+ deleted objects to be gone$/, 5000, release);
    const r = await weft(["uninstall", "--timeout", "60s", "--request-timeout", "2s"], (l) => {
      pods(l);
      gone(l);
    });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const failed = r.stdout.split("\n").filter((l) => l.endsWith(": counted as a failed check, still waiting"));
    assert.ok(
      failed.some((l) => /^ {2}Pod \(.*\): list: GET \/api\/v1\/pods: no answer within 2 s:/.test(l)),
      `a timed-out check of the pods wait: ${r.stdout}`,
    );
    assert.ok(
      failed.some((l) => /^ {2}\S+ [^:]+: read: GET \/api\S+: no answer within 2 s:/.test(l)),
      `a timed-out check of the wait for the deleted objects: ${r.stdout}`,
    );
    assert.match(r.stdout, /weft uninstalled: /);
  });
});
