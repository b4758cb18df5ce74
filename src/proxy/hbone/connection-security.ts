/**
 * What a connection's own TLS state says about its security, recorded once per HBONE connection
 * (client and server side) when the handshake and the peer check are done. Istio's
 * `connection_security_policy` metric label is derived from this record, not asserted by the
 * caller: a connection is `mutual_tls` only if it negotiated TLS 1.3 and the peer's certificate
 * was verified and its SPIFFE identity accepted.
 */
import type http2 from "node:http2";
import type { TLSSocket } from "node:tls";
import type { Identity } from "../../common/spiffe.js";

export interface ConnectionSecurity {
  /** `TLSSocket.getProtocol()` after the handshake, e.g. "TLSv1.3"; "none" if unknown. */
  readonly protocol: string;
  /** The peer's verified SPIFFE identity (its certificate chained to our roots and was accepted); absent if not verified. */
  readonly peerIdentity?: Identity;
}

/** Reads the record from a socket whose handshake is complete; `verifiedPeer` is what our own check accepted. */
export function securityOf(socket: TLSSocket, verifiedPeer: Identity | undefined): ConnectionSecurity {
  const protocol = socket.encrypted ? (socket.getProtocol() ?? "none") : "none";
  return { protocol, ...(verifiedPeer ? { peerIdentity: verifiedPeer } : {}) };
}

/** Pure: whether a connection with this record is mutual TLS (`connection_security_policy="mutual_tls"`). */
export function isMutualTls(s: ConnectionSecurity | undefined): boolean {
  return !!s && s.protocol === "TLSv1.3" && !!s.peerIdentity;
}

// Client sessions carry their record here (set by dialHbone), so whoever holds a tunnel stream
// can ask what its connection is, without the pool passing it along.
const sessions = new WeakMap<http2.Http2Session, ConnectionSecurity>();

export function recordSessionSecurity(session: http2.ClientHttp2Session, s: ConnectionSecurity): void {
  sessions.set(session, s);
}

/** The record of the client session a tunnel stream runs on; undefined for a session not made by dialHbone. */
export function sessionSecurity(session: http2.Http2Session | undefined): ConnectionSecurity | undefined {
  return session ? sessions.get(session) : undefined;
}
