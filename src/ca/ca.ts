/**
 * The mesh certificate authority: signs workload CSRs with the loaded signing material and
 * returns IstioCertificateResponse.cert_chain (leaf first, root last, one PEM per element).
 *
 * Authorisation is NOT done here: the caller (the gRPC server, after checking the requesting
 * ztunnel's token and that the impersonated pod runs on its node) passes the identity it has
 * authorised, and that identity, never the CSR's SAN, becomes the certificate's only URI SAN.
 *
 * Leaf profile: empty subject, critical SAN with the SPIFFE URI, keyUsage digitalSignature +
 * keyEncipherment (critical), extKeyUsage serverAuth + clientAuth, basicConstraints CA:FALSE
 * (critical), authority key id of the signer, random 128-bit serial, notBefore backdated by
 * `leafBackdateSeconds` (default 5 s: enough for peers' clocks a little behind ours, small against
 * the shortest TTL, so renewal at half-life is not skewed; docs/identity.md), notAfter = now + ttl
 * but never past the signing certificate's notAfter.
 */
import type { X509Certificate } from "node:crypto";
import { type Result, ok, err } from "../common/result.js";
import { logger } from "../common/log.js";
import { type Identity, toUri } from "../common/spiffe.js";
import { validity } from "../common/tls/verify.js";
import { x509 } from "../common/tls/x509.js";
import { checkCsr } from "./csr-check.js";
import { CaError } from "./errors.js";
import { DEFAULT_CLOCK_SKEW_SECONDS, type SigningMaterial, createSelfSignedRoot, randomSerial } from "./material.js";
import { hasCacerts, loadCacerts, persistCacerts } from "./store.js";

const log = logger("controlplane.ca");

export const DEFAULT_MAX_TTL_SECONDS = 24 * 3600;
/** How far a leaf's notBefore is set before the signing time. */
export const DEFAULT_LEAF_BACKDATE_SECONDS = 5;

export interface CaOptions {
  /** Trust domain of the identities this CA certifies; others are refused. Default cluster.local. */
  trustDomain?: string;
  /** Upper bound on a requested TTL; larger requests fail with CA_TTL. Default 24 h. */
  maxTtlSeconds?: number;
  /** TTL used when the request says 0 / nothing. Default min(24 h, max). */
  defaultTtlSeconds?: number;
  /** How far a self-signed root's notBefore is backdated. Default 60 s. */
  clockSkewSeconds?: number;
  /** How far a leaf's notBefore is backdated. Default 5 s; at most the TTL. */
  leafBackdateSeconds?: number;
  /** Clock, injectable for tests. */
  now?: () => Date;
}

export interface SignRequest {
  /** The identity the caller is authorised to obtain; becomes the only URI SAN. */
  identity: Identity;
  /** Requested lifetime in seconds; 0 or undefined means the default. */
  ttlSeconds?: number;
  /**
   * DNS SANs besides the URI: only for the control plane's own serving certificate (istiod's
   * `istiod.<ns>.svc`), never taken from a caller's CSR.
   */
  dnsNames?: readonly string[];
}

interface ResolvedOptions {
  trustDomain: string;
  maxTtlSeconds: number;
  defaultTtlSeconds: number;
  clockSkewSeconds: number;
  leafBackdateSeconds: number;
  now: () => Date;
}

