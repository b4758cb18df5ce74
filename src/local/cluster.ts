/**
 * `weft local up|down|status|label|process`: a multi-node cluster of network namespaces on this
 * host (docs/local-cluster.md). `up` validates the manifests before touching anything, removes
 * what a crashed previous run left, builds the network, starts the control plane, the ztunnels
 * and the CNI agents under a detached supervisor, wires each pod with the real CNI plugins
 * (ptp + host-local, weft's plugin chained after them), reports the pods into the control
 * plane's folder as a kubelet reports to the API server, and starts the pods' processes.
 * Any failure on the way tears down everything that was created.
 *
 * Each Gateway of class istio-waypoint gets a waypoint pod and Service (waypoints.ts); `apply`
 * and `delete` (apply.ts) change config objects and waypoints of a running cluster.
 *
 * STATE layout: cluster.json (what exists), config/ (the control plane's and agents' folder:
 * namespaces/, pods/, objects/ one file per object), ca/, tokens.yaml + token-<node> +
 * tokens/<ns>.<gateway>, cni/ (conflists, bin/weft-cni), ipam/, run/<node>/cni.sock,
 * procs/ pids/ logs/ (supervisor.ts).
 */
import { spawn } from "node:child_process";
import { randomBytes, createHash } from "node:crypto";
import { existsSync, openSync, closeSync } from "node:fs";
import { mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import * as http from "node:http";
import * as path from "node:path";
import { stringify as toYaml } from "yaml";
import { type Result, ok, err } from "../common/result.js";
import { run } from "../common/exec.js";
import { installPlugin, PLUGIN_TYPE } from "../capture/plugin-install.js";
import { nodeCaptureDefaults } from "../capture/node-config.js";
import type { AgentStatus } from "../capture/agent-api.js";
import { type ConfList, type CniResult, cniAdd, cniDel } from "./cni-runtime.js";
import { type LocalPod, type ManifestFile, applyLabelEdits, expandVars, namespaceObject, podObject, readManifests } from "./manifests.js";
import { buildNetwork, createNetns, destroyNetwork, applyNft, httpGetIn } from "./network.js";
import { type ClusterPlan, type NodePlan, type PlanOptions, makePlan, netnsPrefix, podNetns } from "./plan.js";
import { clusterZone, removeResolvConfs, writePodResolvConf } from "./cluster-dns.js";
import { type LocalMeshConfig, meshConfigOf } from "./mesh-config.js";
import { renderServiceNat, vipRules } from "./service-nat.js";
import { WEFT_NODE_FLAGS, nodeFlagsFor } from "../common/node-flags.js";
import { type ProcSpec, type PidRecord, isAlive, readPids, readSpecs, signalRecord, writeSpec, processStart } from "./supervisor.js";
import { type WaypointContext, type WaypointPlan, planWaypoints, STATUS_PORT } from "./waypoints.js";
import { missingCertificates, unknownPodAddresses } from "./settled.js";

export interface UpOptions {
  readonly dir: string;
  readonly plan: PlanOptions;
  readonly backend: "ebpf" | "nftables";
  readonly files: readonly ManifestFile[];
  /** Progress lines for the user. */
  readonly say?: (line: string) => void;
  readonly readyTimeoutMs?: number;
}

export interface PodRecord {
  readonly namespace: string;
  readonly name: string;
  readonly node: string;
  readonly netns: string;
  readonly containerId: string;
  readonly ip: string;
  /** Every address of the pod, `ip` first (dual stack: IPv4 then IPv6). */
  readonly ips?: readonly string[];
  readonly hostVeth: string;
  readonly result: CniResult;
}

export interface ClusterState {
  readonly plan: PlanOptions;
  readonly backend: "ebpf" | "nftables";
  readonly controlPlane: string;
  readonly nodes: readonly { readonly name: string; readonly netns: string; readonly ip: string; readonly podCidr: string }[];
  readonly pods: readonly PodRecord[];
  /** `vip` the primary cluster IP; `vips` every one when there are two (dual stack). */
  readonly services: readonly { readonly name: string; readonly vip?: string; readonly vips?: readonly string[] }[];
  /** Waypoint Gateways (`ns/name`) and their pods (absent in state files of older versions). */
  readonly waypoints?: readonly WaypointRecord[];
}

export interface WaypointRecord {
  readonly gateway: string;
  readonly namespace: string;
  readonly pod: string;
  readonly token: string;
}

/** A bootstrap token entry of the control plane's --tokens file (node: a ztunnel; none: a workload). */
export type TokenEntry =
  | { readonly token: string; readonly node: string; readonly identity: string }
  | { readonly token: string; readonly identity: string; readonly namespace: string; readonly serviceAccount: string };

export const MAIN_JS = path.join(__dirname, "..", "cli", "main.js");
const ZTUNNEL_IDENTITY = "spiffe://cluster.local/ns/istio-system/sa/ztunnel";

export const p = (dir: string) => ({
  cluster: path.join(dir, "cluster.json"),
  config: path.join(dir, "config"),
  objects: path.join(dir, "config", "objects"),
  waypointTokens: path.join(dir, "tokens"),
  namespaces: path.join(dir, "config", "namespaces"),
  pods: path.join(dir, "config", "pods"),
  ca: path.join(dir, "ca"),
  tokens: path.join(dir, "tokens.yaml"),
  cniBin: path.join(dir, "cni", "bin"),
  cni: path.join(dir, "cni"),
  ipam: path.join(dir, "ipam"),
  run: path.join(dir, "run"),
  supervisor: path.join(dir, "supervisor.json"),
  logs: path.join(dir, "logs"),
});

export const namespaceFile = (dir: string, name: string): string => path.join(p(dir).namespaces, `${name}.yaml`);

/** Waits until GET url (from inside netns) answers 2xx. */
export function httpReady(netns: string, url: string, timeoutMs: number, what: string): Promise<Result<void>> {
  return until(what, timeoutMs, async () => (await httpGetIn(netns, url, 1)).ok);
}

export const agentSocket = (dir: string, node: string): string => path.join(p(dir).run, node, "cni.sock");

export async function writeAtomic(file: string, text: string): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.tmp`);
  await writeFile(tmp, text);
  await rename(tmp, file);
}

export async function until(what: string, timeoutMs: number, f: () => Promise<boolean>): Promise<Result<void>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await f().catch(() => false)) return ok(undefined);
    if (Date.now() > deadline) return err(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
    await new Promise((r) => setTimeout(r, 200));
  }
}

export function getAgentStatus(socketPath: string): Promise<Result<AgentStatus>> {
  return new Promise((resolve) => {
    const req = http.get({ socketPath, path: "/v1/status", timeout: 2000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (d: Buffer) => chunks.push(d));
      res.on("end", () => {
        try {
          resolve(ok(JSON.parse(Buffer.concat(chunks).toString()) as AgentStatus));
        } catch (e) {
          resolve(err(e as Error));
        }
      });
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", (e) => resolve(err(e)));
  });
}

function conflist(dir: string, plan: ClusterPlan, n: NodePlan): ConfList {
  const v4 = plan.podFamilies.includes("ipv4");
  const v6 = n.ipv6 && plan.podFamilies.includes("ipv6") ? n.ipv6 : undefined;
  return {
    cniVersion: "1.0.0",
    name: "weft-local",
    plugins: [
      {
        type: "ptp",
        ipMasq: false,
        ipam: {
          type: "host-local",
          // Dual stack: one range per family, as a dual-stack Kubernetes node's host-local config.
          // IPv6 only: the IPv6 range alone.
          ranges: [
            ...(v4 ? [[{ subnet: n.podCidr, gateway: n.podGateway }]] : []),
            ...(v6 ? [[{ subnet: v6.podCidr, gateway: v6.podGateway }]] : []),
          ],
          routes: [...(v4 ? [{ dst: "0.0.0.0/0" }] : []), ...(v6 ? [{ dst: "::/0" }] : [])],
          dataDir: path.join(p(dir).ipam, n.name),
        },
      },
      { type: PLUGIN_TYPE, agentSocket: agentSocket(dir, n.name), agentTimeoutMs: 5000 },
    ],
  };
}

/** The file of one config object in config/objects/ (one per object: `apply` replaces it). */
export function objectFile(dir: string, o: Record<string, unknown>): string {
  const meta = o.metadata as { name: string; namespace?: string };
  const group = String(o.apiVersion).includes("/") ? String(o.apiVersion).split("/")[0] : "core";
  const ns = o.kind === "Namespace" ? "_" : (meta.namespace ?? "default");
  return path.join(p(dir).objects, `${group}_${String(o.kind).toLowerCase()}_${ns}_${meta.name}.yaml`);
}

export function waypointContext(dir: string, plan: ClusterPlan): WaypointContext {
  return {
    nodes: plan.nodes.map((n) => n.name),
    xdsAddress: `${plan.controlPlaneIp}:15012`,
    rootCert: path.join(p(dir).ca, "root-cert.pem"),
    stateDir: dir,
    trustDomain: "cluster.local",
  };
}

/** Writes the waypoint's token file and returns its token entry. */
export async function waypointToken(dir: string, w: WaypointPlan): Promise<TokenEntry> {
  const token = randomBytes(24).toString("hex");
  await mkdir(p(dir).waypointTokens, { recursive: true });
  await writeFile(path.join(dir, w.tokenFile), token, { mode: 0o600 });
  return { token, identity: w.identity, namespace: w.gateway.namespace, serviceAccount: w.gateway.serviceAccount };
}

/** A waypoint is ready when its readiness endpoint answers 200 (asked from its node's namespace). */
export async function waitWaypointReady(plan: ClusterPlan, pod: PodRecord, timeoutMs: number): Promise<Result<void>> {
  const node = plan.nodes.find((n) => n.name === pod.node)!;
  const r = await until(
    `waypoint ${pod.namespace}/${pod.name} ready (http://${pod.ip}:${STATUS_PORT}/healthz/ready)`,
    timeoutMs,
    async () => (await httpGetIn(node.netns, `http://${pod.ip}:${STATUS_PORT}/healthz/ready`, 1)).ok,
  );
  return r.ok ? r : err(new Error(`${r.error.message}; see logs/pod-${pod.namespace}-${pod.name}-istio-proxy.log`));
}

