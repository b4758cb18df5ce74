/**
 * The redirection backend interface: how the node agent turns "this pod is enrolled" into
 * kernel state that hands the pod's TCP connections to ztunnel (docs/capture.md).
 *
 * Two implementations keep the same contract (ebpf.ts, nftables.ts):
 *  - outbound: a connection from an enrolled pod is accepted by ztunnel's 15001 listener, the
 *    accepted socket's local address being the original destination;
 *  - inbound: a plaintext connection to an enrolled pod from anything but ztunnel is accepted by
 *    the 15006 listener, and one to the pod's IP on the HBONE port by the 15008 listener;
 *  - ztunnel's own sockets carry `marks.ztunnel` (SO_MARK) and are never captured;
 *  - fail closed: with no listener, captured connections fail; they never pass in clear;
 *  - every operation is idempotent and all-or-nothing; teardown() and cleanupStale() remove
 *    everything the backend ever created in the node namespace (and its BPF pins);
 *  - setup() over the state of a run of the same version() keeps every capture applied, so a
 *    node agent restart leaves no window in which enrolled pods are not captured;
 *  - cleanupStale() also removes what the other backend left (an agent that crashed with one
 *    backend and restarts with the other), through the `StaleCleaner` of that backend that
 *    createRedirectBackend (index.ts) hands it; only weft's own state either way.
 */
import type { Result } from "../common/result.js";

export interface CapturePorts {
  /** Outbound capture listener (Istio: 15001). */
  readonly outbound: number;
  /** Inbound plaintext capture listener (Istio: 15006). */
  readonly inboundPlaintext: number;
  /** HBONE listener (Istio: 15008). */
  readonly hbone: number;
}

export interface CaptureMarks {
  /** Set on captured packets; the fwmark rule routes them to a local table. */
  readonly capture: number;
  /** SO_MARK on every ztunnel socket (listeners and upstream): its packets are never captured. */
  readonly ztunnel: number;
  /** eBPF only: marks a to-pod packet bounced to the veth's ingress for capture. */
  readonly loop: number;
  /** The skb mark bits weft owns; other bits are left as they are. */
  readonly mask: number;
}

/** The node-level capture configuration (validated and frozen by validateNode in node-config.ts). */
export interface NodeCapture {
  /** Node network namespace (name in /run/netns or absolute path); undefined: this process's. */
  readonly netns?: string;
  /** Name of this node's instance: the BPF pins live in <pinRoot>/<instance>/. */
  readonly instance: string;
  readonly ports: CapturePorts;
  readonly marks: CaptureMarks;
  /** Routing table holding `local 0.0.0.0/0 dev lo`. */
  readonly routeTable: number;
  /** Priority of the `fwmark capture/mask lookup routeTable` rule. */
  readonly rulePriority: number;
  /**
   * Where the node namespace's /proc/sys is writable, when not at /proc/sys (a container's own is
   * read-only: the CNI agent's DaemonSet mounts the node's /proc/sys/net at /host/proc/sys/net);
   * undefined: the `sysctl` tool (sysctl.ts). Only without `netns`.
   */
  readonly procSysDir?: string;
  /** eBPF: root folder of pins on the BPF filesystem (default /sys/fs/bpf/weft). */
  readonly pinRoot: string;
  /**
   * DNS capture (Istio ambient's DNS proxying): when set, enrolled pods' UDP to port 53 goes to
   * ztunnel's DNS proxy on this port, and its replies come back from the nameserver the pod
   * asked. (TCP port 53 is captured like any TCP, to the outbound port.) Off when absent.
   * `address`: a local IPv4 address of the node where ztunnel's DNS socket receives; the eBPF
   * backend needs it (it rewrites the destination), nftables redirects to the address of the
   * pod's host veth instead.
   */
  /** `address` (IPv4) and `address6` (IPv6): where ztunnel's DNS socket receives each family's queries (eBPF). */
  readonly dns?: { readonly port: number; readonly address?: string; readonly address6?: string };
}

/** One pod as the node agent knows it. */
export interface PodCapture {
  /** For messages only (namespace/name). */
  readonly name?: string;
  /** The pod's IPv4 addresses. */
  readonly ips: readonly string[];
  /** Host-side veth of the pod, in the node namespace. */
  readonly hostVeth: string;
  /** The pod's own network namespace: unused by both backends, which act in the node namespace. */
  readonly netns?: string;
}

export interface CaptureDump {
  readonly backend: "ebpf" | "nftables";
  readonly node: NodeCapture;
  readonly ready: boolean;
  /** Enrolled IPs as the kernel holds them (map or nft set), sorted. */
  readonly enrolled: readonly string[];
  /** eBPF: devices with weft's filters attached. */
  readonly attached: readonly { readonly dev: string; readonly ingress: boolean; readonly egress: boolean }[];
  /** Policy rules and the local table as `ip` prints them. */
  readonly routing: string;
  /** nftables: the `weft` table as `nft list table` prints it. */
  readonly ruleset?: string;
}

/** What start-up cleanup needs of a backend: removing a crashed run's state (the other backend's, for cleanupStale). */
export interface StaleCleaner {
  readonly kind: "ebpf" | "nftables";
  cleanupStale(): Promise<Result<string[]>>;
}

export interface RedirectBackend {
  readonly kind: "ebpf" | "nftables";
  readonly node: NodeCapture;
  /** Installs node-level state (programs/maps or table, routing). Idempotent. */
  setup(): Promise<Result<void>>;
  /** Starts capturing the pod's connections. Idempotent; on error nothing of it stays applied. */
  enroll(pod: PodCapture): Promise<Result<void>>;
  /** Stops capturing the pod's new connections. Idempotent; a vanished veth is not an error. */
  unenroll(pod: PodCapture): Promise<Result<void>>;
  /** Removes everything the backend created. Idempotent. */
  teardown(): Promise<Result<void>>;
  /**
   * Removes what a crashed run of this node instance left behind, of this backend and of the
   * others it was given (an earlier run with another backend); returns what it removed.
   */
  cleanupStale(): Promise<Result<string[]>>;
  /**
   * What the node-level state this build installs is: a restarted node agent keeps (adopts) the
   * captures a previous run left only when that run's backend kind and version are this one's, and
   * otherwise cleans them up first (cleanupStale). Same version: setup() keeps what is applied.
   */
  version(): Promise<Result<string>>;
  dump(): Promise<Result<CaptureDump>>;
}
