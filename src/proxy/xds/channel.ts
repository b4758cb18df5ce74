/**
 * How ztunnel reaches the control plane (xDS and CA share it): TLS verified against the mesh
 * roots, and instead of the hostname check, a check that the control plane's certificate
 * carries the expected SAN (a SPIFFE URI such as spiffe://cluster.local/ns/istio-system/sa/istiod,
 * or a DNS name). The bearer token goes in per-call metadata, fetched fresh for every call so a
 * rotated token is picked up.
 */
import { type ChannelCredentials, Metadata, credentials } from "@grpc/grpc-js";
import { isIP } from "node:net";
import type { PeerCertificate } from "node:tls";
import { parseSubjectAltName } from "../../common/tls/san.js";

export interface ControlPlaneTarget {
  /** `host:port` of the control plane (default port 15012). */
  readonly address: string;
  /** Mesh trust anchors the control plane's certificate must chain to. */
  readonly rootsPem: readonly string[];
  /** A SAN the control plane's certificate must carry: `spiffe://...` (URI) or a DNS name. */
  readonly expectedSan: string;
  /** The bearer token, read per call. */
  readonly token: () => string | Promise<string>;
  /** Plaintext, for tests on loopback only. Default false. */
  readonly insecure?: boolean;
}

/** Undefined if `cert` carries `expected` as a URI or DNS SAN; else the error to fail the handshake with. */
export function checkControlPlaneSan(expected: string, cert: PeerCertificate): Error | undefined {
  const sans = parseSubjectAltName(cert.subjectaltname ?? "") ?? [];
  const want = expected.includes("://") ? "URI" : "DNS";
  if (sans.some((s) => s.type === want && s.value === expected)) return undefined;
  return new Error(`control plane certificate has SANs [${sans.map((s) => `${s.type}:${s.value}`).join(", ")}], want ${want}:${expected}`);
}

export function controlPlaneCredentials(t: ControlPlaneTarget): ChannelCredentials {
  if (t.insecure) return credentials.createInsecure();
  return credentials.createSsl(Buffer.from(t.rootsPem.join("")), null, null, {
    checkServerIdentity: (_host, cert) => checkControlPlaneSan(t.expectedSan, cert),
  });
}

export async function authMetadata(t: ControlPlaneTarget, extra: Record<string, string> = {}): Promise<Metadata> {
  const md = new Metadata();
  md.set("authorization", `Bearer ${await t.token()}`);
  for (const [k, v] of Object.entries(extra)) md.set(k, v);
  return md;
}

const CHANNEL_OPTIONS = {
  // The initial state of a type arrives as one message (about 180 B per workload).
  "grpc.max_receive_message_length": 256 * 1024 * 1024,
  "grpc.keepalive_time_ms": 30_000,
  "grpc.keepalive_timeout_ms": 10_000,
} as const;

/**
 * The TLS server name (SNI) to send when the control plane is addressed by an IP: grpc-js would
 * send the IP itself, which RFC 6066 forbids and Node warns about (DEP0123) in every ztunnel and
 * waypoint that dials an IP. The expected SAN when it is a DNS name; for a SPIFFE id
 * `spiffe://<td>/ns/<ns>/sa/<sa>`, `<sa>.<ns>.svc` (istiod's Service by Istio's naming); otherwise
 * none (grpc-js's default). Only SNI: the certificate is checked against `expectedSan` whatever
 * name is sent (checkServerIdentity ignores the host), and weft's control plane does not pick its
 * certificate by SNI.
 */
export function serverNameFor(t: ControlPlaneTarget): string | undefined {
  const host = t.address.startsWith("[") ? t.address.slice(1, t.address.indexOf("]")) : t.address.replace(/:\d+$/, "");
  if (t.insecure || isIP(host) === 0) return undefined;
  if (!t.expectedSan.includes("://")) return t.expectedSan;
  const m = /^spiffe:\/\/[^/]+\/ns\/([^/]+)\/sa\/([^/]+)$/.exec(t.expectedSan);
  return m ? `${m[2]}.${m[1]}.svc` : undefined;
}

/** The gRPC channel options of a control plane connection (xDS and CA alike). */
export function channelOptions(t: ControlPlaneTarget): Record<string, string | number> {
  const name = serverNameFor(t);
  return name ? { ...CHANNEL_OPTIONS, "grpc.ssl_target_name_override": name } : { ...CHANNEL_OPTIONS };
}
