/**
 * Signing material of the CA: the certificate it signs with, its private key, the chain from
 * that certificate up to a trust anchor, and the trust anchors themselves. Two origins:
 *  - a self-signed root generated here (ECDSA P-256, subject O=<trust domain> like istiod's
 *    self-signed CA), the signing certificate being the root itself;
 *  - a plugged-in CA in Istio's `cacerts` layout (see store.ts): an intermediate (or a root)
 *    with its key, the chain up to the root, and the root bundle.
 *
 * Invariants established by every constructor here, so `sign` never re-checks them: the key
 * matches the signing certificate; the signing certificate is a CA allowed to sign; `chainPem`
 * starts with the signing certificate, ends with the anchor it verifies to, and is valid now.
 */
import { createPrivateKey, createPublicKey, randomBytes, type KeyObject, type X509Certificate } from "node:crypto";
import { type Result, ok, err } from "../common/result.js";
import { splitCertificates } from "../common/tls/pem.js";
import { parseCertificate, verifyPath } from "../common/tls/verify.js";
import { type CryptoKey, ECDSA_P256, generateP256, privateKeyPem, subtle, x509 } from "../common/tls/x509.js";
import { CaError } from "./errors.js";

/** Signature algorithm usable with WebCrypto for a given CA key. */
export type SigningAlgorithm =
  { name: "ECDSA"; namedCurve: "P-256" | "P-384"; hash: "SHA-256" | "SHA-384" } | { name: "RSASSA-PKCS1-v1_5"; hash: "SHA-256" };

export interface SigningMaterial {
  /** PEM of the certificate leaves are issued by. */
  readonly certPem: string;
  readonly cert: X509Certificate;
  /** PKCS#8 PEM of its private key (kept for persistence only; never logged). */
  readonly keyPem: string;
  /** The same key imported into WebCrypto, non-extractable, usage "sign". */
  readonly signingKey: CryptoKey;
  readonly algorithm: SigningAlgorithm;
  /** Signing certificate first, then intermediates, the trust anchor last (one PEM each). */
  readonly chainPem: readonly string[];
  /** Every trust anchor of the mesh (root-cert.pem may hold several during root rotation). */
  readonly rootsPem: readonly string[];
}

/** Backdating applied to certificate validity so peers with slightly slow clocks accept them. */
export const DEFAULT_CLOCK_SKEW_SECONDS = 60;
/** Istio's self-signed root lifetime: 10 years. */
export const DEFAULT_ROOT_TTL_SECONDS = 10 * 365 * 24 * 3600;

/** A random, positive, non-zero 128-bit serial number in hex (RFC 5280 allows up to 20 octets). */
export function randomSerial(): string {
  const b = randomBytes(16);
  b[0] = (b[0]! & 0x7f) | 0x01; // positive and never a leading zero octet
  return b.toString("hex");
}

