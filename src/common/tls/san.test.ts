import { describe, it, before } from "node:test";
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import type { PeerCertificate } from "node:tls";
import { parseSubjectAltName, spiffeIdentityOfCert } from "./san.js";
import { makeTestPki, type TestPki } from "../../../test/support/pki.js";

void describe("parseSubjectAltName", () => {
  const cases: [string, string, { type: string; value: string }[] | null][] = [
    ["one uri", "URI:spiffe://td/ns/a/sa/b", [{ type: "URI", value: "spiffe://td/ns/a/sa/b" }]],
    [
      "mixed types keep order",
      "DNS:x.example, URI:spiffe://td/ns/a/sa/b, IP Address:10.0.0.1",
      [
        { type: "DNS", value: "x.example" },
        { type: "URI", value: "spiffe://td/ns/a/sa/b" },
        { type: "IP Address", value: "10.0.0.1" },
      ],
    ],
    [
      "quoted value with a separator inside",
      'URI:"spiffe://td/ns/a, b/sa/c", DNS:y',
      [
        { type: "URI", value: "spiffe://td/ns/a, b/sa/c" },
        { type: "DNS", value: "y" },
      ],
    ],
    ["unterminated quote is unparsable", 'URI:"spiffe://td', null],
    ["no type is unparsable", "spiffe", null],
    ["empty text has no entries", "", []],
  ];
  for (const [name, text, want] of cases) void it(name, () => assert.deepEqual(parseSubjectAltName(text), want));
});

void describe("spiffeIdentityOfCert", () => {
  let pki: TestPki;
  before(async () => {
    pki = await makeTestPki({ trustDomain: "mesh.example" });
  });

  void it("reads the identity from a PEM, an X509Certificate and a tls.PeerCertificate", async () => {
    const cert = await pki.certFor("shop", "cart");
    const want = { trustDomain: "mesh.example", namespace: "shop", serviceAccount: "cart" };
    const x = new X509Certificate(cert.chainPem[0]!);
    const peer = { subject: {}, subjectaltname: x.subjectAltName, raw: x.raw } as unknown as PeerCertificate;
    for (const input of [cert.chainPem[0]!, x, peer]) assert.deepEqual(spiffeIdentityOfCert(input), { ok: true, value: want });
  });

  const peerCases: [string, string | undefined, string][] = [
    ["no subjectAltName", undefined, "CERT_SAN"],
    ["two uri sans", "URI:spiffe://td/ns/a/sa/b, URI:spiffe://td/ns/a/sa/c", "CERT_SAN"],
    ["a non-spiffe uri", "URI:https://example.com/x", "CERT_SAN"],
    ["a malformed spiffe id", "URI:spiffe://td/ns/a", "CERT_SAN"],
    ["dns only", "DNS:foo.example", "CERT_SAN"],
  ];
  for (const [name, san, code] of peerCases) {
    void it(`rejects a peer certificate with ${name}`, () => {
      const peer = { subject: {}, subjectaltname: san } as unknown as PeerCertificate;
      const r = spiffeIdentityOfCert(peer);
      assert.equal(r.ok, false);
      if (!r.ok) assert.equal(r.error.code, code);
    });
  }

  void it("rejects the empty object tls returns when the peer sent no certificate", () => {
    const r = spiffeIdentityOfCert({} as PeerCertificate);
    assert.equal(!r.ok && r.error.code, "CERT_PARSE");
  });

  void it("rejects a PEM that is not a certificate", () => {
    const r = spiffeIdentityOfCert("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
    assert.equal(!r.ok && r.error.code, "CERT_PARSE");
  });

  void it("rejects a CA certificate, which has no SAN", () => {
    const r = spiffeIdentityOfCert(pki.rootsPem[0]!);
    assert.equal(!r.ok && r.error.code, "CERT_SAN");
  });
});
