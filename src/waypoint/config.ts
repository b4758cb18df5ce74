/**
 * `weft waypoint` configuration: the only reader of its flags and environment, defaults as
 * DEFAULT_* constants beside each name; the result is validated and frozen once at start-up.
 * Precedence: flag > environment > default.
 *
 * Two sources of L7 config: xDS from the control plane (`--xds-address`, the normal mode), or
 * a static file (`--config FILE`) holding Envoy's bootstrap `static_resources` (see
 * static-config.ts). Certificates come from the control plane's CA (xDS mode) or a local CA
 * directory (`--ca-dir`, static mode without a control plane).
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { canonicalIp, parseAddress, type SocketAddress } from "../common/net/addr.js";
import { type Result, ok, err } from "../common/result.js";
import { type HboneEngine, WAYPOINT_DEFAULT_ENGINE, parseHboneEngine } from "../proxy/hbone/engine.js";
import { type StaticWaypointConfig, parseStaticWaypointConfig } from "./static-config.js";

export const DEFAULT_TRUST_DOMAIN = "cluster.local";
export const DEFAULT_LISTEN = "0.0.0.0";
export const DEFAULT_HBONE_PORT = 15008;
export const DEFAULT_ADMIN = "127.0.0.1:15000";
export const DEFAULT_METRICS = "0.0.0.0:15020";
export const DEFAULT_READINESS = "0.0.0.0:15021";
export const DEFAULT_CLUSTER_ID = "Kubernetes";
export const DEFAULT_CERT_TTL_SECONDS = 86400;
export const DEFAULT_DRAIN_SECONDS = 5;

export interface WaypointConfig {
  /** The Gateway's name (`--name`, GATEWAY_NAME). */
  readonly name: string;
  readonly namespace: string;
  /** Default: the Gateway's name (what Istio's deployment controller uses). */
  readonly serviceAccount: string;
  readonly trustDomain: string;
  readonly clusterId: string;
  readonly network: string;
  readonly node: string;
  readonly podName: string;
  /** The pod's IP: upstream connections are bound to it and it appears in the node id. */
  readonly podIp?: string;
  /** Address HBONE is accepted on (`--listen`), port `hbonePort`. */
  readonly listen: string;
  readonly hbonePort: number;
  readonly admin: SocketAddress;
  readonly metrics: SocketAddress;
  readonly readiness: SocketAddress;
  readonly xdsAddress?: string;
  readonly tokenFile?: string;
  readonly rootCertFile?: string;
  /** SAN the control plane's certificate must carry. */
  readonly controlPlaneSan: string;
  readonly caDir?: string;
  readonly certTtlSeconds: number;
  readonly drainSeconds: number;
  readonly staticFile?: string;
  readonly static?: StaticWaypointConfig;
  /**
   * Which engine terminates the HBONE tunnels and carries the upstream ones (`--hbone-engine`,
   * WEFT_HBONE_ENGINE; default node, unlike the ztunnel's): docs/waypoint.md "Native engine".
   */
  readonly hboneEngine?: HboneEngine;
}

const FLAGS = {
  name: { type: "string" }, // GATEWAY_NAME
  namespace: { type: "string" }, // POD_NAMESPACE
  "service-account": { type: "string" }, // SERVICE_ACCOUNT, default: the gateway name
  "xds-address": { type: "string" }, // XDS_ADDRESS
  "token-file": { type: "string" }, // WEFT_TOKEN_FILE
  "root-cert": { type: "string" }, // WEFT_ROOT_CERT
  "control-plane-san": { type: "string" }, // WEFT_XDS_SAN, default spiffe://<td>/ns/istio-system/sa/istiod
  "trust-domain": { type: "string" }, // TRUST_DOMAIN
  "cluster-id": { type: "string" }, // CLUSTER_ID
  network: { type: "string" }, // NETWORK
  listen: { type: "string" }, // WEFT_LISTEN
  "hbone-port": { type: "string" },
  admin: { type: "string" },
  metrics: { type: "string" },
  readiness: { type: "string" },
  node: { type: "string" }, // NODE_NAME
  "pod-name": { type: "string" }, // POD_NAME
  "pod-ip": { type: "string" }, // INSTANCE_IP
  config: { type: "string" }, // WEFT_WAYPOINT_CONFIG: static Envoy resources
  "ca-dir": { type: "string" }, // WEFT_CA_DIR
  "cert-ttl": { type: "string" }, // WEFT_CERT_TTL_SECONDS
  "drain-seconds": { type: "string" }, // WEFT_DRAIN_SECONDS
  "hbone-engine": { type: "string" }, // WEFT_HBONE_ENGINE: node | native
} as const;

