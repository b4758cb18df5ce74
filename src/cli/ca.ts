/**
 * `weft ca init --dir DIR [--trust-domain TD]`: creates a self-signed mesh root in Istio's
 * cacerts layout (or keeps the one already there), for local mode, tests and benchmarks.
 * `weft ca show --dir DIR`: prints the root's fingerprint and validity.
 */
import { parseArgs } from "node:util";
import { CertificateAuthority } from "../ca/ca.js";

export async function runCa(argv: string[]): Promise<number> {
  const [verb, ...rest] = argv;
  let values: { dir?: string; "trust-domain"?: string };
  try {
    values = parseArgs({ args: rest, options: { dir: { type: "string" }, "trust-domain": { type: "string" } }, strict: true }).values;
  } catch (e) {
    console.error(`ca: ${(e as Error).message}`);
    return 2;
  }
  if (!values.dir || (verb !== "init" && verb !== "show")) {
    console.error("usage: weft ca init --dir DIR [--trust-domain TD] | weft ca show --dir DIR");
    return 2;
  }
  const trustDomain = values["trust-domain"] ?? "cluster.local";
  const ca =
    verb === "init"
      ? await CertificateAuthority.loadOrCreateSelfSigned(values.dir, { trustDomain })
      : await CertificateAuthority.loadCacerts(values.dir, { trustDomain });
  if (!ca.ok) {
    console.error(`ca: ${values.dir}: ${ca.error.message}`);
    return 1;
  }
  const c = ca.value.signingCertificate;
  console.log(
    `trust domain ${ca.value.trustDomain}\nsubject ${c.subject}\nfingerprint ${c.fingerprint256}\nvalid ${c.validFrom} - ${c.validTo}\ndirectory ${values.dir}`,
  );
  return 0;
}
