/**
 * Issue 8 benchmark: one L7 hop, side by side in the same run on a real two-node `weft local`
 * cluster (test names and addresses, harness.ts), every client on node-1 and every backend on
 * node-0, the backend an nginx answering 3 bytes (bench/l7/tools.ts):
 *
 *   direct    client -> backend                                       (namespace bp, no mesh)
 *   nginx     client -> nginx (node-1, 1 worker) -> TLS -> backend     (bp)
 *   haproxy   client -> haproxy (node-1, 1 thread) -> TLS -> backend   (bp)
 *   l4        client -> ztunnel -> HBONE -> ztunnel -> backend         (namespace bm, ambient)
 *   waypoint  client -> ztunnel -> waypoint (node-1) -> ztunnel -> backend   (bm, use-waypoint)
 *   waypoint+resilience   the same waypoint, its service `wpr` with retries {attempts 3, retryOn
 *             5xx,reset}, a 10 s timeout, outlierDetection and connectionPool limits (issue 9 item 9)
 *
 * The proxies verify the backend's certificate and keep connections to it; the mesh paths use
 * mutual TLS on every hop. Per path: HTTP/1.1 keep-alive throughput with wrk (1 thread, 32
 * connections), HTTP/2 (h2c prior knowledge) throughput with h2load (4 connections x 16
 * streams), and latency with h2load at concurrency 1 (exact p50/p99 from its per-request log;
 * "added" = path minus direct). Phases alternate the paths in rounds so background load falls on
 * all of them alike. Also: requests per CPU-second of each L7 proxy process, and the waypoint's
 * idle RSS. Targets (benchmark, not test): waypoint >= 0.5x nginx req/s, >= 4000 req/s per core
 * (Istio's published waypoint cost), idle RSS < 60 MB; and what the resilience features cost
 * (waypoint+resilience over waypoint, same run). The waypoint runs with Istio's default, no
 * access log (nginx runs with `access_log off`); its outcome counts come from its own
 * istio_requests_total. Root only; bounded (~2 minutes).
 * BENCH_L7_SECONDS (default 3) sets the length of each throughput measurement.
 */
import { execFile } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { MAIN_JS, up } from "../src/local/cluster.js";
import { readPids } from "../src/local/supervisor.js";
import { METRICS_PORT } from "../src/local/waypoints.js";
import { down, planFor, podNetns, sh, until, type Cluster } from "../test/e2e/harness.js";
import { makeBenchPki } from "./peers/openssl-certs.js";
import { readCpuMs, readRssKb } from "./proc.js";
import {
  PORTS,
  type LoadResult,
  type Row,
  haproxyConf,
  nginxBackendConf,
  nginxProxyConf,
  metricsOutcomes,
  h2loadCounters,
  parseH2load,
  parseH2loadLog,
  parseWrk,
  perCore,
  renderRows,
} from "./l7/tools.js";
import type { LatencySummary } from "./stats.js";

const SECONDS = Number(process.env.BENCH_L7_SECONDS ?? 3);
/** BENCH_L7_PATHS: a comma-separated subset of the path names to measure (nginx is always kept, for the ratios). */
const ONLY = process.env.BENCH_L7_PATHS?.split(",").map((s) => s.trim());
/** BENCH_L7_KEEP_LOGS: a directory the cluster's logs are copied into before it goes down. */
const KEEP_LOGS = process.env.BENCH_L7_KEEP_LOGS;
const LAT_SECONDS = 2;
const ROUNDS = 2;
const VIP = {
  backend: "198.19.207.61",
  nginx: "198.19.207.62",
  haproxy: "198.19.207.63",
  l4: "198.19.207.64",
  wp: "198.19.207.65",
  wpr: "198.19.207.66",
};

interface Path {
  readonly name: string;
  readonly ns: "bp" | "bm";
  readonly vip: string;
  /** Pod and container of the L7 proxy whose CPU is counted (none for direct and l4). */
  readonly proxy?: string;
}

const PATHS: readonly Path[] = [
  { name: "direct", ns: "bp", vip: VIP.backend },
  { name: "nginx", ns: "bp", vip: VIP.nginx, proxy: "pod-bp-nginx-c" },
  { name: "haproxy", ns: "bp", vip: VIP.haproxy, proxy: "pod-bp-haproxy-c" },
  { name: "l4 (ztunnel pair)", ns: "bm", vip: VIP.l4 },
  { name: "waypoint", ns: "bm", vip: VIP.wp, proxy: "waypoint" },
  { name: "waypoint+resilience", ns: "bm", vip: VIP.wpr, proxy: "waypoint" },
];

