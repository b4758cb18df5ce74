/**
 * CUSTOM AuthorizationPolicy (external authorization) end to end on a two-node `weft local`
 * cluster (eBPF capture), in Istio's ext-authz task layout: namespace `ea` (ambient) runs an
 * echo Service that uses the service waypoint `waypoint`, a client, and `ext-authz`, a TEST
 * authorizer (test/e2e/ext-authz-test-server.ts: decides as Istio's samples/extauthz, allow on
 * `x-ext-authz: allow`). The mesh config (ConfigMap istio-system/istio, passed by `weft local`
 * to the control plane) names it as an envoyExtAuthzHttp and an envoyExtAuthzGrpc provider.
 *
 * Checked, for the HTTP provider then the gRPC one: allowed (the authorizer's header reaches the
 * backend, headersToDownstreamOnAllow's reaches the client), denied (403 with the authorizer's
 * body and header), paths the policy does not name pass unchecked; the request body reaches an
 * HTTP authorizer with includeRequestBodyInCheck; under STRICT mTLS in the authorizer's namespace
 * the waypoint still reaches it (its check goes over HBONE with the waypoint's identity, as in
 * Istio ambient) while a plaintext caller from outside the mesh is refused (positive control);
 * with the authorizer down, the request is refused (fail closed, 403) and with statusOnError 503.
 * Root only; about two minutes. Logs are
 * kept in $TMPDIR/weft-e2e-authz-custom-logs.
 */
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { setProcessEnabled, up } from "../../src/local/cluster.js";
import { apply } from "../../src/local/apply.js";
import type { ManifestFile } from "../../src/local/manifests.js";
import { type Cluster, curlFrom, downKeepingLogs, planFor, podIp, podYaml, until, waypointClusterRunnable } from "./harness.js";

const work = mkdtempSync(path.join(tmpdir(), "weft-e2e-ea-"));
const cluster = `x${process.pid % 100000}`;
const stateDir = path.join(work, "state");
const KEEP_LOGS = path.join(tmpdir(), "weft-e2e-authz-custom-logs");
const VIP = { echo: "198.19.207.60", authz: "198.19.207.61" };
const AUTHZ_JS = path.join(__dirname, "ext-authz-test-server.js");

after(async () => {
  if (process.getuid?.() === 0) await downKeepingLogs(stateDir, cluster, KEEP_LOGS, work);
});

const MESH = `apiVersion: v1
kind: Namespace
metadata: { name: istio-system }
---
apiVersion: v1
kind: ConfigMap
metadata: { name: istio, namespace: istio-system }
data:
  mesh: |
    extensionProviders:
      - name: sample-ext-authz-http
        envoyExtAuthzHttp:
          service: ext-authz.ea.svc.cluster.local
          port: "8000"
          timeout: 2s
          includeRequestHeadersInCheck: [x-ext-authz]
          includeRequestBodyInCheck: { maxRequestBytes: 1024 }
          headersToUpstreamOnAllow: [x-ext-authz-check-result, x-ext-authz-user]
          headersToDownstreamOnAllow: [x-ext-authz-check-result]
          headersToDownstreamOnDeny: [x-ext-authz-check-result]
      - name: sample-ext-authz-grpc
        envoyExtAuthzGrpc: { service: ext-authz.ea.svc.cluster.local, port: "9000", timeout: 2s }
      - name: ext-authz-503
        envoyExtAuthzGrpc: { service: ext-authz.ea.svc.cluster.local, port: "9000", timeout: 1s, statusOnError: "503" }
---
`;

const APP = `apiVersion: v1
kind: Namespace
metadata: { name: ea, labels: { istio.io/dataplane-mode: ambient } }
---
apiVersion: v1
kind: Namespace
metadata: { name: plain }
---
${podYaml("plain", "client", "node-0", "app: outsider", '["sleep", "infinity"]')}${podYaml("ea", "echo", "node-1", "app: echo", '["weft", "local", "echo", "--port", "8080", "--service", "echo"]')}${podYaml("ea", "client", "node-0", "app: client", '["sleep", "infinity"]')}${podYaml(
  "ea",
  "ext-authz",
  "node-0",
  "app: ext-authz",
  JSON.stringify([process.execPath, AUTHZ_JS, "--http", "8000", "--grpc", "9000"]),
)}apiVersion: v1
kind: Service
metadata: { name: echo, namespace: ea, labels: { istio.io/use-waypoint: waypoint } }
spec: { clusterIP: ${VIP.echo}, selector: { app: echo }, ports: [{ name: http, port: 80, targetPort: 8080 }] }
---
apiVersion: v1
kind: Service
metadata: { name: ext-authz, namespace: ea }
spec:
  clusterIP: ${VIP.authz}
  selector: { app: ext-authz }
  ports: [{ name: http, port: 8000, targetPort: 8000 }, { name: grpc, port: 9000, targetPort: 9000, appProtocol: grpc }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: waypoint, namespace: ea, labels: { istio.io/waypoint-for: service }, annotations: { local.weft.io/node-name: node-1 } }
spec: { gatewayClassName: istio-waypoint, listeners: [{ name: mesh, port: 15008, protocol: HBONE }] }
---
`;

