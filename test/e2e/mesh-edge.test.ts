/**
 * End to end on a two-node `weft local` cluster (eBPF capture): the mesh's edge.
 * - Namespace `shop` (ambient) has a client and an echo Service; namespace `outside` (not in the
 *   mesh) runs `api`, the test's stand-in for a server outside the mesh.
 * - The mesh config (ConfigMap istio-system/istio) says outboundTrafficPolicy REGISTRY_ONLY.
 * - A ServiceEntry `api.outside.test` (no addresses: auto-allocated VIP, resolution STATIC, the
 *   api pod's IP as endpoint) is applied live.
 * Checked: the client resolves the Service by its short name and the ServiceEntry host (which
 * the cluster DNS does not know: the answer is ztunnel's, a 240.240.0.0/16 VIP), over UDP and
 * TCP, and connects to both through ztunnel; ztunnel counts the DNS requests; an address
 * outside the registry (the control plane's monitoring port) is refused for the enrolled client
 * while a pod outside the mesh reaches it (positive control).
 * Traffic stays inside the cluster's namespaces. Root only; about 30 s.
 */
import { test, after, before } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { up } from "../../src/local/cluster.js";
import { apply } from "../../src/local/apply.js";
import { type Cluster, counterSum, down, planFor, podIp, podNetns, sh, until, ztunnelMetrics } from "./harness.js";

const root = process.getuid?.() === 0;
if (!root) console.warn("!! SKIPPING mesh-edge e2e: needs root (network namespaces, eBPF)");
const work = mkdtempSync(path.join(tmpdir(), "weft-edge-"));
const clusterName = `m${process.pid % 100000}`;
const stateDir = path.join(work, "state");
let c: Cluster;

const SERVER = `"use strict";
const http = require("node:http");
http.createServer((req, res) => res.end("edge-" + process.env.POD_NAMESPACE + "-" + process.env.POD_NAME + "\\n")).listen(8080, "0.0.0.0");
`;

const pod = (ns: string, name: string, node: string, cmd: string) => `apiVersion: v1
kind: Pod
metadata: { name: ${name}, namespace: ${ns}, labels: { app: ${name} } }
spec:
  nodeName: ${node}
  containers: [{ name: c, command: ${cmd}, ports: [{ name: http, containerPort: 8080 }] }]
---
`;

const MANIFESTS = `apiVersion: v1
kind: Namespace
metadata: { name: shop, labels: { istio.io/dataplane-mode: ambient } }
---
apiVersion: v1
kind: Namespace
metadata: { name: outside }
---
apiVersion: v1
kind: Namespace
metadata: { name: istio-system }
---
apiVersion: v1
kind: ConfigMap
metadata: { name: istio, namespace: istio-system }
data:
  mesh: |
    outboundTrafficPolicy:
      mode: REGISTRY_ONLY
---
${pod("shop", "client", "node-0", '["sleep", "infinity"]')}${pod("shop", "echo", "node-1", '["node", "server.js"]')}${pod("outside", "api", "node-1", '["node", "server.js"]')}apiVersion: v1
kind: Service
metadata: { name: echo, namespace: shop }
spec: { clusterIP: 198.19.207.30, selector: { app: echo }, ports: [{ name: http, port: 80, targetPort: 8080 }] }
`;

const inPod = (ns: string, name: string, cmd: string, args: string[], timeoutMs = 8000) =>
  sh("ip", ["netns", "exec", podNetns(c, ns, name), cmd, ...args], timeoutMs);

/** The ServiceEntry for the api pod (no addresses: an auto-allocated VIP), applied live; `meta` adds to its metadata. */
async function applyServiceEntry(meta: string): Promise<void> {
  const se = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: outside-api, namespace: shop${meta} }
spec:
  hosts: [api.outside.test]
  location: MESH_EXTERNAL
  resolution: STATIC
  ports: [{ number: 80, name: http, protocol: HTTP, targetPort: 8080 }]
  endpoints: [{ address: ${podIp(c, "outside", "api")} }]
