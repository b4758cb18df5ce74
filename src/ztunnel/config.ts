/**
 * ztunnel's configuration: the only reader of its flags and environment. Each setting has its
 * default beside its name; the result is validated, frozen and logged once at start-up.
 * Precedence: flag > environment > static config file > default.
 */
import { type HboneEngine, ZTUNNEL_DEFAULT_ENGINE, parseHboneEngine } from "../proxy/hbone/engine.js";
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { parseConfigText } from "../common/config-text.js";
import { canonicalIp, parseAddress, type SocketAddress } from "../common/net/addr.js";
import { type Result, ok, err } from "../common/result.js";
import { type FlagSpec, parseArgsOptions, shortParseError } from "../common/flags.js";
import { parseStaticConfig, type StaticConfig } from "./static-config.js";
import { systemUpstreams } from "./dns/forwarder.js";

export interface ZtunnelPorts {
  readonly admin: number; // 15000, localhost: config dump, logging, quitquitquit
  readonly metrics: number; // 15020: Prometheus
  readonly readiness: number; // 15021: GET /healthz/ready
  readonly socks5: number; // 15080: explicit outbound, localhost
  readonly outbound: number; // 15001: captured outbound
  readonly inbound: number; // 15006: captured inbound plaintext
  readonly hbone: number; // 15008: HBONE (mTLS HTTP/2 CONNECT)
  readonly dns: number; // 15053: DNS proxy (UDP+TCP), with --dns-proxy
}

export const DEFAULT_PORTS: ZtunnelPorts = {
  admin: 15000,
  metrics: 15020,
  readiness: 15021,
  socks5: 15080,
  outbound: 15001,
  inbound: 15006,
  hbone: 15008,
  dns: 15053,
};

/** Istio's mesh config `outboundTrafficPolicy.mode`: may workloads reach destinations the mesh does not know? */
export type OutboundTrafficPolicy = "ALLOW_ANY" | "REGISTRY_ONLY";

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
  /** Serve DNS on `ports.dns` (upstream ztunnel's DNS_PROXY); captured port 53 goes there. */
  readonly dnsProxy?: boolean;
  /** Where unknown names are forwarded; default the nameservers of ztunnel's /etc/resolv.conf. */
  readonly dnsUpstreams?: readonly SocketAddress[];
  /** Kubernetes cluster domain, for DNS search-domain handling. */
  readonly clusterDomain?: string;
  /** Default ALLOW_ANY. */
  readonly outboundTrafficPolicy?: OutboundTrafficPolicy;
  /** Plaintext from the node's own addresses: "skip" authorization (Istio's outcome, the default) or "enforce" it. */
  readonly nodeTrafficAuthz?: "skip" | "enforce";
  /** Connection spans (weft's addition; off without): OTLP gRPC collector and the percent of connections sampled. */
  readonly tracing?: { readonly collector: string; readonly samplingPercent: number };
  /** Which engine carries inbound HBONE (docs/hbone.md "Native engine"); default node. */
  readonly hboneEngine?: HboneEngine;
}

/** Percent of connections given a span when --tracing-otlp is set (Istio's default defaultConfig.tracing.sampling). */
export const DEFAULT_TRACING_SAMPLING = 1;

export const DEFAULT_TRUST_DOMAIN = "cluster.local";
export const DEFAULT_CLUSTER_ID = "Kubernetes";
export const DEFAULT_BIND_ADDRESS = "127.0.0.1";
export const DEFAULT_CAPTURE: CaptureMode = "none";
export const DEFAULT_CERT_TTL_SECONDS = 86400;
export const DEFAULT_DRAIN_SECONDS = 5;
/** Istio's ztunnel mark (1337). */
export const DEFAULT_ZTUNNEL_MARK = 0x539;
/** Where `--xds-san` defaults to: istiod's identity in the trust domain. */
export const defaultXdsSan = (trustDomain: string): string => `spiffe://${trustDomain}/ns/istio-system/sa/istiod`;

