/**
 * The Kubernetes test bed's fixed layout and the configuration files of its node daemons, as pure
 * functions (rendering only; testbed.ts does the IO). The names and addresses are the contract in
 * docs/kubernetes-testbed.md.
 *
 * Layout: network namespace `wtb-net` holds the underlay bridge and the control plane (etcd,
 * kube-apiserver on 10.250.0.1:6443, controller-manager, scheduler); each node `wtb-nodeN` is a
 * network namespace with a veth on that bridge (10.250.0.1N) plus a persistent mount namespace in
 * which containerd, kubelet and kube-proxy run. Pods of node N get 10.251.N.0/24 from Debian's
 * bridge + host-local plugins; nodes route each other's pod ranges over the underlay. Nothing has
 * a default route: pods cannot reach outside the machine, and nothing is NATed except
 * kube-proxy's own Service translation inside a node namespace.
 */
import path from "node:path";

export const PREFIX = "wtb-";
export const UNDERLAY_NS = "wtb-net";
export const BRIDGE = "wtb-br";
export const APISERVER_IP = "10.250.0.1";
export const APISERVER_PORT = 6443;
export const UNDERLAY_CIDR = "10.250.0.0/24";
export const CLUSTER_CIDR = "10.251.0.0/16";
export const SERVICE_CIDR = "10.252.0.0/16";
export const KUBERNETES_SERVICE_IP = "10.252.0.1";
export const CLUSTER_DOMAIN = "cluster.local";
/** kube-system/kube-dns: a selector-less Service in front of cluster-dns.ts. */
export const CLUSTER_DNS_IP = "10.252.0.10";
/** Where cluster-dns.ts listens in wtb-net: its own address, so no two Services share an endpoint IP. */
export const CLUSTER_DNS_SERVER = "10.250.0.53";
/** The relay into wtb-net that the test process (root namespace) and its tools use. */
export const HOST_API_ADDRESS = "127.0.0.1";
export const HOST_API_PORT = 36443;
export const STATE_ROOT = "/var/lib/weft-testbed";
export const RUN_ROOT = "/run/weft-testbed";
/** Inside a node's mount namespace (the usual paths, private to the node). */
export const NODE_CONTAINERD_SOCK = "/run/containerd/containerd.sock";
export const NODE_CNI_CONF_DIR = "/etc/cni/net.d";
export const NODE_CNI_BIN_DIR = "/opt/cni/bin";
/** Debian's CNI plugins the pod network uses (copied into each node's bin dir). */
export const CNI_PLUGINS = ["bridge", "ptp", "host-local", "loopback", "portmap"] as const;

/**
 * The primary pod network: `bridge` (bridge `wtb0`, the default) or `ptp` (one routed veth per
 * pod, the node's end holding the pod range's gateway address). weft's eBPF capture works on both
 * (docs/capture.md, "Bridge CNIs"); the nftables backend only on `ptp`.
 */
export type PodNetwork = "bridge" | "ptp";
export const DEBIAN_CNI_DIR = "/usr/lib/cni";
/** The kernel tunables kubelet insists on (it writes them unless they already hold): masked per node. */
export const KUBELET_SYSCTLS: Readonly<Record<string, string>> = {
  "vm/overcommit_memory": "1",
  "vm/panic_on_oom": "0",
  "kernel/panic": "10",
  "kernel/panic_on_oops": "1",
  "kernel/keys/root_maxkeys": "1000000",
  "kernel/keys/root_maxbytes": "25000000",
};

export interface NodeLayout {
  readonly name: string;
  readonly index: number;
  readonly netns: string;
  /** Address on the underlay. */
  readonly ip: string;
  readonly podCidr: string;
  /** The node's pod bridge address (gateway of its pods). */
  readonly podGateway: string;
  /** The veth end in wtb-net (the node's end is eth0). */
  readonly underlayVeth: string;
  /** Host paths. */
  readonly stateDir: string;
  readonly runDir: string;
  /** The bind-mounted mount namespace file. */
  readonly mountNs: string;
  /** cgroup (every v1 hierarchy, and the v2 one) that holds the node's pods. */
  readonly cgroupRoot: string;
}

