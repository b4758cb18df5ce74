/**
 * histogram_quantile as Prometheus computes it: cumulative bucket counts by upper bound, the
 * rank q*total found by linear interpolation inside its bucket (the lowest bucket starts at 0
 * when its bound is positive); a rank in the +Inf bucket answers the highest finite bound.
 * Pure.
 */
export function histogramQuantile(q: number, buckets: ReadonlyMap<number, number>): number | undefined {
  const bs = [...buckets].sort((a, b) => a[0] - b[0]);
  const top = bs[bs.length - 1];
  if (!top || top[0] !== Infinity || top[1] <= 0 || q < 0 || q > 1) return undefined;
  const rank = q * top[1];
  let prevBound = 0;
  let prevCount = 0;
  for (let i = 0; i < bs.length; i++) {
    const [bound, count] = bs[i]!;
    if (count >= rank) {
      if (bound === Infinity) return i > 0 ? bs[i - 1]![0] : undefined;
      const lower = i === 0 && bound > 0 ? 0 : prevBound;
      if (count === prevCount) return bound;
      return lower + ((bound - lower) * (rank - prevCount)) / (count - prevCount);
    }
    prevBound = bound;
    prevCount = count;
  }
  return undefined;
}
