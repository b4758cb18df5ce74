/**
 * Waypoints end to end on a two-node `weft local` cluster (test names and addresses, see
 * harness.ts): namespace `wp` in the mesh with echo pods v1 (node-0) and v2 (node-1), a mirror
 * pod and a client (node-1); a service waypoint `waypoint` and a workload waypoint `wl-waypoint`
 * (Gateways of class istio-waypoint: weft local runs their pods); namespace `consumer` with its
 * own client. The echo backend (`weft local echo`) answers with JSON naming its pod and what it
 * saw (path, headers, and `remote`: the source address, a waypoint's own IP when the request
 * came through it, since the destination ztunnel believes only the waypoint's identity).
 *
 * Covers: use-waypoint on service, namespace and pod, `none`, a missing waypoint reported by the
 * control plane; HTTPRoute header/path/method/query matches, redirect, rewrite, mirroring,
 * request and response header modifiers, a 90/10 split within 4 standard deviations of
 * Binomial(400, 0.1); consumer vs producer routes; the VirtualService + DestinationRule form;
 * an invalid route rejected with its object and field named while the previous route keeps
 * routing; the destination ztunnel sees the waypoint's identity; an L7 AuthorizationPolicy and a
 * RequestAuthentication targeting the waypoint (403/401: a JWT-required route with valid,
 * tampered, expired, wrong-issuer and missing tokens; a DENY winning over a matching ALLOW; a
 * policy change applied to an open keep-alive connection's next request); no access log until a
 * Telemetry enables it (then Istio's TEXT line per request). Root only; ~2 minutes. The
 * cluster's logs are kept in $TMPDIR/weft-e2e-waypoint-logs.
 */
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { labelNamespace, labelObject, up } from "../../src/local/cluster.js";
import { apply, remove } from "../../src/local/apply.js";
import type { ManifestFile } from "../../src/local/manifests.js";
import { SignJWT, exportJWK, generateKeyPair } from "jose";
import {
  type Cluster,
  curlFrom,
  planFor,
  podIp,
  podNetns,
  sh,
  until,
  downKeepingLogs,
  podYaml,
  waypointClusterRunnable,
} from "./harness.js";

const root = process.getuid?.() === 0;
const work = mkdtempSync(path.join(tmpdir(), "weft-e2e-wp-"));
const cluster = `w${process.pid % 100000}`;
const stateDir = path.join(work, "state");
const MAIN = path.join(__dirname, "..", "..", "src", "cli", "main.js");
const VIP = { echo: "198.19.207.40", v1: "198.19.207.41", v2: "198.19.207.42", mirror: "198.19.207.43" };

// The cluster's logs outlive the run (a failure is read there); everything else is removed.
const KEEP_LOGS = path.join(tmpdir(), "weft-e2e-waypoint-logs");

after(async () => {
  if (root) await downKeepingLogs(stateDir, cluster, KEEP_LOGS, work);
});

const pod = podYaml;
const echo = (svc: string) => `["weft", "local", "echo", "--port", "8080", "--service", "${svc}"]`;
const service = (name: string, vip: string, selector: string) => `apiVersion: v1
kind: Service
metadata: { name: ${name}, namespace: wp }
spec: { clusterIP: ${vip}, selector: { ${selector} }, ports: [{ name: http, port: 80, targetPort: 8080 }] }
---
`;
const gateway = (name: string, node: string, forWhat: string) => `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: ${name}, namespace: wp, labels: { istio.io/waypoint-for: ${forWhat} }, annotations: { local.weft.io/node-name: ${node} } }
spec: { gatewayClassName: istio-waypoint, listeners: [{ name: mesh, port: 15008, protocol: HBONE }] }
---
`;

const APP = `apiVersion: v1
kind: Namespace
metadata: { name: wp, labels: { istio.io/dataplane-mode: ambient } }
---
apiVersion: v1
kind: Namespace
metadata: { name: consumer, labels: { istio.io/dataplane-mode: ambient } }
---
${pod("wp", "echo-v1", "node-0", "app: echo, version: v1", echo("echo"))}${pod("wp", "echo-v2", "node-1", "app: echo, version: v2", echo("echo"))}${pod("wp", "mirror", "node-0", "app: mirror", echo("mirror"))}${pod("wp", "client", "node-1", "app: client", '["sleep", "infinity"]')}${pod("consumer", "client", "node-1", "app: client", '["sleep", "infinity"]')}${service("echo", VIP.echo, "app: echo")}${service("echo-v1", VIP.v1, "app: echo, version: v1")}${service("echo-v2", VIP.v2, "app: echo, version: v2")}${service("mirror", VIP.mirror, "app: mirror")}${gateway("waypoint", "node-0", "service")}${gateway("wl-waypoint", "node-1", "workload")}`;

