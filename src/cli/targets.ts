/**
 * Where the inspection verbs find the mesh's components:
 * - explicit addresses (`--controlplane HOST:PORT`, `--ztunnel HOST:PORT`): any deployment,
 *   e.g. a Kubernetes cluster through `kubectl port-forward` (istiod 15014, ztunnel 15000);
 * - a Kubernetes cluster (`--kubeconfig`/`--context`, or kubectl's kubeconfig when no local
 *   cluster runs; the rule is kube-target-select.ts `targetMode`): the pods behind Service
 *   `istiod` and of DaemonSet `ztunnel`, reached through port-forwards (kube-targets.ts);
 * - otherwise the local cluster in `--dir` (default /run/weft-local, env WEFT_LOCAL_DIR): its
 *   state file names the control plane and each node; their admin ports live in network
 *   namespaces, so requests run `curl` inside the right one (root, like `weft local`).
 */
import { existsSync } from "node:fs";
import path from "node:path";
import type { Command } from "commander";
import { readState } from "../local/cluster.js";
import { httpGetIn } from "../local/network.js";
import { makePlan } from "../local/plan.js";
import { type Result, ok, err } from "../common/result.js";
import { CliError, EXIT_USAGE } from "./command.js";
import { type TargetMode, targetMode } from "./kube-target-select.js";
import { DEFAULT_SYSTEM_NAMESPACE, kubeControlPlaneEndpoint, kubePodEndpoint, kubeZtunnelEndpoints } from "./kube-targets.js";

export const DEFAULT_LOCAL_DIR = "/run/weft-local";
/** istiod's monitoring port, where weft's control plane serves /debug/adsz and /config_dump. */
export const DEFAULT_CONTROLPLANE_MONITOR_PORT = 15014;
/** ztunnel's admin port. */
export const DEFAULT_ZTUNNEL_ADMIN_PORT = 15000;
/** A waypoint's admin port, on the pod's loopback as Envoy's (src/waypoint/config.ts DEFAULT_ADMIN). */
export const DEFAULT_WAYPOINT_ADMIN_PORT = 15000;

/** An HTTP base address, reached directly or from inside a network namespace. */
export interface Endpoint {
  readonly name: string;
  readonly base: string;
  readonly netns?: string;
  /** What it is, for messages (default: name). */
  readonly label?: string;
  /** What failed on the way to it (a port-forward's error), for messages. */
  failure?(): string | undefined;
  /** Releases what reaching it holds (a port-forward); the verbs call closeEndpoints. */
  close?(): Promise<void>;
}

export interface TargetOptions {
  dir?: string;
  controlplane?: string;
  ztunnel?: string;
  kubeconfig?: string;
  context?: string;
  istioNamespace?: string;
}

export function targetOptions(cmd: Command, what: { controlplane?: boolean; ztunnel?: boolean; kube?: boolean }): Command {
  cmd.option("--dir <state>", `local cluster state folder (env WEFT_LOCAL_DIR, default ${DEFAULT_LOCAL_DIR})`);
  if (what.controlplane)
    cmd.option(
      "--controlplane <host:port>",
      `control plane monitoring address instead of the local cluster's (port ${DEFAULT_CONTROLPLANE_MONITOR_PORT})`,
    );
  if (what.ztunnel)
    cmd.option("--ztunnel <host:port>", `one ztunnel's admin address instead of the local cluster's (port ${DEFAULT_ZTUNNEL_ADMIN_PORT})`);
  if (what.kube)
    cmd
      .option("--kubeconfig <file>", "a Kubernetes cluster instead (default when no local cluster runs: $KUBECONFIG, else ~/.kube/config)")
      .option("--context <name>", "kubeconfig context (default: its current-context)")
      .option("--istio-namespace <ns>", "with Kubernetes: where Service istiod and DaemonSet ztunnel are", DEFAULT_SYSTEM_NAMESPACE);
  return cmd;
}

/** Which target the verb uses (the rule: kube-target-select.ts targetMode, docs/cli.md). */
export function modeOf(o: TargetOptions, address: string | undefined, kube: boolean): TargetMode {
  const m = targetMode(
    { address, dir: o.dir, kubeconfig: kube ? o.kubeconfig : undefined, context: kube ? o.context : undefined },
    {
      env: process.env,
      defaultDir: DEFAULT_LOCAL_DIR,
      localClusterIn: (dir) => existsSync(path.join(dir, "cluster.json")),
      fileExists: (f) => kube && existsSync(f),
    },
  );
  if (!m.ok) throw new CliError(m.error.message, EXIT_USAGE);
  return m.value;
}

/** Releases the endpoints' port-forwards. */
export async function closeEndpoints(eps: readonly Endpoint[]): Promise<void> {
  await Promise.all(eps.map((e) => e.close?.()));
}

export function localDir(o: TargetOptions): string {
  return o.dir ?? process.env.WEFT_LOCAL_DIR ?? DEFAULT_LOCAL_DIR;
}

