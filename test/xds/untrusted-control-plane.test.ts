/**
 * ztunnel refuses a control plane it must not trust, for both things it asks of one: delta xDS
 * (its whole view of the mesh) and certificates (its identities). A server presenting a
 * certificate from another root (same trust domain or another one), a certificate of the mesh's
 * own CA with the wrong SAN (any mesh workload posing as istiod), or an expired / not yet valid
 * certificate is never sent a request: the xDS client stays unsynced with nothing applied, and
 * the CA client returns an error, not a certificate. Every refusal has a positive control: the
 * same client against the same kind of server with a good certificate succeeds. And an
 * untrusted server appearing at the control plane's address while ztunnel runs does not change
 * what ztunnel serves: its last good state stays in force until the real control plane returns.
 */
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { identity } from "../../src/common/spiffe.js";
import { issueWorkloadCertificate } from "../../src/ca/issue.js";
import { generateKeyAndCsr } from "../../src/common/tls/csr.js";
import { type AddressResource } from "../../src/common/xds/address-codec.js";
import { ADDRESS_TYPE_URL } from "../../src/common/xds/proto.js";
import { ProxyState } from "../../src/proxy/state/state.js";
import { StateMutator } from "../../src/proxy/state/mutator.js";
import { XdsClient } from "../../src/proxy/xds/client.js";
import { GrpcCaClient } from "../../src/proxy/identity/grpc-ca-client.js";
import type { TestPki } from "../support/pki.js";
import { workload } from "../support/model.js";
import { type Bed, CP_SAN, NODE_ID_A, TOKEN_A, startBed, until } from "./support.js";

const ISTIOD = identity("cluster.local", "istio-system", "istiod");
const SLEEP = identity("cluster.local", "default", "sleep");
const w = (name: string, ip: string): AddressResource => ({ kind: "workload", value: workload({ name, addresses: [ip] }) });
const uid = (name: string) => `cluster1//Pod/default/${name}`;

type ServerCert = (pki: TestPki) => Promise<{ keyPem: string; chainPem: readonly string[] }>;

/** Untrusted server certificates, with what the client's error must say about each. */
const UNTRUSTED: Array<[string, ServerCert, RegExp]> = [
  [
    "a certificate from another root with the mesh's trust domain",
    (pki) => pki.impostor.certForIdentity(ISTIOD),
    /unable to verify the first certificate/,
  ],
  [
    "a certificate from another trust domain's root",
    (pki) => pki.other.certForIdentity(identity("other.local", "istio-system", "istiod")),
    /unable to verify the first certificate/,
  ],
  [
    "a mesh certificate with the wrong SAN (a workload posing as istiod)",
    (pki) => pki.certForIdentity(SLEEP),
    /SANs \[URI:spiffe:\/\/cluster\.local\/ns\/default\/sa\/sleep\], want URI:spiffe:\/\/cluster\.local\/ns\/istio-system\/sa\/istiod/,
  ],
  ["an expired mesh certificate with the right SAN", (pki) => pki.expiredCertFor("istio-system", "istiod"), /expired/i],
  ["a not yet valid mesh certificate with the right SAN", (pki) => pki.notYetValidCertFor("istio-system", "istiod"), /not yet valid/i],
];

const GOOD: ServerCert = (pki) => issueWorkloadCertificate(pki.ca, ISTIOD, 3600);

