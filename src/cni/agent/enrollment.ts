/**
 * Which pods of this node the redirection must capture: the node agent's one decision, pure.
 *
 * The labels and the address rule are the ones the control plane publishes tunnel protocols
 * with (src/capture/enrollment-rule.ts, shared), so that ztunnel treats exactly the captured
 * pods as HBONE workloads (test/controlplane/enrollment-agreement.test.ts pins the two). Here
 * in addition: a pod is only capturable with a host interface, and only once it is on this node.
 * When the Pod object has not been seen yet (the CNI event came first), the namespace decides
 * alone and the decision is revisited when the object arrives.
 */
import type { Decision } from "../../capture/agent-api.js";
import { ambientByLabels, capturableAddresses } from "../../capture/enrollment-rule.js";

export { DATAPLANE_MODE, SIDECAR_STATUS } from "../../capture/enrollment-rule.js";
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
  const byLabels = ambientByLabels(pod.object?.labels ?? {}, pod.object?.annotations ?? {}, namespaceLabels);
  if (!byLabels.enroll) return no(byLabels.reason);
  if (!pod.cni.hostInterface) return no("no host interface in the CNI result");
  const addresses = capturableAddresses(pod.cni.ips);
  if (!addresses.enroll) return no(addresses.reason);
  return { enroll: true, reason: byLabels.reason };
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

/**
 * The first round after a restart that kept the previous run's captures (`adopted`, from the
 * state file): what is no longer desired is unenrolled as `plan` would, and every desired pod is
 * enrolled again, also those the state file lists as applied. Enrolling is idempotent, so this
 * costs a no-op per pod where the kernel still holds the capture, and restores it where the
 * kernel lost it (a node reboot with the state file kept, pins removed by hand): the state file
 * is trusted for what to release, never for what is captured.
 */
export function planAfterRestart(desired: ReadonlyMap<string, Capture>, adopted: ReadonlyMap<string, Capture>): Plan {
  const byKey = (a: Capture, b: Capture): number => a.key.localeCompare(b.key);
  return { enroll: [...desired.values()].sort(byKey), unenroll: plan(desired, adopted).unenroll };
}
