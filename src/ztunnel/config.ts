/**
 * ztunnel's configuration: the only reader of its flags and environment. Each setting has its
 * default beside its name; the result is validated, frozen and logged once at start-up.
 * Precedence: flag > environment > static config file > default.
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { parse as parseYaml } from "yaml";
import { canonicalIp, parseAddress, type SocketAddress } from "../common/net/addr.js";
import { type Result, ok, err } from "../common/result.js";
import { parseStaticConfig, type StaticConfig } from "./static-config.js";

export interface ZtunnelPorts {
  readonly admin: number; // 15000, localhost: config dump, logging, quitquitquit
  readonly metrics: number; // 15020: Prometheus
  readonly readiness: number; // 15021: GET /healthz/ready
  readonly socks5: number; // 15080: explicit outbound, localhost
  readonly outbound: number; // 15001: captured outbound
  readonly inbound: number; // 15006: captured inbound plaintext
  readonly hbone: number; // 15008: HBONE (mTLS HTTP/2 CONNECT)
}

export const DEFAULT_PORTS: ZtunnelPorts = {
  admin: 15000,
  metrics: 15020,
  readiness: 15021,
  socks5: 15080,
  outbound: 15001,
  inbound: 15006,
  hbone: 15008,
};

/**
 * How connections reach ztunnel:
 * - "none": no capture. HBONE is served on each local workload's IP (bound as workloads
 *   appear), outbound goes through SOCKS5 and `outboundListeners`. Works without root.
 * - "transparent": capture (eBPF or nftables) steers pod traffic to IP_TRANSPARENT listeners on
 *   15001/15006/15008 bound to the wildcard address; needs root and the native addon.
 */
export type CaptureMode = "none" | "transparent";

export interface ZtunnelConfig {
  readonly node: string;
  readonly trustDomain: string;
  readonly network: string;
  readonly clusterId: string;
  /** Address of the admin, metrics, readiness and SOCKS5 listeners. */
  readonly bindAddress: string;
  readonly ports: ZtunnelPorts;
  readonly capture: CaptureMode;
  /** Extra outbound listeners for use without capture: the listener address is the original destination. */
  readonly outboundListeners: readonly SocketAddress[];
  /** Local CA directory (in-process signing), or undefined when a CA service is used. */
  readonly caDir?: string;
  /** Control plane address for xDS and the CA service, `host:port`. */
  readonly xdsAddress?: string;
  /** File holding the bearer token presented to the control plane. */
  readonly tokenFile?: string;
  /** PEM file of the mesh root(s), to verify the control plane (xDS mode). */
  readonly rootCertFile?: string;
  /** SAN the control plane's certificate must carry; default istiod's SPIFFE id. */
  readonly xdsSan: string;
  readonly certTtlSeconds: number;
  /** How long open connections may finish on shutdown before they are closed. */
  readonly drainSeconds: number;
  /** SO_MARK on ztunnel's capture listeners and upstream sockets, so capture never takes them again (Istio: 0x539). */
  readonly ztunnelMark: number;
  /** The static config file's workloads and services, when one was given. */
  readonly static?: StaticConfig;
  readonly staticFile?: string;
}

const FLAGS = {
  config: { type: "string" }, // static config file (settings + workloads + services)
  node: { type: "string" }, // NODE_NAME
  "trust-domain": { type: "string" }, // TRUST_DOMAIN, default cluster.local
  network: { type: "string" }, // NETWORK, default ""
  "cluster-id": { type: "string" }, // CLUSTER_ID, default Kubernetes
  "bind-address": { type: "string" }, // WEFT_BIND_ADDRESS, default 127.0.0.1
  capture: { type: "string" }, // WEFT_CAPTURE, default none
  "ca-dir": { type: "string" }, // WEFT_CA_DIR
  "xds-address": { type: "string" }, // XDS_ADDRESS
  "token-file": { type: "string" }, // WEFT_TOKEN_FILE
  "root-cert": { type: "string" }, // WEFT_ROOT_CERT: mesh root PEM (xDS mode)
  "xds-san": { type: "string" }, // WEFT_XDS_SAN, default spiffe://<td>/ns/istio-system/sa/istiod
  "cert-ttl": { type: "string" }, // WEFT_CERT_TTL_SECONDS, default 86400
  "drain-seconds": { type: "string" }, // WEFT_DRAIN_SECONDS, default 5
  "ztunnel-mark": { type: "string" }, // WEFT_ZTUNNEL_MARK, default 0x539 (1337)
} as const;

