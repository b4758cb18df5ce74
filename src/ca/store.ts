/**
 * Signing material on disk, in Istio's `cacerts` layout so an operator can plug in an
 * intermediate exactly as for istiod:
 *   ca-cert.pem     the certificate the CA signs with
 *   ca-key.pem      its private key (written 0600)
 *   root-cert.pem   the trust anchor(s)
 *   cert-chain.pem  ca-cert.pem .. root, one PEM each
 * A self-signed root is persisted in the same layout (ca-cert = root-cert = cert-chain), so a
 * restarted control plane reloads the same root. Writes go to temporary files renamed into
 * place, key first and ca-cert.pem last: a crash leaves either the old set or a complete new one
 * because ca-cert.pem's presence is what marks a directory as initialised.
 */
import { mkdir, readFile, rename, writeFile, access } from "node:fs/promises";
import { join } from "node:path";
import { type Result, ok, err } from "../common/result.js";
import { CaError } from "./errors.js";
import { type SigningMaterial, materialFromPem } from "./material.js";

export const CACERTS_FILES = {
  caCert: "ca-cert.pem",
  caKey: "ca-key.pem",
  rootCert: "root-cert.pem",
  certChain: "cert-chain.pem",
} as const;

/** Whether `dir` holds a CA (its ca-cert.pem exists). */
export async function hasCacerts(dir: string): Promise<boolean> {
  try {
    await access(join(dir, CACERTS_FILES.caCert));
    return true;
  } catch {
    return false;
  }
}

/** Loads and validates the cacerts files of `dir` (cert-chain.pem is optional). */
export async function loadCacerts(dir: string, now: Date = new Date()): Promise<Result<SigningMaterial, CaError>> {
  const read = async (name: string, optional = false): Promise<Result<string | undefined, CaError>> => {
    try {
      return ok(await readFile(join(dir, name), "utf8"));
    } catch (e) {
      if (optional && (e as NodeJS.ErrnoException).code === "ENOENT") return ok(undefined);
      return err(new CaError("CA_LOAD", `cacerts ${dir}: ${name}: ${(e as Error).message}`, { cause: e }));
    }
  };
  const caCert = await read(CACERTS_FILES.caCert);
  if (!caCert.ok) return caCert;
  const caKey = await read(CACERTS_FILES.caKey);
  if (!caKey.ok) return caKey;
  const root = await read(CACERTS_FILES.rootCert);
  if (!root.ok) return root;
  const chain = await read(CACERTS_FILES.certChain, true);
  if (!chain.ok) return chain;
  const m = await materialFromPem(
    { caCertPem: caCert.value!, caKeyPem: caKey.value!, rootCertPem: root.value!, certChainPem: chain.value ?? "" },
    now,
  );
  if (!m.ok) return err(new CaError("CA_LOAD", `cacerts ${dir}: ${m.error.message}`, { cause: m.error }));
  return m;
}

/** Writes `m` to `dir` in the cacerts layout (directory created 0700 if missing). */
export async function persistCacerts(m: SigningMaterial, dir: string): Promise<Result<void, CaError>> {
  const files: [string, string, number][] = [
    [CACERTS_FILES.caKey, m.keyPem, 0o600],
    [CACERTS_FILES.rootCert, m.rootsPem.join(""), 0o644],
    [CACERTS_FILES.certChain, m.chainPem.join(""), 0o644],
    [CACERTS_FILES.caCert, m.certPem, 0o644],
  ];
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    for (const [name, text, mode] of files) {
      const tmp = join(dir, `.${name}.${process.pid}.tmp`);
      await writeFile(tmp, text, { mode, flag: "w" });
      await rename(tmp, join(dir, name));
    }
    return ok(undefined);
  } catch (e) {
    return err(new CaError("CA_PERSIST", `cacerts ${dir}: ${(e as Error).message}`, { cause: e }));
  }
}