/** The control plane's process; `tokensRev` changes when the token file does (it is read at start). */
/** Where `up` writes the mesh config's YAML (the istio ConfigMap's `mesh`) for the control plane. */
export const meshConfigFile = (dir: string): string => path.join(dir, "mesh-config.yaml");

export function controlPlaneSpec(dir: string, plan: ClusterPlan, tokensRev = 0): ProcSpec {
  const cp = plan.controlPlaneIp;
  const mesh = meshConfigFile(dir);
  return {
    name: "controlplane",
    argv: [
      process.execPath,
      ...WEFT_NODE_FLAGS,
      MAIN_JS,
      "controlplane",
      "--config-dir",
      p(dir).config,
      "--ca-dir",
      p(dir).ca,
      "--tokens",
      p(dir).tokens,
      "--listen",
      `${cp}:15012`,
      "--monitor",
      `${cp}:15014`,
      ...(existsSync(mesh) ? ["--mesh-config", mesh] : []),
    ],
    netns: plan.underlayNetns,
    enter: "nsenter",
    env: { WEFT_LOG: process.env.WEFT_LOG ?? "info", ...(tokensRev ? { WEFT_LOCAL_TOKENS_REV: String(tokensRev) } : {}) },
    enabled: true,
  };
}

/** ztunnel's DNS proxy port; the agents redirect pods' UDP port 53 there (docs/mesh-edge.md). */
const DNS_PROXY_PORT = "15053";

