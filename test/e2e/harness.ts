/**
 * The e2e tests' local cluster: `weft local up` in-process (the same code as the command) with
 * test-only names and addresses: namespaces `wefttest-loc-*`, underlay 198.19.200.0/24, pod
 * CIDRs 198.19.201.0/24 (node-0) and 198.19.202.0/24 (node-1), VIPs 198.19.207.0/24, pins under
 * /sys/fs/bpf/wefttest-loc-*. The app: an echo server (server.js, written next to the YAML) that
 * answers with a marker naming its namespace, so an underlay capture can tell clear from TLS.
 */
import { execFile } from "node:child_process";
import { cpSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, existsSync } from "node:fs";
import * as path from "node:path";
import {
  MAIN_JS,
  down,
  readState,
  status,
  up,
  getAgentStatus,
  agentSocket,
  setProcessEnabled,
  type ClusterState,
} from "../../src/local/cluster.js";
import type { PlanOptions } from "../../src/local/plan.js";
import { type HboneEngine, ZTUNNEL_DEFAULT_ENGINE } from "../../src/proxy/hbone/engine.js";
import { testEngine } from "../support/engine.js";

export const PREFIX = "wefttest-loc-";

export function planFor(cluster: string): PlanOptions {
  return {
    prefix: PREFIX,
    cluster,
    nodes: 2,
    underlay: "198.19.200.0",
    podBase: "198.19.201.0",
    pinRoot: `/sys/fs/bpf/${PREFIX}${cluster}`,
  };
}

const SERVER = `"use strict";
// e2e echo server: answers "e2e-payload-<namespace>-<pod>: <request body>".
const http = require("node:http");
http.createServer((req, res) => {
  let body = "";
  req.on("data", (d) => (body += d));
  req.on("end", () => res.end("e2e-payload-" + process.env.POD_NAMESPACE + "-" + process.env.POD_NAME + ": " + body + "\\n"));
}).listen(8080, "0.0.0.0");
`;

function app(ns: string, vip: string): string {
  const pod = (name: string, node: string, labels: string, cmd: string) => `apiVersion: v1
kind: Pod
metadata: { name: ${name}, namespace: ${ns}, labels: { ${labels} } }
spec:
  nodeName: ${node}
  serviceAccountName: ${name}
  containers: [{ name: c, command: ${cmd}, ports: [{ name: http, containerPort: 8080 }] }]
---
`;
  return `apiVersion: v1
kind: Namespace
metadata: { name: ${ns} }
---
${pod("client", "node-0", "app: client", '["sleep", "infinity"]')}${pod("local", "node-0", "app: echo", '["node", "server.js"]')}${pod("remote", "node-1", "app: echo", '["node", "server.js"]')}apiVersion: v1
kind: Service
metadata: { name: echo, namespace: ${ns} }
spec: { clusterIP: ${vip}, selector: { app: echo }, ports: [{ name: http, port: 80, targetPort: 8080 }] }
`;
}

export interface Cluster {
  readonly dir: string;
  readonly plan: PlanOptions;
  state: ClusterState;
}

export async function startCluster(dir: string, cluster: string, backend: "ebpf" | "nftables"): Promise<Cluster> {
  const appDir = path.join(dir, "app");
  mkdirSync(appDir, { recursive: true });
  writeFileSync(path.join(appDir, "server.js"), SERVER);
  const files = [
    { path: path.join(appDir, "mesh.yaml"), text: app("mesh", "198.19.207.10") },
    { path: path.join(appDir, "plain.yaml"), text: app("plain", "198.19.207.20") },
  ];
  const plan = planFor(cluster);
  const r = await up({ dir: path.join(dir, "state"), plan, backend, files, readyTimeoutMs: 30_000 });
  if (!r.ok) throw r.error;
  return { dir: path.join(dir, "state"), plan, state: r.value };
}

export function sh(cmd: string, args: readonly string[], timeoutMs = 10_000): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: timeoutMs, maxBuffer: 32 << 20 }, (e, stdout, stderr) =>
      resolve({ code: e ? (typeof e.code === "number" ? e.code : 1) : 0, stdout, stderr }),
    );
  });
}

