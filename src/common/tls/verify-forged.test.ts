/**
 * Chains forged to pass a name-only check: each names its issuer correctly (subject and key
 * identifier), so only the signature, the CA flag, keyCertSign or the path length can refuse
 * it. Written for the mutants of verify.ts that the mutation run (npm run mutation) left alive.
 */
import { describe, it, before } from "node:test";
import assert from "node:assert/strict";
import { verifyChain } from "./verify.js";
import { type CryptoKey, ECDSA_P256, generateP256, x509 } from "./x509.js";
import { createSelfSignedRoot, randomSerial } from "../../ca/material.js";

type Keys = { publicKey: CryptoKey; privateKey: CryptoKey };
type IssuerKey = CryptoKey | x509.PublicKey;

const HOUR = 3_600_000;

async function create(o: {
  subject: string;
  issuer: x509.X509Certificate | string;
  issuerPublicKey: IssuerKey;
  signingKey: CryptoKey;
  keys: Keys;
  ca?: { pathLength?: number; keyCertSign: boolean; flag?: boolean };
  san?: string;
}): Promise<string> {
  const extensions: x509.Extension[] = [
    await x509.SubjectKeyIdentifierExtension.create(o.keys.publicKey),
    await x509.AuthorityKeyIdentifierExtension.create(o.issuerPublicKey),
  ];
  if (o.ca) {
    extensions.push(new x509.BasicConstraintsExtension(o.ca.flag ?? true, o.ca.pathLength, true));
    const usages = o.ca.keyCertSign ? x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign : x509.KeyUsageFlags.digitalSignature;
    extensions.push(new x509.KeyUsagesExtension(usages, true));
  } else {
    extensions.push(new x509.BasicConstraintsExtension(false, undefined, true));
    extensions.push(new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true));
  }
  if (o.san) extensions.push(new x509.SubjectAlternativeNameExtension([{ type: "url", value: o.san }], true));
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: o.subject,
    issuer: typeof o.issuer === "string" ? o.issuer : o.issuer.subject,
    publicKey: o.keys.publicKey,
    signingKey: o.signingKey,
    signingAlgorithm: ECDSA_P256,
    notBefore: new Date(Date.now() - HOUR),
    notAfter: new Date(Date.now() + HOUR),
    extensions,
  });
  return cert.toString("pem");
}

void describe("verifyChain refuses chains that name the right issuer but are not valid", () => {
  let rootsPem: readonly string[];
  let root: x509.X509Certificate;
  let rootKey: CryptoKey;
  before(async () => {
    const m = await createSelfSignedRoot({ trustDomain: "cluster.local" });
    assert.ok(m.ok);
    rootsPem = m.value.rootsPem;
    root = new x509.X509Certificate(m.value.cert.raw);
    rootKey = m.value.signingKey;
  });
  const SAN = "spiffe://cluster.local/ns/default/sa/forged";
  const leafUnder = async (issuer: string, issuerKeys: Keys) =>
    create({
      subject: "",
      issuer,
      issuerPublicKey: issuerKeys.publicKey,
      signingKey: issuerKeys.privateKey,
      keys: await generateP256(),
      san: SAN,
    });

  void it("positive control: a leaf under a proper intermediate under the root verifies", async () => {
    const interKeys = await generateP256();
    const inter = await create({
      subject: "CN=good intermediate",
      issuer: root,
      issuerPublicKey: root.publicKey,
      signingKey: rootKey,
      keys: interKeys,
      ca: { pathLength: 0, keyCertSign: true },
    });
    const r = verifyChain([await leafUnder("CN=good intermediate", interKeys), inter], rootsPem);
    assert.ok(r.ok, !r.ok ? r.error.message : "");
  });

  void it("a leaf naming the root as issuer but signed by another key (signature check)", async () => {
    const other = await generateP256();
    const leaf = await create({
      subject: "",
      issuer: root,
      issuerPublicKey: root.publicKey,
      signingKey: other.privateKey,
      keys: await generateP256(),
      san: SAN,
    });
    const r = verifyChain([leaf], rootsPem);
    assert.ok(!r.ok, "accepted a certificate the root never signed");
  });

  // OpenSSL's issuer check (X509.checkIssued) already refuses an issuer whose key usage lacks
  // keyCertSign, so verify.ts's own keyCertSign check is a second line there (CERT_CHAIN or
  // CERT_USAGE are both a refusal); the CA flag is verify.ts's alone.
  const badIntermediates: Array<[string, { pathLength?: number; keyCertSign: boolean; flag?: boolean }, RegExp]> = [
    ["an intermediate without the CA flag", { keyCertSign: true, flag: false }, /^CERT_USAGE: .*not a ca/],
    ["an intermediate whose key usage lacks keyCertSign", { keyCertSign: false }, /^CERT_(USAGE|CHAIN): /],
  ];
  for (const [what, ca, reason] of badIntermediates) {
    void it(`${what}, properly signed by the root`, async () => {
      const interKeys = await generateP256();
      const inter = await create({
        subject: "CN=bad intermediate",
        issuer: root,
        issuerPublicKey: root.publicKey,
        signingKey: rootKey,
        keys: interKeys,
        ca,
      });
      const r = verifyChain([await leafUnder("CN=bad intermediate", interKeys), inter], rootsPem);
      assert.ok(!r.ok, "accepted");
      assert.match(`${r.error.code}: ${r.error.message}`, reason);
    });
  }

  void it("a second intermediate below one with pathLen 0", async () => {
    const aKeys = await generateP256();
    const bKeys = await generateP256();
    const a = await create({
      subject: "CN=a",
      issuer: root,
      issuerPublicKey: root.publicKey,
      signingKey: rootKey,
      keys: aKeys,
      ca: { pathLength: 0, keyCertSign: true },
    });
    const b = await create({
      subject: "CN=b",
      issuer: "CN=a",
      issuerPublicKey: aKeys.publicKey,
      signingKey: aKeys.privateKey,
      keys: bKeys,
      ca: { keyCertSign: true },
    });
    const r = verifyChain([await leafUnder("CN=b", bKeys), b, a], rootsPem);
    assert.ok(!r.ok, "accepted");
    assert.equal(r.error.code, "CERT_USAGE", r.error.message);
    assert.match(r.error.message, /path length 0 forbids 1 intermediate/);
  });
});