export function loadWaypointConfig(argv: readonly string[], env: NodeJS.ProcessEnv): Result<WaypointConfig> {
  let v: Record<string, string | undefined>;
  try {
    v = parseArgs({ args: [...argv], options: FLAGS, strict: true, allowPositionals: false }).values as Record<string, string | undefined>;
  } catch (e) {
    return err(new Error(`waypoint: ${(e as Error).message}`));
  }
  const fail = (m: string) => err(new Error(`waypoint: ${m}`));
  const name = v.name ?? env.GATEWAY_NAME;
  if (!name) return fail("--name (the waypoint Gateway's name) is required");
  const namespace = v.namespace ?? env.POD_NAMESPACE;
  if (!namespace) return fail("--namespace (or POD_NAMESPACE) is required");
  const trustDomain = v["trust-domain"] ?? env.TRUST_DOMAIN ?? DEFAULT_TRUST_DOMAIN;
  const addr = (flag: string, text: string): Result<SocketAddress> => {
    const a = parseAddress(text);
    return a.ok ? a : err(new Error(`waypoint: --${flag}: ${a.error.message}`));
  };
  const admin = addr("admin", v.admin ?? DEFAULT_ADMIN);
  if (!admin.ok) return admin;
  const metrics = addr("metrics", v.metrics ?? DEFAULT_METRICS);
  if (!metrics.ok) return metrics;
  const readiness = addr("readiness", v.readiness ?? DEFAULT_READINESS);
  if (!readiness.ok) return readiness;
  const listen = canonicalIp(v.listen ?? env.WEFT_LISTEN ?? DEFAULT_LISTEN);
  if (!listen) return fail(`--listen must be an IP address, not ${JSON.stringify(v.listen)}`);
  const num = (flag: string, text: string | undefined, dflt: number, min: number, max = Infinity): Result<number> => {
    if (text === undefined) return ok(dflt);
    const n = Number(text);
    return Number.isInteger(n) && n >= min && n <= max
      ? ok(n)
      : fail(`--${flag} must be an integer in [${min}, ${max}], not ${JSON.stringify(text)}`);
  };
  const hbonePort = num("hbone-port", v["hbone-port"], DEFAULT_HBONE_PORT, 1, 65535);
  if (!hbonePort.ok) return hbonePort;
  const ttl = num("cert-ttl", v["cert-ttl"] ?? env.WEFT_CERT_TTL_SECONDS, DEFAULT_CERT_TTL_SECONDS, 60);
  if (!ttl.ok) return ttl;
  const drain = num("drain-seconds", v["drain-seconds"] ?? env.WEFT_DRAIN_SECONDS, DEFAULT_DRAIN_SECONDS, 0);
  if (!drain.ok) return drain;
  const engine = parseHboneEngine(v["hbone-engine"] ?? env.WEFT_HBONE_ENGINE, "waypoint: --hbone-engine", WAYPOINT_DEFAULT_ENGINE);
  if (!engine.ok) return engine;
  const podIpText = v["pod-ip"] ?? env.INSTANCE_IP;
  const podIp = podIpText === undefined ? undefined : canonicalIp(podIpText);
  if (podIpText !== undefined && !podIp) return fail(`--pod-ip must be an IP address, not ${JSON.stringify(podIpText)}`);
  const xdsAddress = v["xds-address"] ?? env.XDS_ADDRESS;
  const tokenFile = v["token-file"] ?? env.WEFT_TOKEN_FILE;
  const rootCertFile = v["root-cert"] ?? env.WEFT_ROOT_CERT;
  const caDir = v["ca-dir"] ?? env.WEFT_CA_DIR;
  const staticFile = v.config ?? env.WEFT_WAYPOINT_CONFIG;
  if (!xdsAddress && !staticFile)
    return fail("no configuration source: give --xds-address (control plane) or --config FILE (static Envoy resources)");
  if (xdsAddress && (!tokenFile || !rootCertFile))
    return fail("xDS mode needs --token-file (bootstrap token) and --root-cert (mesh root PEM)");
  if (!xdsAddress && !caDir)
    return fail("static mode without a control plane needs --ca-dir (a local mesh CA) for the waypoint's certificate");
  let stat: StaticWaypointConfig | undefined;
  if (staticFile) {
    let text: string;
    try {
      text = readFileSync(staticFile, "utf8");
    } catch (e) {
      return fail(`--config ${staticFile}: ${(e as Error).message}`);
    }
    const parsed = parseStaticWaypointConfig(text);
    if (!parsed.ok) return fail(`--config ${staticFile}: ${parsed.error.map((e) => `${e.resource}: ${e.field}: ${e.reason}`).join("; ")}`);
    stat = parsed.value;
  }
  const podName = v["pod-name"] ?? env.POD_NAME ?? `${name}-0`;
  const config: WaypointConfig = {
    name,
    namespace,
    serviceAccount: v["service-account"] ?? env.SERVICE_ACCOUNT ?? name,
    trustDomain,
    clusterId: v["cluster-id"] ?? env.CLUSTER_ID ?? DEFAULT_CLUSTER_ID,
    network: v.network ?? env.NETWORK ?? "",
    node: v.node ?? env.NODE_NAME ?? "",
    podName,
    ...(podIp ? { podIp } : {}),
    listen,
    hbonePort: hbonePort.value,
    admin: admin.value,
    metrics: metrics.value,
    readiness: readiness.value,
    ...(xdsAddress ? { xdsAddress } : {}),
    ...(tokenFile ? { tokenFile } : {}),
    ...(rootCertFile ? { rootCertFile } : {}),
    controlPlaneSan: v["control-plane-san"] ?? env.WEFT_XDS_SAN ?? `spiffe://${trustDomain}/ns/istio-system/sa/istiod`,
    ...(caDir ? { caDir } : {}),
    certTtlSeconds: ttl.value,
    drainSeconds: drain.value,
    ...(staticFile ? { staticFile } : {}),
    ...(stat ? { static: stat } : {}),
    hboneEngine: engine.value,
  };
  return ok(Object.freeze(config));
}
