/**
 * Library decision figures for the CA (docs/dependencies.md): time per workload certificate
 * for key generation, CSR creation and signing with @peculiar/x509 over Node's WebCrypto (what
 * weft uses), Node's own crypto for key generation only (it cannot build CSRs/certificates),
 * and the openssl CLI (one `req` + one `x509 -req` process per certificate).
 *
 *   node dist/bench/ca-sign.js [iterations=50]
 *
 * Bounded: `iterations` certificates per variant (max 1000), sequential, temp files removed.
 */
import { execFileSync } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { identity, toUri } from "../src/common/spiffe.js";
import { generateKeyAndCsr } from "../src/common/tls/csr.js";
import { verifyChain } from "../src/common/tls/verify.js";
import { generateP256 } from "../src/common/tls/x509.js";
import { CertificateAuthority } from "../src/ca/ca.js";
import { checkCsr } from "../src/ca/csr-check.js";

const n = Math.min(1000, Math.max(1, Number(process.argv[2] ?? 50)));
const id = identity("cluster.local", "default", "bench");

async function time(label: string, f: (i: number) => unknown): Promise<void> {
  await f(-1); // warm-up (module init, JIT)
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) await f(i);
  const ms = Number(process.hrtime.bigint() - t0) / 1e6 / n;
  console.log(`${label.padEnd(58)} ${ms.toFixed(2).padStart(8)} ms/op`);
}

async function main(): Promise<void> {
  console.log(`node ${process.version}, ${n} iterations per row`);
  const caR = await CertificateAuthority.createSelfSigned({ trustDomain: "cluster.local" });
  if (!caR.ok) throw caR.error;
  const ca = caR.value;
  const { csrPem } = await generateKeyAndCsr(id);
  const chain = await ca.sign(csrPem, { identity: id, ttlSeconds: 3600 });
  if (!chain.ok) throw chain.error;

  await time("webcrypto generateKey P-256", () => generateP256());
  await time("node crypto generateKeyPairSync ec P-256", () => generateKeyPairSync("ec", { namedCurve: "P-256" }));
  await time("@peculiar/x509: key + CSR (generateKeyAndCsr)", () => generateKeyAndCsr(id));
  await time("CA: CSR admission only (parse, key type, signature)", () => checkCsr(csrPem));
  await time("CA: sign (admission + certificate)", () => ca.sign(csrPem, { identity: id, ttlSeconds: 3600 }));
  await time("node X509Certificate: verifyChain leaf -> root", () => verifyChain(chain.value, ca.rootsPem));
  await time("total: key + CSR + sign", async () => {
    const k = await generateKeyAndCsr(id);
    await ca.sign(k.csrPem, { identity: id, ttlSeconds: 3600 });
  });

  const dir = mkdtempSync(join(tmpdir(), "weft-bench-ca-"));
  try {
    writeFileSync(join(dir, "ca.pem"), ca.rootsPem[0]!);
    const p = await ca.persist(dir);
    if (!p.ok) throw p.error;
    writeFileSync(
      join(dir, "ext.cnf"),
      `[v3]\nsubjectAltName=critical,URI:${toUri(id)}\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth,clientAuth\nbasicConstraints=critical,CA:FALSE\n`,
    );
    await time("openssl CLI: req (key + CSR) + x509 -req (sign)", () => {
      execFileSync(
        "openssl",
        [
          "req",
          "-new",
          "-newkey",
          "ec",
          "-pkeyopt",
          "ec_paramgen_curve:P-256",
          "-nodes",
          "-subj",
          "/",
          "-keyout",
          join(dir, "k.pem"),
          "-out",
          join(dir, "r.csr"),
        ],
        { stdio: "ignore" },
      );
      execFileSync(
        "openssl",
        [
          "x509",
          "-req",
          "-in",
          join(dir, "r.csr"),
          "-CA",
          join(dir, "ca-cert.pem"),
          "-CAkey",
          join(dir, "ca-key.pem"),
          "-CAcreateserial",
          "-days",
          "1",
          "-extfile",
          join(dir, "ext.cnf"),
          "-extensions",
          "v3",
          "-out",
          join(dir, "c.pem"),
        ],
        { stdio: "ignore" },
      );
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