interface Answer {
  status: number;
  headers: Record<string, string>;
  body: { pod?: string; path?: string; host?: string; remote?: string; headers?: Record<string, string>; proto?: string };
  raw: string;
}

/** curl from a client pod; `-i` output split into status, headers and the echo's JSON. */
async function curl(c: Cluster, ns: string, url: string, args: readonly string[] = []): Promise<Answer> {
  const r = await curlFrom(c, ns, "client", url, args);
  let body = {};
  try {
    body = JSON.parse(r.body) as Answer["body"];
  } catch {
    /* not the echo's JSON (a redirect, an error) */
  }
  return { status: r.status, headers: r.headers, body, raw: r.body };
}

const COUNT = `"use strict";
// N requests on one keep-alive connection; prints {pod: count}.
const http = require("node:http");
const [host, n, ...hv] = process.argv.slice(2);
const headers = Object.fromEntries(hv.map((h) => h.split(/:\\s*/)));
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
const one = () => new Promise((res) => {
  const r = http.get({ host, port: 80, path: "/", headers, agent, timeout: 5000 }, (resp) => {
    let s = ""; resp.on("data", (d) => (s += d)); resp.on("end", () => { try { res(JSON.parse(s).pod); } catch { res("status-" + resp.statusCode); } });
  });
  r.on("timeout", () => r.destroy(new Error("timeout"))); r.on("error", (e) => res("error-" + (e.code || e.message)));
});
(async () => { const c = {}; for (let i = 0; i < Number(n); i++) { const k = await one(); c[k] = (c[k] || 0) + 1; } agent.destroy(); console.log(JSON.stringify(c)); })();
`;

const KEEP = `"use strict";
// Two requests on one keep-alive connection, the second once the file argv[4] exists; prints statuses and reuse.
const http = require("node:http");
const fs = require("node:fs");
const [host, reqPath, firstFile, goFile] = process.argv.slice(2);
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
const one = () => new Promise((res) => {
  const r = http.get({ host, port: 80, path: reqPath, agent, timeout: 5000 }, (resp) => { resp.resume(); resp.on("end", () => res({ status: resp.statusCode, reused: r.reusedSocket })); });
  r.on("timeout", () => r.destroy(new Error("timeout"))); r.on("error", (e) => res({ status: "error-" + (e.code || e.message) }));
});
(async () => {
  const first = await one();
  fs.writeFileSync(firstFile, JSON.stringify(first));
  for (let i = 0; i < 600 && !fs.existsSync(goFile); i++) await new Promise((r) => setTimeout(r, 100));
  const second = await one();
  agent.destroy();
  console.log(JSON.stringify({ first, second }));
})();
`;

async function countByPod(c: Cluster, vip: string, n: number, headers: readonly string[] = []): Promise<Record<string, number>> {
  const r = await sh(
    "ip",
    ["netns", "exec", podNetns(c, "wp", "client"), "node", path.join(work, "count.js"), vip, String(n), ...headers],
    120_000,
  );
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as Record<string, number>;
}

function yamlFile(name: string, text: string): ManifestFile {
  const file = path.join(work, "yaml", name);
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, text);
  return { path: file, text };
}

async function applyYaml(c: Cluster, name: string, text: string): Promise<void> {
  const r = await apply(c.dir, [yamlFile(name, text)]);
  assert.ok(r.ok, !r.ok ? r.error.message : "");
}

async function configDump(c: Cluster): Promise<string> {
  const underlay = `${c.plan.prefix}${c.plan.cluster}-underlay`;
  const r = await sh("ip", ["netns", "exec", underlay, "curl", "-sS", "--max-time", "3", "http://198.19.200.1:15014/debug/config_dump"]);
  return r.stdout;
}

