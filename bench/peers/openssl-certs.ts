/**
 * A throwaway CA and two leaf certificates made with the openssl CLI for the stunnel peer:
 * ECDSA P-256 keys, SHA-256 signatures, SPIFFE URI SANs like the mesh's own workload certs
 * (plus a DNS SAN that stunnel's `checkHost` verifies), valid for one day. Files are written
 * into `dir`, which the caller owns and removes.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { err, ok, type Result } from "../../src/common/result.js";
import { runSync } from "../proc.js";

export interface LeafFiles {
  readonly cert: string;
  readonly key: string;
}

export interface BenchPki {
  readonly caCert: string;
  readonly client: LeafFiles;
  readonly server: LeafFiles;
  /** The DNS name in the server certificate (stunnel's client checks it). */
  readonly serverName: string;
}

const TRUST_DOMAIN = "cluster.local";

export function makeBenchPki(dir: string): Result<BenchPki> {
  const caKey = join(dir, "ca.key");
  const caCert = join(dir, "ca.crt");
  const steps: [string, string[]][] = [
    ["openssl", ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", caKey]],
    [
      "openssl",
      [
        "req",
        "-x509",
        "-new",
        "-key",
        caKey,
        "-sha256",
        "-days",
        "1",
        "-subj",
        "/O=weft-bench/CN=weft bench root",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
        "-out",
        caCert,
      ],
    ],
  ];
  for (const [cmd, args] of steps) {
    const r = runSync(cmd, args);
    if (!r.ok) return err(new Error(`bench pki: root: ${r.error.message}`));
  }
  const serverName = "echo.default.svc.cluster.local";
  const client = makeLeaf(dir, "client", caCert, caKey, `URI:spiffe://${TRUST_DOMAIN}/ns/default/sa/client`);
  if (!client.ok) return client;
  const server = makeLeaf(dir, "server", caCert, caKey, `URI:spiffe://${TRUST_DOMAIN}/ns/default/sa/server,DNS:${serverName}`);
  if (!server.ok) return server;
  return ok({ caCert, client: client.value, server: server.value, serverName });
}

function makeLeaf(dir: string, name: string, caCert: string, caKey: string, san: string): Result<LeafFiles> {
  const key = join(dir, `${name}.key`);
  const csr = join(dir, `${name}.csr`);
  const cert = join(dir, `${name}.crt`);
  const ext = join(dir, `${name}.ext`);
  writeFileSync(
    ext,
    [
      "basicConstraints=critical,CA:FALSE",
      "keyUsage=critical,digitalSignature,keyAgreement",
      "extendedKeyUsage=serverAuth,clientAuth",
      `subjectAltName=critical,${san}`,
      "",
    ].join("\n"),
  );
  const steps: [string, string[]][] = [
    ["openssl", ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", key]],
    ["openssl", ["req", "-new", "-key", key, "-subj", "/O=weft-bench", "-out", csr]],
    [
      "openssl",
      [
        "x509",
        "-req",
        "-in",
        csr,
        "-CA",
        caCert,
        "-CAkey",
        caKey,
        "-CAcreateserial",
        "-sha256",
        "-days",
        "1",
        "-extfile",
        ext,
        "-out",
        cert,
      ],
    ],
  ];
  for (const [cmd, args] of steps) {
    const r = runSync(cmd, args);
    if (!r.ok) return err(new Error(`bench pki: ${name} leaf: ${r.error.message}`));
  }
  return ok({ cert, key });
}
