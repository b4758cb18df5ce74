import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { inClusterConfig, kubeConfigFromParts, loadKubeconfig, serverOf } from "./kube-config.js";

const b64 = (s: string): string => Buffer.from(s).toString("base64");
const kubeconfig = (
  user: string,
  cluster = `server: https://127.0.40.1:6443\n    certificate-authority-data: ${b64("CA PEM")}`,
): string => `
apiVersion: v1
kind: Config
current-context: test
contexts:
- name: test
  context: {cluster: c, user: u}
clusters:
- name: c
  cluster:
    ${cluster}
users:
- name: u
  user:
    ${user}
`;

function withDir(fn: (dir: string, write: (name: string, text: string) => string) => void): void {
  const dir = mkdtempSync(path.join(tmpdir(), "weft-kubecfg-"));
  try {
    fn(dir, (name, text) => {
      writeFileSync(path.join(dir, name), text);
      return path.join(dir, name);
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

void test("kube-config: loads server, CA and every kind of user credential the library supports", () => {
  withDir((dir, write) => {
    const cases: Array<[name: string, user: string, check: (u: Record<string, unknown>) => void]> = [
      ["token", "token: abc", (u) => assert.equal(u.token, "abc")],
      [
        "client certificate files, relative to the kubeconfig",
        "client-certificate: c.pem\n    client-key: /abs/k.pem",
        (u) => {
          assert.equal(u.certFile, path.join(dir, "c.pem"));
          assert.equal(u.keyFile, "/abs/k.pem");
        },
      ],
      [
        "exec credential plugin (rejected before the library), relative path resolved like kubectl",
        "exec: {apiVersion: client.authentication.k8s.io/v1, command: ./creds.sh}",
        (u) => assert.equal((u.exec as { command: string }).command, path.join(dir, "creds.sh")),
      ],
      [
        "oidc auth-provider (rejected before the library)",
        "auth-provider: {name: oidc, config: {id-token: x, idp-issuer-url: https://idp.test}}",
        (u) => assert.equal((u.authProvider as { name: string }).name, "oidc"),
      ],
      [
        "kubectl's tokenFile becomes a re-read token file",
        "tokenFile: tok",
        (u) => assert.deepEqual(u.authProvider, { name: "tokenFile", config: { tokenFile: path.join(dir, "tok") } }),
      ],
    ];
    for (const [name, user, check] of cases) {
      const r = loadKubeconfig(write("cfg", kubeconfig(user)));
      assert.ok(r.ok, `${name}: ${r.ok ? "" : r.error.message}`);
      assert.equal(serverOf(r.value), "https://127.0.40.1:6443", name);
      assert.equal(r.value.getCurrentCluster()?.caData, b64("CA PEM"), name);
      check(r.value.getCurrentUser() as unknown as Record<string, unknown>);
    }
  });
});

void test("kube-config: rejects files it cannot use, naming the file and entry", () => {
  withDir((_dir, write) => {
    const cases: Array<[string, string | undefined, RegExp]> = [
      ["not: [yaml", undefined, /kubeconfig .*cfg: /],
      [kubeconfig("token: abc", "server: ftp://x"), undefined, /clusters\[c\]\.server must be an http\(s\) URL/],
      [kubeconfig("token: abc"), "missing", /no entry named "missing" in contexts/],
      [kubeconfig("token: abc").replace("cluster: c,", "cluster: nope,"), undefined, /names cluster "nope", which is not in clusters/],
      [kubeconfig("token: abc").replace("user: u}", "user: nobody}"), undefined, /names user "nobody", which is not in users/],
      [kubeconfig("token: abc").replace("current-context: test", ""), undefined, /no current-context and none given/],
    ];
    for (const [text, context, why] of cases) {
      const r = loadKubeconfig(write("cfg", text), context);
      assert.ok(!r.ok, String(why));
      assert.match(r.error.message, why);
    }
    assert.match((loadKubeconfig(path.join(_dir, "nope")) as { error: Error }).error.message, /ENOENT/);
  });
});

void test("kube-config: the in-cluster mount and explicit parts", () => {
  withDir((dir, write) => {
    write("ca.crt", "CLUSTER CA");
    const ic = inClusterConfig({ KUBERNETES_SERVICE_HOST: "fd00::1", KUBERNETES_SERVICE_PORT: "443" }, dir);
    assert.ok(ic.ok, ic.ok ? "" : ic.error.message);
    assert.equal(serverOf(ic.value), "https://[fd00::1]:443");
    assert.equal(ic.value.getCurrentCluster()?.caData, b64("CLUSTER CA"));
    assert.deepEqual(ic.value.getCurrentUser()?.authProvider, { name: "tokenFile", config: { tokenFile: path.join(dir, "token") } });
    assert.match((inClusterConfig({}, dir) as { error: Error }).error.message, /KUBERNETES_SERVICE_HOST/);
    assert.match(
      (inClusterConfig({ KUBERNETES_SERVICE_HOST: "10.0.0.1", KUBERNETES_SERVICE_PORT: "443" }, path.join(dir, "none")) as { error: Error })
        .error.message,
      /in-cluster config: .*ENOENT/,
    );
    const p = kubeConfigFromParts({ server: "https://h:1", ca: "CA", cert: "CERT", key: "KEY" });
    assert.equal(p.getCurrentUser()?.certData, b64("CERT"));
    assert.equal(p.getCurrentUser()?.token, undefined);
    assert.equal(kubeConfigFromParts({ server: "https://h:1", token: "t" }).getCurrentUser()?.token, "t");
  });
});
