/**
 * The one source of weft's Kubernetes manifests (deploy/weft.yaml and deploy/crds.yaml are
 * rendered from here by `npm run manifests`; `weft install` applies the same objects).
 * Why a TypeScript generator and not a Helm chart or kustomize: docs/kubernetes.md ("How the
 * manifests are made"). Every privilege, port, flag and mount below is explained there too.
 *
 * Layout (Istio's names, so Istio's data planes and users' YAML find what they expect):
 * Namespace istio-system; the control plane Deployment `weft-controlplane` behind Service
 * `istiod` (15012 xDS + CA, 15014 monitoring); DaemonSets `ztunnel` (ServiceAccount `ztunnel`,
 * the identity the CA trusts for node proxies) and `weft-cni` (the node agent and the chained
 * plugin). The mesh CA is the Secret `cacerts` (Istio's plugged-in CA layout) and its root the
 * ConfigMap `istio-ca-root-cert`; `weft install` creates both when missing (never overwrites).
 */
import pkg from "../../../package.json";
import { type Manifest, labels, meta } from "./manifest.js";
import {
  clusterRole,
  clusterRoleBinding,
  cniAgentNamespacedRules,
  cniAgentRules,
  controlPlaneNamespacedRules,
  controlPlaneRules,
  role,
  roleBinding,
} from "./rbac.js";

export interface ManifestOptions {
  /** Where weft runs; also the mesh root namespace. Default istio-system. */
  readonly namespace: string;
  /** The one image of every component (entrypoint bin/weft). */
  readonly image: string;
  readonly imagePullPolicy: "IfNotPresent" | "Always" | "Never";
  /** Capture backend of the CNI node agent. */
  readonly captureBackend: "ebpf" | "nftables";
  /** The node's CNI directories (the container runtime's conf_dir and bin_dir). */
  readonly cniConfDir: string;
  readonly cniBinDir: string;
  readonly trustDomain: string;
  readonly clusterDomain: string;
  /** The ConfigMap `istio`'s `mesh` (MeshConfig YAML, validated by the caller); absent: weft's default. */
  readonly meshConfig?: string;
}

export const DEFAULT_NAMESPACE = "istio-system";

/** The `mesh` weft install writes without --mesh-config. */
export const DEFAULT_MESH_TEXT = [
  "# Istio's MeshConfig, watched by weft's control plane: an edit reaches the waypoints without a restart,",
  "# an invalid one is refused (the last good config stays; the error names the field). docs/config.md",
  "# weft install re-applies this ConfigMap: keep your mesh config in a file and pass --mesh-config FILE.",
  "enableTracing: true",
  "extensionProviders: []",
  "",
].join("\n");
export const DEFAULT_IMAGE = `weft.local/weft:${pkg.version}`;

export function defaultManifestOptions(): ManifestOptions {
  return {
    namespace: DEFAULT_NAMESPACE,
    image: DEFAULT_IMAGE,
    imagePullPolicy: "IfNotPresent",
    // eBPF, like `weft local`: it captures on routed-veth and bridge CNIs alike and keeps captured
    // TCP out of conntrack (kube-proxy's DNAT); nftables cannot capture behind a bridge (docs/kubernetes.md).
    captureBackend: "ebpf",
    cniConfDir: "/etc/cni/net.d",
    cniBinDir: "/opt/cni/bin",
    trustDomain: "cluster.local",
    clusterDomain: "cluster.local",
  };
}

export const CONTROLPLANE = "weft-controlplane";
export const CONTROLPLANE_SERVICE = "istiod";
export const ZTUNNEL = "ztunnel";
export const CNI_AGENT = "weft-cni";
export const CA_SECRET = "cacerts";
export const ROOT_CONFIGMAP = "istio-ca-root-cert";
/** istiod's mesh config ConfigMap (key `mesh`), watched by the control plane. */
export const MESH_CONFIGMAP = "istio";
/** Non-root user of the control plane: the image's default user (docs/kubernetes-testbed.md, "Images"). */
const UID = 65532;

const restricted = {
  allowPrivilegeEscalation: false,
  readOnlyRootFilesystem: true,
  runAsNonRoot: true,
  runAsUser: UID,
  runAsGroup: UID,
  capabilities: { drop: ["ALL"] },
  seccompProfile: { type: "RuntimeDefault" },
};

const fieldEnv = (name: string, fieldPath: string) => ({ name, valueFrom: { fieldRef: { fieldPath } } });

