/**
 * Chains forged to pass a name-only check: each names its issuer correctly (subject and key
 * identifier), so only the signature, the CA flag, keyCertSign or the path length can refuse
 * it. Written for the mutants of verify.ts that the mutation run (npm run mutation) left alive;
 * the later tests check the trust anchor itself (its validity, path length, key) and the signing
 * CA's own chain (verifyPath with leafIsCa, as the CA checks cacerts at load time).
 */
import { describe, it, before } from "node:test";
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { verifyChain, verifyPath } from "./verify.js";
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
  ca?: { pathLength?: number; keyCertSign: boolean; flag?: boolean; noKeyUsage?: boolean };
  san?: string;
  notBefore?: Date;
  notAfter?: Date;
}): Promise<string> {
  const extensions: x509.Extension[] = [
    await x509.SubjectKeyIdentifierExtension.create(o.keys.publicKey),
    await x509.AuthorityKeyIdentifierExtension.create(o.issuerPublicKey),
  ];
  if (o.ca) {
    extensions.push(new x509.BasicConstraintsExtension(o.ca.flag ?? true, o.ca.pathLength, true));
    const usages = o.ca.keyCertSign ? x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign : x509.KeyUsageFlags.digitalSignature;
    if (!o.ca.noKeyUsage) extensions.push(new x509.KeyUsagesExtension(usages, true));
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
    notBefore: o.notBefore ?? new Date(Date.now() - HOUR),
    notAfter: o.notAfter ?? new Date(Date.now() + HOUR),
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
  // keyCertSign (CERT_CHAIN); verify.ts's CA check (Node's `ca`) refuses it too (CERT_USAGE).
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

  void it("a leaf under a proper root without a SPIFFE URI SAN is refused as CERT_SAN, naming chain[0]", async () => {
    for (const san of [undefined, "https://cluster.local/ns/default/sa/x"]) {
      const leaf = await create({
        subject: "",
        issuer: root,
        issuerPublicKey: root.publicKey,
        signingKey: rootKey,
        keys: await generateP256(),
        ...(san ? { san } : {}),
      });
      const r = verifyChain([leaf], rootsPem);
      assert.ok(!r.ok, `accepted a leaf with SAN ${san}`);
      assert.equal(r.error.code, "CERT_SAN");
      assert.match(r.error.message, /^chain\[0\]: /);
      assert.ok(r.error.cause instanceof Error, "the SAN error is chained as the cause");
    }
  });
});

/** A self-signed CA certificate (a trust anchor) with these constraints and validity. */
async function selfSigned(
  subject: string,
  ca: { pathLength?: number; keyCertSign: boolean },
  validity: { notBefore?: Date; notAfter?: Date } = {},
) {
  const keys = await generateP256();
  const pem = await create({
    subject,
    issuer: subject,
    issuerPublicKey: keys.publicKey,
    signingKey: keys.privateKey,
    keys,
    ca,
    ...validity,
  });
  return { pem, keys };
}

