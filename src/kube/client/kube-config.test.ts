import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { inClusterConfig, loadKubeconfig, parseKubeconfig } from "./kube-config.js";

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

void test("kube-config: parses server, inline CA and the user's credentials", () => {
  const r = parseKubeconfig(kubeconfig("token: abc"));
  assert.ok(r.ok, r.ok ? "" : r.error.message);
  assert.deepEqual(r.value, { server: "https://127.0.40.1:6443", insecureSkipTlsVerify: false, ca: { data: "CA PEM" }, token: "abc" });
  const files = parseKubeconfig(
    kubeconfig("client-certificate: c.pem\n    client-key: /abs/k.pem", "server: https://x:1\n    certificate-authority: ca.pem"),
    { baseDir: "/etc/kube" },
  );
  assert.ok(files.ok);
  assert.deepEqual(files.value.ca, { file: "/etc/kube/ca.pem" });
  assert.deepEqual(files.value.cert, { file: "/etc/kube/c.pem" });
  assert.deepEqual(files.value.key, { file: "/abs/k.pem" });
});

void test("kube-config: rejects what it cannot honour, naming the entry", () => {
  const cases: Array<[string, string | undefined, RegExp]> = [
    ["not: [yaml", undefined, /not YAML/],
    ["- a list", undefined, /not a map/],
    [kubeconfig("exec: {command: aws}"), undefined, /users\[u\]\.exec is not supported/],
    [kubeconfig("client-certificate: c.pem"), undefined, /needs both client-certificate and client-key/],
    [kubeconfig("token: abc", "server: ftp://x"), undefined, /server must be an http\(s\) URL/],
    [kubeconfig("token: abc"), "missing", /no entry named "missing" in contexts/],
    [kubeconfig("token: 5"), undefined, /token is not a string/],
  ];
  for (const [text, context, why] of cases) {
    const r = parseKubeconfig(text, context ? { context } : {});
    assert.ok(!r.ok, String(why));
    assert.match(r.error.message, why);
  }
});

void test("kube-config: loads referenced files and the in-cluster mount", () => {
  const dir = mkdtempSync(path.join(tmpdir(), "weft-kubecfg-"));
  try {
    writeFileSync(path.join(dir, "ca.pem"), "CA");
    writeFileSync(path.join(dir, "cfg"), kubeconfig("tokenFile: tok", "server: https://h:1\n    certificate-authority: ca.pem"));
    const r = loadKubeconfig(path.join(dir, "cfg"));
    assert.ok(r.ok, r.ok ? "" : r.error.message);
    assert.equal(r.value.ca, "CA");
    assert.equal(r.value.tokenFile, path.join(dir, "tok"));
    assert.match((loadKubeconfig(path.join(dir, "nope")) as { error: Error }).error.message, /ENOENT/);

    writeFileSync(path.join(dir, "ca.crt"), "CLUSTER CA");
    const ic = inClusterConfig({ KUBERNETES_SERVICE_HOST: "fd00::1", KUBERNETES_SERVICE_PORT: "443" }, dir);
    assert.ok(ic.ok);
    assert.deepEqual(ic.value, { server: "https://[fd00::1]:443", ca: "CLUSTER CA", tokenFile: path.join(dir, "token") });
    assert.match((inClusterConfig({}, dir) as { error: Error }).error.message, /KUBERNETES_SERVICE_HOST/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
