/**
 * The one place that loads @peculiar/x509 and binds it to Node's WebCrypto. Everything that
 * builds or parses ASN.1 certificate structures imports `x509` from here so the provider is
 * always configured and the Reflect polyfill (needed by the library's DI container, tsyringe)
 * is loaded first. Signature checks on certificates use Node's own X509Certificate (sync,
 * OpenSSL-backed); this module is for generating keys, CSRs and certificates.
 *
 * Also holds the few algorithm constants the mesh uses, so "P-256 / SHA-256" is written once.
 */
import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import { webcrypto } from "node:crypto";

export type CryptoKey = webcrypto.CryptoKey;
export type CryptoKeyPair = webcrypto.CryptoKeyPair;

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

export { x509 };

/** WebCrypto algorithm for workload and self-signed root keys: ECDSA P-256 with SHA-256. */
export const ECDSA_P256 = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;

export const subtle = webcrypto.subtle;

/** PEM-armours DER bytes with 64-column lines (RFC 7468). */
export function toPem(der: ArrayBuffer | Uint8Array, label: string): string {
  const b64 = Buffer.from(der instanceof Uint8Array ? der : new Uint8Array(der)).toString("base64");
  const lines = b64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join("\n")}\n-----END ${label}-----\n`;
}

/** Generates an extractable ECDSA P-256 key pair. */
export async function generateP256(): Promise<CryptoKeyPair> {
  return (await subtle.generateKey(ECDSA_P256, true, ["sign", "verify"])) as CryptoKeyPair;
}

/** PKCS#8 PEM of a WebCrypto private key. */
export async function privateKeyPem(key: CryptoKey): Promise<string> {
  return toPem(await subtle.exportKey("pkcs8", key), "PRIVATE KEY");
}
