/**
 * End to end, `weft dashboard` on a live two-node local cluster, in a real browser:
 * - the dashboard and Debian's Chromium run inside a network namespace of their own that has
 *   only loopback (nothing they do can leave the machine; the dashboard reaches the cluster's
 *   components the way the other inspection verbs do, `ip netns exec ... curl`);
 * - traffic after the dashboard started: calls from mesh/client to the echo Service, then calls
 *   denied by an AuthorizationPolicy;
 * - the page (driven by playwright-core with Debian's Chromium) draws client -> echo service ->
 *   local/remote with mTLS edges and the denies; a click on a node shows its identity,
 *   certificate expiry and the policy; a screenshot is kept in test-artifacts/dashboard.png;
 * - the same graph from Debian's Prometheus (scraping both ztunnels from the cluster's underlay)
 *   with --prometheus.
 * Root only; about 60 s.
 */
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { chromium } from "playwright-core";
import { labelNamespace } from "../../src/local/cluster.js";
import { makePlan } from "../../src/local/plan.js";
import { call, down, enrolled, planFor, sh, startCluster, until, ztunnelMetrics } from "./harness.js";

const root = process.getuid?.() === 0;
const work = mkdtempSync(path.join(tmpdir(), "weft-e2e-dash-"));
const cluster = `d${process.pid % 100000}`;
const DASH_PREFIX = "wefttest-dash-";
const dashNs = `${DASH_PREFIX}${cluster}`;
const MAIN = path.join(__dirname, "..", "..", "src", "cli", "main.js");
const ARTIFACTS = process.env.WEFT_TEST_ARTIFACTS ?? path.join(__dirname, "..", "..", "..", "test-artifacts");
const CHROMIUM = "/usr/bin/chromium";
const procs: ChildProcess[] = [];

after(async () => {
  if (!root) return;
  for (const p of procs) p.kill("SIGKILL");
  await sh("ip", ["netns", "del", dashNs]);
  await down(path.join(work, "state"), planFor(cluster));
  rmSync(work, { recursive: true, force: true });
});

interface Edge {
  from: string;
  to: string;
  security: string;
  connectionsPerSecond: number;
  denies: number;
}
interface Snap {
  source: string;
  problems: string[];
  graph: { nodes: { id: string }[]; edges: Edge[] };
}

/** GET from inside the dashboard's namespace. */
async function getIn(ns: string, url: string): Promise<string | undefined> {
  const r = await sh("ip", ["netns", "exec", ns, "curl", "-sS", "--fail", "--max-time", "3", url]);
  return r.code === 0 ? r.stdout : undefined;
}

async function graphOf(port: number): Promise<Snap | undefined> {
  const body = await getIn(dashNs, `http://127.0.0.1:${port}/api/graph`);
  return body ? (JSON.parse(body) as Snap) : undefined;
}

const CLIENT = "wl:mesh/client";
const SVC = "svc:echo.mesh.svc.cluster.local";

function run(cmd: string, args: string[], name: string): ChildProcess {
  const p = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  p.stdout!.on("data", (d: Buffer) => (out += d.toString()));
  p.stderr!.on("data", (d: Buffer) => (out += d.toString()));
  p.on("exit", (code) => {
    if (code !== null && code !== 0) console.error(`${name} exited ${code}:\n${out.slice(-2000)}`);
  });
  procs.push(p);
  return p;
}