const policy = (provider: string) => `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: ext-authz, namespace: ea }
spec:
  targetRefs: [{ kind: Service, group: "", name: echo }]
  action: CUSTOM
  provider: { name: ${provider} }
  rules: [{ to: [{ operation: { paths: ["/headers*"] } }] }]
`;

interface Answer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

const curl = (c: Cluster, url: string, args: readonly string[] = [], ns = "ea"): Promise<Answer> => curlFrom(c, ns, "client", url, args);

function yamlFile(name: string, text: string): ManifestFile {
  const file = path.join(work, "yaml", name);
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, text);
  return { path: file, text };
}

/** The checks the test authorizer logged (its pod's log, one JSON line per check). */
function checks(c: Cluster): { kind: string; path?: string; body?: string; principal?: string; headers?: Record<string, string> }[] {
  const file = path.join(c.dir, "logs", "pod-ea-ext-authz-c.log");
  if (!existsSync(file)) return [];
  return readFileSync(file, "utf8")
    .split("\n")
    .filter((l) => l.startsWith('{"check":true'))
    .map((l) => JSON.parse(l) as ReturnType<typeof checks>[number]);
}

const echoed = (a: Answer) => JSON.parse(a.body) as { pod: string; headers: Record<string, string>; body?: string };

test("e2e CUSTOM authorization: HTTP and gRPC external authorizers at a waypoint", { timeout: 600_000 }, async (t) => {
  if (!waypointClusterRunnable(t, "e2e CUSTOM authorization")) return;
  const files = [
    yamlFile("app/mesh.yaml", MESH),
    yamlFile("app/app.yaml", APP),
    yamlFile("app/policy.yaml", policy("sample-ext-authz-http")),
  ];
  const r = await up({ dir: stateDir, plan: planFor(cluster), backend: "ebpf", files, readyTimeoutMs: 60_000 });
  assert.ok(r.ok, !r.ok ? r.error.message : "");
  const c: Cluster = { dir: stateDir, plan: planFor(cluster), state: r.value };
  const url = (p: string) => `http://${VIP.echo}${p}`;
  await until(
    "the echo answers through the waypoint",
    async () => ((await curl(c, url("/ready"))).status === 200 ? true : undefined),
    60_000,
  );

  await t.test("HTTP provider: allow, deny with the authorizer's answer, unmatched paths unchecked, the body in the check", async () => {
    await until("the CUSTOM policy is enforced", async () => ((await curl(c, url("/headers"))).status === 403 ? true : undefined), 30_000);
    const denied = await curl(c, url("/headers"));
    assert.equal(denied.status, 403);
    assert.match(denied.body, /denied by ext_authz for not found header `x-ext-authz: allow`/);
    assert.equal(denied.headers["x-ext-authz-check-result"], "denied", "headersToDownstreamOnDeny");
    const ok = await curl(c, url("/headers"), ["-H", "x-ext-authz: allow", "-d", "the request body"]);
    assert.equal(ok.status, 200, ok.body);
    const e = echoed(ok);
    assert.equal(e.headers["x-ext-authz-check-result"], "allowed", "headersToUpstreamOnAllow: the authorizer's header reaches the backend");
    assert.equal(e.headers["x-ext-authz-user"], "e2e-user");
    assert.equal(ok.headers["x-ext-authz-check-result"], "allowed", "headersToDownstreamOnAllow: and the client");
    const check = checks(c)
      .filter((x) => x.kind === "http")
      .at(-1);
    assert.equal(check?.body, "the request body", "includeRequestBodyInCheck: the body went to the authorizer");
    assert.equal(check?.path, "/headers");
    const before = checks(c).length;
    const other = await curl(c, url("/other"));
    assert.equal(other.status, 200, "a path the CUSTOM rules do not name is not checked");
    assert.equal(checks(c).length, before);
  });

  await t.test("gRPC provider: allow with the authorizer's headers, deny with its status and body; the peer is the client", async () => {
    const applied = await apply(c.dir, [yamlFile("app/policy.yaml", policy("sample-ext-authz-grpc"))]);
    assert.ok(applied.ok, !applied.ok ? applied.error.message : "");
    const n = checks(c).filter((x) => x.kind === "grpc").length;
    await until(
      "the gRPC provider is asked",
      async () =>
        (await curl(c, url("/headers"))).status === 403 && checks(c).filter((x) => x.kind === "grpc").length > n ? true : undefined,
      30_000,
    );
    const denied = await curl(c, url("/headers"));
    assert.equal(denied.status, 403);
    assert.match(denied.body, /denied by ext_authz/);
    assert.equal(denied.headers["x-ext-authz-check-result"], "denied");
    const ok = await curl(c, url("/headers"), ["-H", "x-ext-authz: allow"]);
    assert.equal(ok.status, 200, ok.body);
    assert.equal(echoed(ok).headers["x-ext-authz-check-result"], "allowed");
    const g = checks(c)
      .filter((x) => x.kind === "grpc")
      .at(-1);
    assert.equal(g?.principal, "spiffe://cluster.local/ns/ea/sa/client", "the check names the client's identity, from HBONE");
  });

  await t.test(
    "STRICT mTLS in the authorizer's namespace: the waypoint still reaches it (over HBONE, as itself); a plaintext caller cannot",
    async () => {
      const direct = `http://${podIp(c, "ea", "ext-authz")}:8000/headers`;
      assert.equal(
        (await curl(c, direct, ["-H", "x-ext-authz: allow"], "plain")).status,
        200,
        "before STRICT a plaintext caller reaches the authorizer",
      );
      const applied = await apply(c.dir, [
        yamlFile(
          "app/strict.yaml",
          `apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: { name: default, namespace: ea }
spec: { mtls: { mode: STRICT } }
`,
        ),
      ]);
      assert.ok(applied.ok, !applied.ok ? applied.error.message : "");
      await until(
        "STRICT refuses the plaintext caller",
        async () => ((await curl(c, direct, [], "plain")).status === 0 ? true : undefined),
        30_000,
      );
      const n = checks(c).length;
      const ok = await curl(c, url("/headers"), ["-H", "x-ext-authz: allow"]);
      assert.equal(ok.status, 200, `the waypoint's check crossed STRICT: ${ok.body}`);
      assert.ok(checks(c).length > n, "and the authorizer was asked");
      const denied = await curl(c, url("/headers"));
      assert.equal(denied.status, 403);
      assert.match(denied.body, /denied by ext_authz/, "the authorizer's own denial, not a fail-closed 403");
    },
  );

  await t.test("the authorizer down: fail closed (403, empty body), statusOnError 503; back up, allowed again", async () => {
    assert.ok((await setProcessEnabled(c.dir, "pod-ea-ext-authz-c", false)).ok);
    try {
      await until(
        "the authorizer is gone",
        async () => ((await curl(c, url("/headers"), ["-H", "x-ext-authz: allow"])).status === 403 ? true : undefined),
        30_000,
      );
      const closed = await curl(c, url("/headers"), ["-H", "x-ext-authz: allow"]);
      assert.deepEqual([closed.status, closed.body], [403, ""], "an unreachable authorizer denies (failOpen false)");
      assert.equal((await curl(c, url("/other"))).status, 200, "what the policy does not name still passes");
      const applied = await apply(c.dir, [yamlFile("app/policy.yaml", policy("ext-authz-503"))]);
      assert.ok(applied.ok);
      await until(
        "statusOnError applies",
        async () => ((await curl(c, url("/headers"), ["-H", "x-ext-authz: allow"])).status === 503 ? true : undefined),
        30_000,
      );
    } finally {
      assert.ok((await setProcessEnabled(c.dir, "pod-ea-ext-authz-c", true)).ok);
    }
    await until(
      "allowed again",
      async () => ((await curl(c, url("/headers"), ["-H", "x-ext-authz: allow"])).status === 200 ? true : undefined),
      30_000,
    );
  });
});