function manifests(dir: string, withWaypoint: boolean): string {
  const podYaml = (ns: string, name: string, node: string, cmd: string[]) => `apiVersion: v1
kind: Pod
metadata: { name: ${name}, namespace: ${ns}, labels: { app: ${name} } }
spec: { nodeName: ${node}, serviceAccountName: ${name}, containers: [{ name: c, command: ${JSON.stringify(cmd)} }] }
---
`;
  const svc = (ns: string, name: string, vip: string, sel: string, ports: [string, number, number][], labels = "{}") => `apiVersion: v1
kind: Service
metadata: { name: ${name}, namespace: ${ns}, labels: ${labels} }
spec: { clusterIP: ${vip}, selector: { app: ${sel} }, ports: [${ports.map(([n, p, t]) => `{ name: ${n}, port: ${p}, targetPort: ${t} }`).join(", ")}] }
---
`;
  const nginx = (conf: string) => ["nginx", "-c", path.join(dir, conf), "-g", "daemon off;"];
  const l7: [string, number, number][] = [
    ["http", 80, PORTS.proxyH1],
    ["http2", 82, PORTS.proxyH2c],
  ];
  const be: [string, number, number][] = [
    ["http", 80, PORTS.backendH1],
    ["http2", 82, PORTS.backendH2c],
  ];
  return `apiVersion: v1
kind: Namespace
metadata: { name: bp }
---
apiVersion: v1
kind: Namespace
metadata: { name: bm, labels: { istio.io/dataplane-mode: ambient } }
---
${podYaml("bp", "client", "node-1", ["sleep", "infinity"])}${podYaml("bp", "backend", "node-0", nginx("backend-bp.conf"))}${podYaml("bp", "nginx", "node-1", nginx("nginx-proxy.conf"))}${podYaml("bp", "haproxy", "node-1", ["haproxy", "-db", "-f", path.join(dir, "haproxy.cfg")])}${podYaml("bm", "client", "node-1", ["sleep", "infinity"])}${podYaml("bm", "backend", "node-0", nginx("backend-bm.conf"))}${svc("bp", "backend", VIP.backend, "backend", [...be, ["https", 443, PORTS.backendTls]])}${svc("bp", "nginx", VIP.nginx, "nginx", l7)}${svc("bp", "haproxy", VIP.haproxy, "haproxy", l7)}${svc("bm", "l4", VIP.l4, "backend", be)}${svc("bm", "wp", VIP.wp, "backend", be, withWaypoint ? "{ istio.io/use-waypoint: waypoint }" : "{}")}${
    withWaypoint
      ? `${svc("bm", "wpr", VIP.wpr, "backend", be, "{ istio.io/use-waypoint: waypoint }")}${RESILIENCE}apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: waypoint, namespace: bm, annotations: { local.weft.io/node-name: node-1 } }
spec: { gatewayClassName: istio-waypoint, listeners: [{ name: mesh, port: 15008, protocol: HBONE }] }
`
      : ""
  }`;
}

function run(netns: string, cmd: string, args: readonly string[], timeoutMs: number): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile("ip", ["netns", "exec", netns, cmd, ...args], { timeout: timeoutMs, maxBuffer: 64 << 20 }, (e, stdout, stderr) =>
      resolve({ code: e ? 1 : 0, out: `${stdout}${stderr}` }),
    );
  });
}

/** CPU milliseconds of a process and its descendants (nginx's worker is its master's child). */
function cpuTreeMs(pid: number): number {
  let total = readCpuMs(pid) ?? 0;
  try {
    for (const c of readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean))
      total += cpuTreeMs(Number(c));
  } catch {
    /* gone */
  }
  return total;
}

function rssTreeKb(pid: number): number {
  const own = readRssKb(pid);
  let total = own.ok ? own.value : 0;
  try {
    for (const c of readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean))
      total += rssTreeKb(Number(c));
  } catch {
    /* gone */
  }
  return total;
}

