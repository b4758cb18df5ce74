/**
 * The whole control loop in one process, on loopback (127.0.70.0/24): a control plane serving
 * from a folder of ordinary Kubernetes YAML, two ztunnels in xDS mode getting state and
 * certificates from it (bootstrap tokens, real TLS), and a real client and server. A pod added
 * to the folder becomes reachable through the mesh; removed, it stops being reachable; a policy
 * added to the folder is enforced; a malformed ALLOW is not dropped but denies its targets.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { once } from "node:events";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync, unlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { ControlPlane, authenticatorFor } from "../../src/controlplane/controlplane.js";
import { loadControlPlaneConfig } from "../../src/controlplane/config.js";
import { loadZtunnelConfig } from "../../src/ztunnel/config.js";
import { startZtunnel, type RunningZtunnel } from "../../src/ztunnel/bootstrap.js";
import { exchange, socksConnect, SocksError } from "../support/socks.js";
import { GrpcCaClient } from "../../src/proxy/identity/grpc-ca-client.js";
import { identity } from "../../src/common/spiffe.js";
import { generateKeyAndCsr } from "../../src/common/tls/csr.js";
import { spiffeIdentityOfCert } from "../../src/common/tls/san.js";
import { until } from "../support/until.js";

const dir = mkdtempSync(path.join(tmpdir(), "weft-cp-"));
const configDir = path.join(dir, "config");
const caDir = path.join(dir, "ca");
let cp: ControlPlane;
const zts: RunningZtunnel[] = [];
let echo: net.Server;

function pod(name: string, node: string, ip: string, labels: Record<string, string>, sa: string): string {
  return `apiVersion: v1
kind: Pod
metadata: { name: ${name}, namespace: demo, labels: ${JSON.stringify(labels)} }
spec:
  nodeName: ${node}
  serviceAccountName: ${sa}
  containers: [{ name: app, image: local, ports: [{ containerPort: 8080, name: http }] }]
status:
  phase: Running
  podIP: ${ip}
  podIPs: [{ ip: ${ip} }]
  conditions: [{ type: Ready, status: "True" }]
`;
}

const write = (name: string, text: string) => writeFileSync(path.join(configDir, name), text);

async function call(payload: string): Promise<string> {
  const s = await socksConnect({
    proxy: { host: "127.0.70.2", port: 15080 },
    localAddress: "127.0.70.11",
    target: { host: "echo.demo.svc.cluster.local", port: 80 },
  });
  return exchange(s, payload);
}

before(async () => {
  mkdirSync(configDir, { recursive: true });
  write("namespace.yaml", `apiVersion: v1\nkind: Namespace\nmetadata: { name: demo, labels: { istio.io/dataplane-mode: ambient } }\n`);
  write("sleep.yaml", pod("sleep", "node-a", "127.0.70.11", { app: "sleep" }, "sleep"));
  write(
    "service.yaml",
    `apiVersion: v1
kind: Service
metadata: { name: echo, namespace: demo }
spec:
  clusterIP: 127.0.70.100
  selector: { app: echo }
  ports: [{ name: http, port: 80, targetPort: 8080 }]
`,
  );
  const tokens = [
    { token: "token-node-a-0123456789", node: "node-a", identity: "spiffe://cluster.local/ns/istio-system/sa/ztunnel" },
    { token: "token-node-b-0123456789", node: "node-b", identity: "spiffe://cluster.local/ns/istio-system/sa/ztunnel" },
  ];
  writeFileSync(path.join(dir, "tokens.yaml"), JSON.stringify(tokens));
  const cfg = loadControlPlaneConfig(
    [
      "--config-dir",
      configDir,
      "--ca-dir",
      caDir,
      "--listen",
      "127.0.70.1:0",
      "--monitor",
      "127.0.70.1:0",
      "--tokens",
      path.join(dir, "tokens.yaml"),
      "--root-namespace",
      "istio-system",
    ],
    {},
  );
  assert.ok(cfg.ok, !cfg.ok ? cfg.error.message : "");
  cp = new ControlPlane(cfg.value, authenticatorFor(cfg.value));
  const started = await cp.start();
  assert.ok(started.ok, !started.ok ? started.error.message : "");
  writeFileSync(path.join(dir, "root.pem"), cp.rootsPem.join(""));
  for (const [i, node] of ["node-a", "node-b"].entries()) {
    writeFileSync(path.join(dir, `${node}.token`), tokens[i]!.token);
    const zc = loadZtunnelConfig(
      [
        "--node",
        node,
        "--bind-address",
        `127.0.70.${2 + i}`,
        "--xds-address",
        `127.0.70.1:${cp.port}`,
        "--token-file",
        path.join(dir, `${node}.token`),
        "--root-cert",
        path.join(dir, "root.pem"),
        "--drain-seconds",
        "0",
      ],
      {},
    );
    assert.ok(zc.ok, !zc.ok ? zc.error.message : "");
    const z = await startZtunnel(zc.value);
    assert.ok(z.ok, !z.ok ? z.error.message : "");
    zts.push(z.value);
  }
  echo = net.createServer({ allowHalfOpen: true }, (s) => {
    s.on("error", () => {});
    s.pipe(s);
  });
  echo.listen(8080, "127.0.70.21");
  await once(echo, "listening");
  for (const bind of ["127.0.70.2", "127.0.70.3"]) {
    await until(`${bind} ready`, async () => ((await fetch(`http://${bind}:15021/healthz/ready`)).status === 200 ? true : undefined));
  }
});

after(async () => {
  echo?.close();
  await Promise.all(zts.map((z) => z.stop()));
  await cp?.stop();
  rmSync(dir, { recursive: true, force: true });
});

test("control plane: a service without endpoints is unreachable", async () => {
  await assert.rejects(call("x"), (e: unknown) => e instanceof SocksError && e.reply === 4);
});

test("control plane: a pod added to the folder becomes reachable through the mesh with certificates from the CA service", async () => {
  write("echo.yaml", pod("echo", "node-b", "127.0.70.21", { app: "echo" }, "echo"));
  assert.equal(await until("echo reachable", () => call("hello").catch(() => undefined)), "hello");
  const dump = (await (await fetch("http://127.0.70.3:15000/config_dump")).json()) as {
    certificates: Array<{ identity: string; state: string }>;
    xds: { synced: boolean };
  };
  assert.deepEqual(
    dump.certificates.map((c) => `${c.identity} ${c.state}`),
    ["spiffe://cluster.local/ns/demo/sa/echo available"],
  );
  assert.equal(dump.xds.synced, true);
});

test("control plane: an AuthorizationPolicy in the folder is enforced; a malformed one fails closed", async () => {
  write(
    "deny.yaml",
    `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: deny-sleep, namespace: demo }
spec:
  action: DENY
  rules: [{ from: [{ source: { principals: ["cluster.local/ns/demo/sa/sleep"] } }] }]
`,
  );
  const denied = () =>
    call("x").then(
      () => undefined,
      (e: unknown) => (e instanceof SocksError && e.reply === 2 ? true : undefined),
    );
  await until("deny enforced", denied);
  unlinkSync(path.join(configDir, "deny.yaml"));
  assert.equal(await until("deny lifted", () => call("again").catch(() => undefined)), "again");
  // An ALLOW that admits the client; then the same ALLOW made malformed (a named port, which
  // Istio's webhook rejects): dropping it would fall back to allow-all; instead it denies.
  write(
    "allow.yaml",
    `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: allow-sleep, namespace: demo }
spec:
  rules: [{ from: [{ source: { principals: ["cluster.local/ns/demo/sa/sleep"] } }] }]
`,
  );
  await until("allow applied", async () => {
    const d = (await (await fetch(`http://127.0.70.1:${cp.monitorPort}/config_dump`)).json()) as { authorizations: string[] };
    return d.authorizations.includes("demo/allow-sleep") ? true : undefined;
  });
  assert.equal(await until("allowed by the ALLOW", () => call("allowed").catch(() => undefined)), "allowed");
  write(
    "allow.yaml",
    `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: allow-sleep, namespace: demo }
spec:
  rules: [{ from: [{ source: { principals: ["cluster.local/ns/demo/sa/sleep"] } }], to: [{ operation: { ports: ["http"] } }] }]
`,
  );
  await until("malformed ALLOW fails closed", denied);
  const dump = (await (await fetch(`http://127.0.70.1:${cp.monitorPort}/config_dump`)).json()) as {
    policyErrors: Array<{ object: string; field: string }>;
    authorizations: string[];
  };
  assert.deepEqual(
    dump.policyErrors.map((e) => `${e.object} ${e.field}`),
    ["AuthorizationPolicy demo/allow-sleep spec.rules[0].to[0].operation.ports[0]"],
  );
  assert.ok(dump.authorizations.includes("demo/allow-sleep"));
  // istiod's path for the same dump (issue 14).
  const debugDump = await fetch(`http://127.0.70.1:${cp.monitorPort}/debug/config_dump`);
  assert.equal(debugDump.status, 200);
  assert.deepEqual(((await debugDump.json()) as { authorizations: string[] }).authorizations, dump.authorizations);
  unlinkSync(path.join(configDir, "allow.yaml"));
  assert.equal(await until("fail-closed policy lifted", () => call("again").catch(() => undefined)), "again");
});

test("control plane: a pod removed from the folder stops being reachable", async () => {
  unlinkSync(path.join(configDir, "echo.yaml"));
  await until("echo gone", () =>
    call("x").then(
      () => undefined,
      (e: unknown) => (e instanceof SocksError ? true : undefined),
    ),
  );
});

test("control plane CA: a node's ztunnel gets only the identities of enrolled pods on its node (the real pod model decides)", async () => {
  // The pod that must be refused is written first, so that once the later ones are granted the
  // model has seen it too (a refusal before the model knows a pod would prove nothing).
  write("opted-out.yaml", pod("opted-out", "node-a", "127.0.70.12", { app: "x", "istio.io/dataplane-mode": "none" }, "opted-out"));
  write("sleep.yaml", pod("sleep", "node-a", "127.0.70.11", { app: "sleep" }, "sleep"));
  write("echo.yaml", pod("echo", "node-b", "127.0.70.21", { app: "echo" }, "echo"));
  const ca = (token: string) =>
    new GrpcCaClient({
      target: {
        address: `127.0.70.1:${cp.port}`,
        rootsPem: cp.rootsPem,
        expectedSan: "spiffe://cluster.local/ns/istio-system/sa/istiod",
        token: () => token,
      },
      timeoutMs: 3000,
    });
  const [a, b] = [ca("token-node-a-0123456789"), ca("token-node-b-0123456789")];
  try {
    const ask = async (client: GrpcCaClient, sa: string) => {
      const id = identity("cluster.local", "demo", sa);
      const r = await client.createCertificate((await generateKeyAndCsr(id)).csrPem, id, 3600);
      if (!r.ok) return r.error.message;
      const leaf = spiffeIdentityOfCert(r.value[0]!);
      return leaf.ok ? `granted ${leaf.value.serviceAccount}` : leaf.error.message;
    };
    // Positive controls first: each node gets its own enrolled pod's identity once the model has it.
    await until("sleep issued to node-a", async () => ((await ask(a, "sleep")) === "granted sleep" ? true : undefined));
    await until("echo issued to node-b", async () => ((await ask(b, "echo")) === "granted echo" ? true : undefined));
    assert.match(
      await ask(a, "echo"),
      /PERMISSION_DENIED: no pod with identity spiffe:\/\/cluster\.local\/ns\/demo\/sa\/echo runs on node node-a/,
    );
    assert.match(await ask(b, "sleep"), /PERMISSION_DENIED/);
    assert.match(await ask(a, "opted-out"), /PERMISSION_DENIED/, "a pod on the node that is not in the mesh gets no certificate");
    assert.match(await ask(a, "nobody"), /PERMISSION_DENIED/, "an identity no pod has");
    // The model follows the folder: once sleep moves to node-b, node-a loses it.
    write("sleep.yaml", pod("sleep", "node-b", "127.0.70.11", { app: "sleep" }, "sleep"));
    await until("sleep moved", async () => (/PERMISSION_DENIED/.test(await ask(a, "sleep")) ? true : undefined));
    assert.equal(await ask(b, "sleep"), "granted sleep");
  } finally {
    a.close();
    b.close();
    write("sleep.yaml", pod("sleep", "node-a", "127.0.70.11", { app: "sleep" }, "sleep"));
    unlinkSync(path.join(configDir, "opted-out.yaml"));
    unlinkSync(path.join(configDir, "echo.yaml"));
  }
});
