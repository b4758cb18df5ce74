/**
 * ztunnel's certificate manager: one workload certificate per identity of the pods on this
 * node, fetched on first use, cached, renewed in the background, dropped when no local pod
 * uses the identity any more.
 *
 * Invariants:
 *  - at most one CA request per identity is in flight; concurrent `get`s share it;
 *  - a certificate is served only after its chain verified against the roots and its leaf
 *    carries exactly the requested SPIFFE identity and our key; anything else is rejected and
 *    treated as a failed fetch;
 *  - while a renewal is pending or failing, the previous certificate keeps being served until
 *    it expires (upstream SecretManager behaviour); listeners hear about every new certificate
 *    so TLS contexts can be swapped for new connections without touching open ones;
 *  - every timer is unref'd and cleared by `forget`/`close`, so the process can exit.
 */
import { createPublicKey, X509Certificate } from "node:crypto";
import { type Result, ok, err } from "../../common/result.js";
import { logger } from "../../common/log.js";
import { type Identity, sameIdentity, toUri } from "../../common/spiffe.js";
import { generateKeyAndCsr } from "../../common/tls/csr.js";
import type { WorkloadCertificate } from "../../common/tls/types.js";
import { verifyChain } from "../../common/tls/verify.js";
import { toWorkloadCertificate } from "../../common/tls/workload-cert.js";
import type { CaClient } from "./ca-client.js";
import { IdentityError } from "./errors.js";
import { DEFAULT_REFRESH_POLICY, type RefreshPolicy, renewalDelayMs, retryDelayMs } from "./refresh.js";

const log = logger("ztunnel.identity");

/** Longest setTimeout Node honours; longer waits are re-armed in steps. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export type CertState = "initializing" | "available" | "unavailable";

export interface CertificateManagerOptions {
  /** Trust anchors the returned chains must verify against (the mesh roots). */
  rootsPem: readonly string[];
  /** TTL asked of the CA. Default 24 h. */
  ttlSeconds?: number;
  refresh?: Partial<RefreshPolicy>;
  /** Clock in ms since the epoch; injectable for tests. */
  now?: () => number;
  /** Source of randomness in [0, 1) for jitter; injectable for tests. */
  random?: () => number;
}

/** Called with the identity's new certificate and the one it replaces (undefined at first issue). */
export type CertificateListener = (cert: WorkloadCertificate, previous: WorkloadCertificate | undefined) => void;

/** One row of the admin config dump. Never contains key material. */
export interface CertificateDump {
  identity: string;
  state: CertState;
  serial?: string;
  notBefore?: string;
  notAfter?: string;
  /** When the next renewal or retry is scheduled. */
  nextRefresh?: string;
  /** Consecutive failed fetches. */
  failures: number;
  lastError?: string;
}

interface Entry {
  readonly identity: Identity;
  state: CertState;
  cert?: WorkloadCertificate;
  serial?: string;
  lastError?: IdentityError;
  failures: number;
  inflight?: Promise<Result<WorkloadCertificate, IdentityError>>;
  timer?: NodeJS.Timeout;
  nextRefreshMs?: number;
  forgotten: boolean;
}

export class CertificateManager {
  private readonly entries = new Map<string, Entry>();
  private readonly listeners = new Set<CertificateListener>();
  private readonly policy: RefreshPolicy;
  private readonly ttlSeconds: number;
  private readonly now: () => number;
  private readonly random: () => number;
  private closed = false;

  constructor(
    private readonly client: CaClient,
    private readonly options: CertificateManagerOptions,
  ) {
    this.policy = { ...DEFAULT_REFRESH_POLICY, ...options.refresh };
    this.ttlSeconds = options.ttlSeconds ?? 24 * 3600;
    this.now = options.now ?? Date.now;
    this.random = options.random ?? Math.random;
    if (!(this.ttlSeconds > 0)) throw new Error(`certificate manager: ttlSeconds ${this.ttlSeconds} must be positive`);
  }

  /** The current certificate for `id`, fetching it first if needed. */
  async get(id: Identity): Promise<Result<WorkloadCertificate, IdentityError>> {
    if (this.closed) return err(new IdentityError("IDENTITY_CLOSED", `certificate ${toUri(id)}: manager closed`));
    const key = toUri(id);
    let entry = this.entries.get(key);
    if (!entry) {
      entry = { identity: id, state: "initializing", failures: 0, forgotten: false };
      this.entries.set(key, entry);
      return this.fetch(entry);
    }
    if (entry.cert && entry.cert.notAfter.getTime() > this.now()) return ok(entry.cert);
    if (entry.inflight) return entry.inflight;
    // No usable certificate and no fetch running: a retry is scheduled with backoff. Report
    // the last failure instead of hammering the CA once per connection attempt.
    return err(entry.lastError ?? new IdentityError("IDENTITY_FETCH", `certificate ${key}: expired, renewal pending`));
  }

  /** Stops managing `id` (no local workload uses it any more). */
  forget(id: Identity): void {
    const key = toUri(id);
    const entry = this.entries.get(key);
    if (!entry) return;
    entry.forgotten = true;
    if (entry.timer) clearTimeout(entry.timer);
    this.entries.delete(key);
  }

  /** Registers a listener for new certificates; returns the function that removes it. */
  onCertificate(listener: CertificateListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Managed identities, sorted, for the admin config dump. */
  dump(): CertificateDump[] {
    return [...this.entries.entries()]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([key, e]) => ({
        identity: key,
        state: e.state,
        ...(e.cert && e.serial
          ? { serial: e.serial, notBefore: e.cert.notBefore.toISOString(), notAfter: e.cert.notAfter.toISOString() }
          : {}),
        ...(e.nextRefreshMs !== undefined ? { nextRefresh: new Date(e.nextRefreshMs).toISOString() } : {}),
        failures: e.failures,
        ...(e.lastError ? { lastError: e.lastError.message } : {}),
      }));
  }

