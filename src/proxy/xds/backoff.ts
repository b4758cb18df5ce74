/**
 * Reconnect delays for the control-plane stream: exponential from `initialMs` to `maxMs` with
 * "equal jitter" (half fixed, half random), so a fleet of ztunnels that lost the control plane
 * together does not reconnect in lockstep. Pure: randomness is an argument.
 */
export interface BackoffPolicy {
  readonly initialMs: number;
  readonly maxMs: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = Object.freeze({ initialMs: 100, maxMs: 15_000 });

/** Delay before reconnect attempt number `attempt` (0-based), `random` in [0, 1). */
export function backoffDelayMs(attempt: number, p: BackoffPolicy, random: number): number {
  const ceiling = Math.min(p.maxMs, p.initialMs * 2 ** Math.min(attempt, 30));
  return Math.round(ceiling / 2 + (ceiling / 2) * random);
}
