/**
 * Local rate limiting, as Envoy's local rate limit filter applies a virtual host's
 * LocalRateLimit: a token bucket that starts full (`max_tokens`) and gains `tokens_per_fill`
 * every `fill_interval` up to the maximum; a request takes one token when the filter is enabled
 * for it (`filter_enabled`), and is answered locally when none is left and the limit is
 * enforced for it (`filter_enforced`): the configured status (429), body `local_rate_limited`,
 * flag `RL`, and with `enable_x_ratelimit_headers` the x-ratelimit-limit / -remaining / -reset
 * headers. Buckets live as long as their decoded policy (a new config starts a full bucket).
 * Pure: time and the draws are injected.
 */
import type { RateLimitPolicy } from "../envoy/types.js";

export const RATE_LIMITED_BODY = "local_rate_limited";

export class TokenBucket {
  private tokens: number;
  private lastFill: number;

  constructor(
    private readonly p: RateLimitPolicy,
    now: number,
  ) {
    this.tokens = p.maxTokens;
    this.lastFill = now;
  }

  private refill(now: number): void {
    const fills = Math.floor((now - this.lastFill) / this.p.fillIntervalMs);
    if (fills <= 0) return;
    this.tokens = Math.min(this.p.maxTokens, this.tokens + fills * this.p.tokensPerFill);
    this.lastFill += fills * this.p.fillIntervalMs;
  }

  /** Takes a token if one is left; reports what is left and when the next fill comes. */
  take(now: number): { readonly ok: boolean; readonly remaining: number; readonly resetMs: number } {
    this.refill(now);
    const ok = this.tokens > 0;
    if (ok) this.tokens--;
    return { ok, remaining: this.tokens, resetMs: this.lastFill + this.p.fillIntervalMs - now };
  }
}

export type RateDecision =
  | { readonly kind: "pass"; readonly headers: Readonly<Record<string, string>> }
  | { readonly kind: "limit"; readonly status: number; readonly headers: Readonly<Record<string, string>> };

/** The decision for one request against `p` (buckets per policy object). */
export class RateLimiters {
  private readonly buckets = new WeakMap<RateLimitPolicy, TokenBucket>();

  decide(p: RateLimitPolicy, now: number, random: () => number): RateDecision {
    if (!(p.enabled > 0 && random() < p.enabled)) return { kind: "pass", headers: {} };
    let b = this.buckets.get(p);
    if (!b) {
      b = new TokenBucket(p, now);
      this.buckets.set(p, b);
    }
    const t = b.take(now);
    const headers: Record<string, string> = p.xRateLimitHeaders
      ? {
          "x-ratelimit-limit": String(p.maxTokens),
          "x-ratelimit-remaining": String(t.remaining),
          "x-ratelimit-reset": String(Math.ceil(t.resetMs / 1000)),
        }
      : {};
    if (t.ok || !(p.enforced > 0 && random() < p.enforced)) return { kind: "pass", headers };
    return { kind: "limit", status: p.status, headers };
  }
}
