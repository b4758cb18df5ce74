/**
 * Upstream resilience end to end on a two-node `weft local` cluster (issue 9 item 8): namespace
 * `ru` in the mesh using the service waypoint `waypoint`; echo pods a (node-0), b (node-1) and c
 * (node-0, `--fail-every 2`: half its answers are 503 whatever is asked), a client (node-1).
 * - Outlier detection + retries: without them (positive control) the client sees c's 503s;
 *   with a DestinationRule outlierDetection {consecutive5xxErrors 1} and a VirtualService
 *   retries {attempts 3, retryOn 5xx}, at least 99.9% of 1000 requests succeed, c is ejected
 *   (envoy_cluster_outlier_detection_ejections_enforced_total).
 * - Circuit breaking: connectionPool {tcp.maxConnections 1, http.http1MaxPendingRequests 1} on
 *   the service `pool` (pod a): of 10 concurrent slow requests 2 pass and 8 get 503 at once,
 *   counted as pending overflow and with the UO flag in istio_requests_total.
 * - Consistent hash (httpHeaderName x-user) on the selector-less service `sticky` (its
 *   EndpointSlice names pods a and b): one key stays on one pod across 1000 requests; adding
 *   pod c to the slice moves about 1/3 of the keys, most of them onto c.
 * Requests come from test/e2e/load.ts run in the client pod. Root only; about two minutes.
 */
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { up } from "../../src/local/cluster.js";
import { apply } from "../../src/local/apply.js";
import {
  type Cluster,
  counterSum,
  planFor,
  podIp,
  podNetns,
  sh,
  until,
  downKeepingLogs,
  podYaml,
  waypointClusterRunnable,
} from "./harness.js";
import type { LoadSpec, LoadSummary } from "./load.js";

const root = process.getuid?.() === 0;
const work = mkdtempSync(path.join(tmpdir(), "weft-e2e-ru-"));
const cluster = `u${process.pid % 100000}`;
const stateDir = path.join(work, "state");
const VIP = { echo: "198.19.207.60", pool: "198.19.207.61", sticky: "198.19.207.62" };
const KEEP_LOGS = path.join(tmpdir(), "weft-e2e-resilience-upstream-logs");
const LOAD_JS = path.join(__dirname, "load.js");

after(async () => {
  if (root) await downKeepingLogs(stateDir, cluster, KEEP_LOGS, work);
});

const pod = (name: string, node: string, labels: string, cmd: string) => podYaml("ru", name, node, labels, cmd);
const echo = (extra = "") => `["weft", "local", "echo", "--port", "8080", "--service", "echo"${extra}]`;
const service = (name: keyof typeof VIP, selector: string) => `apiVersion: v1
kind: Service
metadata: { name: ${name}, namespace: ru }
spec: { clusterIP: ${VIP[name]}, ${selector}ports: [{ name: http, port: 80, targetPort: 8080 }] }
---
`;

const APP = `apiVersion: v1
kind: Namespace
metadata: { name: ru, labels: { istio.io/dataplane-mode: ambient, istio.io/use-waypoint: waypoint } }
---
${pod("echo-a", "node-0", "app: echo, pool: 'yes'", echo())}${pod("echo-b", "node-1", "app: echo", echo())}${pod(
  "echo-c",
  "node-0",
  "app: echo",
  echo(', "--fail-every", "2"'),
)}${pod("client", "node-1", "app: client", '["sleep", "infinity"]')}${service("echo", "selector: { app: echo }, ")}${service(
  "pool",
  "selector: { pool: 'yes' }, ",
)}${service("sticky", "")}apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: waypoint, namespace: ru, labels: { istio.io/waypoint-for: service }, annotations: { local.weft.io/node-name: node-0 } }
spec: { gatewayClassName: istio-waypoint, listeners: [{ name: mesh, port: 15008, protocol: HBONE }] }
---
`;

/** The client pod runs the load client against one VIP. */
async function load(c: Cluster, spec: Omit<LoadSpec, "url"> & { vip: string; path: string }): Promise<LoadSummary> {
  const { vip, path: p, ...rest } = spec;
  const body: LoadSpec = { url: `http://${vip}${p}`, ...rest };
  const r = await sh("ip", ["netns", "exec", podNetns(c, "ru", "client"), process.execPath, LOAD_JS, JSON.stringify(body)], 120_000);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as LoadSummary;
}