export function loadZtunnelConfig(argv: readonly string[], env: NodeJS.ProcessEnv): Result<ZtunnelConfig> {
  let values: Record<string, string | undefined>;
  try {
    values = parseArgs({ args: [...argv], options: FLAGS, strict: true, allowPositionals: false }).values as Record<
      string,
      string | undefined
    >;
  } catch (e) {
    return err(new Error(`ztunnel: ${(e as Error).message}`));
  }
  let stat: StaticConfig | undefined;
  const staticFile = values.config ?? env.WEFT_ZTUNNEL_CONFIG;
  if (staticFile) {
    let doc: unknown;
    try {
      doc = parseYaml(readFileSync(staticFile, "utf8"));
    } catch (e) {
      return err(new Error(`ztunnel: config file ${staticFile}: ${(e as Error).message}`));
    }
    const parsed = parseStaticConfig(doc);
    if (!parsed.ok)
      return err(new Error(`ztunnel: config file ${staticFile}: ${parsed.error.map((f) => `${f.field}: ${f.reason}`).join("; ")}`));
    stat = parsed.value;
  }
  const s = stat?.settings;
  const node = values.node ?? env.NODE_NAME ?? s?.node;
  if (!node) return err(new Error("ztunnel: node name required (--node, NODE_NAME or `node:` in the config file)"));
  const bindAddress = canonicalIp(values["bind-address"] ?? env.WEFT_BIND_ADDRESS ?? s?.bindAddress ?? "127.0.0.1");
  if (!bindAddress) return err(new Error("ztunnel: bind address must be an IP address"));
  const capture = values.capture ?? env.WEFT_CAPTURE ?? "none";
  if (capture !== "none" && capture !== "transparent")
    return err(new Error(`ztunnel: capture must be none or transparent, not ${JSON.stringify(capture)}`));
  const outboundListeners: SocketAddress[] = [];
  for (const text of s?.outboundListeners ?? []) {
    const a = parseAddress(text);
    if (!a.ok) return err(new Error(`ztunnel: outboundListeners: ${a.error.message}`));
    outboundListeners.push(a.value);
  }
  const num = (name: string, text: string | undefined, dflt: number, min: number): Result<number> => {
    if (text === undefined) return ok(dflt);
    const n = Number(text);
    return Number.isFinite(n) && n >= min
      ? ok(n)
      : err(new Error(`ztunnel: ${name} must be a number >= ${min}, not ${JSON.stringify(text)}`));
  };
  const ttl = num("cert TTL", values["cert-ttl"] ?? env.WEFT_CERT_TTL_SECONDS, 86400, 60);
  if (!ttl.ok) return ttl;
  const drain = num("drain seconds", values["drain-seconds"] ?? env.WEFT_DRAIN_SECONDS, 5, 0);
  if (!drain.ok) return drain;
  const mark = num("ztunnel mark", values["ztunnel-mark"] ?? env.WEFT_ZTUNNEL_MARK, 0x539, 1);
  if (!mark.ok) return mark;
  const caDir = values["ca-dir"] ?? env.WEFT_CA_DIR ?? s?.caDir;
  const xdsAddress = values["xds-address"] ?? env.XDS_ADDRESS ?? s?.xdsAddress;
  if (!caDir && !xdsAddress)
    return err(new Error("ztunnel: no certificate source: give a local CA (--ca-dir) or a control plane (--xds-address)"));
  const tokenFile = values["token-file"] ?? env.WEFT_TOKEN_FILE;
  const rootCertFile = values["root-cert"] ?? env.WEFT_ROOT_CERT;
  if (xdsAddress && !caDir && (!tokenFile || !rootCertFile))
    return err(new Error("ztunnel: xDS mode needs --token-file (bootstrap token) and --root-cert (mesh root PEM)"));
  const trustDomain = values["trust-domain"] ?? env.TRUST_DOMAIN ?? s?.trustDomain ?? "cluster.local";
  const config: ZtunnelConfig = {
    node,
    trustDomain,
    xdsSan: values["xds-san"] ?? env.WEFT_XDS_SAN ?? `spiffe://${trustDomain}/ns/istio-system/sa/istiod`,
    network: values.network ?? env.NETWORK ?? s?.network ?? "",
    clusterId: values["cluster-id"] ?? env.CLUSTER_ID ?? s?.clusterId ?? "Kubernetes",
    bindAddress,
    ports: { ...DEFAULT_PORTS, ...(s?.ports ?? {}) },
    capture,
    outboundListeners,
    certTtlSeconds: ttl.value,
    drainSeconds: drain.value,
    ztunnelMark: mark.value,
    ...(caDir ? { caDir } : {}),
    ...(xdsAddress ? { xdsAddress } : {}),
    ...(tokenFile ? { tokenFile } : {}),
    ...(rootCertFile ? { rootCertFile } : {}),
    ...(stat ? { static: stat } : {}),
    ...(staticFile ? { staticFile } : {}),
  };
  return ok(Object.freeze(config));
}