const cpLog = (c: Cluster): string => readFileSync(path.join(c.dir, "logs", "controlplane.log"), "utf8");
const waypointIp = (c: Cluster, name: string): string =>
  c.state.pods.find((p) => p.namespace === "wp" && p.name.startsWith(`${name}-`) && p.name.length === name.length + 6)!.ip;

/** Polls until `f` returns true (route changes take a push to arrive). */
async function eventually(what: string, f: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  await until(what, async () => ((await f()) ? true : undefined), timeoutMs);
}

const ROUTES = `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: echo, namespace: wp }
spec:
  parentRefs: [{ group: "", kind: Service, name: echo, port: 80 }]
  rules:
    - matches: [{ headers: [{ name: x-route, value: v2 }] }, { path: { type: PathPrefix, value: /v2 } }, { method: DELETE }, { queryParams: [{ name: ver, value: "2" }] }]
      backendRefs: [{ name: echo-v2, port: 80 }]
    - matches: [{ path: { type: Exact, value: /old } }]
      filters: [{ type: RequestRedirect, requestRedirect: { path: { type: ReplaceFullPath, replaceFullPath: /new }, statusCode: 301 } }]
    - matches: [{ path: { type: PathPrefix, value: /rewrite } }]
      filters: [{ type: URLRewrite, urlRewrite: { hostname: rewritten.example, path: { type: ReplacePrefixMatch, replacePrefixMatch: /re } } }]
      backendRefs: [{ name: echo-v1, port: 80 }]
    - matches: [{ path: { type: PathPrefix, value: /mirror } }]
      filters: [{ type: RequestMirror, requestMirror: { backendRef: { name: mirror, port: 80 } } }]
      backendRefs: [{ name: echo-v1, port: 80 }]
    - matches: [{ path: { type: PathPrefix, value: /headers } }]
      filters:
        - type: RequestHeaderModifier
          requestHeaderModifier: { add: [{ name: x-added, value: by-waypoint }], set: [{ name: x-set, value: fixed }], remove: [x-remove-me] }
        - type: ResponseHeaderModifier
          responseHeaderModifier: { set: [{ name: x-resp, value: from-route }] }
      backendRefs: [{ name: echo-v1, port: 80 }]
    - backendRefs: [{ name: echo-v1, port: 80 }]
`;

/** Access logging mesh-wide with Istio's built-in provider (Istio's docs: "Telemetry API" access logging). */
const TELEMETRY = `apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: { name: mesh-default, namespace: istio-system }
spec:
  accessLogging: [{ providers: [{ name: envoy }] }]
`;

const SPLIT = `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: echo, namespace: wp }
spec:
  parentRefs: [{ group: "", kind: Service, name: echo, port: 80 }]
  rules:
    - backendRefs: [{ name: echo-v1, port: 80, weight: 90 }, { name: echo-v2, port: 80, weight: 10 }]
`;