function algorithmFor(key: KeyObject): Result<SigningAlgorithm, string> {
  if (key.asymmetricKeyType === "ec") {
    const curve = key.asymmetricKeyDetails?.namedCurve;
    if (curve === "prime256v1") return ok({ name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" });
    if (curve === "secp384r1") return ok({ name: "ECDSA", namedCurve: "P-384", hash: "SHA-384" });
    return err(`ec curve ${curve} is not supported, want p-256 or p-384`);
  }
  if (key.asymmetricKeyType === "rsa") {
    const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
    if (bits < 2048) return err(`rsa key of ${bits} bits is too small, want at least 2048`);
    return ok({ name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" });
  }
  return err(`key type ${key.asymmetricKeyType} is not supported, want ecdsa or rsa`);
}

/** Imports a CA key in any PEM form openssl writes (PKCS#8, SEC1 "EC PRIVATE KEY", PKCS#1). */
async function importCaKey(
  keyPem: string,
): Promise<Result<{ key: KeyObject; signingKey: CryptoKey; algorithm: SigningAlgorithm; pkcs8Pem: string }, CaError>> {
  let key: KeyObject;
  try {
    key = createPrivateKey(keyPem);
  } catch (e) {
    return err(new CaError("CA_LOAD", `ca key: not a readable unencrypted private key: ${(e as Error).message}`, { cause: e }));
  }
  const alg = algorithmFor(key);
  if (!alg.ok) return err(new CaError("CA_LOAD", `ca key: ${alg.error}`));
  const der = key.export({ type: "pkcs8", format: "der" });
  const signingKey = await subtle.importKey("pkcs8", der, alg.value, false, ["sign"]);
  return ok({ key, signingKey, algorithm: alg.value, pkcs8Pem: key.export({ type: "pkcs8", format: "pem" }).toString() });
}

/** Generates a self-signed ECDSA P-256 root for `trustDomain`, valid from now - skew. */
export async function createSelfSignedRoot(opts: {
  trustDomain: string;
  ttlSeconds?: number;
  now?: Date;
  clockSkewSeconds?: number;
}): Promise<Result<SigningMaterial, CaError>> {
  const now = opts.now ?? new Date();
  const ttl = opts.ttlSeconds ?? DEFAULT_ROOT_TTL_SECONDS;
  if (!Number.isFinite(ttl) || ttl <= 0) return err(new CaError("CA_TTL", `root: ttl ${ttl}s must be a positive number`));
  if (!/^[A-Za-z0-9._-]+$/.test(opts.trustDomain))
    return err(new CaError("CA_LOAD", `root: invalid trust domain ${JSON.stringify(opts.trustDomain)}`));
  const keys = await generateP256();
  const skew = (opts.clockSkewSeconds ?? DEFAULT_CLOCK_SKEW_SECONDS) * 1000;
  let cert;
  try {
    cert = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: randomSerial(),
      name: [{ O: [opts.trustDomain] }],
      notBefore: new Date(now.getTime() - skew),
      notAfter: new Date(now.getTime() + ttl * 1000),
      keys,
      signingAlgorithm: ECDSA_P256,
      extensions: [
        new x509.BasicConstraintsExtension(true, undefined, true),
        new x509.KeyUsagesExtension(
          x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature,
          true,
        ),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      ],
    });
  } catch (e) {
    return err(new CaError("CA_SIGN", `root: self-signing failed: ${(e as Error).message}`, { cause: e }));
  }
  const pem = cert.toString("pem") + "\n";
  return materialFromPem({ caCertPem: pem, caKeyPem: await privateKeyPem(keys.privateKey), rootCertPem: pem }, now);
}

/**
 * Builds signing material from the four cacerts texts. `certChainPem` may be empty or absent
 * (a self-signed CA) and may or may not start with the CA cert and end with the root; the
 * stored chain is normalised to "CA cert ... anchor".
 */
export async function materialFromPem(
  files: { caCertPem: string; caKeyPem: string; rootCertPem: string; certChainPem?: string },
  now: Date = new Date(),
): Promise<Result<SigningMaterial, CaError>> {
  const load = (msg: string, cause?: unknown) => err(new CaError("CA_LOAD", msg, { cause }));
  const caCerts = splitCertificates(files.caCertPem, "ca-cert.pem");
  if (!caCerts.ok) return load(caCerts.error.message, caCerts.error);
  if (caCerts.value.length !== 1) return load(`ca-cert.pem: ${caCerts.value.length} certificates, want exactly one`);
  const certPem = caCerts.value[0]!;
  const roots = splitCertificates(files.rootCertPem, "root-cert.pem");
  if (!roots.ok) return load(roots.error.message, roots.error);
  let chain: string[] = [];
  if (files.certChainPem && files.certChainPem.trim() !== "") {
    const c = splitCertificates(files.certChainPem, "cert-chain.pem");
    if (!c.ok) return load(c.error.message, c.error);
    chain = c.value;
  }
  if (chain[0] !== certPem) chain = [certPem, ...chain.filter((p) => p !== certPem)];

  const parsed: X509Certificate[] = [];
  for (const [i, pem] of chain.entries()) {
    const c = parseCertificate(pem, i === 0 ? "ca-cert.pem" : `cert-chain.pem[${i}]`);
    if (!c.ok) return load(c.error.message, c.error);
    parsed.push(c.value);
  }
  const rootCerts: X509Certificate[] = [];
  for (const [i, pem] of roots.value.entries()) {
    const c = parseCertificate(pem, `root-cert.pem[${i}]`);
    if (!c.ok) return load(c.error.message, c.error);
    rootCerts.push(c.value);
  }
  const path = verifyPath(parsed, rootCerts, now, true);
  if (!path.ok) return load(`ca chain: ${path.error.message}`, path.error);
  const anchorPem = roots.value[rootCerts.indexOf(path.value)]!;
  if (chain[chain.length - 1] !== anchorPem) chain.push(anchorPem);

  const key = await importCaKey(files.caKeyPem);
  if (!key.ok) return key;
  const certSpki = parsed[0]!.publicKey.export({ type: "spki", format: "der" });
  const keySpki = createPublicKey(key.value.key).export({ type: "spki", format: "der" });
  if (!certSpki.equals(keySpki)) return load("ca-key.pem: private key does not match the public key of ca-cert.pem");

  return ok({
    certPem,
    cert: parsed[0]!,
    keyPem: key.value.pkcs8Pem,
    signingKey: key.value.signingKey,
    algorithm: key.value.algorithm,
    chainPem: chain,
    rootsPem: roots.value,
  });
}
