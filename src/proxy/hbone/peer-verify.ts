/**
 * Verifies the certificate chain a TLS peer presented, from the socket's own view of it
 * (`getPeerCertificate(true)`), with the mesh's chain rules (src/common/tls/verify.ts: signature
 * path to the roots, validity windows, CA flags). Needed on the server side: Node only rejects
 * a *missing* client certificate by itself when a TLSSocket is created outside a tls.Server,
 * so chain verification has to be done here before a single HTTP/2 byte is read. Successful
 * verifications are cached per chain (see below) so reconnecting peers cost a lookup.
 */
import type { X509Certificate } from "node:crypto";
import type { TLSSocket } from "node:tls";
import { type Result, ok, err } from "../../common/result.js";
import type { WorkloadCertificate } from "../../common/tls/types.js";
import { parseCertificate, validity, verifyPath } from "../../common/tls/verify.js";
import { x509 } from "../../common/tls/x509.js";
import { HboneError } from "./errors.js";

const rootsCache = new WeakMap<WorkloadCertificate, X509Certificate[]>();

function rootsOf(cert: WorkloadCertificate): Result<X509Certificate[], HboneError> {
  let roots = rootsCache.get(cert);
  if (!roots) {
    roots = [];
    for (const [i, pem] of cert.rootsPem.entries()) {
      const c = parseCertificate(pem, `roots[${i}]`);
      if (!c.ok) return err(new HboneError("HBONE_TLS", `hbone: local trust bundle: ${c.error.message}`, { cause: c.error }));
      roots.push(c.value);
    }
    rootsCache.set(cert, roots);
  }
  return ok(roots);
}

/**
 * The peer's chain, leaf first, as OpenSSL received it (it may end with the root). Read through
 * `getPeerX509Certificate().issuerCertificate`: native objects, several times cheaper per
 * connection than `getPeerCertificate(true)`, which converts every certificate to a JS object.
 *
 * Hazard (Node 20, server side): every call to getPeerX509Certificate / getPeerCertificate on a
 * socket returns one issuer less than the call before (the first gives leaf + intermediates,
 * the next the leaf alone). So the chain is read once per socket and remembered, and it must
 * be read before anything else asks the socket for its peer certificate.
 */
const chains = new WeakMap<TLSSocket, X509Certificate[]>();

export function peerChain(socket: TLSSocket): X509Certificate[] {
  const known = chains.get(socket);
  if (known) return known;
  const chain: X509Certificate[] = [];
  let c: X509Certificate | undefined = socket.getPeerX509Certificate();
  while (c && chain.length < 10) {
    chain.push(c);
    const next: X509Certificate | undefined = c.issuerCertificate;
    if (!next || next.raw.equals(c.raw)) break;
    c = next;
  }
  chains.set(socket, chain);
  return chain;
}

/**
 * Chains that already verified against one local certificate's roots, by the chain's
 * fingerprints, with the intersection of the validity windows of every element and the anchor.
 * Everything verifyPath checks except time is a pure function of (chain, roots), so a hit only
 * re-checks the window. Bounded: cleared when full (peers reconnect with the same chain, so the
 * working set is the number of peer identities, not connections).
 */
interface VerifiedWindow {
  readonly notBefore: number;
  readonly notAfter: number;
}
const VERIFIED_MAX = 4096;
const verifiedCache = new WeakMap<WorkloadCertificate, Map<string, VerifiedWindow>>();

function windowOf(certs: readonly X509Certificate[]): VerifiedWindow {
  let notBefore = -Infinity;
  let notAfter = Infinity;
  for (const c of certs) {
    const w = validity(c);
    notBefore = Math.max(notBefore, w.notBefore.getTime());
    notAfter = Math.min(notAfter, w.notAfter.getTime());
  }
  return { notBefore, notAfter };
}

const CLIENT_AUTH = "1.3.6.1.5.5.7.3.2";

/**
 * The client leaf must be fit for a TLS client (RFC 5280 §4.2.1.3, 4.2.1.9, 4.2.1.12): not a CA,
 * keyUsage (when present) with digitalSignature (TLS 1.3 CertificateVerify), extendedKeyUsage
 * (when present) with clientAuth. Istio's CA issues exactly such leaves; anything else chaining
 * to the mesh root is a CA or a key issued for another purpose.
 */
export function checkClientLeafProfile(leaf: X509Certificate): Result<void, HboneError> {
  const fail = (why: string) => err(new HboneError("HBONE_TLS", `hbone: client certificate ${leaf.serialNumber}: ${why}`));
  let c: InstanceType<typeof x509.X509Certificate>;
  try {
    c = new x509.X509Certificate(leaf.raw);
  } catch (e) {
    return fail(`unreadable: ${(e as Error).message}`);
  }
  if (leaf.ca || c.getExtension(x509.BasicConstraintsExtension)?.ca) return fail("basicConstraints CA:TRUE (a CA, not a workload)");
  const ku = c.getExtension(x509.KeyUsagesExtension);
  if (ku && (ku.usages & x509.KeyUsageFlags.digitalSignature) === 0) return fail("keyUsage lacks digitalSignature");
  const eku = c.getExtension(x509.ExtendedKeyUsageExtension);
  if (eku && !eku.usages.map(String).includes(CLIENT_AUTH)) return fail("extendedKeyUsage lacks clientAuth");
  return ok(undefined);
}

/** Checks the peer's chain against the roots of the certificate we presented; returns the leaf. */
export function verifyPeerChain(socket: TLSSocket, local: WorkloadCertificate, now = new Date()): Result<X509Certificate, HboneError> {
  let chain: X509Certificate[];
  try {
    chain = peerChain(socket);
  } catch (e) {
    return err(new HboneError("HBONE_TLS", `hbone: peer certificate: ${(e as Error).message}`, { cause: e }));
  }
  return verifyChain(chain, local, now);
}

/**
 * The same check for a chain (leaf first) read elsewhere, e.g. the DER certificates the native
 * engine's OpenSSL received (src/proxy/hbone/native-server.ts).
 */
export function verifyChain(
  chain: readonly X509Certificate[],
  local: WorkloadCertificate,
  now = new Date(),
): Result<X509Certificate, HboneError> {
  const roots = rootsOf(local);
  if (!roots.ok) return roots;
  if (chain.length === 0) return err(new HboneError("HBONE_TLS", "hbone: peer presented no certificate"));
  let cache = verifiedCache.get(local);
  if (!cache) verifiedCache.set(local, (cache = new Map()));
  const key = chain.map((c) => c.fingerprint256).join("/");
  const hit = cache.get(key);
  const t = now.getTime();
  if (hit && t >= hit.notBefore && t <= hit.notAfter) return ok(chain[0]!);
  const path = verifyPath([...chain], roots.value, now);
  if (!path.ok) return err(new HboneError("HBONE_TLS", `hbone: peer certificate: ${path.error.message}`, { cause: path.error }));
  const profile = checkClientLeafProfile(chain[0]!);
  if (!profile.ok) return profile;
  if (cache.size >= VERIFIED_MAX) cache.clear();
  cache.set(key, windowOf([...chain, path.value]));
  return ok(chain[0]!);
}
