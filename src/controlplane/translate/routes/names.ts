/**
 * Names and protocol rules shared by every routing translator (WAYPOINT-CONTRACT.md "Resource
 * naming and shape"): Istio's listener and cluster names, the per-port protocol decision,
 * service hostname resolution for VirtualService/DestinationRule hosts, route names, and the
 * creation-time/name order Gateway API and Istio use to break ties between objects. Pure.
 */
import type { AppProtocol } from "../../../common/model/workload.js";
import type { KubeObject } from "../../../kube/object.js";
import { isPlainObject } from "../../../kube/validate/validate-schema.js";
import type { RedirectAction } from "./envoy-types.js";

/** The object elements of a (validated) list field. */
export function objs(v: unknown): Record<string, unknown>[] {
  return Array.isArray(v) ? v.filter(isPlainObject) : [];
}

/** Whether `exportTo` (empty = `*`, Istio's default) makes an Istio config visible to proxies of `namespace`. */
export function exportedTo(o: KubeObject, namespace: string): boolean {
  const spec = isPlainObject(o.spec) ? o.spec : {};
  const to = Array.isArray(spec.exportTo) ? spec.exportTo : [];
  if (to.length === 0 || to.includes("*")) return true;
  return to.includes(namespace) || (to.includes(".") && o.metadata.namespace === namespace);
}

/** `s` as a literal inside an RE2 regular expression. */
export function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** HTTP redirect status -> Envoy RedirectResponseCode. */
export const REDIRECT_CODES: Readonly<Record<number, NonNullable<RedirectAction["responseCode"]>>> = {
  301: "MOVED_PERMANENTLY",
  302: "FOUND",
  303: "SEE_OTHER",
  307: "TEMPORARY_REDIRECT",
  308: "PERMANENT_REDIRECT",
};

export type PortKind = "http" | "tcp";

/** How the waypoint handles a service port: HTTP (with a codec) or TCP passthrough. */
export interface PortProtocol {
  readonly kind: PortKind;
  /**
   * HTTP codec: HTTP2 for `http2`/`grpc`; AUTO (HTTP/1.1, or HTTP/2 when the client opens with
   * the h2 preface) for `http` and unknown ports, as Istio's inbound HTTP listeners are, so a
   * client speaking h2c with prior knowledge to an `http` port is served, not cut off.
   */
  readonly codec: "AUTO" | "HTTP1" | "HTTP2";
}

/**
 * Istio's rules, as appProtocolOf (mesh-labels.ts) already reads them: appProtocol, then the
 * port name prefix. TCP and TLS ports are passed through; an unrecognised port is HTTP with
 * protocol detection at the waypoint (Istio sniffs; weft's waypoint detects h2 by its preface).
 */
export function portProtocol(p: AppProtocol): PortProtocol {
  switch (p) {
    case "HTTP11":
      return { kind: "http", codec: "AUTO" };
    case "HTTP2":
    case "GRPC":
      return { kind: "http", codec: "HTTP2" };
    case "TCP":
    case "TLS":
      return { kind: "tcp", codec: "AUTO" };
    default:
      return { kind: "http", codec: "AUTO" };
  }
}

export function listenerName(port: number, kind: PortKind, host: string): string {
  return `inbound-vip|${port}|${kind}|${host}`;
}

export function clusterName(port: number, subset: string, host: string): string {
  return `outbound|${port}|${subset}|${host}`;
}

/** `<kind>/<ns>/<name>/<rule>` plus `/<match>` when the rule has more than one match. */
export function routeName(kind: string, o: KubeObject, rule: number, match: number, matches: number): string {
  const base = `${kind}/${o.metadata.namespace ?? ""}/${o.metadata.name}/${rule}`;
  return matches > 1 ? `${base}/${match}` : base;
}

/**
 * An Istio host as a service hostname: `reviews` -> `reviews.<ns>.svc.<domain>`, `reviews.prod`
 * -> `reviews.prod.svc.<domain>`, anything with `.svc.` or more dots kept as is (Istio resolves
 * short names relative to the namespace of the object that names them).
 */
export function resolveHost(host: string, namespace: string, clusterDomain: string): string {
  if (host.includes("*")) return host;
  const parts = host.split(".");
  if (parts.length === 1) return `${host}.${namespace}.svc.${clusterDomain}`;
  if (parts.length === 2) return `${host}.svc.${clusterDomain}`;
  return host;
}

/** Whether an Istio host pattern (`*.ns.svc.cluster.local`, `*`, exact) covers `hostname`. */
export function hostMatches(pattern: string, hostname: string): boolean {
  if (pattern === "*") return true;
  if (pattern.startsWith("*.")) return hostname.endsWith(pattern.slice(1));
  return pattern === hostname;
}

/** Oldest first, then `ns/name` (Gateway API's and Istio's tie-breakers). */
export function objectOrder(a: KubeObject, b: KubeObject): number {
  const ta = creationTime(a);
  const tb = creationTime(b);
  if (ta !== tb) return ta - tb;
  const ka = `${a.metadata.namespace ?? ""}/${a.metadata.name}`;
  const kb = `${b.metadata.namespace ?? ""}/${b.metadata.name}`;
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}

/** Milliseconds since the epoch; objects without a timestamp (folder source) count as 0 (all equal). */
export function creationTime(o: KubeObject): number {
  const t = (o.metadata as { creationTimestamp?: unknown }).creationTimestamp;
  const ms = typeof t === "string" ? Date.parse(t) : NaN;
  return Number.isFinite(ms) ? ms : 0;
}

/** `Kind ns/name`, as problems and logs name objects. */
export function objectName(o: KubeObject): string {
  return `${o.kind} ${o.metadata.namespace ?? ""}/${o.metadata.name}`;
}

/** A Gateway API / Istio duration as an Envoy Duration. */
export function parseDuration(v: string): { seconds: number; nanos: number } | undefined {
  let ms = 0;
  const re = /([0-9]+(?:\.[0-9]+)?)(ms|h|m|s)/g;
  let consumed = 0;
  for (let m = re.exec(v); m; m = re.exec(v)) {
    consumed += m[0].length;
    const n = Number(m[1]);
    ms += m[2] === "h" ? n * 3_600_000 : m[2] === "m" ? n * 60_000 : m[2] === "s" ? n * 1000 : n;
  }
  if (consumed !== v.length || v.length === 0) return undefined;
  const seconds = Math.floor(ms / 1000);
  return { seconds, nanos: Math.round((ms - seconds * 1000) * 1e6) };
}
