/**
 * The inspection verbs' targets in a Kubernetes cluster, found through the API server as
 * istioctl finds them: the control plane is a Running pod behind Service `istiod` (its selector),
 * the ztunnels the pods of DaemonSet `ztunnel` (one per `spec.nodeName`), both in the system
 * namespace (default istio-system). Each is reached through a port-forward (pods/portforward,
 * src/kube/client/kube-port-forward.ts) to the pod's monitoring (15014) or admin (15000) port,
 * open on 127.0.0.1 for the duration of the verb; the verbs' HTTP code then runs unchanged.
 * Pure choices are in kube-target-select.ts.
 */
import { existsSync } from "node:fs";
import { loadKubeconfig } from "../kube/client/kube-config.js";
import type { KubeClientConfig } from "../kube/client/kube-config.js";
import { type KubeApi, kubeApi } from "../kube/client/kube-api.js";
import { forwardPodPort } from "../kube/client/kube-port-forward.js";
import { CliError, EXIT_USAGE } from "./command.js";
import { type LabelSelector, type PodSummary, pickControlPlanePod, pickZtunnelPods, selectorQuery } from "./kube-target-select.js";

export const DEFAULT_SYSTEM_NAMESPACE = "istio-system";
export const CONTROLPLANE_SERVICE = "istiod";
export const ZTUNNEL_DAEMONSET = "ztunnel";
/** How long each API request of the discovery may take. */
const REQUEST_TIMEOUT_MS = 10_000;

/** An HTTP base on a forwarded local port (structurally a targets.ts Endpoint). */
export interface ForwardedEndpoint {
  readonly name: string;
  /** What the endpoint is, for messages (the pod and port). */
  readonly label: string;
  readonly base: string;
  failure(): string | undefined;
  close(): Promise<void>;
}

export interface KubeTarget {
  readonly kubeconfig: string;
  readonly context?: string;
  readonly namespace?: string;
}

function connect(t: KubeTarget): { api: KubeApi; config: KubeClientConfig } {
  if (!existsSync(t.kubeconfig)) throw new CliError(`--kubeconfig ${t.kubeconfig}: no such file`, EXIT_USAGE);
  const cfg = loadKubeconfig(t.kubeconfig, t.context);
  if (!cfg.ok) throw new CliError(`--kubeconfig ${t.kubeconfig}: ${cfg.error.message}`, EXIT_USAGE);
  return { api: kubeApi(cfg.value), config: cfg.value };
}

async function get<T>(api: KubeApi, path: string, what: string): Promise<T> {
  const r = await api.request<T>("GET", path, undefined, { timeoutMs: REQUEST_TIMEOUT_MS });
  if (r.ok) return r.value;
  throw new CliError(
    r.error.httpStatus === 404 ? `${what} not found (${api.server}; is weft or Istio installed?)` : `${what}: ${r.error.message}`,
  );
}

async function selectedPods(
  api: KubeApi,
  ns: string,
  sel: LabelSelector | undefined,
  what: string,
): Promise<{ selector: string; pods: PodSummary[] }> {
  const q = selectorQuery(sel, what);
  if (!q.ok) throw new CliError(q.error.message);
  const list = await get<{ items: PodSummary[] }>(
    api,
    `/api/v1/namespaces/${ns}/pods?labelSelector=${encodeURIComponent(q.value)}`,
    `pods of ${what}`,
  );
  return { selector: q.value, pods: list.items };
}

async function forwarded(config: KubeClientConfig, ns: string, pod: string, port: number, name: string): Promise<ForwardedEndpoint> {
  const f = await forwardPodPort(config, ns, pod, port);
  if (!f.ok) throw new CliError(f.error.message);
  return { name, label: name, base: `http://127.0.0.1:${f.value.port}`, failure: () => f.value.lastError(), close: () => f.value.close() };
}

/** One pod's port (a waypoint's admin or metrics), named `pod NS/NAME`. */
export async function kubePodEndpoint(t: KubeTarget, namespace: string, pod: string, port: number): Promise<ForwardedEndpoint> {
  return forwarded(connect(t).config, namespace, pod, port, `pod ${namespace}/${pod} port ${port}`);
}

export async function kubeControlPlaneEndpoint(t: KubeTarget, port: number): Promise<ForwardedEndpoint> {
  const { api, config } = connect(t);
  const ns = t.namespace ?? DEFAULT_SYSTEM_NAMESPACE;
  const what = `Service ${ns}/${CONTROLPLANE_SERVICE}`;
  const svc = await get<{ spec?: { selector?: Record<string, string> } }>(
    api,
    `/api/v1/namespaces/${ns}/services/${CONTROLPLANE_SERVICE}`,
    what,
  );
  const { selector, pods } = await selectedPods(api, ns, { matchLabels: svc.spec?.selector ?? {} }, what);
  const pod = pickControlPlanePod(`${ns}/${CONTROLPLANE_SERVICE}`, selector, pods);
  if (!pod.ok) throw new CliError(pod.error.message);
  const name = pod.value.metadata.name;
  return forwarded(config, ns, name, port, `control plane pod ${ns}/${name} (${what}) port ${port}`);
}

/** Every node's ztunnel (named by node), or only `node`'s. */
export async function kubeZtunnelEndpoints(t: KubeTarget, port: number, node?: string): Promise<ForwardedEndpoint[]> {
  const { api, config } = connect(t);
  const ns = t.namespace ?? DEFAULT_SYSTEM_NAMESPACE;
  const what = `DaemonSet ${ns}/${ZTUNNEL_DAEMONSET}`;
  const ds = await get<{ spec?: { selector?: LabelSelector } }>(
    api,
    `/apis/apps/v1/namespaces/${ns}/daemonsets/${ZTUNNEL_DAEMONSET}`,
    what,
  );
  const { selector, pods } = await selectedPods(api, ns, ds.spec?.selector, what);
  const picked = pickZtunnelPods(`${ns}/${ZTUNNEL_DAEMONSET}`, selector, pods, node);
  if (!picked.ok) throw new CliError(picked.error.message, node !== undefined ? EXIT_USAGE : undefined);
  const out: ForwardedEndpoint[] = [];
  try {
    for (const p of picked.value) {
      const node = p.spec!.nodeName!;
      const ep = await forwarded(config, ns, p.metadata.name, port, `ztunnel pod ${ns}/${p.metadata.name} (node ${node}) port ${port}`);
      out.push({ ...ep, name: node });
    }
  } catch (e) {
    await Promise.all(out.map((ep) => ep.close()));
    throw e;
  }
  return out;
}
