import { describe, it, before } from "node:test";
import assert from "node:assert/strict";
import { createPrivateKey, X509Certificate } from "node:crypto";
import { verifyChain } from "./verify.js";
import { ECDSA_P256, generateP256, subtle, x509 } from "./x509.js";
import { makeTestPki, type TestPki } from "../../../test/support/pki.js";
import type { WorkloadCertificate } from "./types.js";

/** A certificate for `spiffe://.../sa/forged` signed with a workload's own (non-CA) key. */
async function signedByLeaf(issuer: WorkloadCertificate): Promise<string> {
  const issuerCert = new x509.X509Certificate(issuer.chainPem[0]!);
  const der = createPrivateKey(issuer.keyPem).export({ type: "pkcs8", format: "der" });
  const signingKey = await subtle.importKey("pkcs8", der, ECDSA_P256, false, ["sign"]);
  const keys = await generateP256();
  const cert = await x509.X509CertificateGenerator.create({
    subject: "",
    issuer: issuerCert.subjectName,
    publicKey: keys.publicKey,
    signingKey,
    signingAlgorithm: ECDSA_P256,
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 3_600_000),
    extensions: [new x509.SubjectAlternativeNameExtension([{ type: "url", value: "spiffe://cluster.local/ns/default/sa/forged" }], true)],
  });
  return cert.toString("pem");
}