/** Whether this build has the waypoint proxy (src/cli/waypoint.ts, loaded by main.ts by path). */
async function weftHasWaypoint(): Promise<boolean> {
  return existsSync(path.join(path.dirname(MAIN_JS), "waypoint.js"));
}

interface Acc {
  h1: LoadResult[];
  h2: LoadResult[];
  h1Lat: string[];
  h2Lat: string[];
  cpuMs: number;
  /** Of cpuMs, the HTTP/1.1 (wrk) phases'. */
  h1CpuMs: number;
  /** CPU of both ztunnels during the throughput phases (mesh paths). */
  ztCpuMs: number;
  /** Of ztCpuMs, the HTTP/1.1 phases'. */
  h1ZtCpuMs: number;
  errors: string[];
}

const sum = (xs: readonly LoadResult[]): LoadResult | undefined =>
  xs.length
    ? {
        requests: xs.reduce((a, x) => a + x.requests, 0),
        perSecond: xs.reduce((a, x) => a + x.perSecond, 0) / xs.length,
        failed: xs.reduce((a, x) => a + x.failed, 0),
      }
    : undefined;

/** The resilience features on the `wpr` service: every request passes their checks, none fires. */
const RESILIENCE = `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: wpr, namespace: bm }
spec:
  host: wpr
  trafficPolicy:
    connectionPool: { tcp: { maxConnections: 10000 }, http: { http1MaxPendingRequests: 10000, http2MaxRequests: 10000, maxRetries: 100 } }
    outlierDetection: { consecutive5xxErrors: 5, interval: 10s, baseEjectionTime: 30s }
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: wpr, namespace: bm }
spec:
  hosts: [wpr]
  http:
    - timeout: 10s
      retries: { attempts: 3, retryOn: "5xx,reset,connect-failure", perTryTimeout: 5s }
      route: [{ destination: { host: wpr } }]
---
`;