void describe("verifyChain checks the trust anchor too", () => {
  const SAN = "spiffe://cluster.local/ns/default/sa/x";
  const under = async (
    issuer: { keys: Keys },
    issuerSubject: string,
    o: { subject?: string; ca?: { pathLength?: number; keyCertSign: boolean } } = {},
  ) => {
    const keys = await generateP256();
    const pem = await create({
      subject: o.subject ?? "",
      issuer: issuerSubject,
      issuerPublicKey: issuer.keys.publicKey,
      signingKey: issuer.keys.privateKey,
      keys,
      ...(o.ca ? { ca: o.ca } : { san: SAN }),
    });
    return { pem, keys };
  };

  void it("an expired root refuses the valid chains below it, naming the root", async () => {
    const old = await selfSigned(
      "CN=old root",
      { keyCertSign: true },
      { notBefore: new Date(Date.now() - 10 * HOUR), notAfter: new Date(Date.now() - HOUR) },
    );
    const leaf = await under(old, "CN=old root");
    const r = verifyChain([leaf.pem], [old.pem]);
    assert.ok(!r.ok, "accepted a chain to an expired root");
    assert.equal(r.error.code, "CERT_EXPIRED");
    assert.match(r.error.message, /^root \(CN=old root\): expired at /);
  });

  void it("a root's path length limits the intermediates below it (pathLen 0: none)", async () => {
    const r0 = await selfSigned("CN=root pathlen 0", { pathLength: 0, keyCertSign: true });
    const inter = await under(r0, "CN=root pathlen 0", { subject: "CN=inter", ca: { keyCertSign: true } });
    const leaf = await under(inter, "CN=inter");
    const r = verifyChain([leaf.pem, inter.pem], [r0.pem]);
    assert.ok(!r.ok, "accepted an intermediate under a pathLen 0 root");
    assert.equal(r.error.code, "CERT_USAGE");
    assert.match(r.error.message, /^root \(CN=root pathlen 0\): path length 0 forbids 1 intermediate\(s\) below it$/);
    assert.ok(verifyChain([(await under(r0, "CN=root pathlen 0")).pem], [r0.pem]).ok, "positive control: a leaf directly below it");
  });

  // OpenSSL's issuer check already refuses an issuer whose key it cannot decode, so signedBy's
  // catch is not reached here; the property is that this is a refusal, not an exception.
  void it("a root's path length counts every intermediate below it (pathLen 1: one, not two)", async () => {
    const r1 = await selfSigned("CN=root pathlen 1", { pathLength: 1, keyCertSign: true });
    const a = await under(r1, "CN=root pathlen 1", { subject: "CN=a", ca: { keyCertSign: true } });
    const b = await under(a, "CN=a", { subject: "CN=b", ca: { keyCertSign: true } });
    const two = verifyChain([(await under(b, "CN=b")).pem, b.pem, a.pem], [r1.pem]);
    assert.ok(!two.ok, "accepted two intermediates under a pathLen 1 root");
    assert.match(two.error.message, /^root \(CN=root pathlen 1\): path length 1 forbids 2 intermediate\(s\) below it$/);
    const one = verifyChain([(await under(a, "CN=a")).pem, a.pem], [r1.pem]);
    assert.ok(one.ok, !one.ok ? one.error.message : "positive control: one intermediate");
  });

  void it("a certificate with neither subject nor SAN is named as such in a refusal", async () => {
    const r = await selfSigned("CN=root", { keyCertSign: true });
    const keys = await generateP256();
    const bare = await create({ subject: "", issuer: "CN=root", issuerPublicKey: r.keys.publicKey, signingKey: r.keys.privateKey, keys });
    const v = verifyChain([bare], [r.pem], new Date(Date.now() + 2 * HOUR));
    assert.ok(!v.ok);
    assert.match(v.error.message, /^chain\[0\] \(no subject\): expired at /);
  });

  void it("a configured root whose public key cannot be decoded trusts nothing (a refusal, not a throw)", async () => {
    const good = await selfSigned("CN=root", { keyCertSign: true });
    const leaf = await under(good, "CN=root");
    const der = Buffer.from(new X509Certificate(good.pem).raw);
    const point = der.indexOf(Buffer.from([0x03, 0x42, 0x00, 0x04])); // the P-256 point's BIT STRING
    assert.ok(point > 0);
    der[point + 3] = 0x05; // not a point encoding
    const broken = `-----BEGIN CERTIFICATE-----\n${der.toString("base64")}\n-----END CERTIFICATE-----\n`;
    const r = verifyChain([leaf.pem], [broken]);
    assert.ok(!r.ok);
    assert.equal(r.error.code, "CERT_UNTRUSTED");
    assert.ok(verifyChain([leaf.pem], [good.pem]).ok, "positive control: the intact root");
  });
});

void describe("verifyPath with leafIsCa: a signing CA's own chain (cacerts at load time)", () => {
  let root: { pem: string; keys: Keys };
  let roots: X509Certificate[];
  before(async () => {
    root = await selfSigned("CN=mesh root", { keyCertSign: true });
    roots = [new X509Certificate(root.pem)];
  });
  const signingCa = async (ca: { pathLength?: number; keyCertSign: boolean; flag?: boolean; noKeyUsage?: boolean }) =>
    new X509Certificate(
      await create({
        subject: "CN=signing ca",
        issuer: "CN=mesh root",
        issuerPublicKey: root.keys.publicKey,
        signingKey: root.keys.privateKey,
        keys: await generateP256(),
        ca,
      }),
    );
  const cases: Array<[string, { pathLength?: number; keyCertSign: boolean; flag?: boolean; noKeyUsage?: boolean }, RegExp | undefined]> = [
    ["a CA with keyCertSign and pathLen 0 may sign leaves", { pathLength: 0, keyCertSign: true }, undefined],
    ["a CA without a path length may sign leaves", { keyCertSign: true }, undefined],
    ["a CA without a key usage extension may sign (no key usage, no restriction)", { keyCertSign: true, noKeyUsage: true }, undefined],
    [
      "a CA whose key usage lacks keyCertSign may not (not a CA to OpenSSL either)",
      { keyCertSign: false },
      /^chain\[0\] \(CN=signing ca\): issues certificates but is not a ca \(needs basicConstraints CA:TRUE and, with key usage, keyCertSign\)$/,
    ],
    [
      "a certificate without the CA flag may not",
      { keyCertSign: true, flag: false },
      /^chain\[0\] \(CN=signing ca\): issues certificates but is not a ca/,
    ],
  ];
  void it("a root with pathLen 0 may itself be the signing CA (it signs leaves only)", async () => {
    const r0 = await selfSigned("CN=root pathlen 0", { pathLength: 0, keyCertSign: true });
    const cert = new X509Certificate(r0.pem);
    const r = verifyPath([cert], [cert], new Date(), true);
    assert.ok(r.ok, !r.ok ? r.error.message : "");
  });
  for (const [name, ca, refusal] of cases)
    void it(name, async () => {
      const r = verifyPath([await signingCa(ca)], roots, new Date(), true);
      if (!refusal) assert.ok(r.ok, !r.ok ? r.error.message : "");
      else {
        assert.ok(!r.ok, "accepted");
        assert.equal(r.error.code, "CERT_USAGE");
        assert.match(r.error.message, refusal);
      }
    });
});
