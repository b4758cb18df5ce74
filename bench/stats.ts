/**
 * Latency summaries: exact percentiles over all recorded samples (a bench phase records a few
 * thousand, so sorting them is cheaper and more honest than a bucketed histogram). Percentiles
 * use the nearest-rank definition: p99 is the smallest sample that at least 99% of the samples
 * do not exceed.
 */

export interface LatencySummary {
  readonly count: number;
  readonly p50Us: number;
  readonly p90Us: number;
  readonly p99Us: number;
  readonly p999Us: number;
  readonly maxUs: number;
  readonly meanUs: number;
}

/** Nearest-rank percentile of ascending `sorted` (q in [0, 1]); NaN for an empty input. */
export function percentile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(q * sorted.length)));
  return sorted[rank - 1]!;
}

/** Summarises latencies given in microseconds. The input is not modified. */
export function summarize(samplesUs: ArrayLike<number>): LatencySummary {
  const sorted = Float64Array.from(samplesUs).sort();
  let sum = 0;
  for (const v of sorted) sum += v;
  return {
    count: sorted.length,
    p50Us: percentile(sorted, 0.5),
    p90Us: percentile(sorted, 0.9),
    p99Us: percentile(sorted, 0.99),
    p999Us: percentile(sorted, 0.999),
    maxUs: sorted.length ? sorted[sorted.length - 1]! : Number.NaN,
    meanUs: sorted.length ? sum / sorted.length : Number.NaN,
  };
}
