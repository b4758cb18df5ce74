/**
 * The node agent's API: the message the CNI plugin sends to its node agent (HTTP POST of JSON
 * on the agent's Unix socket, path `/v1/cni`), the agent's reply, and its status document
 * (GET `/v1/status`, read by `weft local status`). Shared by the plugin, the agent and the
 * local cluster; no logic.
 */

export interface PodEvent {
  readonly command: "ADD" | "DEL" | "CHECK";
  /** CNI_CONTAINERID: the sandbox id; the key of the pod on the agent until it is named. */
  readonly containerId: string;
  /** CNI_NETNS: path of the pod's network namespace (may be empty on DEL). */
  readonly netns: string;
  /** CNI_IFNAME: the interface inside the pod. */
  readonly ifname: string;
  /** K8S_POD_NAMESPACE / K8S_POD_NAME from CNI_ARGS ("" when the runtime gave none). */
  readonly namespace: string;
  readonly name: string;
  /** The pod's addresses from prevResult (no prefix length). */
  readonly ips: readonly string[];
  /** Host-side interface from prevResult (the one without a sandbox). */
  readonly hostInterface?: string;
}

export const AGENT_PATH = "/v1/cni";

export interface AgentReply {
  /** ADD/CHECK: whether the agent captures the pod now. */
  readonly enrolled?: boolean;
  /** Failure reason, when the status is not 2xx. */
  readonly error?: string;
}

/** The agent's enrollment decision for one pod (src/cni/agent/enrollment.ts decides it). */
export type Decision = { readonly enroll: true; readonly reason: string } | { readonly enroll: false; readonly reason: string };

export interface PodStatusLine {
  readonly key: string;
  readonly ips: readonly string[];
  readonly hostInterface?: string;
  readonly decision: Decision;
}

export interface AgentStatus {
  readonly node: string;
  readonly backend: string;
  readonly synced: boolean;
  readonly pods: readonly (PodStatusLine & { readonly applied: boolean })[];
  readonly lastError?: string;
}