/**
 * What weft's own processes in the cluster (ztunnels, waypoint pods) take from the launcher's
 * environment: WEFT_HBONE_ENGINE (node | native; checked by each component), so one variable runs
 * the whole cluster's HBONE on the native engine (docs/local-cluster.md).
 */
function inheritedEnv(env: NodeJS.ProcessEnv): Record<string, string> {
  return env.WEFT_HBONE_ENGINE ? { WEFT_HBONE_ENGINE: env.WEFT_HBONE_ENGINE } : {};
}

function componentSpecs(dir: string, plan: ClusterPlan, backend: string, mesh: LocalMeshConfig): ProcSpec[] {
  const node = process.execPath;
  const env = { WEFT_LOG: process.env.WEFT_LOG ?? "info", ...inheritedEnv(process.env) };
  const cp = plan.controlPlaneIp;
  const specs: ProcSpec[] = [controlPlaneSpec(dir, plan)];
  // The cluster DNS (CoreDNS's part): pods' resolv.conf names it; ztunnels forward to it.
  specs.push({
    name: "cluster-dns",
    argv: [
      node,
      MAIN_JS,
      "local",
      "dns",
      "--listen",
      `${cp}:53`,
      ...(plan.ipv6 ? ["--listen", `[${plan.ipv6.controlPlaneIp}]:53`] : []),
      "--zone",
      path.join(dir, "dns-zone.json"),
    ],
    netns: plan.underlayNetns,
    enter: "nsenter",
    env,
    enabled: true,
  });
  for (const n of plan.nodes) {
    specs.push({
      name: `ztunnel-${n.name}`,
      argv: [
        node,
        ...WEFT_NODE_FLAGS,
        MAIN_JS,
        "ztunnel",
        "--node",
        n.name,
        "--capture",
        "transparent",
        "--bind-address",
        n.underlayIp,
        "--xds-address",
        `${cp}:15012`,
        "--token-file",
        path.join(dir, `token-${n.name}`),
        "--root-cert",
        path.join(p(dir).ca, "root-cert.pem"),
        "--drain-seconds",
        "0",
        "--dns-proxy",
        "true",
        "--dns-upstream",
        `${cp}:53`,
        "--outbound-traffic-policy",
        mesh.outboundTrafficPolicy,
      ],
      netns: n.netns,
      enter: "nsenter",
      env,
      enabled: true,
    });
    specs.push({
      name: `cni-agent-${n.name}`,
      argv: [
        node,
        ...WEFT_NODE_FLAGS,
        MAIN_JS,
        "cni-agent",
        "--node",
        n.name,
        "--socket",
        agentSocket(dir, n.name),
        "--backend",
        backend,
        "--config-dir",
        p(dir).config,
        "--instance",
        n.instance,
        "--pin-root",
        plan.options.pinRoot,
        "--dns-capture-port",
        DNS_PROXY_PORT,
        "--dns-capture-address",
        n.ipv6 ? `${n.underlayIp},${n.ipv6.underlayIp}` : n.underlayIp,
      ],
      netns: n.netns,
      enter: "nsenter",
      env,
      enabled: true,
    });
  }
  return specs;
}

