/**
 * A test PKI built on the real CA code (no fakes): a self-signed root for the mesh trust domain,
 * optionally an intermediate below it (cacerts mode), a second unrelated CA for "another trust
 * domain / another root", and makers for valid, expired and not-yet-valid workload certificates.
 *
 *   const pki = await makeTestPki({ trustDomain: "cluster.local" });
 *   const cert = await pki.certFor("default", "sleep");            // WorkloadCertificate
 *   const stranger = await pki.other.certFor("default", "sleep");  // chains to a different root
 *   const old = await pki.expiredCertFor("default", "sleep");      // same root, expired an hour ago
 */
import { type Identity, identity } from "../../src/common/spiffe.js";
import type { WorkloadCertificate } from "../../src/common/tls/types.js";
import { CertificateAuthority } from "../../src/ca/ca.js";
import { issueWorkloadCertificate } from "../../src/ca/issue.js";
import { type SigningMaterial, createSelfSignedRoot, materialFromPem, randomSerial } from "../../src/ca/material.js";
import { ECDSA_P256, generateP256, privateKeyPem, x509 } from "../../src/common/tls/x509.js";

export interface TestPkiOptions {
  trustDomain?: string;
  /** Sign workload certificates with an intermediate under the root (cacerts mode). */
  intermediate?: boolean;
  /** Trust domain of `other` (default "other.local"). */
  otherTrustDomain?: string;
  /** Default TTL of issued certificates (default 1 h). */
  ttlSeconds?: number;
}

export interface TestCa {
  readonly ca: CertificateAuthority;
  readonly trustDomain: string;
  /** Trust anchors to configure on peers. */
  readonly rootsPem: readonly string[];
  certFor(namespace: string, serviceAccount: string, ttlSeconds?: number): Promise<WorkloadCertificate>;
  certForIdentity(id: Identity, ttlSeconds?: number): Promise<WorkloadCertificate>;
}

export interface TestPki extends TestCa {
  /** An unrelated CA (own root) for a different trust domain. */
  readonly other: TestCa;
  /** An unrelated CA with the SAME trust domain but a different root (a forged mesh). */
  readonly impostor: TestCa;
  /** A certificate from the main CA that expired `agoSeconds` (default 3600) before now. */
  expiredCertFor(namespace: string, serviceAccount: string, agoSeconds?: number): Promise<WorkloadCertificate>;
  /** A certificate from the main CA whose validity starts `inSeconds` (default 3600) from now. */
  notYetValidCertFor(namespace: string, serviceAccount: string, inSeconds?: number): Promise<WorkloadCertificate>;
}

const DAY = 24 * 3600;

function unwrap<T>(r: { ok: true; value: T } | { ok: false; error: Error }): T {
  if (!r.ok) throw r.error;
  return r.value;
}

function testCa(ca: CertificateAuthority, ttl: number): TestCa {
  return {
    ca,
    trustDomain: ca.trustDomain,
    rootsPem: ca.rootsPem,
    certForIdentity: (id, t) => issueWorkloadCertificate(ca, id, t ?? ttl),
    certFor: (ns, sa, t) => issueWorkloadCertificate(ca, identity(ca.trustDomain, ns, sa), t ?? ttl),
  };
}

/** An intermediate CA below `root` (pathLen 0), loaded as cacerts files would be. */
async function intermediateUnder(root: SigningMaterial, trustDomain: string, notBefore: Date): Promise<CertificateAuthority> {
  const keys = await generateP256();
  const rootCert = new x509.X509Certificate(root.cert.raw);
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: [{ O: [trustDomain] }, { CN: ["weft test intermediate"] }],
    issuer: rootCert.subjectName,
    notBefore,
    notAfter: new Date(notBefore.getTime() + 365 * DAY * 1000),
    publicKey: keys.publicKey,
    signingKey: root.signingKey,
    signingAlgorithm: ECDSA_P256,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(rootCert.publicKey),
    ],
  });
  const certPem = cert.toString("pem") + "\n";
  const m = unwrap(
    await materialFromPem({
      caCertPem: certPem,
      caKeyPem: await privateKeyPem(keys.privateKey),
      rootCertPem: root.rootsPem.join(""),
      certChainPem: certPem + root.rootsPem.join(""),
    }),
  );
  return unwrap(CertificateAuthority.fromMaterial(m, { trustDomain, maxTtlSeconds: 30 * DAY }));
}

/** Builds the test PKI; roots are backdated 30 days so "expired" leaves still chain to them. */
export async function makeTestPki(opts: TestPkiOptions = {}): Promise<TestPki> {
  const trustDomain = opts.trustDomain ?? "cluster.local";
  const ttl = opts.ttlSeconds ?? 3600;
  const past = new Date(Date.now() - 30 * DAY * 1000);
  const rootMaterial = unwrap(await createSelfSignedRoot({ trustDomain, now: past }));
  const main = opts.intermediate
    ? await intermediateUnder(rootMaterial, trustDomain, past)
    : unwrap(CertificateAuthority.fromMaterial(rootMaterial, { trustDomain, maxTtlSeconds: 30 * DAY }));
  const other = unwrap(
    await CertificateAuthority.createSelfSigned({ trustDomain: opts.otherTrustDomain ?? "other.local", maxTtlSeconds: 30 * DAY }),
  );
  const impostor = unwrap(await CertificateAuthority.createSelfSigned({ trustDomain, maxTtlSeconds: 30 * DAY }));
  return {
    ...testCa(main, ttl),
    other: testCa(other, ttl),
    impostor: testCa(impostor, ttl),
    expiredCertFor: (ns, sa, ago = 3600) => {
      // Issued 2*ago seconds ago with a lifetime of `ago`, so it expired `ago` seconds ago.
      const then = new Date(Date.now() - 2 * ago * 1000);
      return issueWorkloadCertificate(
        main.withClock(() => then),
        identity(trustDomain, ns, sa),
        ago,
      );
    },
    notYetValidCertFor: (ns, sa, inSeconds = 3600) => {
      const then = new Date(Date.now() + inSeconds * 1000);
      return issueWorkloadCertificate(
        main.withClock(() => then),
        identity(trustDomain, ns, sa),
        ttl,
      );
    },
  };
}
