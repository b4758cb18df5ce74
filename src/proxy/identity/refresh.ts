/**
 * When to renew a workload certificate and how long to wait after a failed attempt. Pure.
 *
 * Follows upstream ztunnel's SecretManager: renew at half of the certificate's lifetime; after a
 * failure retry with exponential backoff
 * (start 1 s, x2, +-20 % jitter, capped at 150 s), never later than the current certificate's
 * expiry while one is still valid. One deviation: the renewal point is pulled earlier by up to
 * `refreshJitter` of the lifetime (default 5 %), so identities issued together at start-up do
 * not all renew in the same instant (ztunnel smooths that with a fetch concurrency limit).
 *
 * The lifetime is the certificate's REAL validity from the moment it arrived: from
 * max(notBefore, receivedAt) to notAfter. A CA backdates notBefore for clock skew; counting the
 * backdated part as lifetime would put the half-life in the past for short TTLs (a 60 s TTL with
 * 60 s of backdating renewed every 0.5 s forever, issue 14).
 */

export interface RefreshPolicy {
  /** Fraction of the lifetime after notBefore at which to renew. Default 0.5. */
  readonly refreshFraction: number;
  /** Random extra fraction of the lifetime subtracted from the renewal point. Default 0.05. */
  readonly refreshJitter: number;
  /** Never schedule a renewal sooner than this after now (guards a hot loop). Default 500 ms. */
  readonly minDelayMs: number;
  /** First retry delay after a failure. Default 1000 ms. */
  readonly backoffInitialMs: number;
  readonly backoffMultiplier: number;
  /** +- fraction applied to each retry delay. Default 0.2. */
  readonly backoffJitter: number;
  /** Cap on the retry delay. Default 150 s. */
  readonly backoffMaxMs: number;
}

export const DEFAULT_REFRESH_POLICY: RefreshPolicy = Object.freeze({
  refreshFraction: 0.5,
  refreshJitter: 0.05,
  minDelayMs: 500,
  backoffInitialMs: 1000,
  backoffMultiplier: 2,
  backoffJitter: 0.2,
  backoffMaxMs: 150_000,
});

/**
 * Milliseconds from `nowMs` until a certificate valid [notBefore, notAfter], received at
 * `receivedAtMs` (default `nowMs`), should be renewed.
 */
export function renewalDelayMs(
  notBefore: Date,
  notAfter: Date,
  nowMs: number,
  p: RefreshPolicy,
  random: number,
  receivedAtMs: number = nowMs,
): number {
  const start = Math.min(notAfter.getTime(), Math.max(notBefore.getTime(), receivedAtMs));
  const lifetime = Math.max(0, notAfter.getTime() - start);
  const fraction = Math.max(0, p.refreshFraction - p.refreshJitter * random);
  const at = start + lifetime * fraction;
  return Math.max(p.minDelayMs, at - nowMs);
}

/**
 * Delay before retry number `failures` (1 for the first failure). With a still-valid current
 * certificate the retry happens no later than its expiry.
 */
export function retryDelayMs(failures: number, p: RefreshPolicy, random: number, validUntilMs?: number, nowMs?: number): number {
  const base = p.backoffInitialMs * Math.pow(p.backoffMultiplier, Math.max(0, failures - 1));
  const jittered = Math.min(p.backoffMaxMs, base) * (1 - p.backoffJitter + 2 * p.backoffJitter * random);
  let delay = Math.min(p.backoffMaxMs, jittered);
  if (validUntilMs !== undefined && nowMs !== undefined) delay = Math.min(delay, Math.max(0, validUntilMs - nowMs));
  return Math.max(p.minDelayMs, delay);
}