function serviceAccount(name: string, component: string, ns: string, automount: boolean): Manifest {
  return { apiVersion: "v1", kind: "ServiceAccount", metadata: meta(name, component, ns), automountServiceAccountToken: automount };
}

function controlPlane(o: ManifestOptions): Manifest[] {
  const ns = o.namespace;
  const l = labels("controlplane");
  const selector = { "app.kubernetes.io/name": l["app.kubernetes.io/name"] };
  const svcDns = [
    `${CONTROLPLANE_SERVICE}.${ns}.svc`,
    `${CONTROLPLANE_SERVICE}.${ns}.svc.${o.clusterDomain}`,
    `${CONTROLPLANE_SERVICE}.${ns}`,
  ];
  const probe = (failureThreshold: number, periodSeconds: number) => ({
    httpGet: { path: "/ready", port: 15014 },
    periodSeconds,
    failureThreshold,
    timeoutSeconds: 3,
  });
  const deployment: Manifest = {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: meta(CONTROLPLANE, "controlplane", ns),
    spec: {
      // One replica, as istiod's default: the waypoint deployer has no leader election yet.
      replicas: 1,
      selector: { matchLabels: selector },
      strategy: { type: "RollingUpdate", rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } },
      template: {
        metadata: { labels: l },
        spec: {
          serviceAccountName: CONTROLPLANE,
          securityContext: { fsGroup: UID, seccompProfile: { type: "RuntimeDefault" } },
          containers: [
            {
              name: "controlplane",
              image: o.image,
              imagePullPolicy: o.imagePullPolicy,
              args: [
                "controlplane",
                "--kubeconfig=in-cluster",
                "--ca-dir=/etc/cacerts",
                "--listen=0.0.0.0:15012",
                "--monitor=0.0.0.0:15014",
                `--root-namespace=${ns}`,
                `--trust-domain=${o.trustDomain}`,
                `--cluster-domain=${o.clusterDomain}`,
                `--serving-dns-names=${svcDns.join(",")}`,
                // The waypoints it deploys run the same image (--image), not the built-in default.
                `--waypoint-image=${o.image}`,
              ],
              ports: [
                { name: "grpc-xds", containerPort: 15012, protocol: "TCP" },
                { name: "http-monitoring", containerPort: 15014, protocol: "TCP" },
              ],
              // The monitor port opens after the first full sync of the cluster's config: a start-up probe allows 5 min.
              startupProbe: probe(60, 5),
              readinessProbe: probe(3, 5),
              livenessProbe: probe(6, 10),
              resources: { requests: { cpu: "100m", memory: "256Mi" }, limits: { memory: "1Gi" } },
              securityContext: restricted,
              volumeMounts: [{ name: "cacerts", mountPath: "/etc/cacerts", readOnly: true }],
            },
          ],
          volumes: [{ name: "cacerts", secret: { secretName: CA_SECRET, defaultMode: 0o440 } }],
        },
      },
    },
  };
  const service: Manifest = {
    apiVersion: "v1",
    kind: "Service",
    metadata: meta(CONTROLPLANE_SERVICE, "controlplane", ns),
    spec: {
      selector,
      ports: [
        { name: "grpc-xds", port: 15012, targetPort: 15012, protocol: "TCP" },
        { name: "http-monitoring", port: 15014, targetPort: 15014, protocol: "TCP" },
      ],
    },
  };
  // As istiod's chart: the mesh config in ConfigMap `istio`, key `mesh` (edits apply without a restart).
  const meshConfigMap: Manifest = {
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: meta(MESH_CONFIGMAP, "controlplane", ns),
    data: { mesh: o.meshConfig ?? DEFAULT_MESH_TEXT },
  };
  const pdb: Manifest = {
    apiVersion: "policy/v1",
    kind: "PodDisruptionBudget",
    metadata: meta(CONTROLPLANE, "controlplane", ns),
    // As istiod's chart: evictions wait for a replacement when there are 2+ replicas; an unready pod may always go.
    spec: { minAvailable: 1, selector: { matchLabels: selector }, unhealthyPodEvictionPolicy: "AlwaysAllow" },
  };
  return [
    serviceAccount(CONTROLPLANE, "controlplane", ns, true),
    clusterRole(CONTROLPLANE, "controlplane", controlPlaneRules()),
    clusterRoleBinding(CONTROLPLANE, "controlplane", ns, CONTROLPLANE),
    role(CONTROLPLANE, "controlplane", ns, controlPlaneNamespacedRules()),
    roleBinding(CONTROLPLANE, "controlplane", ns, CONTROLPLANE),
    meshConfigMap,
    service,
    deployment,
    pdb,
  ];
}