function resolve(o: CaOptions): Result<ResolvedOptions, CaError> {
  const maxTtlSeconds = o.maxTtlSeconds ?? DEFAULT_MAX_TTL_SECONDS;
  if (!Number.isFinite(maxTtlSeconds) || maxTtlSeconds <= 0) {
    return err(new CaError("CA_TTL", `ca options: maxTtlSeconds ${maxTtlSeconds} must be a positive number`));
  }
  const defaultTtlSeconds = o.defaultTtlSeconds ?? Math.min(DEFAULT_MAX_TTL_SECONDS, maxTtlSeconds);
  if (!Number.isFinite(defaultTtlSeconds) || defaultTtlSeconds <= 0 || defaultTtlSeconds > maxTtlSeconds) {
    return err(new CaError("CA_TTL", `ca options: defaultTtlSeconds ${defaultTtlSeconds} must be in (0, ${maxTtlSeconds}]`));
  }
  const clockSkewSeconds = o.clockSkewSeconds ?? DEFAULT_CLOCK_SKEW_SECONDS;
  if (!Number.isFinite(clockSkewSeconds) || clockSkewSeconds < 0) {
    return err(new CaError("CA_TTL", `ca options: clockSkewSeconds ${clockSkewSeconds} must be >= 0`));
  }
  const leafBackdateSeconds = o.leafBackdateSeconds ?? DEFAULT_LEAF_BACKDATE_SECONDS;
  if (!Number.isFinite(leafBackdateSeconds) || leafBackdateSeconds < 0) {
    return err(new CaError("CA_TTL", `ca options: leafBackdateSeconds ${leafBackdateSeconds} must be >= 0`));
  }
  const trustDomain = o.trustDomain ?? "cluster.local";
  return ok({ trustDomain, maxTtlSeconds, defaultTtlSeconds, clockSkewSeconds, leafBackdateSeconds, now: o.now ?? (() => new Date()) });
}

export class CertificateAuthority {
  /** Issuer name and authority-key-id extension, derived once from the signing certificate. */
  private issuer?: Promise<{ name: InstanceType<typeof x509.Name>; aki: InstanceType<typeof x509.AuthorityKeyIdentifierExtension> }>;

  private constructor(
    private readonly material: SigningMaterial,
    private readonly opts: ResolvedOptions,
  ) {}

  /** A CA over already validated material (see material.ts). */
  static fromMaterial(material: SigningMaterial, options: CaOptions = {}): Result<CertificateAuthority, CaError> {
    const o = resolve(options);
    return o.ok ? ok(new CertificateAuthority(material, o.value)) : o;
  }

  /** A fresh in-memory self-signed root for `options.trustDomain`. */
  static async createSelfSigned(options: CaOptions & { rootTtlSeconds?: number } = {}): Promise<Result<CertificateAuthority, CaError>> {
    const o = resolve(options);
    if (!o.ok) return o;
    const m = await createSelfSignedRoot({
      trustDomain: o.value.trustDomain,
      ttlSeconds: options.rootTtlSeconds,
      now: o.value.now(),
      clockSkewSeconds: o.value.clockSkewSeconds,
    });
    return m.ok ? ok(new CertificateAuthority(m.value, o.value)) : m;
  }

  /** Istio `cacerts` plug-in mode: load an intermediate (or root) and its chain from `dir`. */
  static async loadCacerts(dir: string, options: CaOptions = {}): Promise<Result<CertificateAuthority, CaError>> {
    const o = resolve(options);
    if (!o.ok) return o;
    const m = await loadCacerts(dir, o.value.now());
    return m.ok ? ok(new CertificateAuthority(m.value, o.value)) : m;
  }

  /**
   * Self-signed mode with persistence: reuse the root stored in `dir`, or create one and store
   * it there, so a control-plane restart keeps the mesh's trust anchor.
   */
  static async loadOrCreateSelfSigned(
    dir: string,
    options: CaOptions & { rootTtlSeconds?: number } = {},
  ): Promise<Result<CertificateAuthority, CaError>> {
    if (await hasCacerts(dir)) return CertificateAuthority.loadCacerts(dir, options);
    const ca = await CertificateAuthority.createSelfSigned(options);
    if (!ca.ok) return ca;
    const p = await ca.value.persist(dir);
    if (!p.ok) return p;
    log.info({ dir, root: ca.value.material.cert.fingerprint256 }, "created and persisted a self-signed root");
    return ca;
  }

  /** Writes the signing material to `dir` in the cacerts layout. */
  persist(dir: string): Promise<Result<void, CaError>> {
    return persistCacerts(this.material, dir);
  }

