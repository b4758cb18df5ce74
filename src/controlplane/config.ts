/**
 * The control plane's configuration: the only reader of its flags and environment, defaults
 * beside each name, validated and frozen once.
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { parse as parseYaml } from "yaml";
import { type Result, ok, err } from "../common/result.js";
import { type FlagSpec, parseArgsOptions, shortParseError } from "../common/flags.js";
import type { BootstrapToken } from "./xds/bootstrap-tokens.js";
import pkg from "../../package.json";
import { DEFAULT_MESH_CONFIG, type MeshConfig, parseMeshConfig } from "./mesh-config.js";

export interface ControlPlaneConfig {
  /** Folder of Kubernetes YAML (local mode), watched; or undefined with `kubeconfig`. */
  readonly configDir?: string;
  /** Kubernetes mode: a kubeconfig file (or in-cluster when "in-cluster"). */
  readonly kubeconfig?: string;
  /** gRPC (xDS + CA) listen address; default 0.0.0.0:15012. */
  readonly listenHost: string;
  readonly listenPort: number;
  /** Monitoring: /ready, /metrics, /debug/config_dump; default 127.0.0.1:15014 (istiod's port). */
  readonly monitorHost: string;
  readonly monitorPort: number;
  /** The CA directory: cacerts layout; a self-signed root is created there if none exists. */
  readonly caDir: string;
  /** Local mode: bootstrap tokens (YAML/JSON list of {token, node, identity} for ztunnels, {token, identity} for workloads). */
  readonly bootstrapTokens: readonly BootstrapToken[];
  readonly trustDomain: string;
  readonly clusterId: string;
  readonly clusterDomain: string;
  readonly rootNamespace: string;
  /** Push debounce; default 20 ms. */
  readonly debounceMs: number;
  /** Maximum workload certificate TTL; default 24 h. */
  readonly maxCertTtlSeconds: number;
  /** How ztunnel policies read attributes it cannot check: "istio" (default, as istiod) or "strict" (docs/authorization.md). */
  readonly authzL4Mode: "istio" | "strict";
  /** Istio revision (`istio.io/rev`) whose policies this control plane reads; "" reads all. */
  readonly revision: string;
  /** Istio's MeshConfig from --mesh-config (istiod's --meshConfig); default: Istio's defaults. */
  readonly mesh: MeshConfig;
  /** The --mesh-config file, watched and read again on change (mesh-config-watch.ts). */
  readonly meshConfigFile?: string;
  /** SHARED_MESH_CONFIG: a ConfigMap whose mesh config is a layer under the revision's (Kubernetes mode). */
  readonly sharedMeshConfig?: string;
  /** The control plane's namespace (POD_NAMESPACE, else the root namespace): where its `istio` ConfigMap is. */
  readonly namespace: string;
  /** Istio's PILOT_AUTO_ALLOW_WAYPOINT_POLICY; default false (as Istio). */
  readonly autoAllowWaypointPolicy: boolean;
  /** Kubernetes mode: create a waypoint Deployment + Service per istio-waypoint Gateway (istiod's deployment controller); default true. */
  readonly manageWaypoints: boolean;
  /** Kubernetes mode: write Gateway, GatewayClass and route status; default true. */
  readonly gatewayStatus: boolean;
  /** Image of the waypoint Deployments (entrypoint `weft`). */
  readonly waypointImage: string;
  /** The control plane's xDS + CA address as waypoint pods reach it; default istiod.<root-namespace>.svc:15012. */
  readonly waypointXdsAddress: string;
  /** DNS SANs of the serving certificate besides istiod's SPIFFE id; default istiod.<root-namespace>.svc (as istiod). */
  readonly servingDnsNames: readonly string[];
}

