/**
 * Throwaway PKI for the test API server: a CA, a serving certificate for 127.0.40.1, and a
 * service-account signing key (ECDSA P-256, so tokens are ES256 JWTs). Generated per run, in
 * memory, with @peculiar/x509 on WebCrypto; nothing here is meant for anything but tests.
 */
import { webcrypto } from "node:crypto";
import { x509 } from "../../src/common/tls/x509.js";

const ecdsa = { name: "ECDSA", namedCurve: "P-256" } as const;
const signing = { name: "ECDSA", hash: "SHA-256" } as const;

export interface TestPki {
  readonly caPem: string;
  readonly serverCertPem: string;
  readonly serverKeyPem: string;
  /** Service-account token signing key (private, PKCS#8) and its public half (SPKI). */
  readonly saKeyPem: string;
  readonly saPubPem: string;
}

function pem(label: string, der: ArrayBuffer): string {
  const b64 = Buffer.from(der).toString("base64").replace(/.{64}/g, "$&\n");
  return `-----BEGIN ${label}-----\n${b64.trimEnd()}\n-----END ${label}-----\n`;
}

async function newKeys(): Promise<webcrypto.CryptoKeyPair> {
  return await webcrypto.subtle.generateKey(ecdsa, true, ["sign", "verify"]);
}

/** Extra subject alternative names of the serving certificate (the test bed's Service IP and names). */
export interface ExtraSans {
  readonly ips?: readonly string[];
  readonly dns?: readonly string[];
}

export async function makeTestPki(ip: string, extra: ExtraSans = {}): Promise<TestPki> {
  const notBefore = new Date(Date.now() - 60_000);
  const notAfter = new Date(Date.now() + 24 * 3600_000);
  const caKeys = await newKeys();
  const ca = await x509.X509CertificateGenerator.createSelfSigned({
    name: "CN=weft-test-kube-ca",
    keys: caKeys,
    signingAlgorithm: signing,
    notBefore,
    notAfter,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
    ],
  });
  const serverKeys = await newKeys();
  const server = await x509.X509CertificateGenerator.create({
    subject: "CN=kube-apiserver",
    issuer: ca.subject,
    publicKey: serverKeys.publicKey,
    signingKey: caKeys.privateKey,
    signingAlgorithm: signing,
    notBefore,
    notAfter,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension([
        { type: "ip", value: ip },
        { type: "dns", value: "localhost" },
        { type: "dns", value: "kubernetes.default.svc" },
        ...(extra.ips ?? []).map((value) => ({ type: "ip" as const, value })),
        ...(extra.dns ?? []).map((value) => ({ type: "dns" as const, value })),
      ]),
    ],
  });
  const saKeys = await newKeys();
  return {
    caPem: ca.toString("pem") + "\n",
    serverCertPem: server.toString("pem") + "\n",
    serverKeyPem: pem("PRIVATE KEY", await webcrypto.subtle.exportKey("pkcs8", serverKeys.privateKey)),
    saKeyPem: pem("PRIVATE KEY", await webcrypto.subtle.exportKey("pkcs8", saKeys.privateKey)),
    saPubPem: pem("PUBLIC KEY", await webcrypto.subtle.exportKey("spki", saKeys.publicKey)),
  };
}