/** Every flag of `weft ztunnel`; `weft ztunnel --help` is made from this table. */
export const ZTUNNEL_FLAGS: readonly FlagSpec[] = [
  { name: "config", arg: "FILE", env: "WEFT_ZTUNNEL_CONFIG", description: "static config file: settings, workloads and services" },
  { name: "node", arg: "NAME", env: "NODE_NAME", description: "this node's name (required)" },
  { name: "trust-domain", arg: "TD", env: "TRUST_DOMAIN", default: DEFAULT_TRUST_DOMAIN, description: "mesh trust domain" },
  { name: "network", arg: "NAME", env: "NETWORK", default: '""', description: "network of this node's workloads" },
  { name: "cluster-id", arg: "ID", env: "CLUSTER_ID", default: DEFAULT_CLUSTER_ID, description: "cluster id of this node" },
  {
    name: "bind-address",
    arg: "IP",
    env: "WEFT_BIND_ADDRESS",
    default: DEFAULT_BIND_ADDRESS,
    description: "address of the admin, metrics, readiness and SOCKS5 listeners",
  },
  {
    name: "capture",
    arg: "none|transparent",
    env: "WEFT_CAPTURE",
    default: DEFAULT_CAPTURE,
    description: "how connections reach ztunnel: transparent needs root and the native addon",
  },
  { name: "ca-dir", arg: "DIR", env: "WEFT_CA_DIR", description: "local CA directory (in-process signing), from `weft ca init`" },
  { name: "xds-address", arg: "HOST:PORT", env: "XDS_ADDRESS", description: "control plane address (xDS and CA)" },
  { name: "token-file", arg: "FILE", env: "WEFT_TOKEN_FILE", description: "bearer token presented to the control plane (xDS mode)" },
  { name: "root-cert", arg: "FILE", env: "WEFT_ROOT_CERT", description: "mesh root PEM to verify the control plane (xDS mode)" },
  {
    name: "xds-san",
    arg: "URI",
    env: "WEFT_XDS_SAN",
    default: defaultXdsSan("<trust-domain>"),
    description: "SAN the control plane's certificate must carry",
  },
  {
    name: "cert-ttl",
    arg: "SECONDS",
    env: "WEFT_CERT_TTL_SECONDS",
    default: String(DEFAULT_CERT_TTL_SECONDS),
    description: "requested workload certificate lifetime",
  },
  {
    name: "drain-seconds",
    arg: "SECONDS",
    env: "WEFT_DRAIN_SECONDS",
    default: String(DEFAULT_DRAIN_SECONDS),
    description: "how long open connections may finish on shutdown",
  },
  {
    name: "dns-proxy",
    arg: "true|false",
    env: "DNS_PROXY",
    default: "false",
    description: "answer DNS for services and ServiceEntry hosts on the dns port (15053); captured port 53 goes there",
  },
  {
    name: "dns-upstream",
    arg: "IP[:PORT],...",
    env: "WEFT_DNS_UPSTREAM",
    default: "/etc/resolv.conf nameservers",
    description: "resolvers for names ztunnel does not know",
  },
  { name: "cluster-domain", arg: "DOMAIN", env: "CLUSTER_DOMAIN", default: "cluster.local", description: "Kubernetes cluster domain" },
  {
    name: "outbound-traffic-policy",
    arg: "ALLOW_ANY|REGISTRY_ONLY",
    env: "WEFT_OUTBOUND_TRAFFIC_POLICY",
    default: "ALLOW_ANY",
    description: "REGISTRY_ONLY refuses destinations that are no service, ServiceEntry or workload",
  },
  {
    name: "node-traffic-authz",
    arg: "skip|enforce",
    env: "WEFT_NODE_TRAFFIC_AUTHZ",
    default: "skip",
    description: "plaintext from the node's own addresses (kubelet probes): skip L4 policy as Istio does, or enforce it",
  },
  {
    name: "hbone-engine",
    arg: "node|native",
    env: "WEFT_HBONE_ENGINE",
    default: ZTUNNEL_DEFAULT_ENGINE,
    description:
      "HBONE (15008 and the outbound pool) on the addon's native OpenSSL + nghttp2 data path, or on Node's TLS/http2 (docs/hbone.md)",
  },
  {
    name: "ztunnel-mark",
    arg: "MARK",
    env: "WEFT_ZTUNNEL_MARK",
    default: `0x${DEFAULT_ZTUNNEL_MARK.toString(16)}`,
    description: "SO_MARK on capture listeners and upstream sockets",
  },
  {
    name: "tracing-otlp",
    arg: "HOST:PORT",
    env: "WEFT_TRACING_OTLP",
    description: "export one span per connection over OTLP gRPC to this collector (weft's addition; off without)",
  },
  {
    name: "tracing-sampling",
    arg: "PERCENT",
    env: "WEFT_TRACING_SAMPLING",
    default: String(DEFAULT_TRACING_SAMPLING),
    description: "with --tracing-otlp: percent of connections given a span, [0, 100]",
  },
];

