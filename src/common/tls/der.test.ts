import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { createPublicKey, verify } from "node:crypto";
import { identity } from "../spiffe.js";
import { generateKeyAndCsr } from "./csr.js";
import { pkcs10Parts, readTlv } from "./der.js";

const derOf = (pem: string) => Buffer.from(pem.replace(/-----[A-Z ]+-----|\s/g, ""), "base64");

void describe("readTlv", () => {
  const cases: [string, number[], { tag: number; contentStart: number; end: number } | null][] = [
    ["short form length", [0x30, 0x01, 0x00], { tag: 0x30, contentStart: 2, end: 3 }],
    ["long form length", [0x04, 0x81, 0x01, 0xff], { tag: 0x04, contentStart: 3, end: 4 }],
    ["a length running past the buffer", [0x30, 0x05, 0x00], null],
    ["indefinite length (BER, not DER)", [0x30, 0x80, 0x00, 0x00], null],
    ["a length of more than four octets", [0x30, 0x85, 1, 1, 1, 1, 1], null],
    ["a multi-byte tag", [0x1f, 0x81, 0x01, 0x00], null],
    ["a single byte", [0x30], null],
  ];
  for (const [name, bytes, want] of cases) {
    void it(name, () => {
      const t = readTlv(Uint8Array.from(bytes), 0);
      assert.deepEqual(t && { tag: t.tag, contentStart: t.contentStart, end: t.end }, want);
    });
  }
});

void describe("pkcs10Parts", () => {
  void it("yields the signed bytes, key and signature of a real CSR, which verify", async () => {
    const { csrPem } = await generateKeyAndCsr(identity("cluster.local", "default", "sleep"));
    const p = pkcs10Parts(derOf(csrPem));
    assert.ok(p);
    assert.equal(p.signatureOid.toString("hex"), "2a8648ce3d040302");
    const key = createPublicKey({ key: p.spki, format: "der", type: "spki" });
    assert.equal(verify("sha256", p.tbs, key, p.signature), true);
  });

  void it("rejects truncated input and trailing bytes", async () => {
    const der = derOf((await generateKeyAndCsr(identity("cluster.local", "default", "sleep"))).csrPem);
    assert.equal(pkcs10Parts(der.subarray(0, der.length - 1)), null);
    assert.equal(pkcs10Parts(Buffer.concat([der, Buffer.from([0])])), null);
    assert.equal(pkcs10Parts(Buffer.alloc(0)), null);
  });
});