export const DEFAULT_LISTEN = "0.0.0.0:15012";
/** istiod's monitoring port. */
export const DEFAULT_MONITOR = "127.0.0.1:15014";
export const DEFAULT_TRUST_DOMAIN = "cluster.local";
export const DEFAULT_CLUSTER_ID = "Kubernetes";
export const DEFAULT_CLUSTER_DOMAIN = "cluster.local";
export const DEFAULT_ROOT_NAMESPACE = "istio-system";
export const DEFAULT_DEBOUNCE_MS = 20;
export const DEFAULT_MAX_CERT_TTL_SECONDS = 24 * 3600;
export const DEFAULT_AUTHZ_L4_MODE = "istio";
/** The one image of every weft component (scripts/images.sh builds it). */
export const DEFAULT_WAYPOINT_IMAGE = `weft.local/weft:${pkg.version}`;

/** Every flag of `weft controlplane`; its `--help` is made from this table. */
export const CONTROLPLANE_FLAGS: readonly FlagSpec[] = [
  { name: "config-dir", arg: "DIR", env: "WEFT_CONFIG_DIR", description: "folder of Kubernetes YAML to serve (local mode), watched" },
  { name: "kubeconfig", arg: "FILE", env: "KUBECONFIG", description: "Kubernetes mode: kubeconfig file, or in-cluster" },
  { name: "listen", arg: "HOST:PORT", env: "WEFT_XDS_LISTEN", default: DEFAULT_LISTEN, description: "gRPC (xDS + CA) listen address" },
  {
    name: "monitor",
    arg: "HOST:PORT",
    env: "WEFT_MONITOR_LISTEN",
    default: DEFAULT_MONITOR,
    description: "monitoring: /ready, /metrics, /config_dump, /debug/adsz",
  },
  { name: "ca-dir", arg: "DIR", env: "WEFT_CA_DIR", description: "mesh CA directory, cacerts layout; created when empty (required)" },
  {
    name: "tokens",
    arg: "FILE",
    env: "WEFT_BOOTSTRAP_TOKENS",
    description: "local mode: bootstrap tokens, a YAML list of {token, node, identity}",
  },
  { name: "trust-domain", arg: "TD", env: "TRUST_DOMAIN", default: DEFAULT_TRUST_DOMAIN, description: "mesh trust domain" },
  { name: "cluster-id", arg: "ID", env: "CLUSTER_ID", default: DEFAULT_CLUSTER_ID, description: "cluster id" },
  {
    name: "cluster-domain",
    arg: "DOMAIN",
    env: "CLUSTER_DOMAIN",
    default: DEFAULT_CLUSTER_DOMAIN,
    description: "DNS suffix of service hostnames",
  },
  {
    name: "root-namespace",
    arg: "NS",
    env: "WEFT_ROOT_NAMESPACE",
    default: DEFAULT_ROOT_NAMESPACE,
    description: "policies here apply mesh-wide",
  },
  {
    name: "debounce-ms",
    arg: "MS",
    env: "WEFT_DEBOUNCE_MS",
    default: String(DEFAULT_DEBOUNCE_MS),
    description: "upper bound on the delay between a change and its push",
  },
  {
    name: "authz-l4-mode",
    arg: "istio|strict",
    env: "WEFT_AUTHZ_L4_MODE",
    default: DEFAULT_AUTHZ_L4_MODE,
    description: "how ztunnel policies read attributes it cannot check (docs/authorization.md)",
  },
  {
    name: "auto-allow-waypoint-policy",
    arg: "true|false",
    env: "PILOT_AUTO_ALLOW_WAYPOINT_POLICY",
    default: "false",
    description: "ztunnel implicitly allows each workload's waypoint (Istio's flag of the same name)",
  },
  {
    name: "revision",
    arg: "REV",
    env: "REVISION",
    default: '"" (all)',
    description: "Istio revision (istio.io/rev) whose policies are read",
  },
  {
    name: "mesh-config",
    arg: "FILE",
    env: "MESH_CONFIG",
    description:
      "Istio MeshConfig YAML (the istio ConfigMap's `mesh` key, istiod's --meshConfig): tracing and ext_authz providers; watched, applied on change. Kubernetes mode without it: the ConfigMap istio[-<revision>], key mesh, in the control plane's namespace",
  },
  {
    name: "shared-mesh-config",
    arg: "NAME",
    env: "SHARED_MESH_CONFIG",
    description:
      "Kubernetes mode: a ConfigMap in the control plane's namespace whose `mesh` key is a layer under the mesh config (its fields lose to the revision's; istiod's SHARED_MESH_CONFIG); watched",
  },
  {
    name: "manage-waypoints",
    arg: "true|false",
    env: "PILOT_ENABLE_GATEWAY_API_DEPLOYMENT_CONTROLLER",
    default: "true",
    description: "Kubernetes mode: deploy a waypoint (Deployment, Service, ServiceAccount) for each istio-waypoint Gateway",
  },
  {
    name: "gateway-status",
    arg: "true|false",
    env: "PILOT_ENABLE_GATEWAY_API_STATUS",
    default: "true",
    description: "Kubernetes mode: write Gateway, GatewayClass, HTTPRoute and GRPCRoute status",
  },
  {
    name: "waypoint-image",
    arg: "IMAGE",
    env: "WEFT_WAYPOINT_IMAGE",
    default: DEFAULT_WAYPOINT_IMAGE,
    description: "image of the waypoint Deployments",
  },
  {
    name: "waypoint-xds-address",
    arg: "HOST:PORT",
    env: "WEFT_WAYPOINT_XDS_ADDRESS",
    default: "istiod.<root-namespace>.svc:15012",
    description: "the control plane's xDS/CA address as waypoint pods reach it",
  },
  {
    name: "serving-dns-names",
    arg: "NAMES",
    env: "WEFT_SERVING_DNS_NAMES",
    default: "istiod.<root-namespace>.svc",
    description: "comma-separated DNS SANs of the xDS/CA serving certificate (the Service names clients dial)",
  },
];