/** DaemonSet scheduling shared by the node components: every node, before anything else. */
const nodeScheduling = {
  priorityClassName: "system-node-critical",
  tolerations: [{ operator: "Exists" }],
  hostNetwork: true,
  dnsPolicy: "ClusterFirstWithHostNet",
};

/** A node component's DaemonSet: every node, one node at a time on updates, in the node's network namespace. */
function nodeDaemonSet(name: string, component: string, ns: string, pod: { containers: unknown[]; volumes: unknown[] }): Manifest {
  const l = labels(component);
  return {
    apiVersion: "apps/v1",
    kind: "DaemonSet",
    metadata: meta(name, component, ns),
    spec: {
      selector: { matchLabels: { "app.kubernetes.io/name": l["app.kubernetes.io/name"] } },
      updateStrategy: { type: "RollingUpdate", rollingUpdate: { maxUnavailable: 1 } },
      template: {
        metadata: { labels: l },
        // ztunnel drains connections before exit (--drain-seconds, default 5 s), well within the grace period.
        spec: { ...nodeScheduling, serviceAccountName: name, terminationGracePeriodSeconds: 30, ...pod },
      },
    },
  };
}

/** Root in the node's network namespace with exactly `caps`: no escalation, read-only root filesystem. */
const nodeRoot = (caps: readonly string[], seccomp: "RuntimeDefault" | "Unconfined") => ({
  runAsUser: 0,
  runAsNonRoot: false,
  allowPrivilegeEscalation: false,
  readOnlyRootFilesystem: true,
  privileged: false,
  capabilities: { drop: ["ALL"], add: caps },
  seccompProfile: { type: seccomp },
});

function ztunnel(o: ManifestOptions): Manifest[] {
  const ns = o.namespace;
  const ready = { httpGet: { host: "127.0.0.1", path: "/healthz/ready", port: 15021 }, periodSeconds: 5, failureThreshold: 3 };
  const daemonSet = nodeDaemonSet(ZTUNNEL, "ztunnel", ns, {
    containers: [
      {
        name: "ztunnel",
        image: o.image,
        imagePullPolicy: o.imagePullPolicy,
        args: [
          "ztunnel",
          "--node=$(NODE_NAME)",
          "--capture=transparent",
          `--xds-address=${CONTROLPLANE_SERVICE}.${ns}.svc:15012`,
          "--token-file=/var/run/secrets/tokens/istio-token",
          "--root-cert=/var/run/secrets/istio/root-cert.pem",
          `--trust-domain=${o.trustDomain}`,
          `--cluster-domain=${o.clusterDomain}`,
        ],
        env: [fieldEnv("NODE_NAME", "spec.nodeName")],
        ports: [
          { name: "hbone", containerPort: 15008, protocol: "TCP" },
          { name: "http-monitoring", containerPort: 15020, protocol: "TCP" },
        ],
        readinessProbe: ready,
        livenessProbe: { ...ready, periodSeconds: 10, failureThreshold: 6 },
        resources: { requests: { cpu: "200m", memory: "256Mi" }, limits: { memory: "1Gi" } },
        // NET_ADMIN only: IP_TRANSPARENT (the accepted socket's local address is the original destination) and SO_MARK 0x539.
        securityContext: nodeRoot(["NET_ADMIN"], "RuntimeDefault"),
        volumeMounts: [
          { name: "istio-token", mountPath: "/var/run/secrets/tokens", readOnly: true },
          { name: "istiod-ca-cert", mountPath: "/var/run/secrets/istio", readOnly: true },
        ],
      },
    ],
    volumes: [
      {
        name: "istio-token",
        projected: { sources: [{ serviceAccountToken: { audience: "istio-ca", expirationSeconds: 43200, path: "istio-token" } }] },
      },
      { name: "istiod-ca-cert", configMap: { name: ROOT_CONFIGMAP } },
    ],
  });
  return [serviceAccount(ZTUNNEL, "ztunnel", ns, false), daemonSet];
}

const HOST_PROC_SYS = "/host/proc/sys";

