/**
 * The HBONE server refuses client certificates that chain to the mesh root but are not fit to
 * be a workload's TLS client certificate (issue 14): a leaf with basicConstraints CA:TRUE, a
 * keyUsage without digitalSignature (a TLS 1.3 client signs CertificateVerify with it), an
 * extendedKeyUsage without clientAuth. The leaves here are signed with the mesh root's own key
 * (real signatures, real chain), only their extensions differ from what the CA issues.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { identity } from "../../src/common/spiffe.js";
import type { WorkloadCertificate } from "../../src/common/tls/types.js";
import { ECDSA_P256, generateP256, privateKeyPem, x509 } from "../../src/common/tls/x509.js";
import { toWorkloadCertificate } from "../../src/common/tls/workload-cert.js";
import { CertificateAuthority } from "../../src/ca/ca.js";
import { issueWorkloadCertificate } from "../../src/ca/issue.js";
import { type SigningMaterial, createSelfSignedRoot, randomSerial } from "../../src/ca/material.js";
import { dialHbone, openTunnel } from "../../src/proxy/hbone/client.js";
import { DEFAULT_HBONE_SETTINGS } from "../../src/proxy/hbone/settings.js";
import { echo, eventually, readAll, startServer, startTcp, type ServerFixture } from "./fixture.js";

const TD = "cluster.local";
let root: SigningMaterial;
let serverCert: WorkloadCertificate;
let f: ServerFixture;
let up: Awaited<ReturnType<typeof startTcp>>;

interface LeafShape {
  readonly ca?: boolean;
  /** keyUsage bits; undefined: the CA's (digitalSignature | keyEncipherment). */
  readonly keyUsage?: number;
  /** extendedKeyUsage OIDs; undefined: the CA's (serverAuth, clientAuth). */
  readonly eku?: string[];
}

/** A leaf for spiffe://cluster.local/ns/default/sa/client signed by the mesh root, with `shape`'s extensions. */
async function leaf(shape: LeafShape): Promise<WorkloadCertificate> {
  const id = identity(TD, "default", "client");
  const keys = await generateP256();
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: "",
    issuer: new x509.X509Certificate(root.cert.raw).subjectName,
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + 3_600_000),
    publicKey: keys.publicKey,
    signingKey: root.signingKey,
    signingAlgorithm: ECDSA_P256,
    extensions: [
      new x509.BasicConstraintsExtension(shape.ca ?? false, undefined, true),
      new x509.KeyUsagesExtension(shape.keyUsage ?? x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
      new x509.ExtendedKeyUsageExtension(shape.eku ?? [x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
      new x509.SubjectAlternativeNameExtension([{ type: "url", value: `spiffe://${TD}/ns/default/sa/client` }], true),
    ],
  });
  return toWorkloadCertificate(id, await privateKeyPem(keys.privateKey), [cert.toString("pem") + "\n"], root.chainPem, {
    notBefore: cert.notBefore,
    notAfter: cert.notAfter,
  });
}

before(async () => {
  const r = await createSelfSignedRoot({ trustDomain: TD });
  if (!r.ok) throw r.error;
  root = r.value;
  const ca = CertificateAuthority.fromMaterial(root, { trustDomain: TD });
  if (!ca.ok) throw ca.error;
  serverCert = await issueWorkloadCertificate(ca.value, identity(TD, "default", "server"));
  f = await startServer({ cert: serverCert, ip: "127.0.20.40" });
  up = await startTcp(echo);
});

after(async () => {
  await f.server.close(200);
  await up.close();
});

async function tunnelWith(cert: WorkloadCertificate): Promise<boolean> {
  const d = await dialHbone({ destination: f.address, source: cert, expected: [serverCert.identity], settings: DEFAULT_HBONE_SETTINGS });
  if (!d.ok) return false;
  try {
    const t = await openTunnel(d.value.session, { target: up.address });
    if (!t.ok) return false;
    t.value.end("x");
    return (await readAll(t.value)).toString() === "x";
  } finally {
    d.value.session.destroy();
  }
}

describe("hbone client certificate profile", () => {
  test("a leaf shaped like the CA's (CA:FALSE, digitalSignature, clientAuth) is accepted", async () => {
    assert.equal(await tunnelWith(await leaf({})), true);
  });

  const refused: { name: string; shape: LeafShape }[] = [
    { name: "basicConstraints CA:TRUE", shape: { ca: true } },
    { name: "a keyUsage without digitalSignature", shape: { keyUsage: x509.KeyUsageFlags.keyEncipherment } },
    { name: "an extendedKeyUsage without clientAuth", shape: { eku: [x509.ExtendedKeyUsage.serverAuth] } },
  ];
  for (const c of refused) {
    test(`a client leaf with ${c.name} is refused before any HTTP/2 byte`, async () => {
      const rejected = f.server.stats().connectionsRejected;
      const calls = f.calls.length;
      assert.equal(await tunnelWith(await leaf(c.shape)), false, "tunnel should fail");
      assert.ok(await eventually(() => f.server.stats().connectionsRejected === rejected + 1), "counted as a rejected connection");
      assert.equal(f.calls.length, calls, "handler must not be called");
    });
  }
});