/** A DNS name as a certificate SAN: lower-case labels of letters, digits and '-', or a leading '*.' wildcard. */
const DNS_NAME = /^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;

export function parseDnsNames(text: string): Result<string[]> {
  const names = text
    .split(",")
    .map((n) => n.trim())
    .filter((n) => n !== "");
  const bad = names.find((n) => !DNS_NAME.test(n) || n.length > 253);
  if (bad !== undefined) return err(new Error(`controlplane: --serving-dns-names: ${JSON.stringify(bad)} is not a DNS name`));
  return ok(names);
}

function hostPort(text: string, what: string): Result<{ host: string; port: number }> {
  const i = text.lastIndexOf(":");
  const port = Number(text.slice(i + 1));
  if (i <= 0 || !Number.isInteger(port) || port < 0 || port > 65535)
    return err(new Error(`controlplane: ${what} ${JSON.stringify(text)}: expected host:port`));
  return ok({ host: text.slice(0, i).replace(/^\[|\]$/g, ""), port });
}

export function loadTokens(file: string): Result<BootstrapToken[]> {
  let doc: unknown;
  try {
    doc = parseYaml(readFileSync(file, "utf8"));
  } catch (e) {
    return err(new Error(`controlplane: tokens file ${file}: ${(e as Error).message}`));
  }
  if (!Array.isArray(doc))
    return err(
      new Error(
        `controlplane: tokens file ${file}: expected a list of {token, node, identity} or {token, identity, namespace?, serviceAccount?}`,
      ),
    );
  const out: BootstrapToken[] = [];
  const fields = ["token", "node", "identity", "namespace", "serviceAccount"];
  for (const [i, t] of doc.entries()) {
    const o = (t ?? {}) as Record<string, unknown>;
    for (const f of ["token", "identity"]) {
      if (typeof o[f] !== "string") return err(new Error(`controlplane: tokens file ${file}: [${i}].${f}: required string`));
    }
    for (const f of ["node", "namespace", "serviceAccount"]) {
      if (o[f] !== undefined && typeof o[f] !== "string")
        return err(new Error(`controlplane: tokens file ${file}: [${i}].${f}: expected string`));
    }
    const extra = Object.keys(o).filter((k) => !fields.includes(k));
    if (extra.length) return err(new Error(`controlplane: tokens file ${file}: [${i}].${extra[0]}: unknown field`));
    out.push({
      token: o.token as string,
      identity: o.identity as string,
      ...(o.node !== undefined ? { node: o.node as string } : {}),
      ...(o.namespace !== undefined ? { namespace: o.namespace as string } : {}),
      ...(o.serviceAccount !== undefined ? { serviceAccount: o.serviceAccount as string } : {}),
    });
  }
  return ok(out);
}

