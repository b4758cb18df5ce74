import { describe, it, before, afterEach } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { join } from "node:path";
import { type Result, err } from "../../common/result.js";
import { type Identity, identity } from "../../common/spiffe.js";
import { generateKeyAndCsr } from "../../common/tls/csr.js";
import type { WorkloadCertificate } from "../../common/tls/types.js";
import { CertificateAuthority } from "../../ca/ca.js";
import { type CaClient, LocalCaClient } from "./ca-client.js";
import { CertificateManager, type CertificateManagerOptions } from "./manager.js";

const sleep = identity("cluster.local", "default", "sleep");

/** Wraps a real CaClient: counts calls, can be made to fail, can delay answers. */
class CountingCa implements CaClient {
  calls = 0;
  failing = false;
  delayMs = 0;
  constructor(private readonly inner: CaClient) {}
  async createCertificate(csrPem: string, id: Identity, ttlSeconds: number): Promise<Result<string[]>> {
    this.calls++;
    if (this.delayMs) await new Promise((r) => setTimeout(r, this.delayMs));
    if (this.failing) return err(new Error("unavailable: connection refused"));
    return this.inner.createCertificate(csrPem, id, ttlSeconds);
  }
}

/** A fake CA that certifies a different identity than the one asked for. */
class FakeWrongIdentityCa implements CaClient {
  constructor(private readonly ca: CertificateAuthority) {}
  createCertificate(csrPem: string, id: Identity, ttlSeconds: number): Promise<Result<string[]>> {
    return this.ca.sign(csrPem, { identity: { ...id, serviceAccount: "admin" }, ttlSeconds });
  }
}

/** A fake CA that certifies its own key instead of the one in the CSR. */
class FakeWrongKeyCa implements CaClient {
  constructor(private readonly ca: CertificateAuthority) {}
  async createCertificate(_csrPem: string, id: Identity, ttlSeconds: number): Promise<Result<string[]>> {
    return this.ca.sign((await generateKeyAndCsr(id)).csrPem, { identity: id, ttlSeconds });
  }
}

const serial = (c: WorkloadCertificate) => new X509Certificate(c.chainPem[0]!).serialNumber;