function hostPortBase(text: string, flag: string): string {
  if (!/^(\[[0-9a-fA-F:.]+\]|[^:\s/]+):\d{1,5}$/.test(text))
    throw new CliError(`${flag}: ${JSON.stringify(text)} is not HOST:PORT`, EXIT_USAGE);
  return `http://${text}`;
}

async function localState(o: TargetOptions) {
  const dir = localDir(o);
  const state = await readState(dir);
  if (!state || state.nodes.length === 0)
    throw new CliError(
      `no local cluster in ${dir} (start one with weft local up, give --dir or --kubeconfig, or give the component's address: see --help)`,
    );
  return state;
}

/** The control plane's monitoring endpoint; `kube`: the verb supports Kubernetes discovery. */
export async function controlPlaneEndpoint(o: TargetOptions, kube = false): Promise<Endpoint> {
  const mode = modeOf(o, o.controlplane, kube);
  if (o.controlplane) return { name: "controlplane", base: hostPortBase(o.controlplane, "--controlplane") };
  if (mode.kind === "kube") return kubeControlPlaneEndpoint({ ...mode, namespace: o.istioNamespace }, DEFAULT_CONTROLPLANE_MONITOR_PORT);
  const state = await localState(o);
  const plan = makePlan(state.plan);
  if (!plan.ok) throw new CliError(`local cluster state in ${localDir(o)}: ${plan.error.message}`);
  return {
    name: "controlplane",
    base: `http://${plan.value.controlPlaneIp}:${DEFAULT_CONTROLPLANE_MONITOR_PORT}`,
    netns: plan.value.underlayNetns,
  };
}

/**
 * Every node's ztunnel endpoint on `port` (default the admin port; named by node), or the one
 * given. `kube`: the verb supports Kubernetes discovery, where `node` picks the pod on that node
 * before forwarding.
 */
export async function ztunnelEndpoints(
  o: TargetOptions,
  kube = false,
  node?: string,
  port = DEFAULT_ZTUNNEL_ADMIN_PORT,
): Promise<Endpoint[]> {
  const mode = modeOf(o, o.ztunnel, kube);
  if (o.ztunnel) return [{ name: o.ztunnel, base: hostPortBase(o.ztunnel, "--ztunnel") }];
  if (mode.kind === "kube") return kubeZtunnelEndpoints({ ...mode, namespace: o.istioNamespace }, port, node);
  const state = await localState(o);
  return state.nodes.map((n) => ({ name: n.name, base: `http://${n.ip}:${port}`, netns: n.netns }));
}

/**
 * A pod's port, also one it listens on only on its loopback (a waypoint's admin): in the local
 * cluster reached inside the pod's network namespace, in Kubernetes through a port-forward (the
 * caller closes it); undefined with an explicit --ztunnel, or when the local cluster has no such pod.
 */
export async function podEndpoint(
  o: TargetOptions,
  namespace: string,
  name: string,
  port: number,
  kube = false,
): Promise<Endpoint | undefined> {
  if (o.ztunnel) return undefined;
  const mode = modeOf(o, undefined, kube);
  if (mode.kind === "kube") return kubePodEndpoint(mode, namespace, name, port);
  const pod = (await localState(o)).pods.find((p) => p.namespace === namespace && p.name === name);
  return pod ? { name: `pod ${namespace}/${name}`, base: `http://127.0.0.1:${port}`, netns: pod.netns } : undefined;
}

export async function httpGet(ep: Endpoint, path: string, timeoutS = 3): Promise<Result<string>> {
  const url = `${ep.base}${path}`;
  const label = ep.label ?? ep.name;
  if (ep.netns) {
    if (process.getuid?.() !== 0)
      return err(new Error(`${ep.name}: reaching the local cluster needs root (its components live in network namespaces)`));
    const r = await httpGetIn(ep.netns, url, timeoutS);
    return r.ok ? r : err(new Error(`${ep.name} at ${url}: ${r.error.message.split("\n")[0]}`));
  }
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutS * 1000) });
    const text = await res.text();
    return res.ok ? ok(text) : err(new Error(`${label} at ${url}: HTTP ${res.status}: ${text.trim().split("\n")[0]}`));
  } catch (e) {
    const cause = (e as { cause?: { code?: string; message?: string } }).cause;
    const failure = ep.failure?.();
    if (failure) return err(new Error(`${label} ${path}: ${failure}`));
    return err(new Error(`${label} at ${url}: ${cause?.code ?? cause?.message ?? (e as Error).message}`));
  }
}

export async function httpGetJson<T>(ep: Endpoint, path: string): Promise<Result<T>> {
  const r = await httpGet(ep, path);
  if (!r.ok) return r;
  try {
    return ok(JSON.parse(r.value) as T);
  } catch {
    return err(new Error(`${ep.name} ${path}: answer is not JSON`));
  }
}
