import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { splitCertificates, splitPem } from "./pem.js";

const block = (label: string, body: string) => `-----BEGIN ${label}-----\n${body}\n-----END ${label}-----\n`;

void describe("splitPem", () => {
  void it("splits a bundle, ignores text between blocks and re-wraps bodies at 64 columns", () => {
    const long = "A".repeat(100);
    const r = splitPem(`subject=CN=x\n${block("CERTIFICATE", long)}junk\r\n${block("CERTIFICATE", "QUJD")}`);
    assert.ok(r.ok);
    assert.deepEqual(
      r.value.map((b) => b.label),
      ["CERTIFICATE", "CERTIFICATE"],
    );
    assert.equal(r.value[0]!.pem, block("CERTIFICATE", `${"A".repeat(64)}\n${"A".repeat(36)}`));
    assert.equal(r.value[1]!.der.toString(), "ABC");
  });

  const bad: [string, string][] = [
    ["invalid base64", block("CERTIFICATE", "!!!!")],
    ["an empty body", block("CERTIFICATE", "")],
  ];
  for (const [name, text] of bad) void it(`rejects ${name}`, () => assert.equal(splitPem(text).ok, false));
});

void describe("splitCertificates", () => {
  const cases: [string, string, boolean][] = [
    ["certificates only", block("CERTIFICATE", "QUJD") + block("CERTIFICATE", "REVG"), true],
    ["no block at all", "hello", false],
    ["a private key among certificates", block("CERTIFICATE", "QUJD") + block("PRIVATE KEY", "QUJD"), false],
  ];
  for (const [name, text, good] of cases)
    void it(`${good ? "accepts" : "rejects"} ${name}`, () => assert.equal(splitCertificates(text, "bundle").ok, good));

  void it("names the file in its error", () => {
    const r = splitCertificates("", "root-cert.pem");
    assert.equal(!r.ok && r.error.message, "root-cert.pem: no PEM certificate found");
  });
});