export function nodeLayout(index: number): NodeLayout {
  if (!Number.isInteger(index) || index < 1 || index > 9) throw new Error(`test bed node index ${index}: want 1..9`);
  const name = `${PREFIX}node${index}`;
  const runDir = path.join(RUN_ROOT, name);
  return {
    name,
    index,
    netns: name,
    ip: `10.250.0.${10 + index}`,
    podCidr: `10.251.${index}.0/24`,
    podGateway: `10.251.${index}.1`,
    underlayVeth: `${PREFIX}n${index}`,
    stateDir: path.join(STATE_ROOT, name),
    runDir,
    mountNs: path.join(runDir, "mnt"),
    cgroupRoot: `/${name}`,
  };
}

/** Routes of node `n`'s namespace: the other nodes' pod ranges over the underlay, and the Service range. */
export function nodeRoutes(n: NodeLayout, all: readonly NodeLayout[]): string[][] {
  return [
    ...all.filter((o) => o.name !== n.name).map((o) => [o.podCidr, "via", o.ip]),
    // hostNetwork clients need a route for ClusterIPs to exist before kube-proxy's OUTPUT DNAT.
    [SERVICE_CIDR, "via", APISERVER_IP],
  ];
}

export function podNetworkConflist(n: NodeLayout, kind: PodNetwork = "bridge"): string {
  const ipam = {
    type: "host-local",
    // Not /var/lib/cni: that directory is the host's.
    dataDir: path.join(n.stateDir, "cni-ipam"),
    ranges: [[{ subnet: n.podCidr, gateway: n.podGateway }]],
    routes: [{ dst: "0.0.0.0/0" }],
  };
  const primary =
    kind === "ptp"
      ? { type: "ptp", ipMasq: false, ipam }
      : { type: "bridge", bridge: "wtb0", isGateway: true, ipMasq: false, hairpinMode: true, ipam };
  return JSON.stringify(
    {
      cniVersion: "1.0.0",
      name: "wtb",
      plugins: [primary, { type: "portmap", capabilities: { portMappings: true } }],
    },
    null,
    2,
  );
}

export function containerdConfig(n: NodeLayout, sandboxImage: string): string {
  const cri = 'plugins."io.containerd.grpc.v1.cri"';
  return [
    "version = 2",
    `root = "${path.join(n.stateDir, "containerd")}"`,
    `state = "/run/containerd"`,
    `disabled_plugins = ["io.containerd.internal.v1.opt", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs", "io.containerd.internal.v1.tracing"]`,
    "[grpc]",
    `  address = "${NODE_CONTAINERD_SOCK}"`,
    "[ttrpc]",
    `  address = "${NODE_CONTAINERD_SOCK}.ttrpc"`,
    `[${cri}]`,
    `  sandbox_image = "${sandboxImage}"`,
    // This machine grants no CAP_SYS_RESOURCE: a pod may not lower its oom_score_adj below ours.
    "  restrict_oom_score_adj = true",
    `[${cri}.containerd]`,
    '  snapshotter = "overlayfs"',
    '  default_runtime_name = "runc"',
    `[${cri}.containerd.runtimes.runc]`,
    '  runtime_type = "io.containerd.runc.v2"',
    `[${cri}.containerd.runtimes.runc.options]`,
    "  SystemdCgroup = false",
    `[${cri}.cni]`,
    `  bin_dir = "${NODE_CNI_BIN_DIR}"`,
    `  conf_dir = "${NODE_CNI_CONF_DIR}"`,
    "",
  ].join("\n");
}

