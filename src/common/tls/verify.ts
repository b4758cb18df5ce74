/**
 * Certificate chain verification for mesh identities: the HBONE peers' check of what the other
 * side presented, and ztunnel's check of what the CA returned. Pure (no IO); the clock is an
 * argument so expiry can be tested.
 *
 * What is checked, in this order (first failure wins, with its position in the chain):
 *  1. every element parses as X.509 (CERT_PARSE);
 *  2. each element is issued by and signed with the key of the next one, and the last one by a
 *     trust anchor; a copy of the anchor at the end of the chain is accepted and dropped
 *     (IstioCertificateResponse.cert_chain ends with the root) (CERT_CHAIN, CERT_UNTRUSTED);
 *  3. every certificate including the anchor is inside its validity window (CERT_EXPIRED,
 *     CERT_NOT_YET_VALID);
 *  4. issuers are CAs (basicConstraints CA:TRUE and, when key usage is present, keyCertSign:
 *     Node's `ca`, OpenSSL's X509_check_ca, requires both) with a path length that allows the
 *     intermediates below them; the leaf has no CA flag (CERT_USAGE);
 *  5. the leaf has exactly one SPIFFE URI SAN (CERT_SAN).
 */
import { X509Certificate } from "node:crypto";
import { type Result, ok, err } from "../result.js";
import type { Identity } from "../spiffe.js";
import { CertError } from "./errors.js";
import { spiffeIdentityOfCert } from "./san.js";
import { x509 } from "./x509.js";

export interface VerifiedChain {
  /** The SPIFFE identity of the leaf. */
  readonly identity: Identity;
  /** Validity window of the leaf. */
  readonly notBefore: Date;
  readonly notAfter: Date;
}

export function parseCertificate(pem: string | Buffer, what: string): Result<X509Certificate, CertError> {
  try {
    return ok(new X509Certificate(pem));
  } catch (e) {
    return err(new CertError("CERT_PARSE", `${what}: not a parsable x509 certificate: ${(e as Error).message}`, { cause: e }));
  }
}

/** Validity window as Dates (Node 20's X509Certificate only has the string forms). */
export function validity(cert: X509Certificate): { notBefore: Date; notAfter: Date } {
  return { notBefore: new Date(cert.validFrom), notAfter: new Date(cert.validTo) };
}

function checkWindow(cert: X509Certificate, what: string, now: Date): Result<void, CertError> {
  const { notBefore, notAfter } = validity(cert);
  if (now.getTime() < notBefore.getTime()) {
    return err(new CertError("CERT_NOT_YET_VALID", `${what}: not valid before ${notBefore.toISOString()} (now ${now.toISOString()})`));
  }
  if (now.getTime() > notAfter.getTime()) {
    return err(new CertError("CERT_EXPIRED", `${what}: expired at ${notAfter.toISOString()} (now ${now.toISOString()})`));
  }
  return ok(undefined);
}

/**
 * The path length constraint, which Node's X509Certificate does not expose, parsed with
 * @peculiar/x509 and cached by fingerprint: the same few roots and intermediates are checked on
 * every handshake, and the ASN.1 parse costs milliseconds. Bounded; cleared wholesale when full.
 */
const pathLengthCache = new Map<string, number | undefined>();
const PATH_LENGTH_CACHE_MAX = 256;

function pathLengthOf(cert: X509Certificate): number | undefined {
  const key = cert.fingerprint256;
  if (pathLengthCache.has(key)) return pathLengthCache.get(key);
  // Called for CAs only: `cert.ca` implies a basicConstraints extension.
  const pathLength = new x509.X509Certificate(cert.raw).getExtension(x509.BasicConstraintsExtension)?.pathLength;
  if (pathLengthCache.size >= PATH_LENGTH_CACHE_MAX) pathLengthCache.clear();
  pathLengthCache.set(key, pathLength);
  return pathLength;
}

/** An issuer must be a CA allowed to sign certificates, and its pathLen must allow `below` intermediates. */
function checkIssuer(cert: X509Certificate, what: string, below: number): Result<void, CertError> {
  if (!cert.ca) {
    return err(
      new CertError(
        "CERT_USAGE",
        `${what}: issues certificates but is not a ca (needs basicConstraints CA:TRUE and, with key usage, keyCertSign)`,
      ),
    );
  }
  const pathLength = pathLengthOf(cert);
  if (below > (pathLength ?? Infinity)) {
    return err(new CertError("CERT_USAGE", `${what}: path length ${pathLength} forbids ${below} intermediate(s) below it`));
  }
  return ok(undefined);
}