async function until(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

void describe("CertificateManager", () => {
  let ca: CertificateAuthority;
  let other: CertificateAuthority;
  const managers: CertificateManager[] = [];
  // Fast policy for tests: no skew on the CA, renew exactly at half-life, quick retries.
  const fast: CertificateManagerOptions["refresh"] = { refreshJitter: 0, minDelayMs: 50, backoffInitialMs: 100, backoffMaxMs: 400 };
  const manager = (client: CaClient, o: Partial<CertificateManagerOptions> = {}) => {
    const m = new CertificateManager(client, { rootsPem: ca.rootsPem, ttlSeconds: 3600, refresh: fast, ...o });
    managers.push(m);
    return m;
  };

  before(async () => {
    const r = await CertificateAuthority.createSelfSigned({ clockSkewSeconds: 0 });
    const o = await CertificateAuthority.createSelfSigned({ clockSkewSeconds: 0 });
    if (!r.ok || !o.ok) throw new Error("ca");
    [ca, other] = [r.value, o.value];
  });
  afterEach(() => {
    for (const m of managers.splice(0)) m.close();
  });

  void it("fetches on first use and serves the cached certificate afterwards", async () => {
    const client = new CountingCa(new LocalCaClient(ca));
    const m = manager(client);
    const a = await m.get(sleep);
    const b = await m.get(sleep);
    assert.ok(a.ok && b.ok);
    assert.equal(a.value, b.value);
    assert.equal(client.calls, 1);
    assert.deepEqual(a.value.identity, sleep);
    assert.equal(a.value.chainPem.length, 1, "root is kept apart from the chain");
    assert.deepEqual(a.value.rootsPem, ca.rootsPem);
  });

  void it("shares one CA request among concurrent callers", async () => {
    const client = new CountingCa(new LocalCaClient(ca));
    client.delayMs = 50;
    const m = manager(client);
    const rs = await Promise.all(Array.from({ length: 5 }, () => m.get(sleep)));
    assert.equal(client.calls, 1);
    assert.ok(rs.every((r) => r.ok && r.value === (rs[0] as { value: unknown }).value));
  });

  void it("a short TTL from a CA with default backdating renews at half of the real lifetime, not in a hot loop", async () => {
    // Issue 14: notBefore backdated 60 s made a 60 s certificate look half-expired on arrival,
    // so it was re-requested every minDelayMs forever. Here: a 4 s TTL from the CA's defaults.
    const r = await CertificateAuthority.createSelfSigned({});
    assert.ok(r.ok);
    const client = new CountingCa(new LocalCaClient(r.value));
    const m = new CertificateManager(client, { rootsPem: r.value.rootsPem, ttlSeconds: 4, refresh: fast });
    managers.push(m);
    const got = await m.get(sleep);
    assert.ok(got.ok);
    const backdate = got.value.notAfter.getTime() - got.value.notBefore.getTime() - 4000;
    assert.ok(backdate <= 5_000, `notBefore backdated ${backdate} ms, want at most the 5 s default`);
    await new Promise((res) => setTimeout(res, 1200));
    assert.equal(client.calls, 1, `renewed ${client.calls - 1} times within 1.2 s of a 4 s certificate`);
  });

  void it("renews at half-life and tells listeners, old certificate first served, new one after", async () => {
    const client = new CountingCa(new LocalCaClient(ca));
    const m = manager(client, { ttlSeconds: 2 });
    const rotations: [string, string | undefined][] = [];
    m.onCertificate((c, prev) => rotations.push([serial(c), prev && serial(prev)]));
    const first = await m.get(sleep);
    assert.ok(first.ok);
    await until(() => rotations.length >= 2, 4000, "a rotation");
    const [, second] = rotations as [[string, undefined], [string, string]];
    assert.equal(second[1], serial(first.value));
    assert.notEqual(second[0], serial(first.value));
    const now = await m.get(sleep);
    assert.ok(now.ok);
    assert.equal(serial(now.value), second[0]);
  });

  void it("keeps serving the current certificate while renewals fail, then recovers", async () => {
    const client = new CountingCa(new LocalCaClient(ca));
    const m = manager(client, { ttlSeconds: 3 });
    const first = await m.get(sleep);
    assert.ok(first.ok);
    client.failing = true;
    await until(() => (m.dump()[0]?.failures ?? 0) >= 2, 4000, "two failed renewals");
    const during = await m.get(sleep);
    assert.ok(during.ok);
    assert.equal(during.value, first.value);
    const d = m.dump()[0]!;
    assert.equal(d.state, "available");
    assert.match(d.lastError ?? "", /^certificate spiffe:\/\/cluster.local\/ns\/default\/sa\/sleep: ca: unavailable/);
    client.failing = false;
    await until(() => m.dump()[0]?.failures === 0, 3000, "recovery");
    const after = await m.get(sleep);
    assert.ok(after.ok);
    assert.notEqual(serial(after.value), serial(first.value));
  });

  const rejections: [string, () => CaClient, string][] = [
    ["a CA that returns another identity", () => new FakeWrongIdentityCa(ca), "IDENTITY_MISMATCH"],
    ["a CA that certifies another key", () => new FakeWrongKeyCa(ca), "IDENTITY_MISMATCH"],
    ["a CA whose chain ends at an unknown root", () => new LocalCaClient(other), "IDENTITY_CHAIN"],
    ["a CA that refuses", () => Object.assign(new CountingCa(new LocalCaClient(ca)), { failing: true }), "IDENTITY_FETCH"],
  ];
  for (const [name, make, code] of rejections) {
    void it(`rejects ${name} with ${code} and does not retry per caller`, async () => {
      const client = new CountingCa(make());
      const m = manager(client);
      const r = await m.get(sleep);
      assert.equal(r.ok, false);
      if (!r.ok) assert.equal(r.error.code, code, r.error.message);
      const again = await m.get(sleep);
      assert.equal(!again.ok && again.error.code, code);
      assert.equal(client.calls, 1);
      assert.equal(m.dump()[0]?.state, "unavailable");
    });
  }

  void it("does not serve a certificate past its notAfter", async () => {
    let offset = 0;
    const client = new CountingCa(new LocalCaClient(ca));
    const m = manager(client, { now: () => Date.now() + offset });
    assert.ok((await m.get(sleep)).ok);
    offset = 2 * 3600 * 1000;
    const r = await m.get(sleep);
    assert.equal(!r.ok && r.error.code, "IDENTITY_FETCH");
  });

  void it("forgets an identity: in-flight callers get IDENTITY_FORGOTTEN and no renewal follows", async () => {
    const client = new CountingCa(new LocalCaClient(ca));
    client.delayMs = 50;
    const m = manager(client, { ttlSeconds: 1 });
    const pending = m.get(sleep);
    m.forget(sleep);
    const r = await pending;
    assert.equal(!r.ok && r.error.code, "IDENTITY_FORGOTTEN");
    assert.deepEqual(m.dump(), []);
    await new Promise((res) => setTimeout(res, 700));
    assert.equal(client.calls, 1);
  });

  void it("dumps identity, serial, validity and state but never key material", async () => {
    const m = manager(new LocalCaClient(ca));
    const c = await m.get(sleep);
    assert.ok(c.ok);
    const d = m.dump();
    assert.equal(d.length, 1);
    assert.equal(d[0]!.identity, "spiffe://cluster.local/ns/default/sa/sleep");
    assert.equal(d[0]!.state, "available");
    assert.equal(d[0]!.serial, serial(c.value));
    assert.equal(d[0]!.notAfter, c.value.notAfter.toISOString());
    assert.ok(d[0]!.nextRefresh);
    assert.doesNotMatch(JSON.stringify(d), /PRIVATE KEY|BEGIN/);
  });

  void it("refuses work after close", async () => {
    const m = manager(new LocalCaClient(ca));
    m.close();
    const r = await m.get(sleep);
    assert.equal(!r.ok && r.error.code, "IDENTITY_CLOSED");
  });

  void it("lets the process exit while renewals are scheduled (timers are unref'd)", () => {
    const dist = join(__dirname, "..", "..", "..");
    const script = `
      const { CertificateAuthority } = require(${JSON.stringify(join(dist, "src/ca/ca.js"))});
      const { LocalCaClient } = require(${JSON.stringify(join(dist, "src/proxy/identity/ca-client.js"))});
      const { CertificateManager } = require(${JSON.stringify(join(dist, "src/proxy/identity/manager.js"))});
      (async () => {
        const ca = (await CertificateAuthority.createSelfSigned()).value;
        const m = new CertificateManager(new LocalCaClient(ca), { rootsPem: ca.rootsPem });
        const r = await m.get({ trustDomain: "cluster.local", namespace: "a", serviceAccount: "b" });
        console.log(r.ok ? "issued" : r.error.message);
      })();`;
    const res = spawnSync(process.execPath, ["-e", script], {
      timeout: 10_000,
      encoding: "utf8",
      env: { ...process.env, WEFT_LOG: "warn" },
    });
    assert.equal(res.signal, null, "child had to be killed: a timer kept it alive");
    assert.equal(res.status, 0, res.stderr);
    assert.equal(res.stdout.trim(), "issued");
  });
});
