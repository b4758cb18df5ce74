import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { createPrivateKey, createPublicKey } from "node:crypto";
import { identity, toUri } from "../spiffe.js";
import { generateKeyAndCsr } from "./csr.js";
import { x509 } from "./x509.js";

void describe("generateKeyAndCsr", () => {
  void it("makes a PKCS#8 P-256 key and a self-signed CSR for that key carrying the SPIFFE URI SAN", async () => {
    const id = identity("cluster.local", "default", "sleep");
    const { keyPem, csrPem } = await generateKeyAndCsr(id);

    assert.match(keyPem, /^-----BEGIN PRIVATE KEY-----\n/);
    const key = createPrivateKey(keyPem);
    assert.equal(key.asymmetricKeyType, "ec");
    assert.equal(key.asymmetricKeyDetails?.namedCurve, "prime256v1");

    const csr = new x509.Pkcs10CertificateRequest(csrPem);
    assert.equal(await csr.verify(), true);
    const csrKey = createPublicKey({ key: Buffer.from(csr.publicKey.rawData), format: "der", type: "spki" });
    assert.ok(csrKey.export({ type: "spki", format: "der" }).equals(createPublicKey(key).export({ type: "spki", format: "der" })));
    const san = csr.getExtension("2.5.29.17");
    assert.ok(san instanceof x509.SubjectAlternativeNameExtension);
    assert.deepEqual(
      san.names.items.map((n) => [n.type, n.value]),
      [["url", toUri(id)]],
    );
  });

  void it("uses a new key every time", async () => {
    const id = identity("cluster.local", "default", "sleep");
    const [a, b] = await Promise.all([generateKeyAndCsr(id), generateKeyAndCsr(id)]);
    assert.notEqual(a.keyPem, b.keyPem);
  });
});