  /** Clears every timer and forgets every identity; later `get`s fail with IDENTITY_CLOSED. */
  close(): void {
    this.closed = true;
    for (const e of this.entries.values()) {
      e.forgotten = true;
      if (e.timer) clearTimeout(e.timer);
    }
    this.entries.clear();
    this.listeners.clear();
  }

  private fetch(entry: Entry): Promise<Result<WorkloadCertificate, IdentityError>> {
    if (entry.inflight) return entry.inflight;
    if (entry.timer) clearTimeout(entry.timer);
    entry.timer = undefined;
    entry.nextRefreshMs = undefined;
    const p = this.fetchOnce(entry.identity).then((r) => this.settle(entry, r));
    entry.inflight = p;
    void p.finally(() => {
      if (entry.inflight === p) entry.inflight = undefined;
    });
    return p;
  }

  /** One CA round trip and the checks on its answer. Never throws. */
  private async fetchOnce(id: Identity): Promise<Result<WorkloadCertificate, IdentityError>> {
    const uri = toUri(id);
    try {
      const { keyPem, csrPem } = await generateKeyAndCsr(id);
      const res = await this.client.createCertificate(csrPem, id, this.ttlSeconds);
      if (!res.ok) return err(new IdentityError("IDENTITY_FETCH", `certificate ${uri}: ca: ${res.error.message}`, { cause: res.error }));
      const chain = res.value;
      const v = verifyChain(chain, this.options.rootsPem, new Date(this.now()));
      if (!v.ok) {
        const code = v.error.code === "CERT_SAN" ? "IDENTITY_MISMATCH" : "IDENTITY_CHAIN";
        return err(new IdentityError(code, `certificate ${uri}: ca returned an unusable chain: ${v.error.message}`, { cause: v.error }));
      }
      if (!sameIdentity(v.value.identity, id)) {
        return err(new IdentityError("IDENTITY_MISMATCH", `certificate ${uri}: ca returned a certificate for ${toUri(v.value.identity)}`));
      }
      const leaf = new X509Certificate(chain[0]!);
      const ours = createPublicKey(keyPem).export({ type: "spki", format: "der" });
      if (!leaf.publicKey.export({ type: "spki", format: "der" }).equals(ours)) {
        return err(new IdentityError("IDENTITY_MISMATCH", `certificate ${uri}: ca returned a certificate for another key`));
      }
      return ok(toWorkloadCertificate(id, keyPem, chain, this.options.rootsPem, v.value));
    } catch (e) {
      return err(new IdentityError("IDENTITY_FETCH", `certificate ${uri}: ${(e as Error).message}`, { cause: e }));
    }
  }

  /** Applies a fetch result to the entry and schedules the next renewal or retry. */
  private settle(entry: Entry, r: Result<WorkloadCertificate, IdentityError>): Result<WorkloadCertificate, IdentityError> {
    const uri = toUri(entry.identity);
    if (entry.forgotten || this.closed) {
      return err(new IdentityError("IDENTITY_FORGOTTEN", `certificate ${uri}: identity forgotten while fetching`));
    }
    const now = this.now();
    if (r.ok) {
      const previous = entry.cert;
      entry.cert = r.value;
      entry.serial = new X509Certificate(r.value.chainPem[0]!).serialNumber;
      entry.state = "available";
      entry.failures = 0;
      entry.lastError = undefined;
      this.schedule(entry, renewalDelayMs(r.value.notBefore, r.value.notAfter, now, this.policy, this.random()));
      log.info(
        { identity: uri, serial: entry.serial, notAfter: r.value.notAfter.toISOString(), rotated: previous !== undefined },
        "certificate issued",
      );
      for (const l of [...this.listeners]) {
        try {
          l(r.value, previous);
        } catch (e) {
          log.error({ identity: uri, err: e }, "certificate listener threw");
        }
      }
      return r;
    }
    entry.failures += 1;
    entry.lastError = r.error;
    const valid = entry.cert && entry.cert.notAfter.getTime() > now ? entry.cert : undefined;
    const delay = retryDelayMs(entry.failures, this.policy, this.random(), valid?.notAfter.getTime(), now);
    this.schedule(entry, delay);
    if (valid) {
      log.warn(
        { identity: uri, err: r.error.message, retryMs: Math.round(delay), keepsUntil: valid.notAfter.toISOString() },
        "certificate renewal failed; serving the current certificate",
      );
      return ok(valid);
    }
    entry.cert = undefined;
    entry.serial = undefined;
    entry.state = "unavailable";
    log.warn({ identity: uri, err: r.error.message, retryMs: Math.round(delay), failures: entry.failures }, "certificate fetch failed");
    return r;
  }

  private schedule(entry: Entry, delayMs: number): void {
    if (entry.timer) clearTimeout(entry.timer);
    entry.nextRefreshMs = this.now() + delayMs;
    const step = Math.min(delayMs, MAX_TIMER_MS);
    entry.timer = setTimeout(() => {
      entry.timer = undefined;
      if (entry.forgotten) return;
      const remaining = (entry.nextRefreshMs ?? 0) - this.now();
      if (step === MAX_TIMER_MS && remaining > 0) this.schedule(entry, remaining);
      else void this.fetch(entry);
    }, step);
    entry.timer.unref();
  }
}