export const podNetns = (c: Cluster, ns: string, name: string): string => `${PREFIX}${c.plan.cluster}-pod-${ns}-${name}`;
export const podIp = (c: Cluster, ns: string, name: string): string => c.state.pods.find((p) => p.namespace === ns && p.name === name)!.ip;

/** Both addresses of a pod of a dual-stack cluster; fails the test when it has no IPv6 one. */
export function dualIps(c: Cluster, ns: string, name: string): { v4: string; v6: string } {
  const p = c.state.pods.find((x) => x.namespace === ns && x.name === name);
  const v6 = (p?.ips ?? []).find((ip) => ip.includes(":"));
  if (!p || !v6) throw new Error(`pod ${ns}/${name} has an IPv6 address: ${JSON.stringify(p?.ips)}`);
  return { v4: p.ip, v6 };
}

/** curl from a pod (as `kubectl exec`; `fromPod` default `client`), POSTing a body; resolves with the response or the failure. */
export async function call(
  c: Cluster,
  fromNs: string,
  url: string,
  body: string,
  timeoutS = 3,
  fromPod = "client",
): Promise<{
  ok: boolean;
  text: string;
  /** curl's exit code: 0, 28 timeout, 7 refused, 52/55/56 reset or closed by the peer. */ code: number;
}> {
  const r = await sh(
    "ip",
    ["netns", "exec", podNetns(c, fromNs, fromPod), "curl", "-sS", "--max-time", String(timeoutS), "-d", body, url],
    (timeoutS + 3) * 1000,
  );
  return { ok: r.code === 0, text: r.code === 0 ? r.stdout : r.stderr, code: r.code };
}

/** `curl -i` from a pod: the status, the headers (lower-case names) and the body; status 0 when curl failed (its stderr as the body). */
export async function curlFrom(
  c: Cluster,
  ns: string,
  pod: string,
  url: string,
  args: readonly string[] = [],
): Promise<{ status: number; headers: Record<string, string>; body: string }> {
  const r = await sh("ip", ["netns", "exec", podNetns(c, ns, pod), "curl", "-sS", "-i", "--max-time", "5", ...args, url], 10_000);
  if (r.code !== 0) return { status: 0, headers: {}, body: r.stderr };
  const [head = "", ...rest] = r.stdout.split("\r\n\r\n");
  const lines = head.split("\r\n");
  const headers: Record<string, string> = {};
  for (const l of lines.slice(1)) headers[l.slice(0, l.indexOf(":")).toLowerCase()] = l.slice(l.indexOf(":") + 1).trim();
  return { status: Number(lines[0]?.split(" ")[1] ?? 0), headers, body: rest.join("\r\n\r\n") };
}

/** A ztunnel's Prometheus text, scraped from inside its node. */
export async function ztunnelMetrics(c: Cluster, node: number): Promise<string> {
  const n = c.state.nodes[node]!;
  const r = await sh("ip", ["netns", "exec", n.netns, "curl", "-sS", "--max-time", "3", `http://${n.ip}:15020/metrics`]);
  if (r.code !== 0) throw new Error(`metrics of ztunnel on ${n.name}: ${r.stderr}`);
  return r.stdout;
}

