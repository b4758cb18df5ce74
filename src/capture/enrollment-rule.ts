/**
 * The one ambient enrollment rule, shared by the control plane (which publishes a pod's tunnel
 * protocol: HBONE or NONE) and the CNI node agent (which captures the pod's traffic), so that
 * peers send HBONE exactly to the pods whose traffic is captured. Two parts, both pure:
 *
 * - `ambientByLabels`: Istio's order (cni/pkg/util PodRedirectionEnabled and the pilot ambient
 *   controller): pod label `istio.io/dataplane-mode=none` opts out; an injected sidecar
 *   (`sidecar.istio.io/status`) opts out; pod label `ambient` opts in; else the namespace label
 *   `ambient` decides.
 * - `capturableAddresses`: what weft's redirection can capture: at least one address, every
 *   one an IPv4 or IPv6 literal (both backends capture both families, docs/capture.md; IPv4-only,
 *   IPv6-only and dual-stack pods are captured, as upstream Istio does). A pod with an address
 *   that is not an IP is neither captured nor published as HBONE: peers must not tunnel to a pod
 *   no ztunnel serves.
 */
import { isIP } from "node:net";

export const DATAPLANE_MODE = "istio.io/dataplane-mode";
/** Present on pods with an injected sidecar: those are never captured by ztunnel. */
export const SIDECAR_STATUS = "sidecar.istio.io/status";

type Labels = Readonly<Record<string, string>>;

export interface RuleOutcome {
  readonly enroll: boolean;
  /** Why, for logs and status ("pod label istio.io/dataplane-mode=none", ...). */
  readonly reason: string;
}

/** Labels and annotations only; `namespaceLabels` undefined when the namespace is not known (yet). */
export function ambientByLabels(podLabels: Labels, podAnnotations: Labels, namespaceLabels: Labels | undefined): RuleOutcome {
  const mode = podLabels[DATAPLANE_MODE];
  if (mode === "none") return { enroll: false, reason: `pod label ${DATAPLANE_MODE}=none` };
  if (podAnnotations[SIDECAR_STATUS] !== undefined) return { enroll: false, reason: "pod has a sidecar" };
  if (mode === "ambient") return { enroll: true, reason: `pod label ${DATAPLANE_MODE}=ambient` };
  if (namespaceLabels?.[DATAPLANE_MODE] === "ambient") return { enroll: true, reason: `namespace label ${DATAPLANE_MODE}=ambient` };
  return { enroll: false, reason: namespaceLabels ? "namespace not labelled ambient" : "namespace unknown" };
}

/** Whether redirection can capture a pod with these addresses. */
export function capturableAddresses(ips: readonly string[]): RuleOutcome {
  if (ips.length === 0) return { enroll: false, reason: "no IP address" };
  const bad = ips.find((ip) => isIP(ip) === 0);
  if (bad !== undefined) return { enroll: false, reason: `${JSON.stringify(bad)} is not an IP address` };
  return { enroll: true, reason: "capturable" };
}
