/**
 * `weft install` / `weft uninstall` against a real kube-apiserver (no kubelet, no controllers:
 * pods never run here, so readiness is tested through its timeout path and --wait=false; the
 * pod end-to-end runs on the kubelet test bed). Runs the command as a user does (a child
 * process of bin's entry) and checks the cluster with weft's own apply layer.
 */
import { after, before, describe, test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { kubeBinaries } from "./binaries.js";
import { startKubeCluster, type KubeCluster } from "./apiserver.js";
import { connect, type KubeConnection } from "../../src/kube/apply/connect.js";
import { applyObject, deleteObject, listByLabel, readObject, waitGone, waitReady, type KubeObject } from "../../src/kube/apply/apply.js";
import { refOf } from "../../src/kube/apply/ref.js";
import { renderManifests } from "../../src/cli/install/manifests.js";
import { renderCrds } from "../../src/cli/install/crds.js";
import { INSTALL_SELECTOR } from "../../src/cli/install/manifest.js";

const MAIN = path.resolve(__dirname, "../../src/cli/main.js");

let cluster: KubeCluster | undefined;
let kube: KubeConnection | undefined;
let skipReason = "";

function need(t: TestContext): { c: KubeCluster; k: KubeConnection } | undefined {
  if (!cluster || !kube) {
    console.warn(`!! SKIPPED kube integration test "${t.name}": ${skipReason}`);
    t.skip(skipReason);
    return undefined;
  }
  return { c: cluster, k: kube };
}

function weft(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [MAIN, ...args], { timeout: 120_000, env: { ...process.env, KUBECONFIG: "" } }, (e, stdout, stderr) => {
      const code = e ? (typeof e.code === "number" ? e.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

const KINDS: [string, string][] = [
  ["v1", "Namespace"],
  ["v1", "ServiceAccount"],
  ["v1", "Service"],
  ["v1", "Secret"],
  ["v1", "ConfigMap"],
  ["rbac.authorization.k8s.io/v1", "ClusterRole"],
  ["rbac.authorization.k8s.io/v1", "ClusterRoleBinding"],
  ["rbac.authorization.k8s.io/v1", "Role"],
  ["rbac.authorization.k8s.io/v1", "RoleBinding"],
  ["apps/v1", "Deployment"],
  ["apps/v1", "DaemonSet"],
  ["policy/v1", "PodDisruptionBudget"],
  ["apiextensions.k8s.io/v1", "CustomResourceDefinition"],
];

/** Every object labelled part-of=weft, as `Kind ns/name`, sorted; terminating objects marked. */
async function installed(k: KubeConnection): Promise<string[]> {
  const out: string[] = [];
  for (const [apiVersion, kind] of KINDS) {
    const r = await listByLabel(k.objects, apiVersion, kind, INSTALL_SELECTOR);
    assert.ok(r.ok, r.ok ? "" : r.error.message);
    for (const o of r.value) out.push(`${refOf(o)}${o.metadata.deletionTimestamp ? " (terminating)" : ""}`);
  }
  return out.sort();
}

const expected = (): string[] =>
  [...renderManifests(), ...renderCrds()]
    .map((o) => refOf(o))
    .concat(["Secret istio-system/cacerts", "ConfigMap istio-system/istio-ca-root-cert"])
    .sort();

before(async () => {
  const bins = kubeBinaries();
  if (!bins.ok) {
    skipReason = bins.reason;
    return;
  }
  cluster = await startKubeCluster(bins.value);
  const k = await connect({ kubeconfig: cluster.kubeconfigPath });
  assert.ok(k.ok, k.ok ? "" : k.error.message);
  kube = k.value;
});

after(async () => {
  await cluster?.stop();
});

void describe("weft install / uninstall against a real kube-apiserver", () => {
  void test("a bad kubeconfig, context or server is one clear line and exit 1, before anything is changed", async (t) => {
    const n = need(t);
    if (!n) return;
    const missing = await weft(["install", "--wait=false", "--kubeconfig", "/nonexistent/kubeconfig"]);
    assert.equal(missing.code, 1);
    assert.equal(
      missing.stderr,
      "weft install: kubeconfig /nonexistent/kubeconfig: ENOENT: no such file or directory, open '/nonexistent/kubeconfig'\n",
    );
    const ctx = await weft(["install", "--wait=false", "--kubeconfig", n.c.kubeconfigPath, "--context", "prod"]);
    assert.equal(ctx.code, 1);
    assert.equal(ctx.stderr, `weft install: kubeconfig ${n.c.kubeconfigPath}: no context "prod" (contexts: weft-test)\n`);
    const dead = path.join(n.c.dir, "dead-kubeconfig");
    writeFileSync(
      dead,
      [
        "apiVersion: v1",
        "kind: Config",
        "current-context: dead",
        "contexts: [{name: dead, context: {cluster: dead, user: u}}]",
        'clusters: [{name: dead, cluster: {server: "https://127.0.40.1:2", insecure-skip-tls-verify: true}}]',
        'users: [{name: u, user: {token: "x"}}]',
        "",
      ].join("\n"),
    );
    const down = await weft(["uninstall", "--kubeconfig", dead]);
    assert.equal(down.code, 1);
    assert.match(down.stderr, /^weft uninstall: cluster dead \(https:\/\/127\.0\.40\.1:2\): .*ECONNREFUSED.*\n$/);
    assert.equal(down.stderr.split("\n").length, 2, "one line");
    const badFlag = await weft(["install", "--wait=maybe", "--kubeconfig", n.c.kubeconfigPath]);
    assert.equal(badFlag.code, 2);
    assert.equal(badFlag.stderr, 'weft install: --wait "maybe": expected true or false\n');
    assert.deepEqual(await installed(n.k), [], "nothing applied");
  });

  void test("install creates every object; a second install changes nothing; a changed manifest updates; strays are pruned", async (t) => {
    const n = need(t);
    if (!n) return;
    // A CRD that Istio (not weft) installed is kept as it is.
    const istioCrd = { ...renderCrds().find((c) => c.metadata.name === "gateways.gateway.networking.k8s.io")! } as unknown as KubeObject;
    const foreign = { ...istioCrd, metadata: { ...istioCrd.metadata, labels: { "app.kubernetes.io/part-of": "gateway-api" } } };
    const pre = await applyObject(n.k.objects, foreign, "someone-else");
    assert.ok(pre.ok, pre.ok ? "" : pre.error.message);

    const first = await weft(["install", "--wait=false", "--kubeconfig", n.c.kubeconfigPath]);
    assert.equal(first.code, 0, first.stderr);
    assert.equal(first.stderr, "");
    assert.match(first.stdout, /^cluster weft-test \(https:\/\/127\.0\.40\.1:\d+\), Kubernetes v1\.35\.4\n/);
    assert.match(first.stdout, /CustomResourceDefinition gateways\.gateway\.networking\.k8s\.io kept \(exists, not created by weft\)/);
    assert.match(first.stdout, /Secret istio-system\/cacerts created \(a new self-signed mesh root\)/);
    assert.match(first.stdout, /not waiting for readiness \(--wait=false\)/);
    const want = expected().filter((r) => r !== "CustomResourceDefinition gateways.gateway.networking.k8s.io");
    assert.deepEqual(await installed(n.k), want);
    for (const r of want) assert.match(first.stdout, new RegExp(`  ${r.replace(/[./]/g, "\\$&")} created`), r);

    const cm = await readObject(n.k.objects, {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: "istio-ca-root-cert", namespace: "istio-system" },
    });
    assert.ok(cm.ok && cm.value);
    assert.match(String((cm.value as { data?: Record<string, string> }).data?.["root-cert.pem"]), /^-----BEGIN CERTIFICATE-----/);

    // The CRDs keep their schema as rendered (x-kubernetes-preserve-unknown-fields once got lost in the client library's
    // model serialization): a policy's spec survives, not pruned to {}.
    const policy = {
      apiVersion: "security.istio.io/v1",
      kind: "AuthorizationPolicy",
      metadata: { name: "schema-check", namespace: "istio-system" },
      spec: { action: "DENY", rules: [{ from: [{ source: { namespaces: ["x"] } }] }] },
    } as unknown as KubeObject;
    assert.ok((await applyObject(n.k.objects, policy, "test")).ok);
    const back = await readObject(n.k.objects, policy);
    assert.deepEqual(back.ok && (back.value as { spec?: unknown } | undefined)?.spec, (policy as { spec?: unknown }).spec);
    await n.k.objects.delete(policy);

    const second = await weft(["install", "--wait=false", "--kubeconfig", n.c.kubeconfigPath]);
    assert.equal(second.code, 0, second.stderr);
    const lines = second.stdout.split("\n").filter((l) => l.startsWith("  "));
    assert.equal(lines.length, want.length + 1, second.stdout);
    for (const l of lines) assert.match(l, / (unchanged|kept \(exists, not created by weft\))$/, l);
    assert.match(second.stdout, /weft applied: \d+ unchanged, 1 kept\n/);

    // A stray weft object (left by an older version) is pruned; a changed image is configured.
    const stray = {
      apiVersion: "v1",
      kind: "ServiceAccount",
      metadata: {
        name: "weft-old",
        namespace: "istio-system",
        labels: { "app.kubernetes.io/part-of": "weft", "app.kubernetes.io/managed-by": "weft-install" },
      },
    };
    assert.ok((await applyObject(n.k.objects, stray as KubeObject, "weft-install")).ok);
    // weft's, but not the install's (e.g. the waypoint deployer's): never pruned.
    const other = {
      apiVersion: "v1",
      kind: "ServiceAccount",
      metadata: { name: "waypoint-x", namespace: "istio-system", labels: { "app.kubernetes.io/part-of": "weft" } },
    };
    assert.ok((await applyObject(n.k.objects, other as KubeObject, "weft-controlplane")).ok);
    const third = await weft(["install", "--wait=false", "--image", "weft.local/weft:next", "--kubeconfig", n.c.kubeconfigPath]);
    assert.equal(third.code, 0, third.stderr);
    const changed = third.stdout.split("\n").filter((l) => /^ {2}.* (configured|pruned.*)$/.test(l));
    assert.deepEqual(changed.sort(), [
      "  DaemonSet istio-system/weft-cni configured",
      "  DaemonSet istio-system/ztunnel configured",
      "  Deployment istio-system/weft-controlplane configured",
      "  ServiceAccount istio-system/weft-old pruned (no longer part of the install)",
    ]);
    const dep = await readObject(n.k.objects, {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name: "weft-controlplane", namespace: "istio-system" },
    });
    assert.ok(dep.ok && dep.value);
    assert.equal(
      (dep.value as unknown as { spec: { template: { spec: { containers: { image: string }[] } } } }).spec.template.spec.containers[0]!
        .image,
      "weft.local/weft:next",
    );
    assert.deepEqual(await installed(n.k), want);
    const kept = await readObject(n.k.objects, other as KubeObject);
    assert.ok(kept.ok && kept.value, "the deployer's object is still there");

    // The CA Secret is never replaced.
    const again = await weft(["install", "--wait=false", "--image", "weft.local/weft:next", "--kubeconfig", n.c.kubeconfigPath]);
    assert.match(again.stdout, /Secret istio-system\/cacerts unchanged/);
  });

  void test("readiness waits report progress and fail after --timeout with what is not ready (no kubelet here)", async (t) => {
    const n = need(t);
    if (!n) return;
    const r = await weft(["install", "--timeout", "3s", "--image", "weft.local/weft:next", "--kubeconfig", n.c.kubeconfigPath]);
    assert.equal(r.code, 1);
    assert.doesNotMatch(r.stderr, /apply/);
    assert.match(r.stdout, /waiting for readiness \(timeout 3 s\)/);
    assert.match(r.stdout, / {2}Deployment istio-system\/weft-controlplane: waiting for the deployment controller\n/);
    assert.match(r.stdout, / {2}CustomResourceDefinition authorizationpolicies\.security\.istio\.io: established\n/);
    assert.equal(r.stderr.split("\n").length, 2, `one line: ${r.stderr}`);
    assert.match(
      r.stderr,
      /^weft install: not ready after 3 s: Deployment istio-system\/weft-controlplane: waiting for the deployment controller; DaemonSet istio-system\/ztunnel: waiting for the daemonset controller; DaemonSet istio-system\/weft-cni: waiting for the daemonset controller \(applied: /,
    );
  });

  void test("uninstall deletes everything install created but the CRDs; --purge deletes weft's CRDs and keeps others'", async (t) => {
    const n = need(t);
    if (!n) return;
    const r = await weft(["uninstall", "--timeout", "30s", "--kubeconfig", n.c.kubeconfigPath]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, / {2}DaemonSet istio-system\/weft-cni deleted\n/);
    assert.match(r.stdout, /CRDs kept \(weft uninstall --purge removes them\)/);
    // Without a namespace controller the Namespace stays Terminating here; on a cluster it goes with its contents.
    const crds = renderCrds()
      .map((c) => refOf(c))
      .filter((x) => x !== "CustomResourceDefinition gateways.gateway.networking.k8s.io");
    assert.deepEqual(await installed(n.k), [...crds, "Namespace istio-system (terminating)"].sort());
    const p = await weft(["uninstall", "--purge", "--kubeconfig", n.c.kubeconfigPath]);
    assert.equal(p.code, 0, p.stderr);
    const left = await installed(n.k);
    assert.deepEqual(left, ["Namespace istio-system (terminating)"]);
    const foreign = await readObject(n.k.objects, {
      apiVersion: "apiextensions.k8s.io/v1",
      kind: "CustomResourceDefinition",
      metadata: { name: "gateways.gateway.networking.k8s.io" },
    });
    assert.ok(foreign.ok && foreign.value, "the CRD weft did not create is still there");
  });
});

void describe("the committed plain manifests with kubectl (the path without weft install)", () => {
  void test("kubectl apply --server-side of deploy/crds.yaml and deploy/weft.yaml succeeds; weft uninstall --purge removes it all", async (t) => {
    const n = need(t);
    if (!n) return;
    // kubectl from the test bed's build (scripts/kube-node.sh) or the machine; CI may have neither.
    const kubectl = [path.join(n.c.dir, "..", "..", "v1.35.4", "kubectl"), "/usr/bin/kubectl"].find((f) => existsSync(f));
    const bins = kubeBinaries();
    const local = bins.ok ? path.join(bins.value.dir, "kubectl") : undefined;
    const exe = local && existsSync(local) ? local : kubectl;
    if (!exe || !bins.ok) {
      console.warn(`!! SKIPPED "${t.name}": no kubectl (build it with scripts/kube-node.sh)`);
      t.skip("no kubectl");
      return;
    }
    // A fresh API server: the first one's istio-system is still Terminating (no namespace controller here).
    const c2 = await startKubeCluster(bins.value);
    t.after(() => c2.stop());
    const k = await connect({ kubeconfig: c2.kubeconfigPath });
    assert.ok(k.ok);
    const repo = path.resolve(__dirname, "../../..");
    const kc = (args: string[]) =>
      new Promise<{ code: number; out: string }>((resolve) =>
        execFile(exe, ["--kubeconfig", c2.kubeconfigPath, ...args], { timeout: 60_000 }, (e, stdout, stderr) =>
          resolve({ code: e ? 1 : 0, out: stdout + stderr }),
        ),
      );
    const crds = await kc(["apply", "--server-side", "-f", path.join(repo, "deploy/crds.yaml")]);
    assert.equal(crds.code, 0, crds.out);
    const ns = await kc(["create", "namespace", "istio-system"]);
    assert.equal(ns.code, 0, ns.out);
    const all = await kc(["apply", "--server-side", "-f", path.join(repo, "deploy/weft.yaml")]);
    assert.equal(all.code, 0, all.out);
    const applied = (await installed(k.value)).length;
    assert.equal(applied, expected().length - 2, "every object but the CA Secret and ConfigMap (made by hand or by weft install)");
    const started = Date.now();
    const un = await weft(["uninstall", "--purge", "--kubeconfig", c2.kubeconfigPath]);
    assert.equal(un.code, 0, `weft uninstall exited ${un.code} after ${Date.now() - started} ms: ${un.stderr}\n${un.stdout}`);
    assert.deepEqual(await installed(k.value), ["Namespace istio-system (terminating)"]);
  });
});

void describe("waiting for a deleted CRD (the API server's own cleanup)", () => {
  void test("a CRD held terminating shows its cleanup condition, is queued again every interval, and is gone once its objects are", async (t) => {
    const n = need(t);
    if (!n) return;
    const crd: KubeObject = {
      apiVersion: "apiextensions.k8s.io/v1",
      kind: "CustomResourceDefinition",
      metadata: { name: "holds.test.weft.io" },
      spec: {
        group: "test.weft.io",
        scope: "Cluster",
        names: { plural: "holds", singular: "hold", kind: "Hold", listKind: "HoldList" },
        versions: [{ name: "v1", served: true, storage: true, schema: { openAPIV3Schema: { type: "object" } } }],
      },
    } as KubeObject;
    assert.ok((await applyObject(n.k.objects, crd, "weft-test")).ok);
    assert.ok((await waitReady(n.k.objects, [crd], { timeoutMs: 30_000, pollMs: 200 })).ok, "established");
    // An object with a finalizer nobody removes holds the CRD's cleanup (and so the CRD) until the test lets go.
    const hold = { apiVersion: "test.weft.io/v1", kind: "Hold", metadata: { name: "h", finalizers: ["test.weft.io/hold"] } } as KubeObject;
    const created = await applyObject(n.k.objects, hold, "weft-test");
    assert.ok(created.ok, created.ok ? "" : created.error.message);
    assert.ok((await deleteObject(n.k.objects, crd)).ok);

    const progress: string[] = [];
    const requeued: string[] = [];
    const waited = waitGone(n.k.objects, [crd], {
      timeoutMs: 90_000,
      pollMs: 200,
      crdRequeueAfterMs: 1000,
      onProgress: (_r, s) => progress.push(s.detail),
      onRequeue: (r, e) => requeued.push(e ? `${r}: ${e}` : r),
    });
    await new Promise((r) => setTimeout(r, 3500));
    const held = await readObject(n.k.objects, crd);
    assert.ok(held.ok && held.value, "still there, held by the object");
    const annotations = (held.value.metadata.annotations ?? {}) as Record<string, string>;
    assert.match(annotations["weft.io/cleanup-requeued-at"] ?? "", /^\d{4}-\d\d-\d\dT/, "the nudge reached the API server");
    assert.ok(requeued.length >= 2, `queued again about once a second: ${requeued.join(", ")}`);
    assert.ok(
      requeued.every((x) => x === "CustomResourceDefinition holds.test.weft.io"),
      requeued.join(", "),
    );
    assert.ok(
      progress.some((p) => p.startsWith("terminating (InstanceDeletion")),
      `the cleanup's condition is shown: ${progress.join(" | ")}`,
    );
    // Let go: the API server's cleanup finishes (it polls its objects every 5 s) and the wait ends.
    await n.k.objects.mergePatch(hold, { metadata: { finalizers: null } });
    const r = await waited;
    assert.ok(r.ok, r.ok ? "" : r.error.message);
    const gone = await readObject(n.k.objects, crd);
    assert.ok(gone.ok && gone.value === undefined);
  });
});
