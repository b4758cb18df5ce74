/**
 * PEM bundle helpers: split a file holding several certificates into one PEM per element
 * (IstioCertificateResponse.cert_chain and the cacerts files use one PEM per certificate), and
 * normalise whitespace so chains compare by content. Pure; no IO.
 */
import { type Result, ok, err } from "../result.js";

const BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n([\s\S]*?)-----END \1-----/g;

export interface PemBlock {
  readonly label: string;
  /** Canonical PEM text: 64-column base64, LF line ends, trailing newline. */
  readonly pem: string;
  readonly der: Buffer;
}

/**
 * Splits `text` into its PEM blocks. Text between blocks (comments written by openssl, e.g.
 * "subject=...") is ignored; a block with invalid base64 is an error.
 */
export function splitPem(text: string): Result<PemBlock[]> {
  const out: PemBlock[] = [];
  for (const m of text.matchAll(BLOCK)) {
    const label = m[1]!;
    const body = m[2]!.replace(/\s+/g, "");
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(body) || body.length === 0 || body.length % 4 !== 0) {
      return err(new Error(`pem: block ${out.length + 1} (${label}): invalid base64 body`));
    }
    const der = Buffer.from(body, "base64");
    const lines = body.match(/.{1,64}/g) ?? [];
    out.push({ label, der, pem: `-----BEGIN ${label}-----\n${lines.join("\n")}\n-----END ${label}-----\n` });
  }
  return ok(out);
}

/** Splits a bundle that must contain only certificates (at least one). */
export function splitCertificates(text: string, what: string): Result<string[]> {
  const blocks = splitPem(text);
  if (!blocks.ok) return err(new Error(`${what}: ${blocks.error.message}`));
  if (blocks.value.length === 0) return err(new Error(`${what}: no PEM certificate found`));
  const wrong = blocks.value.find((b) => b.label !== "CERTIFICATE");
  if (wrong) return err(new Error(`${what}: unexpected PEM block ${JSON.stringify(wrong.label)}, want CERTIFICATE`));
  return ok(blocks.value.map((b) => b.pem));
}