test("e2e waypoint: attachment, Gateway API and Istio routing, reports, identity", { timeout: 600_000 }, async (t) => {
  if (!waypointClusterRunnable(t, "e2e waypoint")) return;
  mkdirSync(path.join(work, "app"), { recursive: true });
  writeFileSync(path.join(work, "count.js"), COUNT);
  writeFileSync(path.join(work, "keep.js"), KEEP);
  const files = [yamlFile("app/app.yaml", APP)];
  const r = await up({ dir: stateDir, plan: planFor(cluster), backend: "ebpf", files, readyTimeoutMs: 60_000 });
  assert.ok(r.ok, !r.ok ? r.error.message : "");
  const c: Cluster = { dir: stateDir, plan: planFor(cluster), state: r.value };
  const client = podIp(c, "wp", "client");
  const wp = waypointIp(c, "waypoint");
  const wlwp = waypointIp(c, "wl-waypoint");
  assert.deepEqual(
    r.value.waypoints?.map((w) => w.gateway),
    ["wp/waypoint", "wp/wl-waypoint"],
  );
  await eventually("echo answers", async () => (await curl(c, "wp", `http://${VIP.echo}/`)).status === 200, 30_000);

  const via = async (url: string, args: readonly string[] = []) => (await curl(c, "wp", url, args)).body.remote;

  await t.test("without use-waypoint: L4 only, the backend sees the client", async () => {
    assert.equal(await via(`http://${VIP.echo}/`), client);
  });

  await t.test("use-waypoint on a service: that service goes through the waypoint, others do not", async () => {
    assert.ok((await labelObject(c.dir, "service", "wp/echo", ["istio.io/use-waypoint=waypoint"])).ok);
    await eventually("echo via waypoint", async () => (await via(`http://${VIP.echo}/`)) === wp);
    assert.equal(await via(`http://${VIP.v1}/`), client);
  });

  await t.test("access log: none by default (Istio's); a Telemetry naming the envoy provider makes the waypoint log", async () => {
    const pod = c.state.pods.find((p) => p.namespace === "wp" && p.name.startsWith("waypoint-") && p.name.length === 14)!;
    const log = path.join(c.dir, "logs", `pod-wp-${pod.name}-istio-proxy.log`);
    const quiet = `/quiet/${Date.now()}`;
    assert.equal((await curl(c, "wp", `http://${VIP.echo}${quiet}`)).status, 200);
    await new Promise((r) => setTimeout(r, 1500)); // past the access log's 1 s flush
    assert.ok(!readFileSync(log, "utf8").includes(quiet), "no access line without a Telemetry");
    await applyYaml(c, "telemetry.yaml", TELEMETRY);
    const tag = `/logged/${Date.now()}`;
    // Istio's default TEXT line: [start] "GET path HTTP/1.1" 200 - via_upstream ...
    await eventually("the waypoint logs the request", async () => {
      await curl(c, "wp", `http://${VIP.echo}${tag}`);
      return readFileSync(log, "utf8").includes(`"GET ${tag} HTTP/1.1" 200 - via_upstream`);
    });
  });

  await t.test("use-waypoint on the namespace: every service; `none` on a service opts it out", async () => {
    assert.ok((await labelObject(c.dir, "service", "wp/echo", ["istio.io/use-waypoint-"])).ok);
    assert.ok((await labelNamespace(c.dir, "wp", ["istio.io/dataplane-mode=ambient", "istio.io/use-waypoint=waypoint"])).ok);
    await eventually("echo-v1 via waypoint", async () => (await via(`http://${VIP.v1}/`)) === wp);
    assert.equal(await via(`http://${VIP.echo}/`), wp);
    assert.ok((await labelObject(c.dir, "service", "wp/echo-v1", ["istio.io/use-waypoint=none"])).ok);
    await eventually("echo-v1 direct", async () => (await via(`http://${VIP.v1}/`)) === client);
    assert.equal(await via(`http://${VIP.echo}/`), wp, "the namespace's other services still use it");
    assert.ok((await labelObject(c.dir, "service", "wp/echo-v1", ["istio.io/use-waypoint-"])).ok);
  });

  await t.test("use-waypoint on a pod: a workload waypoint for calls to the pod's address, not for its services", async () => {
    const podUrl = `http://${podIp(c, "wp", "echo-v2")}:8080/direct`;
    try {
      assert.equal(await via(podUrl), client, "direct before the label");
      assert.ok((await labelObject(c.dir, "pod", "wp/echo-v2", ["istio.io/use-waypoint=wl-waypoint"])).ok);
      await eventually("pod via workload waypoint", async () => (await via(podUrl)) === wlwp);
      const a = await curl(c, "wp", podUrl);
      assert.equal(a.body.pod, "echo-v2");
      assert.equal(a.body.path, "/direct");
      assert.ok(a.body.headers?.["x-request-id"], "the waypoint processed the request at L7");
      // Service-addressed traffic to the same pod does not take its workload waypoint (Istio): the
      // namespace's service waypoint (still labelled from the previous subtest) takes it.
      assert.equal(await via(`http://${VIP.v2}/`), wp, "echo-v2's service goes through the service waypoint");
      // The waypoint-for: workload waypoint never takes service traffic, even when a service names it.
      assert.ok((await labelObject(c.dir, "service", "wp/echo-v1", ["istio.io/use-waypoint=wl-waypoint"])).ok);
      await eventually("reported", async () => /wl-waypoint is for workload traffic/.test(cpLog(c)));
      assert.equal(await via(`http://${VIP.v1}/`), client, "a label that binds nothing means no waypoint (no fallback to the namespace's)");
    } finally {
      assert.ok((await labelObject(c.dir, "service", "wp/echo-v1", ["istio.io/use-waypoint-"])).ok);
      assert.ok((await labelObject(c.dir, "pod", "wp/echo-v2", ["istio.io/use-waypoint-"])).ok);
    }
    await eventually("pod direct again", async () => (await via(podUrl)) === client);
  });

  await t.test("a use-waypoint label naming no waypoint is reported by the control plane", async () => {
    assert.ok((await labelObject(c.dir, "service", "wp/mirror", ["istio.io/use-waypoint=missing"])).ok);
    await eventually("warning in the control plane's log", async () =>
      /missing/.test(
        cpLog(c)
          .split("\n")
          .filter((l) => l.includes("wp/mirror") || l.includes("mirror.wp"))
          .join("\n"),
      ),
    );
    assert.match(await configDump(c), /missing/);
    assert.ok((await labelObject(c.dir, "service", "wp/mirror", ["istio.io/use-waypoint-"])).ok);
  });

  await t.test("HTTPRoute matches: header, path, method, query; the rest to v1", async () => {
    await applyYaml(c, "routes.yaml", ROUTES);
    // Only these routes answer /old with a redirect: a header check alone could pass by chance
    // under the previous config (the service's default route balances over v1 and v2).
    await eventually("route applied", async () => (await curl(c, "wp", `http://${VIP.echo}/old`)).status === 301);
    for (let i = 0; i < 4; i++) assert.equal((await curl(c, "wp", `http://${VIP.echo}/plain`)).body.pod, "echo-v1");
    assert.equal((await curl(c, "wp", `http://${VIP.echo}/v2/x`)).body.pod, "echo-v2", "path prefix");
    assert.equal((await curl(c, "wp", `http://${VIP.echo}/v2x`)).body.pod, "echo-v1", "PathPrefix matches whole segments");
    assert.equal((await curl(c, "wp", `http://${VIP.echo}/`, ["-X", "DELETE"])).body.pod, "echo-v2", "method");
    assert.equal((await curl(c, "wp", `http://${VIP.echo}/?ver=2`)).body.pod, "echo-v2", "query param");
    assert.equal((await curl(c, "wp", `http://${VIP.echo}/?ver=3`)).body.pod, "echo-v1");
  });

  await t.test("redirect, rewrite, header modifiers", async () => {
    const red = await curl(c, "wp", `http://${VIP.echo}/old`);
    assert.equal(red.status, 301);
    assert.match(red.headers.location ?? "", /\/new$/);
    const rw = await curl(c, "wp", `http://${VIP.echo}/rewrite/page`);
    assert.deepEqual([rw.body.pod, rw.body.path, rw.body.host], ["echo-v1", "/re/page", "rewritten.example"]);
    const h = await curl(c, "wp", `http://${VIP.echo}/headers`, ["-H", "x-remove-me: 1", "-H", "x-set: client"]);
    assert.equal(h.body.headers?.["x-added"], "by-waypoint");
    assert.equal(h.body.headers?.["x-set"], "fixed");
    assert.equal(h.body.headers?.["x-remove-me"], undefined);
    assert.equal(h.headers["x-resp"], "from-route");
    assert.equal(h.body.headers?.["x-forwarded-proto"], "http", "the waypoint adds x-forwarded-proto");
    assert.ok(h.body.headers?.["x-request-id"], "and x-request-id");
  });

  await t.test("request mirroring: the mirror sees the request, the client gets the primary's answer", async () => {
    const tag = `/mirror/${Date.now()}`;
    const m = await curl(c, "wp", `http://${VIP.echo}${tag}`);
    assert.equal(m.body.pod, "echo-v1");
    const log = path.join(c.dir, "logs", "pod-wp-mirror-c.log");
    await eventually("mirror got it", async () => readFileSync(log, "utf8").includes(tag), 10_000);
  });

  await t.test("the destination ztunnel sees the waypoint's identity", async () => {
    const n = c.state.nodes[0]!;
    const m = await sh("ip", ["netns", "exec", n.netns, "curl", "-sS", "--max-time", "3", `http://${n.ip}:15020/metrics`]);
    const lines = m.stdout
      .split("\n")
      .filter((l) => l.startsWith("istio_tcp_connections_opened_total") && l.includes('reporter="destination"'));
    assert.ok(
      lines.some(
        (l) => l.includes('source_principal="spiffe://cluster.local/ns/wp/sa/waypoint"') && l.includes('destination_workload="echo-v1"'),
      ),
      lines.join("\n"),
    );
  });

  await t.test("an invalid route is rejected naming object and field; the previous route keeps routing", async () => {
    await applyYaml(c, "routes.yaml", ROUTES.replace("{ name: x-route, value: v2 }", "{ name: x-route, value: v2, type: Bogus }"));
    await eventually("invalid route reported", async () => {
      const dump = await configDump(c);
      return /HTTPRoute[^"]*wp\/echo/.test(dump) && /matches\[0\]\.headers\[0\]\.type/.test(dump);
    });
    assert.match(cpLog(c), /HTTPRoute wp\/echo.*spec\.rules\[0\]\.matches\[0\]\.headers\[0\]\.type.*previous version stays in force/);
    for (let i = 0; i < 3; i++) assert.equal((await curl(c, "wp", `http://${VIP.echo}/`, ["-H", "x-route: v2"])).body.pod, "echo-v2");
  });

  await t.test("90/10 split: v2's share of 400 requests within 4 sd of Binomial(400, 0.1)", async () => {
    await applyYaml(c, "routes.yaml", SPLIT);
    await eventually("header route gone", async () => {
      const k = await countByPod(c, VIP.echo, 20, ["x-route: v2"]);
      return (k["echo-v1"] ?? 0) > 0;
    });
    const k = await countByPod(c, VIP.echo, 400);
    const v2 = k["echo-v2"] ?? 0;
    assert.equal((k["echo-v1"] ?? 0) + v2, 400, JSON.stringify(k));
    // mean 40, sd sqrt(400 * 0.1 * 0.9) = 6
    assert.ok(Math.abs(v2 - 40) <= 24, `v2 got ${v2} of 400: ${JSON.stringify(k)}`);
  });

  await t.test("consumer route (another namespace) does not apply at the producer's waypoint and is reported", async () => {
    await applyYaml(
      c,
      "consumer.yaml",
      `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: to-v2, namespace: consumer }
spec:
  parentRefs: [{ group: "", kind: Service, name: echo, namespace: wp, port: 80 }]
  rules: [{ backendRefs: [{ name: echo-v2, namespace: wp, port: 80 }] }]
`,
    );
    await eventually("consumer route reported", async () => /consumer\/to-v2/.test(await configDump(c)));
    const k = await countByPod(c, VIP.echo, 50);
    assert.ok((k["echo-v1"] ?? 0) > 25, `producer route still applies: ${JSON.stringify(k)}`);
    assert.ok((await remove(c.dir, [yamlFile("consumer.yaml", readFileSync(path.join(work, "yaml", "consumer.yaml"), "utf8"))])).ok);
  });

  await t.test("VirtualService + DestinationRule form: header to subset v2, first match wins", async () => {
    assert.ok((await remove(c.dir, [yamlFile("routes.yaml", SPLIT)])).ok);
    await applyYaml(
      c,
      "vs.yaml",
      `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: echo, namespace: wp }
spec: { host: echo, subsets: [{ name: v1, labels: { version: v1 } }, { name: v2, labels: { version: v2 } }] }
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: echo, namespace: wp }
spec:
  hosts: [echo.wp.svc.cluster.local]
  http:
    - match: [{ headers: { end-user: { exact: jason } } }]
      route: [{ destination: { host: echo, subset: v2 } }]
    - match: [{ uri: { prefix: / } }]
      route: [{ destination: { host: echo, subset: v1 } }]
`,
    );
    await eventually("VirtualService applied", async () => {
      const k = await countByPod(c, VIP.echo, 10, ["end-user: jason"]);
      return k["echo-v2"] === 10;
    });
    const k = await countByPod(c, VIP.echo, 20);
    assert.deepEqual(k, { "echo-v1": 20 });
  });

  await t.test("HTTP/2 prior knowledge through the waypoint; the `http` port's upstream is HTTP/1.1 (Istio)", async () => {
    const a = await curl(c, "wp", `http://${VIP.echo}/h2`, ["--http2-prior-knowledge", "-H", "end-user: jason"]);
    assert.equal(a.status, 200, a.raw);
    assert.equal(a.body.pod, "echo-v2");
    assert.equal(a.body.proto, "HTTP/1.1", "a port named http gets no protocol options: Envoy speaks HTTP/1.1 upstream");
  });
  await t.test("DestinationRule consistentHash (issue 9): each x-user value sticks to one pod", async () => {
    assert.ok((await remove(c.dir, [yamlFile("vs.yaml", readFileSync(path.join(work, "yaml", "vs.yaml"), "utf8"))])).ok);
    await applyYaml(
      c,
      "dr-hash.yaml",
      `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: echo, namespace: wp }
spec: { host: echo, trafficPolicy: { loadBalancer: { consistentHash: { httpHeaderName: x-user } } } }
`,
    );
    // The service's default route again (the VirtualService is gone), now with a header hash.
    await eventually("hash policy applied", async () => {
      const k = await countByPod(c, VIP.echo, 20, ["x-user: probe"]);
      return Object.keys(k).length === 1 && (k["echo-v1"] ?? k["echo-v2"]) === 20;
    });
    const pods = new Set<string>();
    for (let u = 0; u < 8; u++) {
      const k = await countByPod(c, VIP.echo, 15, [`x-user: user-${u}`]);
      assert.equal(Object.keys(k).length, 1, `user-${u} spread: ${JSON.stringify(k)}`);
      pods.add(Object.keys(k)[0]!);
    }
    assert.equal(pods.size, 2, "eight users land on both pods");
  });

  await t.test("L7 AuthorizationPolicy and RequestAuthentication at the waypoint (targetRefs)", async () => {
    const keys = await generateKeyPair("ES256");
    const jwks = JSON.stringify({ keys: [{ ...(await exportJWK(keys.publicKey)), kid: "e2e", alg: "ES256" }] });
    const sign = (iss: string, exp: string | number) =>
      new SignJWT({})
        .setProtectedHeader({ alg: "ES256", kid: "e2e" })
        .setIssuer(iss)
        .setSubject("alice")
        .setExpirationTime(exp)
        .sign(keys.privateKey);
    const token = await sign("https://e2e.weft.test", "10m");
    // Past its exp by more than Envoy's 60 s clock skew.
    const expired = await sign("https://e2e.weft.test", Math.floor(Date.now() / 1000) - 300);
    const wrongIssuer = await sign("https://other.weft.test", "10m");
    const policy = yamlFile(
      "authz.yaml",
      `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: echo-l7, namespace: wp }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: Gateway, name: waypoint }]
  rules:
    - from: [{ source: { principals: [cluster.local/ns/wp/sa/client] } }]
      to: [{ operation: { methods: [GET], paths: ["/allowed*"] } }]
    - from: [{ source: { requestPrincipals: ["https://e2e.weft.test/*"] } }]
      to: [{ operation: { paths: ["/jwt*"] } }]
---
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: { name: echo-jwt, namespace: wp }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: Gateway, name: waypoint }]
  jwtRules: [{ issuer: "https://e2e.weft.test", jwks: '${jwks}' }]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: echo-deny, namespace: wp }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: Gateway, name: waypoint }]
  action: DENY
  rules: [{ when: [{ key: "request.headers[x-deny]", values: ["yes"] }] }]
`,
    );
    const keepDeny = yamlFile(
      "authz-keep.yaml",
      `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: echo-deny-keep, namespace: wp }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: Gateway, name: waypoint }]
  action: DENY
  rules: [{ to: [{ operation: { paths: ["/allowed/keep"] } }] }]
`,
    );
    assert.ok((await apply(c.dir, [policy])).ok);
    try {
      await eventually("policy enforced", async () => (await curl(c, "wp", `http://${VIP.echo}/forbidden`)).status === 403);
      const denied = await curl(c, "wp", `http://${VIP.echo}/forbidden`);
      assert.match(denied.raw, /RBAC: access denied$/);
      assert.equal((await curl(c, "wp", `http://${VIP.echo}/allowed/x`)).status, 200);
      assert.equal((await curl(c, "wp", `http://${VIP.echo}/allowed/x`, ["-X", "POST"])).status, 403, "method");
      assert.equal((await curl(c, "consumer", `http://${VIP.echo}/allowed/x`)).status, 403, "principal");
      const ok = await curl(c, "consumer", `http://${VIP.echo}/jwt/a`, ["-H", `authorization: Bearer ${token}`]);
      assert.equal(ok.status, 200, ok.raw);
      assert.equal(ok.body.headers?.["authorization"], undefined, "the token is not forwarded");
      const bad = await curl(c, "consumer", `http://${VIP.echo}/jwt/a`, ["-H", `authorization: Bearer ${token.slice(0, -4)}AAAA`]);
      assert.equal(bad.status, 401, bad.raw);
      assert.equal((await curl(c, "consumer", `http://${VIP.echo}/jwt/a`)).status, 403, "no token: no requestPrincipal");
      const old = await curl(c, "consumer", `http://${VIP.echo}/jwt/a`, ["-H", `authorization: Bearer ${expired}`]);
      assert.equal(old.status, 401, old.raw);
      assert.match(old.raw, /Jwt is expired$/);
      const other = await curl(c, "consumer", `http://${VIP.echo}/jwt/a`, ["-H", `authorization: Bearer ${wrongIssuer}`]);
      assert.equal(other.status, 401, other.raw);
      assert.match(other.raw, /Jwt issuer is not configured$/);
      // DENY wins over the ALLOW that matches the same request.
      const deny = await curl(c, "wp", `http://${VIP.echo}/allowed/x`, ["-H", "x-deny: yes"]);
      assert.equal(deny.status, 403, deny.raw);
      // `weft authz explain` at L7 finds the service's waypoint itself (no --waypoint) and names the deciding policy.
      const explain = (...a: string[]) => sh(process.execPath, [MAIN, "authz", "explain", "--dir", stateDir, ...a], 20_000);
      const allowed = await explain("-n", "wp", "--from", "client", "--to", `${VIP.echo}:80`, "--path", "/allowed/x");
      assert.equal(allowed.code, 0, allowed.stderr);
      assert.match(
        allowed.stdout,
        new RegExp(
          `^GET /allowed/x from wp/client \\S+ \\(spiffe://cluster\\.local/ns/wp/sa/client\\) to ${VIP.echo}:80, decided by waypoint wp/waypoint \\(pod wp/\\S+\\), serving Service wp/echo\\n`,
        ),
      );
      assert.match(allowed.stdout, /decision: ALLOW: wp\/echo-l7 rule 0/);
      const headerDenied = await explain(
        "-n",
        "wp",
        "--from",
        "client",
        "--to",
        `${VIP.echo}:80`,
        "--path",
        "/allowed/x",
        "--header",
        "x-deny:yes",
      );
      assert.equal(headerDenied.code, 0, headerDenied.stderr);
      assert.match(headerDenied.stdout, /decision: DENY \(403 RBAC: access denied\): wp\/echo-deny rule 0/);
      const noWaypoint = await explain("--from", "wp/client", "--to", "consumer/client:80", "--l7");
      assert.equal(noWaypoint.code, 1);
      assert.match(noWaypoint.stderr, /^weft authz explain: --to: Pod consumer\/client \(\S+\) has no waypoint/);
      // A policy change reaches an open keep-alive connection on its next request.
      const first = path.join(work, "keep-first.json");
      const go = path.join(work, "keep-go");
      const keep = sh(
        "ip",
        ["netns", "exec", podNetns(c, "wp", "client"), "node", path.join(work, "keep.js"), VIP.echo, "/allowed/keep", first, go],
        120_000,
      );
      await eventually("first keep-alive request answered", async () => existsSync(first));
      assert.equal((JSON.parse(readFileSync(first, "utf8")) as { status: number }).status, 200);
      assert.ok((await apply(c.dir, [keepDeny])).ok);
      try {
        await eventually(
          "the new DENY applies to new connections",
          async () => (await curl(c, "wp", `http://${VIP.echo}/allowed/keep`)).status === 403,
        );
        writeFileSync(go, "");
        const r = await keep;
        assert.equal(r.code, 0, r.stderr);
        const out = JSON.parse(r.stdout) as { second: { status: number; reused: boolean } };
        assert.deepEqual(out.second, { status: 403, reused: true }, "the same connection's next request is denied");
      } finally {
        assert.ok((await remove(c.dir, [keepDeny])).ok);
      }
    } finally {
      assert.ok((await remove(c.dir, [policy])).ok);
    }
    await eventually("policy removed", async () => (await curl(c, "wp", `http://${VIP.echo}/forbidden`)).status === 200);
  });
});