test("e2e dashboard: the live graph in headless Chromium, from scrapes and from Prometheus", { timeout: 300_000 }, async (t) => {
  if (!root) {
    console.warn("!! SKIPPED e2e dashboard: needs root (network namespaces, eBPF)");
    t.skip("needs root: network namespaces, eBPF");
    return;
  }
  if (!existsSync(CHROMIUM) || !existsSync("/usr/bin/prometheus")) {
    assert.fail("Debian's chromium and prometheus packages are needed (scripts/setup.sh installs them)");
  }
  // A namespace left by a crashed run of this test is removed first.
  const stale = await sh("ip", ["netns", "list"]);
  for (const line of stale.stdout.split("\n")) {
    const name = line.split(" ")[0] ?? "";
    if (name.startsWith(DASH_PREFIX)) await sh("ip", ["netns", "del", name]);
  }
  assert.equal((await sh("ip", ["netns", "add", dashNs])).code, 0);
  assert.equal((await sh("ip", ["-n", dashNs, "link", "set", "lo", "up"])).code, 0);

  const c = await startCluster(work, cluster, "ebpf");
  const plan = makePlan(c.plan);
  assert.ok(plan.ok);
  assert.ok((await labelNamespace(c.dir, "mesh", ["istio.io/dataplane-mode=ambient"])).ok);
  await until(
    "mesh pods enrolled",
    async () => ([...(await enrolled(c))].filter(([k, v]) => k.startsWith("mesh/") && v).length === 3 ? true : undefined),
    30_000,
  );
  const vip = "http://198.19.207.10/";
  await until("mesh call served", async () => ((await call(c, "mesh", vip, "warm-up")).ok ? true : undefined), 20_000);

  // Prometheus in the underlay, scraping both ztunnels every second.
  const promDir = path.join(work, "prometheus");
  mkdirSync(promDir);
  const promAddr = `${plan.value.controlPlaneIp}:9090`;
  writeFileSync(
    path.join(promDir, "prometheus.yml"),
    `global: { scrape_interval: 1s, evaluation_interval: 1s }
scrape_configs:
  - job_name: ztunnel
    static_configs: [{ targets: [${c.state.nodes.map((n) => `"${n.ip}:15020"`).join(", ")}] }]
`,
  );
  run(
    "ip",
    [
      "netns",
      "exec",
      plan.value.underlayNetns,
      "/usr/bin/prometheus",
      `--config.file=${path.join(promDir, "prometheus.yml")}`,
      `--storage.tsdb.path=${path.join(promDir, "data")}`,
      `--web.listen-address=${promAddr}`,
      "--log.level=warn",
    ],
    "prometheus",
  );

  const dashboard = (port: number, extra: string[]) =>
    run(
      "ip",
      [
        "netns",
        "exec",
        dashNs,
        process.execPath,
        MAIN,
        "dashboard",
        "--dir",
        c.dir,
        "--listen",
        `127.0.0.1:${port}`,
        "--interval",
        "1",
        ...extra,
      ],
      `dashboard ${port}`,
    );
  dashboard(20001, []);
  dashboard(20002, ["--prometheus", `http://${promAddr}`, "--prometheus-netns", plan.value.underlayNetns]);
  await until("dashboards up", async () => ((await graphOf(20001)) && (await graphOf(20002)) ? true : undefined), 30_000);
  await until("prometheus has scraped both ztunnels", async () => {
    const r = await sh("ip", ["netns", "exec", plan.value.underlayNetns, "curl", "-sS", `http://${promAddr}/api/v1/query?query=up`]);
    return (r.stdout.match(/"value":\[[0-9.]+,"1"\]/g) ?? []).length === 2 ? true : undefined;
  });

  for (let i = 0; i < 20; i++) assert.ok((await call(c, "mesh", vip, `call-${i}`)).ok, `call ${i}`);
  writeFileSync(
    path.join(c.dir, "config", "dash-deny.yaml"),
    `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: deny-client, namespace: mesh }
spec:
  action: DENY
  rules: [{ from: [{ source: { principals: ["cluster.local/ns/mesh/sa/client"] } }] }]
`,
  );
  await until("calls denied", async () => ((await call(c, "mesh", vip, "denied?", 2)).ok ? undefined : true), 20_000);
  for (let i = 0; i < 4; i++) await call(c, "mesh", vip, `denied-${i}`, 2);

  const seen = new Map<number, Snap>();
  const wantGraph = (s: Snap | undefined, port: number) => {
    if (s) seen.set(port, s);
    const toSvc = s?.graph.edges.find((e) => e.from === CLIENT && e.to === SVC);
    const fromSvc = s?.graph.edges.filter((e) => e.from === SVC).map((e) => e.to);
    return toSvc &&
      toSvc.denies > 0 &&
      toSvc.connectionsPerSecond > 0 &&
      fromSvc?.includes("wl:mesh/local") &&
      fromSvc.includes("wl:mesh/remote")
      ? { s: s!, toSvc }
      : undefined;
  };

  await t.test("scrape mode: client -> echo service -> both pods, mTLS, denies counted", async () => {
    const { s, toSvc } = await until("graph from scrapes", async () => wantGraph(await graphOf(20001), 20001), 30_000).catch(
      async (e: Error) => {
        const m = (await ztunnelMetrics(c, 0)).split("\n").filter((l) => l.startsWith("istio_tcp_connections_opened"));
        throw new Error(`${e.message}; last graph: ${JSON.stringify(seen.get(20001))}; node-0 metrics: ${m.join("\n")}`);
      },
    );
    assert.match(s.source, /scraping 2 metrics endpoint/);
    assert.equal(toSvc.security, "mutual_tls");
    assert.ok(
      s.graph.nodes.some((n) => n.id === "wl:plain/client"),
      "idle workloads are nodes too (from the inventory)",
    );
  });

  await t.test("headless Chromium: the page draws the graph, a click shows identity, certificate and policies", async () => {
    const wrapper = path.join(work, "chromium-in-netns");
    writeFileSync(wrapper, `#!/bin/sh\nexec ip netns exec ${dashNs} ${CHROMIUM} "$@"\n`);
    chmodSync(wrapper, 0o755);
    const browser = await chromium.launch({
      executablePath: wrapper,
      args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking", "--disable-component-update"],
      timeout: 60_000,
    });
    try {
      const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
      await page.goto("http://127.0.0.1:20001/");
      await page.waitForSelector(`g.edge[data-from="${CLIENT}"][data-to="${SVC}"][data-security="mutual_tls"]`, {
        state: "attached",
        timeout: 20_000,
      });
      for (const id of [CLIENT, SVC, "wl:mesh/local", "wl:mesh/remote"])
        assert.equal(await page.locator(`g.node[data-node="${id}"]`).count(), 1, id);
      assert.match((await page.locator(`g.edge[data-from="${CLIENT}"] text`).first().textContent()) ?? "", /denied/);
      await page.locator(`g.node[data-node="wl:mesh/remote"]`).click();
      const details = (await page.locator("#details").textContent()) ?? "";
      assert.match(details, /spiffe:\/\/cluster\.local\/ns\/mesh\/sa\/remote/);
      assert.match(details, /certificate expires\s*20\d\d-/);
      assert.match(details, /mesh\/deny-client \(Deny/i);
      mkdirSync(ARTIFACTS, { recursive: true });
      const shot = path.join(ARTIFACTS, "dashboard.png");
      await page.screenshot({ path: shot, fullPage: true });
      assert.ok(statSync(shot).size > 10_000, "screenshot written");
      console.log(`dashboard screenshot: ${shot}`);
    } finally {
      await browser.close();
    }
  });
  await t.test("prometheus mode: the same edges from Debian's Prometheus", async () => {
    const { s, toSvc } = await until("graph from prometheus", async () => wantGraph(await graphOf(20002), 20002), 60_000).catch(
      (e: Error) => {
        throw new Error(`${e.message}; last graph: ${JSON.stringify(seen.get(20002))}`);
      },
    );
    assert.match(s.source, /^Prometheus at /);
    assert.equal(toSvc.security, "mutual_tls");
  });
});