/**
 * A pod's container processes. The program `weft` is this weft (node + main.js), so manifests
 * can run weft's own apps (`weft local echo`, `weft waypoint`); `$(VAR)` in command, args and
 * env values expands as in Kubernetes, over the container's env and POD_NAME, POD_NAMESPACE,
 * POD_IP, NODE_NAME.
 */
export function podSpecs(pod: LocalPod, netns: string, ip: string): ProcSpec[] {
  const downward = { POD_NAME: pod.name, POD_NAMESPACE: pod.namespace, POD_IP: ip, NODE_NAME: pod.node };
  return pod.containers.map((c) => {
    const env: Record<string, string> = { ...downward };
    for (const [k, v] of Object.entries(c.env)) env[k] = expandVars(v, env);
    Object.assign(env, downward);
    const argv = c.argv.map((a) => expandVars(a, env));
    if (argv[0] === "weft") Object.assign(env, inheritedEnv(process.env));
    return {
      name: `pod-${pod.namespace}-${pod.name}-${c.name}`,
      argv: argv[0] === "weft" ? [process.execPath, ...nodeFlagsFor(argv[1], process.env), MAIN_JS, ...argv.slice(1)] : argv,
      netns,
      enter: "ip-netns",
      env,
      cwd: pod.dir,
      enabled: true,
    };
  });
}

const podFile = (dir: string, pod: { namespace: string; name: string }): string =>
  path.join(p(dir).pods, `${pod.namespace}.${pod.name}.yaml`);

