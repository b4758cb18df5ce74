/**
 * What @kubernetes/client-node brought that weft's own client rejected, against a real
 * kube-apiserver: a kubeconfig whose user runs an exec credential plugin (a real script that
 * prints an ExecCredential), an OIDC auth-provider's id-token, and the in-cluster service
 * account mount. The API server authenticates the plugin's token and the id-token through its
 * static token file (no OIDC issuer runs here, so this proves the client side: the auth-provider
 * is read and its unexpired id-token sent), and the mounted service account token through its
 * service account authenticator. Each check asks the API server who it thinks we are
 * (SelfSubjectReview).
 */
import { after, before, describe, test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import type { KubeClientConfig } from "../../src/kube/client/kube-config.js";
import { inClusterConfig, loadKubeconfig } from "../../src/kube/client/kube-config.js";
import { kubeApi } from "../../src/kube/client/kube-api.js";
import { clientNode } from "../../src/kube/client/kube-lib.js";
import { KubeSource } from "../../src/kube/client/kube-source.js";
import { builtinKinds } from "../../src/kube/client/kube-kinds.js";
import { kubeBinaries } from "./binaries.js";
import { KUBE_TEST_IP, startKubeCluster, type KubeCluster, needCluster } from "./apiserver.js";
import { create, RecordingSink } from "./fixtures.js";

const execToken = `exec-${Date.now()}-${Math.random().toString(36).slice(2)}`;
const b64url = (o: object): string => Buffer.from(JSON.stringify(o)).toString("base64url");
// JWT-shaped, unexpired: the library's OIDC provider reads `exp` and sends it as is.
const idToken = `${b64url({ alg: "RS256", typ: "JWT" })}.${b64url({ iss: "https://idp.test", sub: "alice", exp: Math.floor(Date.now() / 1000) + 3600 })}.c2ln`;

let cluster: KubeCluster | undefined;
let skipReason = "";

const need = (t: TestContext): KubeCluster | undefined => needCluster(t, cluster, skipReason);

/** Who the API server says the caller is. */
async function whoAmI(config: KubeClientConfig): Promise<string> {
  const api = kubeApi(config).api(clientNode().AuthenticationV1Api);
  const r = await api.createSelfSubjectReview({ body: { apiVersion: "authentication.k8s.io/v1", kind: "SelfSubjectReview" } });
  return r.status?.userInfo?.username ?? "";
}

/** A kubeconfig next to the cluster's CA with the given user entry (YAML, indented 4). */
function writeKubeconfig(c: KubeCluster, name: string, user: string): string {
  const file = path.join(c.dir, name);
  writeFileSync(
    file,
    [
      "apiVersion: v1",
      "kind: Config",
      "current-context: t",
      "contexts: [{name: t, context: {cluster: t, user: u}}]",
      `clusters: [{name: t, cluster: {server: "${c.apiserver.url}", certificate-authority: ca.pem}}]`,
      "users:",
      "- name: u",
      "  user:",
      `    ${user}`,
      "",
    ].join("\n"),
  );
  return file;
}

/** A credential plugin script in the cluster dir; it counts its runs in `<name>.runs`. */
function writePlugin(c: KubeCluster, name: string, body: string): string {
  const file = path.join(c.dir, "bin", name);
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, `#!/bin/sh\necho run >> "${file}.runs"\n${body}\n`);
  chmodSync(file, 0o755);
  return file;
}

const runs = (plugin: string): number => readFileSync(`${plugin}.runs`, "utf8").split("\n").filter(Boolean).length;

before(async () => {
  const bins = kubeBinaries();
  if (!bins.ok) {
    skipReason = bins.reason;
    return;
  }
  cluster = await startKubeCluster(bins.value, {
    tokens: [
      { token: execToken, user: "exec-user", groups: ["system:masters"] },
      { token: idToken, user: "oidc:alice" },
    ],
  });
});

after(async () => {
  await cluster?.stop();
});