void describe("ztunnel refuses an untrusted control plane", () => {
  const cleanups: Array<() => Promise<void> | void> = [];
  after(async () => {
    for (const c of cleanups.reverse()) await c();
  });
  const bed = async (host: string, serverCert: ServerCert, port?: number): Promise<Bed> => {
    const b = await startBed({ host, serverCert, ...(port ? { port } : {}) });
    cleanups.push(() => b.close());
    b.store.setAll(ADDRESS_TYPE_URL, [w("planted", "10.9.0.1")]);
    return b;
  };
  const xdsClient = (b: Bed, state: ProxyState) => {
    const c = new XdsClient({
      target: { address: b.address, rootsPem: b.pki.rootsPem, expectedSan: CP_SAN, token: () => TOKEN_A },
      nodeId: NODE_ID_A,
      handler: new StateMutator(state),
      backoff: { initialMs: 20, maxMs: 100 },
    });
    cleanups.push(() => c.close());
    c.start();
    return c;
  };
  const caClient = (b: Bed) => {
    const c = new GrpcCaClient({
      target: { address: b.address, rootsPem: b.pki.rootsPem, expectedSan: CP_SAN, token: () => TOKEN_A },
      timeoutMs: 3000,
    });
    cleanups.push(() => c.close());
    return c;
  };

  void it("positive control: the same clients sync and get a certificate from a server with a good certificate", async () => {
    const b = await bed("127.0.30.40", GOOD);
    const state = new ProxyState();
    const c = xdsClient(b, state);
    await c.synced();
    assert.ok(state.workloadByUid(uid("planted")));
    const { csrPem } = await generateKeyAndCsr(identity("cluster.local", "istio-system", "ztunnel"));
    // Without a pod on node-a the impersonation is refused, but only by the server: TLS succeeded.
    const r = await caClient(b).createCertificate(csrPem, SLEEP, 3600);
    assert.ok(!r.ok);
    assert.match(r.error.message, /PERMISSION_DENIED/);
  });

  let host = 41;
  for (const [what, cert, why] of UNTRUSTED) {
    const h = `127.0.30.${host++}`;
    void it(`xDS: refuses ${what}, applies nothing and never reaches the server's ADS`, async () => {
      const b = await bed(h, cert);
      const state = new ProxyState();
      const c = xdsClient(b, state);
      await until("several refused attempts", () => c.status().reconnects >= 3, 5000);
      const s = c.status();
      assert.match(s.lastError ?? "", why, `lastError: ${s.lastError}`);
      assert.equal(s.synced, false);
      assert.equal(s.acks + s.nacks, 0, "no response was ever received");
      assert.equal(state.workloadByUid(uid("planted")), undefined, "nothing from the untrusted server was applied");
      assert.deepEqual(b.ads.clients(), [], "no ADS stream reached the server");
      c.close();
    });
    void it(`CA: refuses ${what} and returns an error, not a certificate`, async () => {
      const b = await startBed({ host: h, serverCert: cert, pods: { "node-a": [`spiffe://cluster.local/ns/default/sa/sleep`] } });
      cleanups.push(() => b.close());
      const { csrPem } = await generateKeyAndCsr(SLEEP);
      const r = await caClient(b).createCertificate(csrPem, SLEEP, 3600);
      assert.ok(!r.ok, "a certificate was accepted from an untrusted control plane");
      assert.match(r.error.message, /UNAVAILABLE/);
      assert.match(r.error.message, why);
    });
  }

  void it("CA positive control: a good server with the pod on the node grants the certificate", async () => {
    const b = await startBed({ host: "127.0.30.47", serverCert: GOOD, pods: { "node-a": [`spiffe://cluster.local/ns/default/sa/sleep`] } });
    cleanups.push(() => b.close());
    const { csrPem } = await generateKeyAndCsr(SLEEP);
    const r = await caClient(b).createCertificate(csrPem, SLEEP, 3600);
    assert.ok(r.ok, !r.ok ? r.error.message : "");
  });

  void it("keeps serving its last good config while an untrusted server holds the control plane's address", async () => {
    const good = await bed("127.0.30.48", GOOD);
    good.store.setAll(ADDRESS_TYPE_URL, [w("a", "10.9.1.1"), w("b", "10.9.1.2")]);
    const port = good.server.port;
    const state = new ProxyState();
    const c = xdsClient(good, state);
    await c.synced();
    assert.ok(state.workloadByUid(uid("a")) && state.workloadByUid(uid("b")));
    await good.close();

    // An impostor (another root) and then a mesh workload (wrong SAN) take the address, each
    // offering a different mesh: b gone, "evil" added.
    // The client's error must be the one this impostor's handshake causes: that proves a TLS
    // handshake with it happened (grpc-js also fails calls fast, without dialling, while its
    // channel backs off, so counting attempts alone proves nothing).
    for (const [, cert, why] of [UNTRUSTED[0]!, UNTRUSTED[2]!]) {
      const evil = await startBed({ host: "127.0.30.48", port, serverCert: cert });
      cleanups.push(() => evil.close());
      evil.store.setAll(ADDRESS_TYPE_URL, [w("a", "10.9.1.1"), w("evil", "10.9.1.66")]);
      await until(`a handshake refused by the client (${why})`, () => why.test(c.status().lastError ?? ""), 20_000);
      await new Promise((r) => setTimeout(r, 200));
      assert.equal(state.workloadByUid(uid("evil")), undefined, "the impostor's workload was not applied");
      assert.ok(state.workloadByUid(uid("b")), "the last good state stays in force (no removal applied)");
      assert.deepEqual(evil.ads.clients(), [], "no ADS stream reached the impostor");
      await evil.close();
    }

    const back = await startBed({ host: "127.0.30.48", port, serverCert: GOOD });
    cleanups.push(() => back.close());
    back.store.setAll(ADDRESS_TYPE_URL, [w("a", "10.9.1.1"), w("c", "10.9.1.3")]);
    await until("resynced with the real control plane", () => !!state.workloadByUid(uid("c")) && !state.workloadByUid(uid("b")), 20_000);
  });
});