export function loadControlPlaneConfig(argv: readonly string[], env: NodeJS.ProcessEnv): Result<ControlPlaneConfig> {
  let v: Record<string, string | undefined>;
  try {
    v = parseArgs({ args: [...argv], options: parseArgsOptions(CONTROLPLANE_FLAGS), strict: true }).values as Record<
      string,
      string | undefined
    >;
  } catch (e) {
    return err(new Error(`controlplane: ${shortParseError(e)}`));
  }
  const configDir = v["config-dir"] ?? env.WEFT_CONFIG_DIR;
  const kubeconfig = v.kubeconfig ?? (configDir ? undefined : env.KUBECONFIG);
  if (!configDir && !kubeconfig)
    return err(new Error("controlplane: a config source is required: --config-dir DIR (folder of YAML) or --kubeconfig FILE"));
  if (configDir && kubeconfig) return err(new Error("controlplane: --config-dir and --kubeconfig are exclusive"));
  const caDir = v["ca-dir"] ?? env.WEFT_CA_DIR;
  if (!caDir) return err(new Error("controlplane: --ca-dir DIR is required (the mesh CA; a self-signed root is created there when empty)"));
  const listen = hostPort(v.listen ?? env.WEFT_XDS_LISTEN ?? DEFAULT_LISTEN, "listen");
  if (!listen.ok) return listen;
  const monitor = hostPort(v.monitor ?? env.WEFT_MONITOR_LISTEN ?? DEFAULT_MONITOR, "monitor");
  if (!monitor.ok) return monitor;
  const tokensFile = v.tokens ?? env.WEFT_BOOTSTRAP_TOKENS;
  let tokens: BootstrapToken[] = [];
  if (tokensFile) {
    const t = loadTokens(tokensFile);
    if (!t.ok) return t;
    tokens = t.value;
  }
  const debounce = Number(v["debounce-ms"] ?? env.WEFT_DEBOUNCE_MS ?? DEFAULT_DEBOUNCE_MS);
  if (!Number.isFinite(debounce) || debounce < 0) return err(new Error("controlplane: --debounce-ms must be a number >= 0"));
  const authzL4Mode = v["authz-l4-mode"] ?? env.WEFT_AUTHZ_L4_MODE ?? DEFAULT_AUTHZ_L4_MODE;
  if (authzL4Mode !== "istio" && authzL4Mode !== "strict")
    return err(new Error(`controlplane: --authz-l4-mode ${JSON.stringify(authzL4Mode)}: expected istio or strict`));
  const meshFile = v["mesh-config"] ?? env.MESH_CONFIG;
  let mesh = DEFAULT_MESH_CONFIG;
  if (meshFile) {
    let text: string;
    try {
      text = readFileSync(meshFile, "utf8");
    } catch (e) {
      return err(new Error(`controlplane: --mesh-config ${meshFile}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`));
    }
    const m = parseMeshConfig(text, meshFile);
    if (!m.ok) return err(new Error(`controlplane: ${m.error.message}`));
    mesh = m.value;
  }
  const sharedMesh = v["shared-mesh-config"] ?? env.SHARED_MESH_CONFIG;
  if (sharedMesh !== undefined && !/^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/.test(sharedMesh))
    return err(new Error(`controlplane: --shared-mesh-config ${JSON.stringify(sharedMesh)}: not a ConfigMap name`));
  const autoAllow = v["auto-allow-waypoint-policy"] ?? env.PILOT_AUTO_ALLOW_WAYPOINT_POLICY ?? "false";
  if (!["true", "false"].includes(autoAllow))
    return err(new Error(`controlplane: --auto-allow-waypoint-policy ${JSON.stringify(autoAllow)}: expected true or false`));
  const bool = (flag: string, env?: string): Result<boolean> => {
    const text = v[flag] ?? env ?? "true";
    return text === "true" || text === "false"
      ? ok(text === "true")
      : err(new Error(`controlplane: --${flag} ${JSON.stringify(text)}: expected true or false`));
  };
  const manageWaypoints = bool("manage-waypoints", env.PILOT_ENABLE_GATEWAY_API_DEPLOYMENT_CONTROLLER);
  if (!manageWaypoints.ok) return manageWaypoints;
  const gatewayStatus = bool("gateway-status", env.PILOT_ENABLE_GATEWAY_API_STATUS);
  if (!gatewayStatus.ok) return gatewayStatus;
  const rootNamespace = v["root-namespace"] ?? env.WEFT_ROOT_NAMESPACE ?? DEFAULT_ROOT_NAMESPACE;
  const waypointXds = v["waypoint-xds-address"] ?? env.WEFT_WAYPOINT_XDS_ADDRESS ?? `istiod.${rootNamespace}.svc:15012`;
  if (!hostPort(waypointXds, "waypoint-xds-address").ok)
    return err(new Error(`controlplane: --waypoint-xds-address ${JSON.stringify(waypointXds)}: expected host:port`));
  const dnsNames = parseDnsNames(v["serving-dns-names"] ?? env.WEFT_SERVING_DNS_NAMES ?? `istiod.${rootNamespace}.svc`);
  if (!dnsNames.ok) return dnsNames;
  return ok(
    Object.freeze({
      mesh,
      ...(meshFile ? { meshConfigFile: meshFile } : {}),
      ...(sharedMesh ? { sharedMeshConfig: sharedMesh } : {}),
      namespace: env.POD_NAMESPACE ?? rootNamespace,
      servingDnsNames: dnsNames.value,
      ...(configDir ? { configDir } : {}),
      ...(kubeconfig ? { kubeconfig } : {}),
      listenHost: listen.value.host,
      listenPort: listen.value.port,
      monitorHost: monitor.value.host,
      monitorPort: monitor.value.port,
      caDir,
      bootstrapTokens: tokens,
      trustDomain: v["trust-domain"] ?? env.TRUST_DOMAIN ?? DEFAULT_TRUST_DOMAIN,
      clusterId: v["cluster-id"] ?? env.CLUSTER_ID ?? DEFAULT_CLUSTER_ID,
      clusterDomain: v["cluster-domain"] ?? env.CLUSTER_DOMAIN ?? DEFAULT_CLUSTER_DOMAIN,
      rootNamespace,
      debounceMs: debounce,
      maxCertTtlSeconds: DEFAULT_MAX_CERT_TTL_SECONDS,
      authzL4Mode,
      revision: v.revision ?? env.REVISION ?? "",
      autoAllowWaypointPolicy: autoAllow === "true",
      manageWaypoints: manageWaypoints.value,
      gatewayStatus: gatewayStatus.value,
      waypointImage: v["waypoint-image"] ?? env.WEFT_WAYPOINT_IMAGE ?? DEFAULT_WAYPOINT_IMAGE,
      waypointXdsAddress: waypointXds,
    }),
  );
}