/** Subject, or the SAN for the empty-subject leaves the CA issues, for error messages. */
function describe(cert: X509Certificate): string {
  return cert.subject?.replace(/\n/g, ",") || cert.subjectAltName || "no subject";
}

function signedBy(child: X509Certificate, issuer: X509Certificate): boolean {
  try {
    return child.checkIssued(issuer) && child.verify(issuer.publicKey);
  } catch {
    return false;
  }
}

/**
 * Checks 1-4 above on already parsed certificates: `chain` leaf (or lowest CA) first, anchors
 * unordered. `leafIsCa` is true when the first element is itself a CA (checking a signing CA's
 * own chain at load time). Returns the anchor the chain ends at.
 */
export function verifyPath(
  chain: readonly X509Certificate[],
  roots: readonly X509Certificate[],
  now: Date,
  leafIsCa = false,
): Result<X509Certificate, CertError> {
  let certs = [...chain];
  const last = certs[certs.length - 1];
  if (last && certs.length > 1 && roots.some((r) => r.raw.equals(last.raw))) certs = certs.slice(0, -1);
  if (certs.length === 0) return err(new CertError("CERT_CHAIN", "chain: empty"));
  if (roots.length === 0) return err(new CertError("CERT_UNTRUSTED", "chain: no trust anchors configured"));
  const name = (i: number) => `chain[${i}] (${describe(certs[i]!)})`;

  for (let i = 0; i + 1 < certs.length; i++) {
    if (!signedBy(certs[i]!, certs[i + 1]!)) {
      return err(new CertError("CERT_CHAIN", `${name(i)}: not issued by or not signed with the key of chain[${i + 1}]`));
    }
  }
  const top = certs[certs.length - 1]!;
  const anchor = roots.find((r) => r.raw.equals(top.raw) || signedBy(top, r));
  if (!anchor) return err(new CertError("CERT_UNTRUSTED", `${name(certs.length - 1)}: not signed by any trusted root`));

  for (let i = 0; i < certs.length; i++) {
    const w = checkWindow(certs[i]!, name(i), now);
    if (!w.ok) return w;
  }
  const aw = checkWindow(anchor, `root (${describe(anchor)})`, now);
  if (!aw.ok) return aw;

  if (!leafIsCa && certs[0]!.ca) return err(new CertError("CERT_USAGE", `${name(0)}: leaf certificate has basicConstraints CA:TRUE`));
  if (leafIsCa) {
    const r = checkIssuer(certs[0]!, name(0), 0);
    if (!r.ok) return r;
  }
  // Issuer at position i has (i - 1) intermediates below it (excluding the leaf), or i when the
  // first element is a CA too; the anchor sits above all of them.
  const below = (i: number) => (leafIsCa ? i : Math.max(0, i - 1));
  for (let i = 1; i < certs.length; i++) {
    const r = checkIssuer(certs[i]!, name(i), below(i));
    if (!r.ok) return r;
  }
  if (!anchor.raw.equals(top.raw)) {
    const r = checkIssuer(anchor, `root (${describe(anchor)})`, below(certs.length));
    if (!r.ok) return r;
  }
  return ok(anchor);
}

/** Verifies a workload chain (leaf first) against the mesh roots; see the module header. */
export function verifyChain(
  chainPem: readonly string[],
  rootsPem: readonly string[],
  now: Date = new Date(),
): Result<VerifiedChain, CertError> {
  const chain: X509Certificate[] = [];
  for (const [i, pem] of chainPem.entries()) {
    const c = parseCertificate(pem, `chain[${i}]`);
    if (!c.ok) return c;
    chain.push(c.value);
  }
  const roots: X509Certificate[] = [];
  for (const [i, pem] of rootsPem.entries()) {
    const c = parseCertificate(pem, `roots[${i}]`);
    if (!c.ok) return c;
    roots.push(c.value);
  }
  const path = verifyPath(chain, roots, now);
  if (!path.ok) return path;
  const leaf = chain[0]!;
  const id = spiffeIdentityOfCert(leaf);
  if (!id.ok) return err(new CertError("CERT_SAN", `chain[0]: ${id.error.message}`, { cause: id.error }));
  return ok({ identity: id.value, ...validity(leaf) });
}