async function main(): Promise<number> {
  if (process.getuid?.() !== 0) {
    console.error("!! SKIPPING the waypoint (L7) benchmark: it needs root (network namespaces)");
    return 0;
  }
  for (const tool of ["wrk", "h2load", "nginx", "haproxy"]) {
    if ((await sh("sh", ["-c", `command -v ${tool}`])).code !== 0) {
      console.error(`bench waypoint: ${tool} is missing; run scripts/setup.sh as root (packages wrk nghttp2-client nginx-light haproxy)`);
      return 2;
    }
  }
  const withWaypoint = await weftHasWaypoint();
  const work = mkdtempSync(path.join(tmpdir(), "weft-bench-l7-"));
  const cfg = path.join(work, "cfg");
  mkdirSync(cfg, { recursive: true });
  const cluster = `l${process.pid % 10000}`;
  const plan = planFor(cluster);
  const stateDir = path.join(work, "state");
  const rows: Row[] = [];
  let exit = 0;
  try {
    const pki = makeBenchPki(cfg);
    if (!pki.ok) throw pki.error;
    const upstream = { address: `${VIP.backend}:443`, caCert: pki.value.caCert, serverName: pki.value.serverName };
    writeFileSync(path.join(cfg, "backend-bp.conf"), nginxBackendConf(cfg, "backend-bp", pki.value.server));
    writeFileSync(path.join(cfg, "backend-bm.conf"), nginxBackendConf(cfg, "backend-bm", pki.value.server));
    writeFileSync(path.join(cfg, "nginx-proxy.conf"), nginxProxyConf(cfg, upstream));
    writeFileSync(path.join(cfg, "haproxy.cfg"), haproxyConf(upstream));
    const file = path.join(cfg, "bench.yaml");
    writeFileSync(file, manifests(cfg, withWaypoint));
    const r = await up({
      dir: stateDir,
      plan,
      backend: "ebpf",
      files: [{ path: file, text: readFileSync(file, "utf8") }],
      readyTimeoutMs: 60_000,
    });
    if (!r.ok) throw r.error;
    const c: Cluster = { dir: stateDir, plan, state: r.value };
    const paths = PATHS.filter((p) => (p.name !== "waypoint" || withWaypoint) && (!ONLY || p.name === "nginx" || ONLY.includes(p.name)));
    const pids = await readPids(stateDir);
    const wpPod = r.value.pods.find((p) => p.namespace === "bm" && p.name.startsWith("waypoint-"));
    const pidOf = (p: Path): number | undefined =>
      p.proxy === "waypoint"
        ? wpPod
          ? pids.get(`pod-bm-${wpPod.name}-istio-proxy`)?.pid
          : undefined
        : p.proxy
          ? pids.get(p.proxy)?.pid
          : undefined;
    for (const p of paths) {
      const ok = await until(
        `${p.name} answers`,
        async () =>
          (await run(podNetns(c, p.ns, "client"), "curl", ["-sf", "--max-time", "2", `http://${p.vip}/`], 5000)).code === 0
            ? true
            : undefined,
        30_000,
      ).then(
        () => true,
        () => false,
      );
      if (!ok) console.log(`!! ${p.name}: no answer from http://${p.vip}/ before measuring`);
    }
    await new Promise((res) => setTimeout(res, 2000));
    const ztunnelPids = ["ztunnel-node-0", "ztunnel-node-1"].map((n) => pids.get(n)?.pid).filter((x): x is number => x !== undefined);
    const idleRss = new Map(paths.map((p) => [p.name, pidOf(p) ? rssTreeKb(pidOf(p)!) : undefined]));
    const acc = new Map<string, Acc>(
      paths.map((p) => [p.name, { h1: [], h2: [], h1Lat: [], h2Lat: [], cpuMs: 0, h1CpuMs: 0, ztCpuMs: 0, h1ZtCpuMs: 0, errors: [] }]),
    );
    console.log(
      `waypoint bench: ${paths.map((p) => p.name).join(", ")}; ${ROUNDS} rounds; throughput ${SECONDS} s per path and protocol, latency ${LAT_SECONDS} s at concurrency 1`,
    );
    for (let round = 0; round < ROUNDS; round++) {
      for (const p of paths) {
        const a = acc.get(p.name)!;
        const ns = podNetns(c, p.ns, "client");
        const pid = pidOf(p);
        const cpu0 = pid ? cpuTreeMs(pid) : 0;
        const ztPids = p.ns === "bm" ? ztunnelPids : [];
        const zt0 = ztPids.reduce((t, z) => t + cpuTreeMs(z), 0);
        const w = await run(ns, "wrk", ["-t1", "-c32", `-d${SECONDS}s`, "--latency", `http://${p.vip}/`], (SECONDS + 20) * 1000);
        const wr = parseWrk(w.out);
        if (pid) a.h1CpuMs += cpuTreeMs(pid) - cpu0;
        a.h1ZtCpuMs += ztPids.reduce((t, z) => t + cpuTreeMs(z), 0) - zt0;
        if (wr.ok) a.h1.push(wr.value);
        else a.errors.push(`h1: ${wr.error.message}`);
        const h = await run(
          ns,
          "h2load",
          ["-c4", "-m16", "-D", String(SECONDS), "--warm-up-time=500ms", `http://${p.vip}:82/`],
          (SECONDS + 20) * 1000,
        );
        const hr = parseH2load(h.out);
        if (hr.ok) a.h2.push(hr.value);
        else a.errors.push(`h2: ${hr.error.message}`);
        if (hr.ok && hr.value.failed) console.log(`   ${p.name} h2load: ${h2loadCounters(h.out)}`);
        if (pid) a.cpuMs += cpuTreeMs(pid) - cpu0;
        a.ztCpuMs += ztPids.reduce((t, z) => t + cpuTreeMs(z), 0) - zt0;
        for (const [proto, port, list] of [
          ["h1", 80, a.h1Lat],
          ["h2", 82, a.h2Lat],
        ] as const) {
          const log = path.join(work, `lat-${p.name.split(" ")[0]}-${proto}-${round}.tsv`);
          const l = await run(
            ns,
            "h2load",
            [
              ...(proto === "h1" ? ["--h1"] : []),
              "-c1",
              "-m1",
              "-D",
              String(LAT_SECONDS),
              "--warm-up-time=300ms",
              `--log-file=${log}`,
              `http://${p.vip}:${port}/`,
            ],
            (LAT_SECONDS + 20) * 1000,
          );
          if (l.code === 0) list.push(readFileSync(log, "utf8"));
          else a.errors.push(`${proto} latency: ${l.out.trim().slice(-300)}`);
        }
        console.log(
          `  round ${round + 1} ${p.name}: h1 ${wr.ok ? wr.value.perSecond.toFixed(0) : "error"} req/s, h2 ${hr.ok ? hr.value.perSecond.toFixed(0) : "error"} req/s`,
        );
      }
    }
    for (const p of paths) {
      const a = acc.get(p.name)!;
      const lat = (logs: string[]): LatencySummary | undefined => {
        const r = parseH2loadLog(logs.join(""));
        if (!r.ok) {
          a.errors.push(r.error.message);
          return undefined;
        }
        if (r.value.failed > r.value.count / 1000) a.errors.push(`${r.value.failed} latency requests without a 2xx`);
        return r.value;
      };
      const row: Row = {
        path: p.name,
        h1: sum(a.h1),
        h2: sum(a.h2),
        h1Lat: lat(a.h1Lat),
        h2Lat: lat(a.h2Lat),
        ...(pidOf(p) ? { proxyCpuS: a.cpuMs / 1000 } : {}),
      } as Row;
      // A request cut off when a timed run ends may count as failed; more than 0.1% is an error.
      for (const x of [row.h1, row.h2]) {
        if (!x || !x.failed) continue;
        if (x.failed > x.requests / 1000) a.errors.push(`${x.failed} of ${x.requests} requests failed under load`);
        else console.log(`   ${p.name}: ${x.failed} of ${x.requests} requests failed under load (<= 0.1%, tolerated)`);
      }
      rows.push(row);
      for (const e of a.errors) {
        console.log(`!! ${p.name}: ${e}`);
        exit = 1;
      }
      if (a.errors.length && p.proxy) {
        const log = p.proxy === "waypoint" && wpPod ? `pod-bm-${wpPod.name}-istio-proxy` : p.proxy;
        try {
          console.log(
            `   ${log}.log: ${readFileSync(path.join(stateDir, "logs", `${log}.log`), "utf8")
              .trim()
              .slice(-600)}`,
          );
        } catch {
          /* no log */
        }
      }
    }
    if (wpPod) {
      // The waypoint's own account of every request (warm-up, latency and wrk's cut-off ones
      // included), from its metrics: it runs with Istio's default, no access log (as nginx runs
      // with access_log off). Scraped inside the waypoint pod's netns, at its metrics port.
      const m = await run(
        podNetns(c, "bm", wpPod.name),
        "curl",
        ["-sf", "--max-time", "5", `http://${wpPod.ip}:${METRICS_PORT}/metrics`],
        10_000,
      );
      if (m.code !== 0) console.log(`   waypoint metrics: not scraped (curl exit ${m.code})`);
      for (const [svc, v] of metricsOutcomes(m.out))
        console.log(
          `   waypoint istio_requests_total, ${svc}: ${v.requests} requests, not 200: ${[...v.other].map(([k, n]) => `${n} x ${k}`).join(", ") || "none"}`,
        );
    }
    if (!withWaypoint) rows.push({ path: "waypoint", error: "`weft waypoint` is not in this build (issue 8, waypoint-dp)" });
    console.log(`\n${renderRows(rows)}\n`);
    console.log(
      [
        "How to read: every path is one request/response of 3 bytes from a client pod on node-1 to an nginx backend on node-0.",
        "req/s: HTTP/1.1 keep-alive (wrk, 32 connections) and HTTP/2 h2c (h2load, 4 connections x 16 streams), mean of the rounds.",
        "p50/p99: latency at concurrency 1 (h2load per-request log); (+N) is the latency the path adds to direct, in microseconds.",
        "Ratios: this path's req/s over nginx's / haproxy's / direct's in this run. nginx and haproxy: one worker/thread, TLS to the",
        "backend with verification and kept-alive connections; waypoint: one Node process, mTLS (HBONE) on every hop, plus two ztunnels.",
        "",
      ].join("\n"),
    );
    console.log("requests per CPU-second of the L7 proxy process (h1 + h2 throughput phases):");
    for (const r of rows) {
      const pc = perCore(r);
      if (pc !== undefined) console.log(`  ${r.path.padEnd(20)} ${pc.toFixed(0)} req/s per core`);
    }
    console.log("CPU microseconds per request on the mesh paths (h1 + h2 throughput phases; the path's share of the 2 CPUs):");
    for (const r of rows) {
      const a = acc.get(r.path);
      const n = (r.h1?.requests ?? 0) + (r.h2?.requests ?? 0);
      if (!a || !n || !paths.find((p) => p.name === r.path && p.ns === "bm")) continue;
      const us = (ms: number) => ((ms * 1000) / n).toFixed(0);
      console.log(`  ${r.path.padEnd(20)} L7 proxy ${r.proxyCpuS !== undefined ? us(a.cpuMs) : "-"} us, both ztunnels ${us(a.ztCpuMs)} us`);
      // Per protocol: each phase's CPU over its own requests (h2load's 500 ms warm-up is in the h2 CPU, not its count).
      const per = (ms: number, reqs: number | undefined) => (reqs ? ((ms * 1000) / reqs).toFixed(0) : "-");
      const h1n = r.h1?.requests;
      const h2n = r.h2?.requests;
      console.log(
        `  ${"".padEnd(20)} h1: L7 proxy ${per(a.h1CpuMs, h1n)} us, both ztunnels ${per(a.h1ZtCpuMs, h1n)} us; ` +
          `h2: L7 proxy ${per(a.cpuMs - a.h1CpuMs, h2n)} us, both ztunnels ${per(a.ztCpuMs - a.h1ZtCpuMs, h2n)} us`,
      );
    }
    console.log("idle RSS of the L7 proxy process (tree):");
    for (const [name, kb] of idleRss) if (kb) console.log(`  ${name.padEnd(20)} ${(kb / 1024).toFixed(1)} MB`);
    const wp = rows.find((r) => r.path === "waypoint" && !r.error);
    const ng = rows.find((r) => r.path === "nginx");
    if (wp && ng) {
      const wpRss = idleRss.get("waypoint");
      const checks: [string, boolean][] = [
        [
          `waypoint h1 req/s ${(wp.h1!.perSecond / ng.h1!.perSecond).toFixed(2)}x nginx (target >= 0.5x)`,
          wp.h1!.perSecond >= 0.5 * ng.h1!.perSecond,
        ],
        [
          `waypoint h2 req/s ${(wp.h2!.perSecond / ng.h2!.perSecond).toFixed(2)}x nginx (target >= 0.5x)`,
          wp.h2!.perSecond >= 0.5 * ng.h2!.perSecond,
        ],
        [
          `waypoint ${(perCore(wp) ?? 0).toFixed(0)} req/s per core (target >= 4000, Istio's published waypoint cost)`,
          (perCore(wp) ?? 0) >= 4000,
        ],
        [`waypoint idle RSS ${wpRss ? (wpRss / 1024).toFixed(1) : "?"} MB (target < 60 MB)`, !!wpRss && wpRss < 60 * 1024],
      ];
      console.log("targets (benchmark, not test):");
      for (const [what, met] of checks) console.log(`  ${met ? "met    " : "MISSED "} ${what}`);
    }
    const wpr = rows.find((r) => r.path === "waypoint+resilience" && !r.error);
    if (wp && wpr) {
      const ratio = (a?: { perSecond: number }, b?: { perSecond: number }) => (a && b ? (a.perSecond / b.perSecond).toFixed(2) : "?");
      const p99 = (a?: LatencySummary, b?: LatencySummary) => (a && b ? `${(a.p99Us - b.p99Us).toFixed(0)} us` : "?");
      console.log("resilience cost (waypoint+resilience vs waypoint, same run):");
      console.log(`  h1 req/s ${ratio(wpr.h1, wp.h1)}x, h2 req/s ${ratio(wpr.h2, wp.h2)}x`);
      console.log(`  p99 at concurrency 1: h1 ${p99(wpr.h1Lat, wp.h1Lat)}, h2 ${p99(wpr.h2Lat, wp.h2Lat)} added`);
    }
    const load = readFileSync("/proc/loadavg", "utf8").split(" ")[0];
    console.log(`(load average at the end: ${load}; the machine's CPUs are shared, so figures are noisy)`);
  } catch (e) {
    console.error(`bench waypoint: ${(e as Error).message}`);
    exit = 1;
  } finally {
    if (KEEP_LOGS) cpSync(path.join(stateDir, "logs"), KEEP_LOGS, { recursive: true });
    await down(stateDir, plan);
    rmSync(work, { recursive: true, force: true });
  }
  return exit;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error("bench waypoint: failed:", e);
    process.exit(1);
  },
);
