/**
 * Which pods of this node the redirection must capture: the node agent's one decision, pure.
 *
 * The rules follow Istio's CNI node agent (cni/pkg/util PodRedirectionEnabled) and weft's
 * control plane (src/controlplane/translate/mesh-labels.ts isEnrolled), so that ztunnel treats
 * exactly the captured pods as HBONE workloads:
 *  1. pod label `istio.io/dataplane-mode=none` opts the pod out;
 *  2. a pod with an injected sidecar (`sidecar.istio.io/status`) is never captured;
 *  3. pod label `istio.io/dataplane-mode=ambient` opts the pod in;
 *  4. otherwise the namespace label `istio.io/dataplane-mode=ambient` decides.
 * A pod is only capturable with a host interface and at least one IPv4 address (capture is
 * IPv4-only; a dual-stack pod is refused, docs/capture.md), and only once it is on this node.
 * When the Pod object has not been seen yet (the CNI event came first), the namespace decides
 * alone and the decision is revisited when the object arrives.
 */
import { isIPv4, isIPv6 } from "node:net";
import type { Decision } from "../../capture/agent-api.js";

export const DATAPLANE_MODE = "istio.io/dataplane-mode";
export const SIDECAR_STATUS = "sidecar.istio.io/status";
export const REDIRECTION_ANNOTATION = "ambient.istio.io/redirection";

type Labels = Readonly<Record<string, string>>;

/** What the agent knows of one pod: CNI facts plus, when seen, its object's metadata. */
export interface PodFacts {
  /** `namespace/name`. */
  readonly key: string;
  readonly namespace: string;
  readonly name: string;
  /** From the CNI ADD; undefined when only the object is known (no sandbox on this node yet). */
  readonly cni?: { readonly containerId: string; readonly netns: string; readonly hostInterface?: string; readonly ips: readonly string[] };
  /** From the config source; undefined until the Pod object has been seen. */
  readonly object?: { readonly labels: Labels; readonly annotations: Labels; readonly nodeName?: string };
}

export type { Decision };

export function decide(pod: PodFacts, namespaceLabels: Labels | undefined, node: string): Decision {
  const no = (reason: string): Decision => ({ enroll: false, reason });
  if (!pod.cni) return no("no sandbox on this node");
  if (pod.object?.nodeName !== undefined && pod.object.nodeName !== node) return no(`scheduled on node ${pod.object.nodeName}`);
  const labels = pod.object?.labels ?? {};
  const mode = labels[DATAPLANE_MODE];
  if (mode === "none") return no(`pod label ${DATAPLANE_MODE}=none`);
  if (pod.object?.annotations[SIDECAR_STATUS] !== undefined) return no("pod has a sidecar");
  let why: string;
  if (mode === "ambient") why = `pod label ${DATAPLANE_MODE}=ambient`;
  else if (namespaceLabels?.[DATAPLANE_MODE] === "ambient") why = `namespace label ${DATAPLANE_MODE}=ambient`;
  else return no(namespaceLabels ? "namespace not labelled ambient" : "namespace unknown");
  if (!pod.cni.hostInterface) return no("no host interface in the CNI result");
  if (pod.cni.ips.some((ip) => isIPv6(ip))) return no("dual-stack or IPv6 pod: capture is IPv4-only");
  if (!pod.cni.ips.some((ip) => isIPv4(ip))) return no("no IPv4 address");
  return { enroll: true, reason: why };
}

/** The redirection state of one pod as the backend needs it. */
export interface Capture {
  readonly key: string;
  readonly hostVeth: string;
  readonly ips: readonly string[];
}

export interface Plan {
  readonly enroll: readonly Capture[];
  readonly unenroll: readonly Capture[];
}

/**
 * What to change so the applied captures equal the desired ones. A pod whose veth or IPs
 * changed (sandbox re-created under the same name) is unenrolled and enrolled again.
 */
export function plan(desired: ReadonlyMap<string, Capture>, applied: ReadonlyMap<string, Capture>): Plan {
  const same = (a: Capture, b: Capture): boolean => a.hostVeth === b.hostVeth && a.ips.join(",") === b.ips.join(",");
  const enroll: Capture[] = [];
  const unenroll: Capture[] = [];
  for (const [key, cur] of applied) {
    const want = desired.get(key);
    if (!want || !same(want, cur)) unenroll.push(cur);
  }
  for (const [key, want] of desired) {
    const cur = applied.get(key);
    if (!cur || !same(want, cur)) enroll.push(want);
  }
  const byKey = (a: Capture, b: Capture): number => a.key.localeCompare(b.key);
  return { enroll: enroll.sort(byKey), unenroll: unenroll.sort(byKey) };
}
