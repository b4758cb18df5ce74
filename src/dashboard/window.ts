/**
 * Rates from scrapes: the dashboard keeps the scrapes of the last `span` milliseconds and
 * turns the oldest and the newest into per-series increases, as Prometheus's `increase()`
 * does (a counter that went down was reset: its new value is the increase; a series that
 * appeared since the oldest scrape started from zero). Pure, apart from the clock the caller
 * passes in.
 */
import type { Sample } from "./prom-text.js";

/** One scrape of every endpoint, at one time. */
export interface Scrape {
  readonly at: number;
  /** Samples per endpoint name: series from two endpoints never mix. */
  readonly byEndpoint: ReadonlyMap<string, readonly Sample[]>;
}

/** What the graph is built from: increases over `seconds`, and the latest values. */
export interface Window {
  readonly seconds: number;
  readonly increases: readonly Sample[];
  readonly current: readonly Sample[];
}

const isCounterLike = (name: string) => /_(total|bucket|count|sum)$/.test(name);

export function seriesKey(s: Sample): string {
  let k = s.name;
  for (const n of Object.keys(s.labels).sort()) k += `\u0000${n}=${s.labels[n]}`;
  return k;
}

export function increases(older: Scrape, newer: Scrape): Window {
  const out: Sample[] = [];
  const current: Sample[] = [];
  for (const [ep, samples] of newer.byEndpoint) {
    const before = new Map<string, number>();
    for (const s of older.byEndpoint.get(ep) ?? []) if (isCounterLike(s.name)) before.set(seriesKey(s), s.value);
    for (const s of samples) {
      current.push(s);
      if (!isCounterLike(s.name)) continue;
      const prev = before.get(seriesKey(s));
      const inc = prev === undefined || s.value < prev ? s.value : s.value - prev;
      if (inc > 0) out.push({ name: s.name, labels: s.labels, value: inc });
    }
  }
  return { seconds: Math.max(0.001, (newer.at - older.at) / 1000), increases: out, current };
}

/** The scrapes of the last `spanMs`, oldest first; `add` drops what fell out of the span. */
export class ScrapeRing {
  private readonly scrapes: Scrape[] = [];
  constructor(private readonly spanMs: number) {}

  add(s: Scrape): void {
    this.scrapes.push(s);
    // Keep one scrape at or before the span's start, so the window covers the whole span.
    while (this.scrapes.length > 2 && this.scrapes[1]!.at <= s.at - this.spanMs) this.scrapes.shift();
  }

  /** Undefined until two scrapes were taken. */
  window(): Window | undefined {
    if (this.scrapes.length < 2) return undefined;
    return increases(this.scrapes[0]!, this.scrapes[this.scrapes.length - 1]!);
  }

  latest(): Scrape | undefined {
    return this.scrapes[this.scrapes.length - 1];
  }
}
