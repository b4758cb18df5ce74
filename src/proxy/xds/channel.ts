/**
 * How ztunnel reaches the control plane (xDS and CA share it): TLS verified against the mesh
 * roots, and instead of the hostname check, a check that the control plane's certificate
 * carries the expected SAN (a SPIFFE URI such as spiffe://cluster.local/ns/istio-system/sa/istiod,
 * or a DNS name). The bearer token goes in per-call metadata, fetched fresh for every call so a
 * rotated token is picked up.
 */
import { type ChannelCredentials, Metadata, credentials } from "@grpc/grpc-js";
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

export const CHANNEL_OPTIONS = {
  // The initial state of a type arrives as one message (about 180 B per workload).
  "grpc.max_receive_message_length": 256 * 1024 * 1024,
  "grpc.keepalive_time_ms": 30_000,
  "grpc.keepalive_timeout_ms": 10_000,
} as const;