  /** The same signing material with a different clock (tests: certificates issued "in the past"). */
  withClock(now: () => Date): CertificateAuthority {
    return new CertificateAuthority(this.material, { ...this.opts, now });
  }

  get trustDomain(): string {
    return this.opts.trustDomain;
  }

  /** Trust anchors peers must chain to. */
  get rootsPem(): readonly string[] {
    return this.material.rootsPem;
  }

  /** Signing certificate first, root last: what follows the leaf in every issued chain. */
  get signingChainPem(): readonly string[] {
    return this.material.chainPem;
  }

  get signingCertificate(): X509Certificate {
    return this.material.cert;
  }

  /** Signs `csrPem` for `req.identity`; see the module header for the certificate profile. */
  async sign(csrPem: string, req: SignRequest): Promise<Result<string[], CaError>> {
    const { identity } = req;
    if (identity.trustDomain !== this.opts.trustDomain) {
      return err(
        new CaError(
          "CA_IDENTITY",
          `sign ${toUri(identity)}: trust domain ${JSON.stringify(identity.trustDomain)} is not this ca's ${JSON.stringify(this.opts.trustDomain)}`,
        ),
      );
    }
    const ttl = req.ttlSeconds === undefined || req.ttlSeconds === 0 ? this.opts.defaultTtlSeconds : req.ttlSeconds;
    if (typeof ttl !== "number" || !Number.isFinite(ttl) || ttl <= 0) {
      return err(new CaError("CA_TTL", `sign ${toUri(identity)}: ttl ${String(req.ttlSeconds)}s must be a positive number`));
    }
    if (ttl > this.opts.maxTtlSeconds) {
      return err(new CaError("CA_TTL", `sign ${toUri(identity)}: requested ttl ${ttl}s exceeds the maximum ${this.opts.maxTtlSeconds}s`));
    }
    const csr = await checkCsr(csrPem);
    if (!csr.ok) return err(new CaError(csr.error.code, `sign ${toUri(identity)}: ${csr.error.message}`, { cause: csr.error }));
    const uri = toUri(identity);

    const now = this.opts.now().getTime();
    const signer = validity(this.material.cert);
    const backdateMs = Math.min(this.opts.leafBackdateSeconds, ttl) * 1000;
    const notBefore = new Date(Math.max(now - backdateMs, signer.notBefore.getTime()));
    let notAfter = new Date(now + Math.floor(ttl * 1000));
    if (notAfter.getTime() > signer.notAfter.getTime()) {
      log.warn(
        { identity: uri, signerNotAfter: signer.notAfter.toISOString() },
        "leaf lifetime capped at the signing certificate's expiry",
      );
      notAfter = signer.notAfter;
    }
    if (notAfter.getTime() <= now) {
      return err(new CaError("CA_SIGN", `sign ${uri}: signing certificate expired at ${signer.notAfter.toISOString()}`));
    }

    try {
      this.issuer ??= (async () => {
        const c = new x509.X509Certificate(this.material.cert.raw);
        return { name: c.subjectName, aki: await x509.AuthorityKeyIdentifierExtension.create(c.publicKey) };
      })();
      const issuer = await this.issuer;
      const leaf = await x509.X509CertificateGenerator.create({
        serialNumber: randomSerial(),
        subject: "",
        issuer: issuer.name,
        notBefore,
        notAfter,
        publicKey: await x509.PublicKey.create(csr.value.spki),
        signingKey: this.material.signingKey,
        signingAlgorithm: this.material.algorithm,
        extensions: [
          new x509.BasicConstraintsExtension(false, undefined, true),
          new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
          new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
          issuer.aki,
          new x509.SubjectAlternativeNameExtension(
            [{ type: "url", value: uri }, ...(req.dnsNames ?? []).map((value) => ({ type: "dns" as const, value }))],
            true,
          ),
        ],
      });
      return ok([leaf.toString("pem") + "\n", ...this.material.chainPem]);
    } catch (e) {
      return err(new CaError("CA_SIGN", `sign ${uri}: ${(e as Error).message}`, { cause: e }));
    }
  }
}