function cniAgent(o: ManifestOptions): Manifest[] {
  const ns = o.namespace;
  const ready = { httpGet: { host: "127.0.0.1", path: "/ready", port: 15022 }, periodSeconds: 5, failureThreshold: 3 };
  // Host paths mounted at the same path, so what the agent writes (the plugin wrapper, the conflist's socket path) is valid on the host.
  const hostDirs: [string, string, "Directory" | "DirectoryOrCreate"][] = [
    ["cni-conf-dir", o.cniConfDir, "DirectoryOrCreate"],
    ["cni-bin-dir", o.cniBinDir, "DirectoryOrCreate"],
    ["weft-run", "/run/weft", "DirectoryOrCreate"],
    // Not /opt/weft itself: mounted there it would hide the image's own /opt/weft (its Node runtime and code).
    ["weft-host", "/opt/weft/cni", "DirectoryOrCreate"],
    ["bpffs", "/sys/fs/bpf", "Directory"],
  ];
  // The pods' network namespaces (the agent checks a restored sandbox's netns still exists); read-only, and
  // HostToContainer so namespaces the runtime creates after the agent started are visible.
  const netns = { name: "netns", mountPath: "/var/run/netns", readOnly: true, mountPropagation: "HostToContainer" };
  // The container's own /proc/sys is read-only (not privileged): the node's net sysctls (tcp_early_demux, a pod veth's
  // accept_local) are written through this mount; a net sysctl file acts on the writer's (here the node's) namespace.
  const procSysNet = { name: "proc-sys-net", mountPath: `${HOST_PROC_SYS}/net` };
  const daemonSet = nodeDaemonSet(CNI_AGENT, "cni", ns, {
    containers: [
      {
        name: "cni-agent",
        image: o.image,
        imagePullPolicy: o.imagePullPolicy,
        args: [
          "cni-agent",
          "--node=$(NODE_NAME)",
          "--kubeconfig=in-cluster",
          `--backend=${o.captureBackend}`,
          `--cni-conf-dir=${o.cniConfDir}`,
          `--cni-bin-dir=${o.cniBinDir}`,
          "--host-runtime-dir=/opt/weft/cni",
          `--proc-sys-dir=${HOST_PROC_SYS}`,
          "--health=127.0.0.1:15022",
          `--daemonset=${ns}/${CNI_AGENT}`,
        ],
        env: [fieldEnv("NODE_NAME", "spec.nodeName")],
        readinessProbe: ready,
        livenessProbe: { ...ready, periodSeconds: 10, failureThreshold: 6 },
        resources: { requests: { cpu: "50m", memory: "128Mi" }, limits: { memory: "512Mi" } },
        // What capture needs, nothing else (docs/kubernetes.md lists why each): NET_ADMIN (tc filters, ip rules and
        // routes, nftables), BPF + PERFMON (eBPF programs, maps), SYS_ADMIN (pins in bpffs; kernels without CAP_BPF).
        // No SYS_RESOURCE: since Linux 5.11 BPF memory is charged to the memory cgroup, RLIMIT_MEMLOCK does not apply.
        securityContext: nodeRoot(["NET_ADMIN", "BPF", "PERFMON", "SYS_ADMIN"], "Unconfined"),
        volumeMounts: [...hostDirs.map(([name, p]) => ({ name, mountPath: p })), netns, procSysNet],
      },
    ],
    volumes: [
      ...hostDirs.map(([name, p, type]) => ({ name, hostPath: { path: p, type } })),
      { name: "netns", hostPath: { path: "/var/run/netns", type: "DirectoryOrCreate" } },
      { name: "proc-sys-net", hostPath: { path: "/proc/sys/net", type: "Directory" } },
    ],
  });
  return [
    serviceAccount(CNI_AGENT, "cni", ns, true),
    clusterRole(CNI_AGENT, "cni", cniAgentRules()),
    clusterRoleBinding(CNI_AGENT, "cni", ns, CNI_AGENT),
    role(CNI_AGENT, "cni", ns, cniAgentNamespacedRules(CNI_AGENT)),
    roleBinding(CNI_AGENT, "cni", ns, CNI_AGENT),
    daemonSet,
  ];
}

/** Everything but the CRDs (deploy/weft.yaml), in apply order. */
export function renderManifests(o: ManifestOptions = defaultManifestOptions()): Manifest[] {
  const namespace: Manifest = { apiVersion: "v1", kind: "Namespace", metadata: meta(o.namespace, "controlplane") };
  return [namespace, ...controlPlane(o), ...ztunnel(o), ...cniAgent(o)];
}