/** A ztunnel's config dump (admin port 15000), fetched from inside its node. */
export async function ztunnelDump(c: Cluster, node: number): Promise<Record<string, unknown>> {
  const n = c.state.nodes[node]!;
  const r = await sh("ip", ["netns", "exec", n.netns, "curl", "-sS", "--max-time", "3", `http://${n.ip}:15000/config_dump`]);
  if (r.code !== 0) throw new Error(`config dump of ztunnel on ${n.name}: ${r.stderr}`);
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

/**
 * The HBONE engine the cluster's ztunnels run: this process's WEFT_HBONE_ENGINE, which `weft local
 * up` passes down, or the ztunnel's default (scripts/test.sh runs the capture e2e files once more
 * on the other engine).
 */
export const HBONE_ENGINE: HboneEngine = testEngine(ZTUNNEL_DEFAULT_ENGINE);

/** Per node: the engine its ztunnel reports, and the addon's accept and upstream-dial counters (0 on the Node engine). */
export interface NativeCounters {
  readonly engine: string;
  /** Captured outbound connections accepted in the addon (transparent listeners of 15001). */
  readonly accepted: number;
  /** Inbound tunnels' upstreams dialled by the addon (transparent, marked, spoofed source) and connected. */
  readonly dialled: number;
}

export async function nativeCounters(c: Cluster): Promise<NativeCounters[]> {
  return Promise.all(
    c.state.nodes.map(async (_, i) => {
      const d = (await ztunnelDump(c, i)) as {
        config?: { hboneEngine?: string };
        outboundAccept?: { accepted?: number };
        upstreamDial?: { connected?: number } | null;
      };
      return { engine: d.config?.hboneEngine ?? "?", accepted: d.outboundAccept?.accepted ?? 0, dialled: d.upstreamDial?.connected ?? 0 };
    }),
  );
}

/**
 * That the calls made since `before` took the engine's own paths: on the native engine, at least
 * `accepted[i]` connections accepted by node i's addon listeners and `dialled[i]` upstreams dialled
 * by its addon (a pass on a Node fallback would count none); on the Node engine, that every
 * ztunnel says so. Returns the counters now, for the next window.
 */
export async function assertEnginePaths(
  c: Cluster,
  before: readonly NativeCounters[],
  want: { readonly accepted?: readonly number[]; readonly dialled?: readonly number[] },
): Promise<NativeCounters[]> {
  const now = await nativeCounters(c);
  now.forEach((n, i) => {
    const name = c.state.nodes[i]!.name;
    if (n.engine !== HBONE_ENGINE) throw new Error(`ztunnel on ${name} runs the ${n.engine} engine, not ${HBONE_ENGINE}`);
    if (HBONE_ENGINE !== "native") return;
    const acc = n.accepted - (before[i]?.accepted ?? 0);
    const dia = n.dialled - (before[i]?.dialled ?? 0);
    if (acc < (want.accepted?.[i] ?? 0))
      throw new Error(`ztunnel on ${name}: ${acc} captured connections accepted in the addon, want >= ${want.accepted?.[i]}`);
    if (dia < (want.dialled?.[i] ?? 0))
      throw new Error(`ztunnel on ${name}: ${dia} upstreams dialled by the addon, want >= ${want.dialled?.[i]}`);
  });
  return now;
}

/** Sum of a counter's samples whose label set contains every `labels` pair. */
export function counterSum(text: string, name: string, labels: Readonly<Record<string, string>>): number {
  let sum = 0;
  for (const line of text.split("\n")) {
    if (!line.startsWith(`${name}{`)) continue;
    const set = line.slice(name.length + 1, line.lastIndexOf("}"));
    if (Object.entries(labels).every(([k, v]) => set.includes(`${k}="${v}"`))) sum += Number(line.slice(line.lastIndexOf(" ") + 1));
  }
  return sum;
}

/** A component's log (STATE/logs/NAME.log): its size now, and what was written after an offset. */
export interface ComponentLog {
  size(): number;
  since(offset: number): string;
}

export function componentLog(c: Cluster, name: string): ComponentLog {
  const file = path.join(c.dir, "logs", `${name}.log`);
  return {
    size: () => (existsSync(file) ? statSync(file).size : 0),
    since: (offset) => (existsSync(file) ? readFileSync(file).subarray(offset).toString("utf8") : ""),
  };
}

/**
 * Runs `f` while tcpdump writes the underlay bridge's TCP packets to `file`; returns the file's
 * bytes as latin1 text. Throws when the capture holds no packet at all (see test/e2e/wire.ts for
 * filtered counts and decryption).
 */
export async function captureUnderlay(c: Cluster, file: string, f: () => Promise<void>): Promise<string> {
  const { spawn } = await import("node:child_process");
  const td = spawn(
    "ip",
    [
      "netns",
      "exec",
      `${PREFIX}${c.plan.cluster}-underlay`,
      "tcpdump",
      "-i",
      "br0",
      "--immediate-mode",
      "-U",
      "-s",
      "0",
      "-w",
      file,
      "tcp",
    ],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  // Start only once tcpdump says it is capturing: on a loaded machine a fixed delay is not
  // enough, and packets sent before it listens would make an absence check pass for nothing.
  // --immediate-mode: without it libpcap hands packets over in ring blocks, and the packets of
  // the last second or so before SIGTERM were never written (found by the empty-capture check).
  let said = "";
  const listening = await new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), 15_000);
    td.stderr.on("data", (d: Buffer) => {
      said += d.toString();
      if (said.includes("listening on")) {
        clearTimeout(timer);
        resolve(true);
      }
    });
    td.once("exit", () => {
      clearTimeout(timer);
      resolve(false);
    });
  });
  if (!listening) {
    td.kill("SIGTERM");
    throw new Error(`tcpdump on the underlay did not start capturing: ${said.trim()}`);
  }
  try {
    await f();
  } finally {
    await new Promise((r) => setTimeout(r, 300));
    td.kill("SIGTERM");
    await new Promise((r) => td.once("exit", r));
  }
  // An empty capture proves nothing about what crossed the wire: it is a failure, never a pass.
  if (!existsSync(file)) throw new Error(`underlay capture ${file} was not written (tcpdump failed to start?)`);
  const n = await sh("tcpdump", ["-nn", "-r", file]);
  if (n.code !== 0 || !n.stdout.trim()) throw new Error(`underlay capture ${file} holds no packets: the capture saw no traffic at all`);
  return readFileSync(file).toString("latin1");
}

