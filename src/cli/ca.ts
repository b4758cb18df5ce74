/**
 * `weft ca init --dir DIR [--trust-domain TD]`: creates a self-signed mesh root in Istio's
 * cacerts layout (or keeps the one already there), for local mode, tests and benchmarks.
 * `weft ca show --dir DIR`: prints the root's fingerprint and validity.
 */
import type { Command } from "commander";
import { CertificateAuthority } from "../ca/ca.js";
import { CliError, EXIT_OK, action, examples, subcommand } from "./command.js";

export const DEFAULT_CA_TRUST_DOMAIN = "cluster.local";

export function registerCa(program: Command): void {
  const ca = subcommand(program, "ca", "create or inspect a local mesh CA directory (Istio cacerts layout)");
  const init = subcommand(ca, "init", "create a self-signed mesh root in DIR (kept if one is there)")
    .requiredOption("--dir <dir>", "CA directory (cacerts layout: ca-cert.pem, ca-key.pem, root-cert.pem, cert-chain.pem)")
    .option("--trust-domain <td>", "trust domain", DEFAULT_CA_TRUST_DOMAIN);
  examples(init, ["weft ca init --dir ./ca", "weft ca init --dir ./ca --trust-domain example.org"]);
  action(init, (o: { dir: string; trustDomain: string }) => show(o.dir, o.trustDomain, true));
  const sh = subcommand(ca, "show", "print the CA's trust domain, subject, fingerprint and validity")
    .requiredOption("--dir <dir>", "CA directory")
    .option("--trust-domain <td>", "trust domain", DEFAULT_CA_TRUST_DOMAIN);
  examples(sh, ["weft ca show --dir /run/weft-local/ca"]);
  action(sh, (o: { dir: string; trustDomain: string }) => show(o.dir, o.trustDomain, false));
}

async function show(dir: string, trustDomain: string, create: boolean): Promise<number> {
  const ca = create
    ? await CertificateAuthority.loadOrCreateSelfSigned(dir, { trustDomain })
    : await CertificateAuthority.loadCacerts(dir, { trustDomain });
  if (!ca.ok) throw new CliError(`${dir}: ${ca.error.message}`);
  const c = ca.value.signingCertificate;
  process.stdout.write(
    `trust domain ${ca.value.trustDomain}\nsubject ${c.subject}\nfingerprint ${c.fingerprint256}\nvalid ${c.validFrom} - ${c.validTo}\ndirectory ${dir}\n`,
  );
  return EXIT_OK;
}