async function applyText(c: Cluster, name: string, text: string): Promise<void> {
  const file = path.join(work, "yaml", `${name}.yaml`);
  writeFileSync(file, text);
  const r = await apply(c.dir, [{ path: file, text }]);
  assert.ok(r.ok, !r.ok ? r.error.message : "");
}

async function waypointMetrics(c: Cluster): Promise<string> {
  const wp = c.state.pods.find((p) => p.namespace === "ru" && p.name.startsWith("waypoint-"))!.ip;
  const m = await sh("ip", ["netns", "exec", podNetns(c, "ru", "client"), "curl", "-sS", "--max-time", "5", `http://${wp}:15020/metrics`]);
  assert.equal(m.code, 0, m.stderr);
  return m.stdout;
}

const slice = (c: Cluster, pods: readonly string[]) => `apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: sticky-1, namespace: ru, labels: { kubernetes.io/service-name: sticky } }
addressType: IPv4
ports: [{ name: http, port: 8080, protocol: TCP }]
endpoints:
${pods.map((p) => `  - { addresses: ["${podIp(c, "ru", p)}"], conditions: { ready: true }, targetRef: { kind: Pod, namespace: ru, name: ${p} } }`).join("\n")}
`;

test("e2e upstream resilience: outlier detection + retries, circuit breaking, consistent hash", { timeout: 600_000 }, async (t) => {
  if (!waypointClusterRunnable(t, "e2e upstream resilience")) return;
  mkdirSync(path.join(work, "yaml"), { recursive: true });
  const file = path.join(work, "yaml", "app.yaml");
  writeFileSync(file, APP);
  const r = await up({
    dir: stateDir,
    plan: planFor(cluster),
    backend: "ebpf",
    files: [{ path: file, text: APP }],
    readyTimeoutMs: 60_000,
  });
  assert.ok(r.ok, !r.ok ? r.error.message : "");
  const c: Cluster = { dir: stateDir, plan: planFor(cluster), state: r.value };
  await until(
    "echo answers through the waypoint",
    async () => ((await load(c, { vip: VIP.echo, path: "/", count: 1, concurrency: 1 })).statuses["200"] ? true : undefined),
    30_000,
  );

  await t.test("positive control: without outlier detection or retries the client sees pod c's 503s", async () => {
    const s = await load(c, { vip: VIP.echo, path: "/control", count: 300, concurrency: 4 });
    const failed = s.statuses["503"] ?? 0;
    // c takes about a third of the requests and fails half of them: about 1/6.
    assert.ok(failed >= 20 && failed <= 90, `503s: ${JSON.stringify(s.statuses)}`);
    assert.ok((s.pods["echo-c"] ?? 0) > 0, JSON.stringify(s.pods));
  });

  await t.test("outlier detection + retries: at least 99.9% of 1000 requests succeed, pod c is ejected", async () => {
    await applyText(
      c,
      "echo-resilience",
      `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: echo, namespace: ru }
spec:
  host: echo
  trafficPolicy:
    outlierDetection: { consecutive5xxErrors: 1, interval: 1s, baseEjectionTime: 120s, maxEjectionPercent: 100 }
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: echo, namespace: ru }
spec:
  hosts: [echo]
  http:
    - retries: { attempts: 3, retryOn: 5xx }
      route: [{ destination: { host: echo } }]
`,
    );
    // Requests until pod c's first 503 ejects it: then the DestinationRule is in force.
    await until(
      "pod c is ejected",
      async () => {
        await load(c, { vip: VIP.echo, path: "/warm", count: 30, concurrency: 2 });
        return counterSum(await waypointMetrics(c), "envoy_cluster_outlier_detection_ejections_enforced_total", {}) >= 1 ? true : undefined;
      },
      30_000,
    );
    const s = await load(c, { vip: VIP.echo, path: "/resilient", count: 1000, concurrency: 4 });
    const okCount = s.statuses["200"] ?? 0;
    assert.ok(okCount >= 999, `success ${okCount}/1000: ${JSON.stringify(s.statuses)}`);
    assert.ok((s.pods["echo-a"] ?? 0) > 300 && (s.pods["echo-b"] ?? 0) > 300, `a and b carry the load: ${JSON.stringify(s.pods)}`);
  });

  await t.test("circuit breaking: of 10 concurrent slow requests 2 pass, 8 get 503 UO at once", async () => {
    await applyText(
      c,
      "pool-dr",
      `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: pool, namespace: ru }
spec:
  host: pool
  trafficPolicy:
    connectionPool: { tcp: { maxConnections: 1 }, http: { http1MaxPendingRequests: 1 } }
`,
    );
    let s: LoadSummary | undefined;
    await until(
      "the connection pool limits apply",
      async () => {
        s = await load(c, { vip: VIP.pool, path: "/slow", count: 10, concurrency: 10, headers: { "x-echo-delay-ms": "1000" } });
        // A batch may start while the limits are still on their way (some 503s, not the 8 of the limits): try again.
        return (s.statuses["503"] ?? 0) >= 8 ? s : undefined;
      },
      30_000,
    );
    assert.deepEqual(s!.statuses, { "200": 2, "503": 8 });
    assert.ok(s!.slowestFailureMs < 500, `the overflow was answered after ${s!.slowestFailureMs} ms`);
    const m = await waypointMetrics(c);
    assert.match(m, /istio_requests_total\{[^}]*response_code="503"[^}]*response_flags="UO"/);
    assert.ok(counterSum(m, "envoy_cluster_upstream_rq_pending_overflow", {}) >= 8);
  });

  await t.test("consistent hash: a key stays on one pod; adding an endpoint moves only keys onto it", async () => {
    await applyText(
      c,
      "sticky",
      `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: sticky, namespace: ru }
spec:
  host: sticky
  trafficPolicy: { loadBalancer: { consistentHash: { httpHeaderName: x-user } } }
---
${slice(c, ["echo-a", "echo-b"])}`,
    );
    await until(
      "sticky answers",
      async () => ((await load(c, { vip: VIP.sticky, path: "/", count: 1, concurrency: 1 })).statuses["200"] ? true : undefined),
      30_000,
    );
    const same = await load(c, { vip: VIP.sticky, path: "/one", count: 1000, concurrency: 4, keys: 1 });
    assert.equal(same.statuses["200"], 1000, JSON.stringify(same.statuses));
    assert.equal(Object.keys(same.pods).length, 1, `one key, one pod: ${JSON.stringify(same.pods)}`);

    const before = await load(c, { vip: VIP.sticky, path: "/keys", count: 300, concurrency: 4, keys: 300 });
    for (const [k, pods] of Object.entries(before.keyPods)) assert.equal(pods.length, 1, `${k}: ${pods.join(",")}`);
    await applyText(c, "sticky-slice", slice(c, ["echo-a", "echo-b", "echo-c"]));
    await until(
      "pod c joined sticky",
      async () =>
        (await load(c, { vip: VIP.sticky, path: "/probe", count: 60, concurrency: 4, keys: 60 })).pods["echo-c"] ? true : undefined,
      30_000,
    );
    // c's 503s still carry its JSON body, so every answer names the pod that served it.
    const afterKeys = await load(c, { vip: VIP.sticky, path: "/keys", count: 300, concurrency: 4, keys: 300 });
    let moved = 0;
    let ontoC = 0;
    let compared = 0;
    for (const [k, [was]] of Object.entries(before.keyPods)) {
      const now = afterKeys.keyPods[k]?.[0];
      if (!was || !now) continue;
      compared++;
      if (now !== was) moved++;
      if (now !== was && now === "echo-c") ontoC++;
    }
    assert.ok(compared >= 200, `compared ${compared} keys`);
    // Envoy's ring gives each host ring_size/hosts points, so the old hosts lose some points too:
    // a few keys move between a and b; most of the moved ones go to the new endpoint.
    const what = `moved ${moved}/${compared} keys, ${ontoC} onto echo-c`;
    assert.ok(moved / compared > 0.15 && moved / compared < 0.5, `${what} (about 1/3 expected)`);
    assert.ok(ontoC >= 0.7 * moved, what);
    console.log(`consistent hash: ${what}`);
  });
});
