/**
 * IstioCertificateService on the control plane's TLS gRPC server, called by ztunnel's
 * GrpcCaClient and by a raw client: node-scoped impersonation, chain order, error statuses.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { Client, Metadata, type ServiceError, status } from "@grpc/grpc-js";
import { identity } from "../../src/common/spiffe.js";
import { generateKeyAndCsr } from "../../src/common/tls/csr.js";
import { spiffeIdentityOfCert } from "../../src/common/tls/san.js";
import { createCertificateMethod, type CertificateResponse } from "../../src/common/xds/ca-wire.js";
import { GrpcCaClient } from "../../src/proxy/identity/grpc-ca-client.js";
import { type Bed, CP_SAN, TOKEN_A, TOKEN_B, startBed, tlsCredentials } from "./support.js";

const SLEEP = identity("cluster.local", "default", "sleep");
const HTTPBIN = identity("cluster.local", "default", "httpbin");

void describe("CA gRPC service", () => {
  let bed: Bed;
  const closers: Array<() => void> = [];
  const caClient = (token: string) => {
    const c = new GrpcCaClient({ target: { address: bed.address, rootsPem: bed.pki.rootsPem, expectedSan: CP_SAN, token: () => token } });
    closers.push(() => c.close());
    return c;
  };
  const raw = async (token: string | null, csr: string, meta: Record<string, string>, validity = 3600) => {
    const client = new Client(bed.address, tlsCredentials(bed.pki));
    closers.push(() => client.close());
    const md = new Metadata();
    if (token !== null) md.set("authorization", `Bearer ${token}`);
    return new Promise<{ error?: ServiceError; value?: CertificateResponse }>((resolve) =>
      client.makeUnaryRequest(
        createCertificateMethod.path,
        createCertificateMethod.requestSerialize,
        createCertificateMethod.responseDeserialize,
        { csr, validityDuration: validity, metadata: meta },
        md,
        (e, v) => resolve(e ? { error: e } : { value: v! }),
      ),
    );
  };

  before(async () => {
    bed = await startBed({
      host: "127.0.30.2",
      pods: { "node-a": ["spiffe://cluster.local/ns/default/sa/sleep"], "node-b": ["spiffe://cluster.local/ns/default/sa/httpbin"] },
    });
  });
  after(async () => {
    for (const c of closers) c();
    await bed.close();
  });

  void it("grants a node the identity of a pod on that node, chain leaf first and root last", async () => {
    const { csrPem } = await generateKeyAndCsr(SLEEP);
    const r = await caClient(TOKEN_A).createCertificate(csrPem, SLEEP, 3600);
    assert.ok(r.ok, !r.ok ? r.error.message : "");
    const chain = r.value;
    assert.ok(chain.length >= 2);
    const leaf = spiffeIdentityOfCert(chain[0]!);
    assert.ok(leaf.ok);
    assert.deepEqual(leaf.value, SLEEP);
    assert.equal(new X509Certificate(chain[chain.length - 1]!).fingerprint256, new X509Certificate(bed.pki.rootsPem[0]!).fingerprint256);
    assert.ok(new X509Certificate(chain[0]!).checkIssued(new X509Certificate(chain[1]!)));
  });

  void it("refuses the identity of a pod on another node with PERMISSION_DENIED", async () => {
    const { csrPem } = await generateKeyAndCsr(HTTPBIN);
    const r = await caClient(TOKEN_A).createCertificate(csrPem, HTTPBIN, 3600);
    assert.ok(!r.ok);
    assert.match(
      r.error.message,
      /PERMISSION_DENIED: no pod with identity spiffe:\/\/cluster.local\/ns\/default\/sa\/httpbin runs on node node-a/,
    );
    const ok = await caClient(TOKEN_B).createCertificate(csrPem, HTTPBIN, 3600);
    assert.ok(ok.ok, "node-b may have it");
  });

  void it("gives the caller its own identity when nothing is impersonated", async () => {
    const { csrPem } = await generateKeyAndCsr(SLEEP);
    const r = await raw(TOKEN_A, csrPem, {});
    assert.ok(r.value, r.error?.details);
    const leaf = spiffeIdentityOfCert(r.value.certChain[0]!);
    assert.ok(leaf.ok);
    assert.deepEqual(leaf.value, identity("cluster.local", "istio-system", "ztunnel"));
  });

  const refusals: Array<[string, string | null, () => Promise<string>, Record<string, string>, status, RegExp]> = [
    [
      "a missing token",
      null,
      async () => (await generateKeyAndCsr(SLEEP)).csrPem,
      { ImpersonatedIdentity: "spiffe://cluster.local/ns/default/sa/sleep" },
      status.UNAUTHENTICATED,
      /missing authorization/,
    ],
    [
      "an unknown token",
      "nope-nope-nope-nope",
      async () => (await generateKeyAndCsr(SLEEP)).csrPem,
      {},
      status.UNAUTHENTICATED,
      /unknown bootstrap token/,
    ],
    [
      "a CSR that is not PEM",
      TOKEN_A,
      async () => "garbage",
      { ImpersonatedIdentity: "spiffe://cluster.local/ns/default/sa/sleep" },
      status.INVALID_ARGUMENT,
      /csr/,
    ],
    [
      "a malformed impersonated identity",
      TOKEN_A,
      async () => (await generateKeyAndCsr(SLEEP)).csrPem,
      { ImpersonatedIdentity: "sleep" },
      status.INVALID_ARGUMENT,
      /ImpersonatedIdentity/,
    ],
  ];
  for (const [what, token, csr, meta, code, msg] of refusals) {
    void it(`answers ${what} with ${status[code]}`, async () => {
      const r = await raw(token, await csr(), meta);
      assert.equal(r.error?.code, code, r.error?.details);
      assert.match(r.error!.details, msg);
    });
  }
});
