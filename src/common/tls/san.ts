/**
 * Reads the SPIFFE identity out of a certificate's subjectAltName. Accepts what the code
 * paths hold: a PEM string (a bundle's first certificate is NOT assumed: exactly one block),
 * a node:crypto X509Certificate, or the tls.PeerCertificate of a connected socket whose
 * `subjectaltname` is the same "URI:spiffe://..., DNS:x" text OpenSSL prints.
 *
 * Invariant (SPIFFE X.509-SVID spec): an SVID carries exactly one URI SAN and it is a
 * spiffe:// URI. Anything else is CERT_SAN, so a certificate with two identities can never be
 * mistaken for either of them.
 */
import { X509Certificate } from "node:crypto";
import type { PeerCertificate } from "node:tls";
import { type Result, ok, err } from "../result.js";
import { type Identity, parseUri } from "../spiffe.js";
import { CertError } from "./errors.js";

export interface SanEntry {
  readonly type: string;
  readonly value: string;
}

/**
 * Parses OpenSSL's subjectAltName text ("DNS:a, URI:spiffe://x, IP Address:1.2.3.4"). Since
 * Node 17 values containing separators are JSON-quoted ("URI:\"a, b\""), so split respecting
 * quotes. Returns null on text it cannot make sense of.
 */
export function parseSubjectAltName(text: string): SanEntry[] | null {
  const out: SanEntry[] = [];
  let i = 0;
  while (i < text.length) {
    const colon = text.indexOf(":", i);
    if (colon < 0) return null;
    const type = text.slice(i, colon).trim();
    let j = colon + 1;
    let value: string;
    if (text[j] === '"') {
      // JSON string literal: find the closing quote not preceded by a backslash escape.
      let k = j + 1;
      while (k < text.length && text[k] !== '"') k += text[k] === "\\" ? 2 : 1;
      if (k >= text.length) return null;
      try {
        value = JSON.parse(text.slice(j, k + 1)) as string;
      } catch {
        return null;
      }
      j = k + 1;
    } else {
      const comma = text.indexOf(", ", j);
      const end = comma < 0 ? text.length : comma;
      value = text.slice(j, end);
      j = end;
    }
    out.push({ type, value });
    if (j >= text.length) break;
    if (text.slice(j, j + 2) !== ", ") return null;
    i = j + 2;
  }
  return out;
}

function sanTextOf(cert: string | X509Certificate | PeerCertificate): Result<string | undefined, CertError> {
  if (cert instanceof X509Certificate) return ok(cert.subjectAltName);
  if (typeof cert === "string") {
    try {
      return ok(new X509Certificate(cert).subjectAltName);
    } catch (e) {
      return err(new CertError("CERT_PARSE", `certificate: not a parsable x509 certificate: ${(e as Error).message}`, { cause: e }));
    }
  }
  if (cert && typeof cert === "object" && "subject" in cert) {
    // An empty object is what tls returns when the peer sent no certificate.
    if (Object.keys(cert).length === 0) return err(new CertError("CERT_PARSE", "peer certificate: peer sent no certificate"));
    return ok(cert.subjectaltname);
  }
  return err(new CertError("CERT_PARSE", "certificate: expected a PEM string, X509Certificate or tls.PeerCertificate"));
}

/** The one SPIFFE identity a certificate carries, or CERT_SAN/CERT_PARSE explaining why not. */
export function spiffeIdentityOfCert(cert: string | X509Certificate | PeerCertificate): Result<Identity, CertError> {
  const text = sanTextOf(cert);
  if (!text.ok) return text;
  if (!text.value) return err(new CertError("CERT_SAN", "certificate: no subjectAltName extension, want one spiffe uri san"));
  const entries = parseSubjectAltName(text.value);
  if (!entries) return err(new CertError("CERT_SAN", `certificate: unparsable subjectAltName ${JSON.stringify(text.value)}`));
  const uris = entries.filter((e) => e.type === "URI");
  if (uris.length !== 1) {
    return err(new CertError("CERT_SAN", `certificate: ${uris.length} uri sans, want exactly one spiffe uri san`));
  }
  const id = parseUri(uris[0]!.value);
  if (!id.ok) return err(new CertError("CERT_SAN", `certificate: uri san: ${id.error.message}`, { cause: id.error }));
  return id;
}