export async function up(o: UpOptions): Promise<Result<ClusterState>> {
  const say = o.say ?? (() => undefined);
  const planned = makePlan(o.plan);
  if (!planned.ok) return planned;
  const plan = planned.value;
  if (!existsSync(MAIN_JS)) return err(new Error(`local up: ${MAIN_JS} not found: build first (npx tsc -p tsconfig.json)`));
  const manifests = readManifests(
    o.files,
    plan.nodes.map((n) => n.name),
  );
  if (!manifests.ok) return manifests;
  const m = manifests.value;
  const waypoints = planWaypoints(m.passthrough, waypointContext(o.dir, plan), new Set(m.services.map((s) => `${s.namespace}/${s.name}`)));
  if (!waypoints.ok) return waypoints;
  const mesh = meshConfigOf(m.passthrough);
  if (!mesh.ok) return mesh;
  // A cluster IP of a family the pods do not have could never be reached: refused, naming it.
  for (const s of m.services) {
    const off = s.clusterIPs?.find((ip) => !plan.podFamilies.includes(ip.includes(":") ? "ipv6" : "ipv4"));
    if (off)
      return err(
        new Error(
          `Service ${s.namespace}/${s.name}: spec.clusterIPs: ${off} is ${off.includes(":") ? "IPv6" : "IPv4"} but the cluster's pods are ${plan.podFamilies.join(" and ")} only (--ip-family)`,
        ),
      );
  }
  const cleaned = await down(o.dir, o.plan);
  if (cleaned.length) say(`cleaned up a previous run: ${cleaned.length} objects`);
  const dirs = p(o.dir);
  const result = await (async (): Promise<Result<ClusterState>> => {
    for (const d of [dirs.namespaces, dirs.pods, dirs.cniBin, dirs.ipam, dirs.run, dirs.logs]) await mkdir(d, { recursive: true });
    // Mesh CA (Istio cacerts layout), bootstrap tokens, the CNI plugin and conflists.
    const ca = await runNode(["ca", "init", "--dir", dirs.ca]);
    if (!ca.ok) return ca;
    const tokens: TokenEntry[] = [];
    for (const n of plan.nodes) {
      const token = randomBytes(24).toString("hex");
      tokens.push({ token, node: n.name, identity: ZTUNNEL_IDENTITY });
      await writeFile(path.join(o.dir, `token-${n.name}`), token, { mode: 0o600 });
    }
    for (const w of waypoints.value) tokens.push(await waypointToken(o.dir, w));
    await writeFile(dirs.tokens, JSON.stringify(tokens), { mode: 0o600 });
    await installPlugin(dirs.cniBin);
    for (const n of plan.nodes)
      await writeAtomic(path.join(dirs.cni, `${n.name}.conflist`), JSON.stringify(conflist(o.dir, plan, n), null, 1));
    // The API server's view: namespaces and the user's objects first, pods as they are created.
    for (const [name, labels] of m.namespaces)
      await writeAtomic(path.join(dirs.namespaces, `${name}.yaml`), toYaml(namespaceObject(name, labels)));
    for (const x of [...m.passthrough, ...waypoints.value.map((w) => w.serviceObject)]) await writeAtomic(objectFile(o.dir, x), toYaml(x));
    say(`network: underlay ${plan.underlayCidr} in netns ${plan.underlayNetns}, ${plan.nodes.length} nodes`);
    const net = await buildNetwork(plan);
    if (!net.ok) return net;
    await writeAtomic(path.join(o.dir, "dns-zone.json"), JSON.stringify(clusterZone(m.services)));
    // A previous run's file must not outlive its ConfigMap.
    if (mesh.value.text !== undefined) await writeAtomic(meshConfigFile(o.dir), mesh.value.text);
    else await rm(meshConfigFile(o.dir), { force: true });
    for (const s of componentSpecs(o.dir, plan, o.backend, mesh.value)) await writeSpec(o.dir, s);
    const sup = await startSupervisor(o.dir);
    if (!sup.ok) return sup;
    say(
      `control plane on ${plan.controlPlaneIp}:15012; ztunnel and cni-agent (${o.backend}) on every node; pods ${plan.ipv6 ? `${plan.podFamilies.includes("ipv4") ? "dual stack" : "IPv6 only"} (IPv6 from ${plan.ipv6.underlayCidr.replace(/::\/64$/, "::/48")})` : "IPv4"}`,
    );
    const wait = o.readyTimeoutMs ?? 30_000;
    const cpReady = await until(
      "control plane ready",
      wait,
      async () => (await httpGetIn(plan.underlayNetns, `http://${plan.controlPlaneIp}:15014/ready`, 1)).ok,
    );
    if (!cpReady.ok) return cpReady;
    for (const n of plan.nodes) {
      const a = await until(`cni-agent on ${n.name}`, wait, async () => {
        const s = await getAgentStatus(agentSocket(o.dir, n.name));
        return s.ok && s.value.synced;
      });
      if (!a.ok) return a;
    }
    const pods: PodRecord[] = [];
    for (const pod of m.pods) {
      const rec = await startPod(o.dir, plan, pod);
      if (!rec.ok) return err(new Error(`pod ${pod.namespace}/${pod.name}: ${rec.error.message}`, { cause: rec.error }));
      pods.push(rec.value);
      say(`pod ${pod.namespace}/${pod.name} on ${pod.node}: ${(rec.value.ips ?? [rec.value.ip]).join(", ")} (veth ${rec.value.hostVeth})`);
    }
    const wpRecords: WaypointRecord[] = [];
    for (const w of waypoints.value) {
      const rec = await startPod(o.dir, plan, w.pod);
      if (!rec.ok) return err(new Error(`waypoint pod ${w.pod.namespace}/${w.pod.name}: ${rec.error.message}`, { cause: rec.error }));
      pods.push(rec.value);
      wpRecords.push({
        gateway: `${w.gateway.namespace}/${w.gateway.name}`,
        namespace: w.pod.namespace,
        pod: w.pod.name,
        token: w.tokenFile,
      });
      say(`waypoint ${w.gateway.namespace}/${w.gateway.name}: pod ${w.pod.name} on ${w.pod.node}: ${rec.value.ip} (${w.identity})`);
    }
    const ips = new Map(pods.map((x) => [`${x.namespace}/${x.name}`, x.ips ?? [x.ip]]));
    const nat = renderServiceNat(vipRules(m.services, m.pods, ips), nodeCaptureDefaults.marks.capture, nodeCaptureDefaults.marks.mask);
    for (const n of plan.nodes) {
      const r = await applyNft(n.netns, nat);
      if (!r.ok) return err(new Error(`service NAT on ${n.name}: ${r.error.message}`));
    }
    for (const n of plan.nodes) {
      const z = await until(
        `ztunnel on ${n.name} ready`,
        wait,
        async () => (await httpGetIn(n.netns, `http://${n.underlayIp}:15021/healthz/ready`, 1)).ok,
      );
      if (!z.ok) return z;
    }
    const settled = await waitSettled(plan, pods, wait);
    if (!settled.ok) return settled;
    for (const w of wpRecords) {
      const ready = await waitWaypointReady(
        plan,
        pods.find((x) => x.namespace === w.namespace && x.name === w.pod)!,
        wait,
      );
      if (!ready.ok) return ready;
    }
    const state: ClusterState = {
      plan: o.plan,
      backend: o.backend,
      controlPlane: `${plan.controlPlaneIp}:15012`,
      nodes: plan.nodes.map((n) => ({ name: n.name, netns: n.netns, ip: n.underlayIp, podCidr: n.podCidr })),
      pods,
      services: [
        ...m.services.map((s) => ({
          name: `${s.namespace}/${s.name}`,
          ...(s.clusterIP ? { vip: s.clusterIP } : {}),
          ...(s.clusterIPs && s.clusterIPs.length > 1 ? { vips: s.clusterIPs } : {}),
        })),
        ...waypoints.value.map((w) => ({ name: `${w.service.namespace}/${w.service.name}` })),
      ],
      waypoints: wpRecords,
    };
    await writeAtomic(dirs.cluster, JSON.stringify(state, null, 1));
    return ok(state);
  })().catch((e: unknown) => err(e as Error));
  if (!result.ok) {
    // Keep the failed run's state file for down() to find, then remove everything.
    await writeAtomic(
      dirs.cluster,
      JSON.stringify({ plan: o.plan, backend: o.backend, pods: [], nodes: [], services: [], controlPlane: "" }),
    );
    await down(o.dir, o.plan);
  }
  return result;
}