export async function enrolled(c: Cluster): Promise<Map<string, boolean>> {
  const out = new Map<string, boolean>();
  for (const n of c.state.nodes) {
    const s = await getAgentStatus(agentSocket(c.dir, n.name));
    if (s.ok) for (const p of s.value.pods) out.set(p.key, p.applied);
  }
  return out;
}

export async function until<T>(what: string, f: () => Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await f().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Pids of the pod processes (to show that enrollment restarts nothing). */
export async function podPids(c: Cluster): Promise<string> {
  const { readFile } = await import("node:fs/promises");
  const dir = path.join(c.dir, "pids");
  const out: string[] = [];
  for (const f of readdirSync(dir)
    .filter((x) => x.startsWith("pod-"))
    .sort())
    out.push(`${f}:${(JSON.parse(await readFile(path.join(dir, f), "utf8")) as { pid: number }).pid}`);
  return out.join(" ");
}

/** What of this cluster exists on the machine: namespaces, pins, live processes. */
export async function leftovers(c: { dir: string; plan: PlanOptions }): Promise<string[]> {
  const out: string[] = [];
  try {
    out.push(...readdirSync("/run/netns").filter((n) => n.startsWith(`${PREFIX}${c.plan.cluster}-`)));
  } catch {
    /* no namespaces at all */
  }
  if (existsSync(c.plan.pinRoot)) out.push(`pin root ${c.plan.pinRoot}: [${readdirSync(c.plan.pinRoot).join(",")}]`);
  const ps = await sh("ps", ["-eo", "pid,args"]);
  for (const line of ps.stdout.split("\n")) if (line.includes(c.dir) && !line.includes("ps -eo")) out.push(`process: ${line.trim()}`);
  return out;
}

export { down, readState, status, setProcessEnabled };

/**
 * The waypoint e2e tests' preconditions: root (network namespaces, eBPF, nftables) and a build
 * with `weft waypoint`. Skips `t` loudly and returns false when one is missing.
 */
export function waypointClusterRunnable(t: { skip(message: string): void }, name: string): boolean {
  const why =
    process.getuid?.() !== 0
      ? "needs root (network namespaces, eBPF, nftables)"
      : !existsSync(path.join(path.dirname(MAIN_JS), "waypoint.js"))
        ? "this build has no `weft waypoint`"
        : undefined;
  if (!why) return true;
  console.warn(`!! SKIPPED ${name}: ${why}`);
  t.skip(why);
  return false;
}

/** After a local-cluster test: down, keep a copy of the cluster's logs in `keepLogs`, remove `work`. */
export async function downKeepingLogs(stateDir: string, cluster: string, keepLogs: string, work: string): Promise<void> {
  await down(stateDir, planFor(cluster));
  rmSync(keepLogs, { recursive: true, force: true });
  if (existsSync(path.join(stateDir, "logs"))) cpSync(path.join(stateDir, "logs"), keepLogs, { recursive: true });
  rmSync(work, { recursive: true, force: true });
}

/** A pod of the local cluster pinned to `node`, its service account named after it, serving 8080. */
export const podYaml = (ns: string, name: string, node: string, labels: string, cmd: string): string => `apiVersion: v1
kind: Pod
metadata: { name: ${name}, namespace: ${ns}, labels: { ${labels} } }
spec:
  nodeName: ${node}
  serviceAccountName: ${name}
  containers: [{ name: c, command: ${cmd}, ports: [{ containerPort: 8080 }] }]
---
`;

/** An ambient namespace `ns` with `client` (sleep) on node-0 and `server` (server.js) on node-1. */
export const clientServerYaml = (ns: string): string => `apiVersion: v1
kind: Namespace
metadata: { name: ${ns}, labels: { istio.io/dataplane-mode: ambient } }
---
${podYaml(ns, "client", "node-0", "app: client", '["sleep", "infinity"]')}${podYaml(ns, "server", "node-1", "app: server", '["node", "server.js"]')}`;

/**
 * An app server for the pods of one test (written as server.js beside the YAML): listens on
 * "::" (both families) on 8080 and answers `<prefix><pod> saw <peer address>: <body>`.
 */
export const peerEchoServer = (prefix: string): string => `"use strict";
const http = require("node:http");
http.createServer((req, res) => {
  let body = "";
  req.on("data", (d) => (body += d));
  req.on("end", () => res.end("${prefix}" + process.env.POD_NAME + " saw " + req.socket.remoteAddress + ": " + body + "\\n"));
}).listen(8080, "::");
`;

/**
 * `weft local up` of one app (`yaml`, with `server` as its server.js) in `stateDir`, then waits
 * until every pod of `pods` (`ns/name`) is enrolled and every pod of `serving` listens on 8080
 * (its server.js started: under CI's load a Node start takes seconds, and a call before it is
 * refused by the app, which the client sees as a reset). Throws naming what failed.
 */
export async function upApp(o: {
  readonly work: string;
  readonly stateDir: string;
  readonly plan: PlanOptions;
  readonly backend: "ebpf" | "nftables";
  readonly server: string;
  readonly yaml: string;
  readonly pods: readonly string[];
  readonly serving: readonly string[];
}): Promise<Cluster> {
  const appDir = path.join(o.work, "app");
  mkdirSync(appDir, { recursive: true });
  writeFileSync(path.join(appDir, "server.js"), o.server);
  const r = await up({
    dir: o.stateDir,
    plan: o.plan,
    backend: o.backend,
    files: [{ path: path.join(appDir, "app.yaml"), text: o.yaml }],
    readyTimeoutMs: 60_000,
  });
  if (!r.ok) throw r.error;
  const c: Cluster = { dir: o.stateDir, plan: o.plan, state: r.value };
  await until(
    `pods ${o.pods.join(", ")} enrolled`,
    async () => {
      const e = await enrolled(c);
      return o.pods.every((k) => e.get(k) === true) ? true : undefined;
    },
    30_000,
  );
  for (const k of o.serving) {
    const [ns, name] = k.split("/") as [string, string];
    await until(
      `pod ${k}'s server.js listening on 8080`,
      async () => {
        const r = await sh("ip", ["netns", "exec", podNetns(c, ns, name), "ss", "-Hltn", "sport = :8080"]);
        return r.code === 0 && r.stdout.trim() ? true : undefined;
      },
      30_000,
    );
  }
  return c;
}

/**
 * Waits until `attempt` fails with the denial's signature: a `connection denied` line naming
 * `signature` in `log`, written during that very attempt. The error names the last attempt.
 */
export async function untilDenied(
  what: string,
  log: ComponentLog,
  attempt: () => Promise<{ ok: boolean; code: number; text: string }>,
  signature: string,
): Promise<void> {
  let last = "";
  await until(
    what,
    async () => {
      const at = log.size();
      const x = await attempt();
      const lines = log
        .since(at)
        .split("\n")
        .filter((l) => l.includes('"connection denied"'));
      last = `curl ${x.code} ${x.text.trim()}; deny log: ${lines.join(" ") || "none"}`;
      return !x.ok && lines.some((l) => l.includes(signature)) ? true : undefined;
    },
    20_000,
  ).catch((e: Error) => {
    throw new Error(`${e.message}; last: ${last}`);
  });
}