`;
  const a = await apply(stateDir, [{ path: path.join(work, "app", "se.yaml"), text: se }]);
  if (!a.ok) throw a.error;
}

before(async () => {
  if (!root) return;
  const appDir = path.join(work, "app");
  mkdirSync(appDir, { recursive: true });
  writeFileSync(path.join(appDir, "server.js"), SERVER);
  const r = await up({
    dir: stateDir,
    plan: planFor(clusterName),
    backend: "ebpf",
    files: [{ path: path.join(appDir, "edge.yaml"), text: MANIFESTS }],
    readyTimeoutMs: 30_000,
  });
  if (!r.ok) throw r.error;
  c = { dir: stateDir, plan: planFor(clusterName), state: r.value };
  await applyServiceEntry("");
});

after(async () => {
  if (!root) return;
  await down(stateDir, planFor(clusterName));
  rmSync(work, { recursive: true, force: true });
});

test(
  "mesh edge: Service and ServiceEntry names resolve through ztunnel and connect; REGISTRY_ONLY refuses the rest",
  { skip: !root },
  async () => {
    // The Service by its short name (resolv.conf search domains), as in Kubernetes.
    const svc = await until("echo resolves", async () => {
      const r = await inPod("shop", "client", "getent", ["ahostsv4", "echo"]);
      return r.code === 0 && r.stdout.includes("198.19.207.30") ? r.stdout : undefined;
    });
    assert.match(svc, /198\.19\.207\.30/);
    const viaName = await inPod("shop", "client", "curl", ["-sS", "--max-time", "5", "http://echo/"]);
    assert.equal(viaName.stdout, "edge-shop-echo\n", viaName.stderr);

    // The ServiceEntry host: ztunnel answers with the auto-allocated VIP once the entry arrived.
    const seIp = await until("api.outside.test resolves", async () => {
      const r = await inPod("shop", "client", "getent", ["ahostsv4", "api.outside.test"]);
      return r.code === 0 ? /^(\S+)/.exec(r.stdout)?.[1] : undefined;
    });
    assert.match(seIp, /^240\.240\.\d+\.\d+$/, "an auto-allocated VIP, which only ztunnel knows");
    // The cluster DNS itself does not know the host: a pod outside the mesh cannot resolve it.
    const outsideLookup = await inPod("outside", "api", "getent", ["ahostsv4", "api.outside.test"]);
    assert.notEqual(outsideLookup.code, 0, "only ztunnel answers for ServiceEntry hosts");
    const viaSe = await inPod("shop", "client", "curl", ["-sS", "--max-time", "5", "http://api.outside.test/"]);
    assert.equal(viaSe.stdout, "edge-outside-api\n", viaSe.stderr);

    // DNS over TCP (captured on the outbound port, handed to the DNS proxy).
    const dig = await sh("dig", ["-v"]);
    if (dig.code === 0) {
      const ns = c.state.controlPlane.split(":")[0]!;
      const tcp = await inPod("shop", "client", "dig", ["+short", "+tcp", `@${ns}`, "api.outside.test", "A"]);
      assert.equal(tcp.stdout.trim(), seIp, tcp.stderr);
    } else console.warn("!! dig not installed: the TCP DNS check is skipped (scripts/setup.sh installs bind9-dnsutils)");

    const metrics = await ztunnelMetrics(c, 0);
    assert.ok(
      counterSum(metrics, "istio_dns_requests_total", { source_workload_namespace: "shop" }) > 0,
      "ztunnel counted the DNS requests",
    );

    // REGISTRY_ONLY: the control plane's monitoring port is no registered destination.
    const cpMonitor = `http://${c.state.controlPlane.split(":")[0]}:15014/ready`;
    const control = await inPod("outside", "api", "curl", ["-sS", "--max-time", "3", "-o", "/dev/null", "-w", "%{http_code}", cpMonitor]);
    assert.equal(control.stdout, "200", `a pod outside the mesh reaches it: ${control.stderr}`);
    const refused = await inPod("shop", "client", "curl", ["-sS", "--max-time", "3", cpMonitor]);
    assert.notEqual(refused.code, 0, "the enrolled client is refused");
    assert.notEqual(refused.code, 28, "refused at once (reset), not a timeout");
  },
);

test(
  "mesh edge: a ServiceEntry labelled istio.io/use-waypoint sends egress through the waypoint (L7 metrics)",
  {
    skip: !root,
    timeout: 120_000,
    // Not done: ztunnel sends the entry's traffic to the waypoint (translated and routed), but the
    // waypoint resets the connection (curl 56): its listeners/clusters for a ServiceEntry host
    // with a plaintext endpoint are not built yet (docs/mesh-edge.md, Egress).
    todo: "the waypoint resets egress to ServiceEntry hosts",
  },
  async () => {
    const dir = path.join(work, "app");
    const gw = `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: egress, namespace: shop, labels: { istio.io/waypoint-for: service }, annotations: { local.weft.io/node-name: node-0 } }
spec: { gatewayClassName: istio-waypoint, listeners: [{ name: mesh, port: 15008, protocol: HBONE }] }
`;
    const g = await apply(stateDir, [{ path: path.join(dir, "gw.yaml"), text: gw }], 90_000);
    if (!g.ok) throw g.error;
    await applyServiceEntry(", labels: { istio.io/use-waypoint: egress }");
    const { readState } = await import("./harness.js");
    const st = await readState(stateDir);
    const wp = st!.pods.find((x) => x.namespace === "shop" && x.name.startsWith("egress-"))!;
    let last = "";
    const requests = await until(
      "a request to api.outside.test counted by the waypoint",
      async () => {
        const r = await inPod("shop", "client", "curl", ["-sS", "--max-time", "3", "http://api.outside.test/"]);
        last = `curl: ${r.code} ${r.stdout} ${r.stderr}`;
        if (r.stdout !== "edge-outside-api\n") return undefined;
        const m = await inPod("shop", "client", "curl", ["-sS", "--max-time", "3", `http://${wp.ip}:15020/metrics`]);
        last =
          m.stdout
            .split("\n")
            .filter((l) => l.startsWith("istio_requests_total"))
            .join(" | ") || `no istio_requests_total: ${m.stderr}`;
        const n = counterSum(m.stdout, "istio_requests_total", { destination_service: "api.outside.test" });
        return n > 0 ? n : undefined;
      },
      60_000,
    ).catch((e: Error) => {
      throw new Error(`${e.message}; last: ${last}`);
    });
    assert.ok(requests > 0);
  },
);