/**
 * Waits until every ztunnel knows every pod by all its addresses and holds the certificates of
 * its node's enrolled pods (settled.ts says why: before that, a call to a pod's address is
 * passthrough in plaintext, or reset). The error names the ztunnel and what it still lacks.
 */
async function waitSettled(plan: ClusterPlan, pods: readonly PodRecord[], timeoutMs: number): Promise<Result<void>> {
  const deadline = Date.now() + timeoutMs;
  for (const n of plan.nodes) {
    let missing: string[] = ["(no config dump yet)"];
    for (;;) {
      const d = await httpGetIn(n.netns, `http://${n.underlayIp}:15000/config_dump`, 2);
      if (d.ok) {
        try {
          const dump: unknown = JSON.parse(d.value);
          missing = [...unknownPodAddresses(dump, pods), ...missingCertificates(dump, n.name)];
        } catch (e) {
          missing = [`(config dump is not JSON: ${(e as Error).message})`];
        }
      }
      if (missing.length === 0) break;
      if (Date.now() > deadline)
        return err(
          new Error(
            `timed out after ${timeoutMs} ms waiting for ztunnel on ${n.name} to know the pods and hold their certificates: missing ${missing.join(", ")}`,
          ),
        );
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return ok(undefined);
}

export async function startPod(dir: string, plan: ClusterPlan, pod: LocalPod): Promise<Result<PodRecord>> {
  const node = plan.nodes.find((n) => n.name === pod.node)!;
  const netns = podNetns(plan, pod.namespace, pod.name);
  await writeAtomic(podFile(dir, pod), toYaml(podObject(pod)));
  const made = await createNetns(netns);
  if (!made.ok) return made;
  const containerId = createHash("sha256")
    .update(`${pod.namespace}/${pod.name}/${Date.now()}/${randomBytes(4).toString("hex")}`)
    .digest("hex")
    .slice(0, 32);
  const args = {
    containerId,
    netns: `/run/netns/${netns}`,
    ifname: "eth0",
    args: { IgnoreUnknown: "1", K8S_POD_NAMESPACE: pod.namespace, K8S_POD_NAME: pod.name, K8S_POD_INFRA_CONTAINER_ID: containerId },
    cniPath: [p(dir).cniBin, "/usr/lib/cni"],
    hostNetns: node.netns,
  };
  const res = await cniAdd(conflist(dir, plan, node), args);
  if (!res.ok) return res;
  // IPv4 first: status.podIP stays the IPv4 address on a dual-stack cluster, as kubelet orders
  // podIPs by the cluster's primary family (IPv4 here).
  const ips = (res.value.ips ?? []).map((x) => x.address.split("/")[0]!).sort((a, b) => Number(a.includes(":")) - Number(b.includes(":")));
  const ip = ips[0];
  const hostVeth = res.value.interfaces?.find((i) => !i.sandbox)?.name;
  if (!ip || !hostVeth) return err(new Error(`cni ADD result has no IP or host interface: ${JSON.stringify(res.value)}`));
  await writeAtomic(podFile(dir, pod), toYaml(podObject(pod, { podIP: ip, podIPs: ips, ready: true })));
  // An IPv6-only pod asks the cluster DNS on the control plane's IPv6 address.
  await writePodResolvConf(
    netns,
    pod.namespace,
    plan.ipv6 && !plan.podFamilies.includes("ipv4") ? plan.ipv6.controlPlaneIp : plan.controlPlaneIp,
  );
  for (const s of podSpecs(pod, netns, ip)) await writeSpec(dir, s);
  return ok({ namespace: pod.namespace, name: pod.name, node: pod.node, netns, containerId, ip, ips, hostVeth, result: res.value });
}

function runNode(args: readonly string[]): Promise<Result<void>> {
  return new Promise((resolve) => {
    const c = spawn(process.execPath, [MAIN_JS, ...args], { stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    c.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    c.on("exit", (code) => resolve(code === 0 ? ok(undefined) : err(new Error(`weft ${args.join(" ")}: exit ${code}: ${stderr.trim()}`))));
  });
}

async function startSupervisor(dir: string): Promise<Result<void>> {
  const log = openSync(path.join(p(dir).logs, "supervisor.log"), "a");
  const c = spawn(process.execPath, [MAIN_JS, "local", "supervise", "--dir", dir], { detached: true, stdio: ["ignore", log, log] });
  closeSync(log);
  c.unref();
  const start = c.pid ? processStart(c.pid) : undefined;
  if (!c.pid || !start) return err(new Error("local up: the supervisor did not start (see logs/supervisor.log)"));
  const rec: PidRecord = { pid: c.pid, start, restarts: 0, startedAt: new Date().toISOString() };
  await writeAtomic(p(dir).supervisor, JSON.stringify(rec));
  return ok(undefined);
}

async function readState(dir: string): Promise<ClusterState | undefined> {
  try {
    return JSON.parse(await readFile(p(dir).cluster, "utf8")) as ClusterState;
  } catch {
    return undefined;
  }
}

async function cniDelPod(dir: string, plan: ClusterPlan, pod: PodRecord): Promise<void> {
  const node = plan.nodes.find((n) => n.name === pod.node);
  if (!node) return;
  await cniDel(
    conflist(dir, plan, node),
    {
      containerId: pod.containerId,
      netns: `/run/netns/${pod.netns}`,
      ifname: "eth0",
      args: { IgnoreUnknown: "1", K8S_POD_NAMESPACE: pod.namespace, K8S_POD_NAME: pod.name },
      cniPath: [p(dir).cniBin, "/usr/lib/cni"],
      hostNetns: node.netns,
    },
    pod.result,
  );
}

/** Stops one pod of a running cluster: its processes, CNI DEL, its namespace and Pod object. */
export async function stopPod(dir: string, plan: ClusterPlan, pod: PodRecord): Promise<void> {
  const prefix = `pod-${pod.namespace}-${pod.name}-`;
  for (const name of (await readSpecs(dir)).keys())
    if (name.startsWith(prefix)) await rm(path.join(dir, "procs", `${name}.json`), { force: true });
  const deadline = Date.now() + 5000;
  const alive = async (): Promise<boolean> => [...(await readPids(dir))].some(([n, r]) => n.startsWith(prefix) && isAlive(r));
  while ((await alive()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  for (const [n, r] of await readPids(dir)) if (n.startsWith(prefix)) signalRecord(r, "SIGKILL");
  await rm(podFile(dir, pod), { force: true });
  await cniDelPod(dir, plan, pod);
  await run("ip", ["netns", "del", pod.netns]);
}

export async function writeState(dir: string, state: ClusterState): Promise<void> {
  await writeAtomic(p(dir).cluster, JSON.stringify(state, null, 1));
}

/**
 * Stops every process of the cluster in STATE (supervisor first, so nothing restarts), runs
 * CNI DEL for its pods, deletes its namespaces and pins. Also cleans a crashed run. `fallback`
 * names the cluster when STATE has no record. Returns what it removed.
 */
export async function down(dir: string, fallback?: PlanOptions): Promise<string[]> {
  const removed: string[] = [];
  const state = await readState(dir);
  const sup = await readFile(p(dir).supervisor, "utf8").then(
    (t) => JSON.parse(t) as PidRecord,
    () => undefined,
  );
  if (sup && signalRecord(sup, "SIGTERM")) {
    removed.push(`supervisor ${sup.pid}`);
    const deadline = Date.now() + 6000;
    while (isAlive(sup) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    signalRecord(sup, "SIGKILL");
  }
  for (const [name, rec] of await readPids(dir)) if (signalRecord(rec, "SIGKILL")) removed.push(`process ${name} ${rec.pid}`);
  const planned = makePlan(state?.plan ?? fallback ?? { ...defaultPlanOptions() });
  if (planned.ok) {
    for (const pod of state?.pods ?? []) await cniDelPod(dir, planned.value, pod);
    removed.push(...(await destroyNetwork(planned.value)));
    removed.push(...(await removeResolvConfs(netnsPrefix(planned.value))));
  }
  for (const f of [
    p(dir).cluster,
    p(dir).supervisor,
    p(dir).run,
    p(dir).ipam,
    p(dir).config,
    p(dir).waypointTokens,
    path.join(dir, "procs"),
    path.join(dir, "pids"),
  ])
    await rm(f, { recursive: true, force: true });
  return removed;
}

export function defaultPlanOptions(): PlanOptions {
  return { prefix: "weft-", cluster: "local", nodes: 2, underlay: "198.18.0.0", podBase: "198.18.10.0", pinRoot: "/sys/fs/bpf/weft" };
}

/** `weft local label namespace NAME k=v k-`: edits the namespace object in the config folder. */
export async function labelNamespace(dir: string, name: string, edits: readonly string[]): Promise<Result<Record<string, string>>> {
  const file = namespaceFile(dir, name);
  let labels: Record<string, string> = {};
  try {
    const { parse } = await import("yaml");
    labels = ((parse(await readFile(file, "utf8")) as { metadata?: { labels?: Record<string, string> } }).metadata?.labels ?? {}) as Record<
      string,
      string
    >;
  } catch {
    if (!existsSync(p(dir).namespaces)) return err(new Error(`local label: no cluster in ${dir}`));
  }
  const next = applyLabelEdits(labels, edits);
  if (!next.ok) return next;
  await writeAtomic(file, toYaml(namespaceObject(name, next.value)));
  return ok(next.value);
}

/**
 * `weft local label service|pod NS/NAME k=v k-`: edits the labels of a Service (config/objects)
 * or a Pod (config/pods) as `kubectl label` does; the object must exist.
 */
export async function labelObject(
  dir: string,
  kind: "service" | "pod",
  ref: string,
  edits: readonly string[],
): Promise<Result<Record<string, string>>> {
  const [ns, name, extra] = ref.split("/");
  if (!ns || !name || extra !== undefined) return err(new Error(`local label ${kind}: ${JSON.stringify(ref)}: expected NAMESPACE/NAME`));
  const file =
    kind === "pod"
      ? podFile(dir, { namespace: ns, name })
      : objectFile(dir, { apiVersion: "v1", kind: "Service", metadata: { name, namespace: ns } });
  const { parse } = await import("yaml");
  let obj: { metadata: { labels?: Record<string, string> } };
  try {
    obj = parse(await readFile(file, "utf8")) as typeof obj;
  } catch {
    return err(new Error(`local label ${kind}: ${ns}/${name}: no such ${kind === "pod" ? "Pod" : "Service"} in ${dir}`));
  }
  const next = applyLabelEdits(obj.metadata.labels ?? {}, edits);
  if (!next.ok) return next;
  obj.metadata.labels = next.value;
  await writeAtomic(file, toYaml(obj));
  return ok(next.value);
}

/** `weft local process stop|start NAME`: disables or re-enables one supervised process. */
export async function setProcessEnabled(dir: string, name: string, enabled: boolean): Promise<Result<void>> {
  const spec = (await readSpecs(dir)).get(name);
  if (!spec)
    return err(new Error(`local process: no process ${JSON.stringify(name)} (known: ${[...(await readSpecs(dir)).keys()].join(", ")})`));
  await writeSpec(dir, { ...spec, enabled });
  return ok(undefined);
}

export async function status(dir: string): Promise<Result<string>> {
  const state = await readState(dir);
  if (!state) return err(new Error(`local status: no cluster in ${dir} (run weft local up)`));
  const lines: string[] = [
    `cluster ${state.plan.cluster}: control plane ${state.controlPlane}, backend ${state.backend}`,
    "",
    "NODE      NETNS                          UNDERLAY        POD CIDR",
  ];
  for (const n of state.nodes) lines.push(`${n.name.padEnd(9)} ${n.netns.padEnd(30)} ${n.ip.padEnd(15)} ${n.podCidr}`);
  const enrolled = new Map<string, string>();
  for (const n of state.nodes) {
    const s = await getAgentStatus(agentSocket(dir, n.name));
    if (!s.ok) {
      lines.push(`(cni-agent on ${n.name} unreachable: ${s.error.message})`);
      continue;
    }
    for (const pod of s.value.pods) enrolled.set(pod.key, `${pod.applied ? "enrolled" : "not enrolled"} (${pod.decision.reason})`);
  }
  lines.push("", "POD                              NODE      IP              CAPTURE");
  for (const pod of state.pods)
    lines.push(
      `${`${pod.namespace}/${pod.name}`.padEnd(32)} ${pod.node.padEnd(9)} ${pod.ip.padEnd(15)} ${enrolled.get(`${pod.namespace}/${pod.name}`) ?? "unknown"}`,
    );
  lines.push("", "SERVICE                          VIP");
  for (const s of state.services) lines.push(`${s.name.padEnd(32)} ${(s.vips ?? (s.vip ? [s.vip] : [])).join(", ") || "-"}`);
  lines.push("", "PROCESS                          PID      RESTARTS");
  const pids = await readPids(dir);
  for (const [name, spec] of await readSpecs(dir)) {
    const rec = pids.get(name);
    lines.push(
      `${name.padEnd(32)} ${(!spec.enabled ? "stopped" : rec && isAlive(rec) ? String(rec.pid) : "down").padEnd(8)} ${rec?.restarts ?? 0}`,
    );
  }
  return ok(`${lines.join("\n")}\n`);
}

export { readState };