export function kubeletConfig(n: NodeLayout): string {
  return [
    "apiVersion: kubelet.config.k8s.io/v1beta1",
    "kind: KubeletConfiguration",
    // This host has cgroup v1 (hybrid); kubelet 1.35 refuses v1 unless told otherwise.
    "failCgroupV1: false",
    "cgroupDriver: cgroupfs",
    `cgroupRoot: ${n.cgroupRoot}`,
    `containerRuntimeEndpoint: unix://${NODE_CONTAINERD_SOCK}`,
    // Test bed simplification: the kubelet API (logs, exec) is open inside the test bed's namespaces.
    "authentication: {anonymous: {enabled: true}, webhook: {enabled: false}}",
    "authorization: {mode: AlwaysAllow}",
    `clusterDomain: ${CLUSTER_DOMAIN}`,
    `clusterDNS: [${CLUSTER_DNS_IP}]`,
    'resolvConf: ""',
    "failSwapOn: false",
    "readOnlyPort: 0",
    "healthzBindAddress: 127.0.0.1",
    "serializeImagePulls: false",
    // Images are imported, never pulled: nothing may garbage-collect them.
    "imageGCHighThresholdPercent: 100",
    "imageGCLowThresholdPercent: 99",
    'evictionHard: {memory.available: "100Mi", nodefs.available: "1%", imagefs.available: "1%", nodefs.inodesFree: "1%"}',
    "nodeStatusReportFrequency: 10s",
    "",
  ].join("\n");
}

export function kubeProxyConfig(n: NodeLayout, kubeconfig: string): string {
  return [
    "apiVersion: kubeproxy.config.k8s.io/v1alpha1",
    "kind: KubeProxyConfiguration",
    "mode: iptables",
    `clusterCIDR: ${CLUSTER_CIDR}`,
    `hostnameOverride: ${n.name}`,
    `bindAddress: ${n.ip}`,
    "healthzBindAddress: 127.0.0.1:10256",
    "metricsBindAddress: 127.0.0.1:10249",
    `clientConnection: {kubeconfig: ${kubeconfig}}`,
    // 0: leave the conntrack sysctls alone (nf_conntrack_max is host-wide).
    "conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}",
    // Every Service connection is SNATed to the node, so replies come back through its rules even
    // between pods on one bridge (no br_netfilter needed).
    "iptables: {masqueradeAll: true}",
    "nodePortAddresses: [primary]",
    "",
  ].join("\n");
}

/** The kube-dns Service and its EndpointSlice (to cluster-dns.ts in wtb-net), as a kubectl List. */
export function clusterDnsObjects(): string {
  const ports = [
    { name: "dns", port: 53, protocol: "UDP" },
    { name: "dns-tcp", port: 53, protocol: "TCP" },
  ];
  return JSON.stringify({
    apiVersion: "v1",
    kind: "List",
    items: [
      {
        apiVersion: "v1",
        kind: "Service",
        metadata: { name: "kube-dns", namespace: "kube-system", labels: { "k8s-app": "kube-dns" } },
        spec: { clusterIP: CLUSTER_DNS_IP, ports: ports.map((p) => ({ ...p, targetPort: 53 })) },
      },
      {
        apiVersion: "discovery.k8s.io/v1",
        kind: "EndpointSlice",
        metadata: { name: "kube-dns-testbed", namespace: "kube-system", labels: { "kubernetes.io/service-name": "kube-dns" } },
        addressType: "IPv4",
        endpoints: [{ addresses: [CLUSTER_DNS_SERVER], conditions: { ready: true } }],
        ports,
      },
    ],
  });
}

export function kubeconfig(server: string, caFile: string, token: string): string {
  return [
    "apiVersion: v1",
    "kind: Config",
    "current-context: weft-testbed",
    "contexts: [{name: weft-testbed, context: {cluster: weft-testbed, user: user}}]",
    `clusters: [{name: weft-testbed, cluster: {server: "${server}", certificate-authority: "${caFile}"}}]`,
    `users: [{name: user, user: {token: "${token}"}}]`,
    "",
  ].join("\n");
}