void describe("kubeconfig authentication through @kubernetes/client-node, against a real kube-apiserver", () => {
  void test("an exec credential plugin's token authenticates requests and informers, and is cached", async (t) => {
    const c = need(t);
    if (!c) return;
    const expires = new Date(Date.now() + 3600_000).toISOString();
    const plugin = writePlugin(
      c,
      "creds.sh",
      `printf '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"${execToken}","expirationTimestamp":"${expires}"}}'`,
    );
    // Relative to the kubeconfig's folder, as kubectl resolves it.
    const file = writeKubeconfig(
      c,
      "exec.kubeconfig",
      "exec: {apiVersion: client.authentication.k8s.io/v1, command: ./bin/creds.sh, interactiveMode: Never}",
    );
    const kc = loadKubeconfig(file);
    assert.ok(kc.ok, kc.ok ? "" : kc.error.message);
    assert.equal(await whoAmI(kc.value), "exec-user");

    await create(c.admin, { apiVersion: "v1", resource: "namespaces" }, { metadata: { name: "exec-ns" } });
    const source = new KubeSource({ config: kc.value, kinds: builtinKinds, reflector: { backoff: { initialMs: 50, maxMs: 500 } } });
    const sink = new RecordingSink();
    await source.start(sink);
    try {
      await source.waitSynced();
      assert.ok(sink.state.has("/Namespace//exec-ns"));
      for (const [kind, s] of Object.entries(source.stats())) assert.equal(s.errors, 0, `${kind}: ${JSON.stringify(s)}`);
    } finally {
      await source.stop();
    }
    // The credential carries an expiry an hour away: later requests reuse it rather than
    // running the plugin again for each (the first concurrent ones may each run it).
    const before = runs(plugin);
    console.log(`kubeconfig-auth: the exec plugin ran ${before} times for a sync of ${builtinKinds.length} kinds and one review`);
    for (let i = 0; i < 5; i++) assert.equal(await whoAmI(kc.value), "exec-user");
    assert.equal(runs(plugin), before, "plugin not run again while its credential is valid");
  });

  void test("a failing exec plugin is an error value naming what the plugin said", async (t) => {
    const c = need(t);
    if (!c) return;
    writePlugin(c, "nocreds.sh", `echo "no credentials: run 'login' first" >&2\nexit 1`);
    const kc = loadKubeconfig(
      writeKubeconfig(c, "nocreds.kubeconfig", `exec: {apiVersion: client.authentication.k8s.io/v1, command: ${c.dir}/bin/nocreds.sh}`),
    );
    assert.ok(kc.ok, kc.ok ? "" : kc.error.message);
    const r = await kubeApi(kc.value).request("GET", "/api/v1/namespaces");
    assert.ok(!r.ok);
    assert.equal(r.error.code, "transport");
    assert.match(r.error.message, /GET \/api\/v1\/namespaces: no credentials: run 'login' first/);
  });

  void test("an OIDC auth-provider's unexpired id-token is sent as the bearer token", async (t) => {
    const c = need(t);
    if (!c) return;
    const file = writeKubeconfig(
      c,
      "oidc.kubeconfig",
      `auth-provider: {name: oidc, config: {client-id: weft, idp-issuer-url: "https://idp.test", id-token: "${idToken}"}}`,
    );
    const kc = loadKubeconfig(file);
    assert.ok(kc.ok, kc.ok ? "" : kc.error.message);
    assert.equal(await whoAmI(kc.value), "oidc:alice");
  });

  void test("the in-cluster config reads the service account mount and authenticates as that account", async (t) => {
    const c = need(t);
    if (!c) return;
    await create(c.admin, { apiVersion: "v1", resource: "namespaces" }, { metadata: { name: "mesh" } });
    await create(c.admin, { apiVersion: "v1", resource: "serviceaccounts", namespace: "mesh" }, { metadata: { name: "weft" } });
    const tr = await c.admin.request<{ status: { token: string } }>("POST", "/api/v1/namespaces/mesh/serviceaccounts/weft/token", {
      apiVersion: "authentication.k8s.io/v1",
      kind: "TokenRequest",
      spec: { expirationSeconds: 3600 },
    });
    assert.ok(tr.ok, tr.ok ? "" : tr.error.message);
    const mount = path.join(c.dir, "serviceaccount");
    mkdirSync(mount, { recursive: true });
    writeFileSync(path.join(mount, "ca.crt"), c.parts.ca ?? "");
    writeFileSync(path.join(mount, "token"), tr.value.status.token);
    const env = { KUBERNETES_SERVICE_HOST: KUBE_TEST_IP, KUBERNETES_SERVICE_PORT: String(c.apiserver.port) };
    const kc = inClusterConfig(env, mount);
    assert.ok(kc.ok, kc.ok ? "" : kc.error.message);
    assert.equal(await whoAmI(kc.value), "system:serviceaccount:mesh:weft");
  });
});
