/**
 * Exponential backoff with full jitter for reconnecting to the API server, plus an abortable
 * sleep. Pure except `sleep`: `backoffDelay` takes its random number as an argument so tests
 * can pin it.
 */

export interface BackoffPolicy {
  /** Delay ceiling of the first retry, ms. */
  readonly initialMs: number;
  /** Largest delay, ms. */
  readonly maxMs: number;
}

export const defaultBackoff: BackoffPolicy = { initialMs: 200, maxMs: 30_000 };

/**
 * Delay before retry number `attempt` (0 = first retry): uniformly random in
 * [ceiling/2, ceiling] where ceiling = min(maxMs, initialMs * 2^attempt). Half the ceiling is
 * kept as a floor so a crowd of clients still spreads out but none hammers a restarting server.
 */
export function backoffDelay(attempt: number, policy: BackoffPolicy = defaultBackoff, random: number = Math.random()): number {
  const a = Math.max(0, Math.min(attempt, 30));
  const ceiling = Math.min(policy.maxMs, policy.initialMs * 2 ** a);
  const r = Math.min(Math.max(random, 0), 1);
  return Math.round(ceiling / 2 + (ceiling / 2) * r);
}

/** Resolves after `ms`, or early (false) when the signal aborts. */
export function sleep(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const onAbort = (): void => {
      clearTimeout(t);
      resolve(false);
    };
    const t = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve(true);
    }, ms);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}