export function loadZtunnelConfig(argv: readonly string[], env: NodeJS.ProcessEnv): Result<ZtunnelConfig> {
  let values: Record<string, string | undefined>;
  try {
    values = parseArgs({ args: [...argv], options: parseArgsOptions(ZTUNNEL_FLAGS), strict: true, allowPositionals: false })
      .values as Record<string, string | undefined>;
  } catch (e) {
    return err(new Error(`ztunnel: ${shortParseError(e)}`));
  }
  let stat: StaticConfig | undefined;
  const staticFile = values.config ?? env.WEFT_ZTUNNEL_CONFIG;
  if (staticFile) {
    let doc: unknown;
    try {
      doc = parseConfigText(readFileSync(staticFile, "utf8"));
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
  const bindAddress = canonicalIp(values["bind-address"] ?? env.WEFT_BIND_ADDRESS ?? s?.bindAddress ?? DEFAULT_BIND_ADDRESS);
  if (!bindAddress) return err(new Error("ztunnel: bind address must be an IP address"));
  const capture = values.capture ?? env.WEFT_CAPTURE ?? DEFAULT_CAPTURE;
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
  const ttl = num("cert TTL", values["cert-ttl"] ?? env.WEFT_CERT_TTL_SECONDS, DEFAULT_CERT_TTL_SECONDS, 60);
  if (!ttl.ok) return ttl;
  const drain = num("drain seconds", values["drain-seconds"] ?? env.WEFT_DRAIN_SECONDS, DEFAULT_DRAIN_SECONDS, 0);
  if (!drain.ok) return drain;
  const mark = num("ztunnel mark", values["ztunnel-mark"] ?? env.WEFT_ZTUNNEL_MARK, DEFAULT_ZTUNNEL_MARK, 1);
  if (!mark.ok) return mark;
  const caDir = values["ca-dir"] ?? env.WEFT_CA_DIR ?? s?.caDir;
  const xdsAddress = values["xds-address"] ?? env.XDS_ADDRESS ?? s?.xdsAddress;
  if (!caDir && !xdsAddress)
    return err(new Error("ztunnel: no certificate source: give a local CA (--ca-dir) or a control plane (--xds-address)"));
  const tokenFile = values["token-file"] ?? env.WEFT_TOKEN_FILE;
  const rootCertFile = values["root-cert"] ?? env.WEFT_ROOT_CERT;
  if (xdsAddress && !caDir && (!tokenFile || !rootCertFile))
    return err(new Error("ztunnel: xDS mode needs --token-file (bootstrap token) and --root-cert (mesh root PEM)"));
  const dnsProxyText = values["dns-proxy"] ?? env.DNS_PROXY ?? "false";
  if (dnsProxyText !== "true" && dnsProxyText !== "false")
    return err(new Error(`ztunnel: dns-proxy must be true or false, not ${JSON.stringify(dnsProxyText)}`));
  const dnsUpstreams: SocketAddress[] = [];
  const upText = values["dns-upstream"] ?? env.WEFT_DNS_UPSTREAM;
  if (upText !== undefined) {
    for (const part of upText.split(",").filter((x) => x !== "")) {
      const a = parseAddress(part.includes(":") ? part : `${part}:53`);
      if (!a.ok) return err(new Error(`ztunnel: dns-upstream: ${a.error.message}`));
      dnsUpstreams.push(a.value);
    }
  } else dnsUpstreams.push(...systemUpstreams());
  const nodeAuthz = values["node-traffic-authz"] ?? env.WEFT_NODE_TRAFFIC_AUTHZ ?? "skip";
  if (nodeAuthz !== "skip" && nodeAuthz !== "enforce")
    return err(new Error(`ztunnel: node-traffic-authz must be skip or enforce, not ${JSON.stringify(nodeAuthz)}`));
  const engine = parseHboneEngine(values["hbone-engine"] ?? env.WEFT_HBONE_ENGINE, "ztunnel: hbone-engine", ZTUNNEL_DEFAULT_ENGINE);
  if (!engine.ok) return engine;
  const policy = values["outbound-traffic-policy"] ?? env.WEFT_OUTBOUND_TRAFFIC_POLICY ?? "ALLOW_ANY";
  if (policy !== "ALLOW_ANY" && policy !== "REGISTRY_ONLY")
    return err(new Error(`ztunnel: outbound-traffic-policy must be ALLOW_ANY or REGISTRY_ONLY, not ${JSON.stringify(policy)}`));
  const collector = values["tracing-otlp"] ?? env.WEFT_TRACING_OTLP;
  if (collector !== undefined && !/^(\[[0-9a-fA-F:.]+\]|[^:\s/]+):\d{1,5}$/.test(collector))
    return err(new Error(`ztunnel: tracing-otlp must be HOST:PORT, not ${JSON.stringify(collector)}`));
  const samplingText = values["tracing-sampling"] ?? env.WEFT_TRACING_SAMPLING ?? String(DEFAULT_TRACING_SAMPLING);
  const sampling = Number(samplingText);
  if (samplingText.trim() === "" || !Number.isFinite(sampling) || sampling < 0 || sampling > 100)
    return err(new Error(`ztunnel: tracing-sampling must be a percentage in [0, 100], not ${JSON.stringify(samplingText)}`));
  const trustDomain = values["trust-domain"] ?? env.TRUST_DOMAIN ?? s?.trustDomain ?? DEFAULT_TRUST_DOMAIN;
  const config: ZtunnelConfig = {
    node,
    trustDomain,
    xdsSan: values["xds-san"] ?? env.WEFT_XDS_SAN ?? defaultXdsSan(trustDomain),
    network: values.network ?? env.NETWORK ?? s?.network ?? "",
    clusterId: values["cluster-id"] ?? env.CLUSTER_ID ?? s?.clusterId ?? DEFAULT_CLUSTER_ID,
    bindAddress,
    ports: { ...DEFAULT_PORTS, ...(s?.ports ?? {}) },
    capture,
    outboundListeners,
    certTtlSeconds: ttl.value,
    drainSeconds: drain.value,
    ztunnelMark: mark.value,
    dnsProxy: dnsProxyText === "true",
    dnsUpstreams,
    clusterDomain: values["cluster-domain"] ?? env.CLUSTER_DOMAIN ?? "cluster.local",
    outboundTrafficPolicy: policy,
    nodeTrafficAuthz: nodeAuthz,
    ...(collector ? { tracing: { collector, samplingPercent: sampling } } : {}),
    hboneEngine: engine.value,
    ...(caDir ? { caDir } : {}),
    ...(xdsAddress ? { xdsAddress } : {}),
    ...(tokenFile ? { tokenFile } : {}),
    ...(rootCertFile ? { rootCertFile } : {}),
    ...(stat ? { static: stat } : {}),
    ...(staticFile ? { staticFile } : {}),
  };
  return ok(Object.freeze(config));
}