void describe("verifyChain", () => {
  let pki: TestPki;
  let inter: TestPki;
  let leaf: WorkloadCertificate;
  let interLeaf: WorkloadCertificate;
  before(async () => {
    [pki, inter] = await Promise.all([makeTestPki(), makeTestPki({ intermediate: true })]);
    [leaf, interLeaf] = await Promise.all([pki.certFor("default", "sleep"), inter.certFor("default", "sleep")]);
  });

  void it("accepts leaf -> root and returns the identity and the leaf's validity window", () => {
    const r = verifyChain(leaf.chainPem, pki.rootsPem);
    assert.ok(r.ok, !r.ok ? r.error.message : "");
    assert.deepEqual(r.value.identity, { trustDomain: "cluster.local", namespace: "default", serviceAccount: "sleep" });
    const x = new X509Certificate(leaf.chainPem[0]!);
    assert.deepEqual([r.value.notBefore, r.value.notAfter], [new Date(x.validFrom), new Date(x.validTo)]);
  });

  void it("accepts leaf -> intermediate -> root, with or without the root copied at the end", () => {
    assert.equal(interLeaf.chainPem.length, 2);
    assert.ok(verifyChain(interLeaf.chainPem, inter.rootsPem).ok);
    assert.ok(verifyChain([...interLeaf.chainPem, ...inter.rootsPem], inter.rootsPem).ok);
  });

  const failures: [string, () => Promise<[string[], readonly string[], Date?]>, string][] = [
    [
      "an expired leaf",
      async () => {
        const c = await pki.expiredCertFor("default", "sleep");
        return [[...c.chainPem], pki.rootsPem];
      },
      "CERT_EXPIRED",
    ],
    [
      "a leaf that is not valid yet",
      async () => {
        const c = await pki.notYetValidCertFor("default", "sleep");
        return [[...c.chainPem], pki.rootsPem];
      },
      "CERT_NOT_YET_VALID",
    ],
    [
      "a valid leaf checked at a time after its notAfter",
      async () => [[...leaf.chainPem], pki.rootsPem, new Date(leaf.notAfter.getTime() + 1000)],
      "CERT_EXPIRED",
    ],
    [
      "a leaf from another trust domain's root",
      async () => [[...(await pki.other.certFor("default", "sleep")).chainPem], pki.rootsPem],
      "CERT_UNTRUSTED",
    ],
    [
      "a leaf from a different root of the same trust domain",
      async () => [[...(await pki.impostor.certFor("default", "sleep")).chainPem], pki.rootsPem],
      "CERT_UNTRUSTED",
    ],
    ["a leaf whose intermediate is missing", async () => [[interLeaf.chainPem[0]!], inter.rootsPem], "CERT_UNTRUSTED"],
    ["a chain in the wrong order", async () => [[interLeaf.chainPem[1]!, interLeaf.chainPem[0]!], inter.rootsPem], "CERT_CHAIN"],
    ["a CA certificate presented as the leaf", async () => [[interLeaf.chainPem[1]!], inter.rootsPem], "CERT_USAGE"],
    ["garbage", async () => [["not a certificate"], pki.rootsPem], "CERT_PARSE"],
    ["an empty chain", async () => [[], pki.rootsPem], "CERT_CHAIN"],
    ["no configured roots", async () => [[...leaf.chainPem], []], "CERT_UNTRUSTED"],
  ];
  for (const [name, make, code] of failures) {
    void it(`rejects ${name} with ${code}`, async () => {
      const [chain, roots, now] = await make();
      const r = verifyChain(chain, roots, now);
      assert.equal(r.ok, false);
      if (!r.ok) assert.equal(r.error.code, code, r.error.message);
    });
  }

  void it("rejects a certificate signed by a workload's key (leaves cannot issue)", async () => {
    const forged = await signedByLeaf(leaf);
    const r = verifyChain([forged, ...leaf.chainPem], pki.rootsPem);
    assert.equal(r.ok, false);
    if (!r.ok) assert.ok(["CERT_CHAIN", "CERT_USAGE"].includes(r.error.code), r.error.message);
  });

  void it("accepts a leaf at exactly its notBefore and exactly its notAfter (X.509 windows include both ends)", () => {
    const x = new X509Certificate(leaf.chainPem[0]!);
    for (const at of [new Date(x.validFrom), new Date(x.validTo)]) {
      const r = verifyChain(leaf.chainPem, pki.rootsPem, at);
      assert.ok(r.ok, `${at.toISOString()}: ${!r.ok ? r.error.message : ""}`);
    }
    const before = verifyChain(leaf.chainPem, pki.rootsPem, new Date(new Date(x.validFrom).getTime() - 1000));
    assert.ok(!before.ok && before.error.code === "CERT_NOT_YET_VALID");
  });

  // A trust bundle may hold several roots (root rotation). A trusted root appended to the chain
  // is the anchor copy Istio's CA response ends with: it is dropped before the path is built,
  // even when it is not the root that signed the chain. An untrusted certificate at the end is
  // part of the path and must chain.
  void it("drops a trusted root copied at the end of the chain, whichever root of the bundle it is", () => {
    const bundle = [...pki.rootsPem, ...pki.impostor.rootsPem];
    const r = verifyChain([...leaf.chainPem, pki.impostor.rootsPem[0]!], bundle);
    assert.ok(r.ok, !r.ok ? r.error.message : "");
    const untrusted = verifyChain([...leaf.chainPem, pki.impostor.rootsPem[0]!], pki.rootsPem);
    assert.ok(!untrusted.ok && untrusted.error.code === "CERT_CHAIN", "not in the bundle: not dropped, and it did not sign the leaf");
  });

  // The messages are what the ztunnel logs for a refused peer or CA answer: they name the
  // certificate by its position and its subject, or its SAN for the CA's empty-subject leaves.
  const SLEEP = "URI:spiffe://cluster\\.local/ns/default/sa/sleep";
  const INTER = "O=cluster\\.local,CN=weft test intermediate";
  const messages: [string, () => Promise<[string[], readonly string[], Date?]>, string, RegExp][] = [
    ["garbage", async () => [["not a certificate"], pki.rootsPem], "CERT_PARSE", /^chain\[0\]: not a parsable x509 certificate: /],
    [
      "a garbage root next to a good one",
      async () => [[...leaf.chainPem], [...pki.rootsPem, "garbage"]],
      "CERT_PARSE",
      /^roots\[1\]: not a parsable x509 certificate: /,
    ],
    ["an empty chain", async () => [[], pki.rootsPem], "CERT_CHAIN", /^chain: empty$/],
    ["no configured roots", async () => [[...leaf.chainPem], []], "CERT_UNTRUSTED", /^chain: no trust anchors configured$/],
    [
      "a chain in the wrong order",
      async () => [[interLeaf.chainPem[1]!, interLeaf.chainPem[0]!], inter.rootsPem],
      "CERT_CHAIN",
      new RegExp(`^chain\\[0\\] \\(${INTER}\\): not issued by or not signed with the key of chain\\[1\\]$`),
    ],
    [
      "a leaf whose intermediate is missing",
      async () => [[interLeaf.chainPem[0]!], inter.rootsPem],
      "CERT_UNTRUSTED",
      new RegExp(`^chain\\[0\\] \\(${SLEEP}\\): not signed by any trusted root$`),
    ],
    [
      "a valid leaf checked after its notAfter",
      async () => [[...leaf.chainPem], pki.rootsPem, new Date(leaf.notAfter.getTime() + 1000)],
      "CERT_EXPIRED",
      new RegExp(`^chain\\[0\\] \\(${SLEEP}\\): expired at \\S+Z \\(now \\S+Z\\)$`),
    ],
    [
      "a leaf checked before its notBefore",
      async () => [[...leaf.chainPem], pki.rootsPem, new Date(leaf.notBefore.getTime() - 1000)],
      "CERT_NOT_YET_VALID",
      new RegExp(`^chain\\[0\\] \\(${SLEEP}\\): not valid before \\S+Z \\(now \\S+Z\\)$`),
    ],
    [
      "a CA certificate presented as the leaf",
      async () => [[interLeaf.chainPem[1]!], inter.rootsPem],
      "CERT_USAGE",
      new RegExp(`^chain\\[0\\] \\(${INTER}\\): leaf certificate has basicConstraints CA:TRUE$`),
    ],
  ];
  for (const [name, make, code, message] of messages) {
    void it(`names the certificate and the failure: ${name}`, async () => {
      const [chain, roots, now] = await make();
      const r = verifyChain(chain, roots, now);
      assert.ok(!r.ok, "accepted");
      assert.equal(r.error.code, code, r.error.message);
      assert.match(r.error.message, message);
      if (code === "CERT_PARSE") assert.ok(r.error.cause instanceof Error, "the parser's error is chained as the cause");
    });
  }
});
