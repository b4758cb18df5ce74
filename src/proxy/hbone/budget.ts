/**
 * A token bucket: `capacity` tokens, refilled continuously at `perSecond`. Bounds what one HBONE
 * client connection can make the server do (upstream dials, streams reset before their answer)
 * without a timer per connection: the refill is computed on each take. Pure apart from the
 * clock, which the caller passes.
 */
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    private readonly capacity: number,
    private readonly perSecond: number,
    nowMs: number,
  ) {
    this.tokens = capacity;
    this.last = nowMs;
  }

  /** Takes one token; false (and nothing taken) when the bucket is empty. */
  take(nowMs: number): boolean {
    if (nowMs > this.last) {
      this.tokens = Math.min(this.capacity, this.tokens + ((nowMs - this.last) / 1000) * this.perSecond);
      this.last = nowMs;
    }
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}
