/**
 * TLS for HBONE: secure contexts built from a WorkloadCertificate and the rules for accepting
 * a peer. TLS 1.3 only, AES-GCM suites, ALPN h2, no SNI, no session resumption: clients never
 * offer a session, and a server resumes none (a resumed session would skip the client
 * certificate). With SSL_OP_NO_TICKET OpenSSL's TLS 1.3 server still sends tickets, but
 * stateful ones naming a session in a server cache Node does not keep (no 'newSession'
 * handler), so a ticket offered back gets a full handshake (tls-context-handshake.test.ts).
 *
 * Contexts are cached per WorkloadCertificate object (WeakMap): a rotated certificate is a new
 * object, so the next connection picks it up and open connections keep theirs; nothing
 * restarts. The peer checks are pure functions so they are tested without sockets.
 */
import { X509Certificate, constants as cryptoConstants } from "node:crypto";
import tls from "node:tls";
import { type Result, err } from "../../common/result.js";
import { type Identity, toUri } from "../../common/spiffe.js";
import type { WorkloadCertificate } from "../../common/tls/types.js";
import { spiffeIdentityOfCert } from "../../common/tls/san.js";
import { HboneError } from "./errors.js";

export const HBONE_ALPN = "h2";
export const HBONE_CIPHERS = "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384";

const contexts = new WeakMap<WorkloadCertificate, tls.SecureContext>();

/** The secure context presenting `cert` and trusting its roots; one per certificate object. */
export function secureContextFor(cert: WorkloadCertificate): tls.SecureContext {
  let ctx = contexts.get(cert);
  if (!ctx) {
    ctx = tls.createSecureContext({
      key: cert.keyPem,
      cert: cert.chainPem.join("\n"),
      ca: [...cert.rootsPem],
      minVersion: "TLSv1.3",
      maxVersion: "TLSv1.3",
      ciphers: HBONE_CIPHERS,
      // No stateless tickets (see the header). Without this a client offering back a stateless
      // ticket fails the handshake: OpenSSL refuses to resume with no session id context.
      secureOptions: cryptoConstants.SSL_OP_NO_TICKET,
    });
    contexts.set(cert, ctx);
  }
  return ctx;
}

/** Whom a server accepts as HBONE clients. */
export interface ClientPolicy {
  /** Trust domains whose identities may connect (the mesh's own, plus any federated ones). */
  readonly trustDomains: readonly string[];
}

/** Whom a client accepts as the HBONE server: the destination's expected identities. */
export interface ServerPolicy {
  readonly expected: readonly Identity[];
}

/** A peer certificate as a socket reports it: `getPeerX509Certificate()` or `getPeerCertificate()`. */
export type PeerCert = X509Certificate | tls.PeerCertificate;

// tls reports "no certificate" as undefined (X509 form) or as an empty object (legacy form).
function noCertificate(c: PeerCert | undefined): c is undefined {
  return !c || (!(c instanceof X509Certificate) && Object.keys(c).length === 0);
}

/** Server side: the verified peer certificate's SPIFFE identity, if its trust domain is ours. */
export function acceptClient(peerCert: PeerCert | undefined, policy: ClientPolicy): Result<Identity, HboneError> {
  if (noCertificate(peerCert)) {
    return err(new HboneError("HBONE_TLS", "hbone: client presented no certificate"));
  }
  const id = spiffeIdentityOfCert(peerCert);
  if (!id.ok) return err(new HboneError("HBONE_IDENTITY", `hbone: client certificate: ${id.error.message}`, { cause: id.error }));
  if (!policy.trustDomains.includes(id.value.trustDomain)) {
    return err(
      new HboneError(
        "HBONE_IDENTITY",
        `hbone: client ${toUri(id.value)}: trust domain ${JSON.stringify(id.value.trustDomain)} is not accepted (want ${policy.trustDomains.join(" or ")})`,
      ),
    );
  }
  return id;
}

/** Client side: the server certificate's SPIFFE identity, if it is one of the expected ones. */
export function acceptServer(peerCert: PeerCert | undefined, policy: ServerPolicy): Result<Identity, HboneError> {
  if (noCertificate(peerCert)) {
    return err(new HboneError("HBONE_TLS", "hbone: server presented no certificate"));
  }
  const id = spiffeIdentityOfCert(peerCert);
  if (!id.ok) return err(new HboneError("HBONE_IDENTITY", `hbone: server certificate: ${id.error.message}`, { cause: id.error }));
  const uri = toUri(id.value);
  if (!policy.expected.some((e) => toUri(e) === uri)) {
    const want = policy.expected.length ? policy.expected.map(toUri).join(", ") : "(none)";
    return err(new HboneError("HBONE_IDENTITY", `hbone: server identity ${uri} is not among the expected identities ${want}`));
  }
  return id;
}

/** Canonical, order-independent text of an identity set (pool keys, logs). */
export function identitySetKey(ids: readonly Identity[]): string {
  return [...new Set(ids.map(toUri))].sort().join(",");
}

/** Options for the client TLS socket (over an already connected TCP socket). */
export function clientTlsOptions(
  source: WorkloadCertificate,
  policy: ServerPolicy,
  /** Receives the server's identity once accepted (saves re-reading the certificate). */
  onAccepted?: (id: Identity) => void,
): tls.ConnectionOptions {
  return {
    secureContext: secureContextFor(source),
    ALPNProtocols: [HBONE_ALPN],
    servername: "",
    rejectUnauthorized: true,
    // Versions and suites are the secure context's: tls.connect ignores minVersion and the
    // like next to a secureContext (a TLS 1.2 server is refused by the context's minimum).
    // Hostname checks off; SPIFFE identity checked instead. Called only after the chain verified.
    checkServerIdentity: (_host, cert) => {
      const r = acceptServer(cert, policy);
      if (!r.ok) return r.error;
      onAccepted?.(r.value);
      return undefined;
    },
  };
}

/** Options for a server-side TLS socket wrapping an accepted TCP socket. */
export function serverTlsOptions(cert: WorkloadCertificate): tls.TLSSocketOptions {
  return {
    isServer: true,
    secureContext: secureContextFor(cert),
    ALPNProtocols: [HBONE_ALPN],
    requestCert: true,
    rejectUnauthorized: true,
  };
}
