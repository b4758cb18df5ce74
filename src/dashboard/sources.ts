/**
 * Where the dashboard's figures come from, behind one interface (`WindowSource`):
 * - `ScrapeWindowSource`: the components' own `/metrics` pages, scraped every interval and
 *   turned into increases over the last minute (window.ts);
 * - `PrometheusWindowSource`: a Prometheus server's HTTP API (`increase(...[1m])` per metric,
 *   plus the open-connection counters' current values), when one is configured.
 * IO only through the `Get` function the caller gives (the CLI reaches the local cluster's
 * network namespaces with it), so both are tested against real servers.
 */
import type { Result } from "../common/result.js";
import { parsePromText, type Sample } from "./prom-text.js";
import { ScrapeRing, type Window } from "./window.js";

/** GET `path` from the target called `name`; the answer's body. */
export type Get = (name: string, path: string) => Promise<Result<string>>;

export interface WindowResult {
  readonly window?: Window;
  readonly problems: readonly string[];
}

export interface WindowSource {
  readonly description: string;
  next(): Promise<WindowResult>;
}

export const WINDOW_MS = 60_000;

/** The endpoints to scrape: fixed, or asked before every scrape (they may be discovered again). */
export type Targets = readonly string[] | (() => readonly string[]);

export class ScrapeWindowSource implements WindowSource {
  private readonly ring = new ScrapeRing(WINDOW_MS);

  constructor(
    private readonly targetList: Targets,
    private readonly get: Get,
    private readonly now: () => number = Date.now,
  ) {}

  private get targets(): readonly string[] {
    return typeof this.targetList === "function" ? this.targetList() : this.targetList;
  }

  get description(): string {
    return `scraping ${this.targets.length} metrics endpoint(s)`;
  }

  async next(): Promise<WindowResult> {
    const problems: string[] = [];
    const byEndpoint = new Map<string, Sample[]>();
    const at = this.now();
    const targets = this.targets;
    await Promise.all(
      targets.map(async (t) => {
        const r = await this.get(t, "/metrics");
        if (!r.ok) {
          problems.push(`${t}: ${r.error.message}`);
          return;
        }
        const parsed = parsePromText(r.value);
        for (const p of parsed.problems.slice(0, 3)) problems.push(`${t} /metrics ${p}`);
        byEndpoint.set(t, parsed.samples);
      }),
    );
    // An endpoint that did not answer keeps its previous samples, so its counters do not
    // look reset (and counted again) when it answers next time.
    const prev = this.ring.latest();
    for (const t of targets) if (!byEndpoint.has(t) && prev?.byEndpoint.has(t)) byEndpoint.set(t, [...prev.byEndpoint.get(t)!]);
    this.ring.add({ at, byEndpoint });
    const window = this.ring.window();
    return window ? { window, problems } : { problems };
  }
}

/** The counters the graph reads, queried one by one (PromQL functions drop the metric name). */
export const PROMETHEUS_COUNTERS = [
  "istio_tcp_connections_opened_total",
  "istio_tcp_connections_closed_total",
  "istio_tcp_connections_failed_total",
  "istio_tcp_sent_bytes_total",
  "istio_tcp_received_bytes_total",
  "istio_requests_total",
  "istio_request_duration_milliseconds_bucket",
] as const;
const CURRENT = ["istio_tcp_connections_opened_total", "istio_tcp_connections_closed_total"] as const;

/**
 * `increase()` over the window, except for a series that appeared inside it: Prometheus does
 * not count the jump from nothing to its first sample, but Istio's counters are created at
 * their first increment, so such a series' whole value is its increase (as window.ts counts
 * it). A series already there before Prometheus started counts whole once, in its first window.
 */
export function increaseQuery(name: string, seconds: number): string {
  return `(${name} unless ${name} offset ${seconds}s) or increase(${name}[${seconds}s])`;
}

interface PromAnswer {
  status?: string;
  error?: string;
  data?: { resultType?: string; result?: Array<{ metric?: Record<string, string>; value?: [number, string] }> };
}

/** Pure: a /api/v1/query answer as samples named `name`. */
export function samplesOfQuery(name: string, body: string): Result<Sample[]> {
  let a: PromAnswer;
  try {
    a = JSON.parse(body) as PromAnswer;
  } catch {
    return { ok: false, error: new Error(`prometheus: answer for ${name} is not JSON`) };
  }
  if (a.status !== "success" || a.data?.resultType !== "vector")
    return { ok: false, error: new Error(`prometheus: query for ${name}: ${a.error ?? `status ${a.status ?? "?"}`}`) };
  const out: Sample[] = [];
  for (const r of a.data.result ?? []) {
    const v = Number(r.value?.[1]);
    if (!Number.isFinite(v)) continue;
    const { __name__: _, ...labels } = r.metric ?? {};
    out.push({ name, labels, value: v });
  }
  return { ok: true, value: out };
}

export class PrometheusWindowSource implements WindowSource {
  readonly description: string;

  constructor(
    private readonly target: string,
    private readonly get: Get,
  ) {
    this.description = `Prometheus at ${target}`;
  }

  private async query(name: string, promql: string): Promise<Result<Sample[]>> {
    const r = await this.get(this.target, `/api/v1/query?query=${encodeURIComponent(promql)}`);
    return r.ok ? samplesOfQuery(name, r.value) : r;
  }

  async next(): Promise<WindowResult> {
    const seconds = WINDOW_MS / 1000;
    const [inc, cur] = await Promise.all([
      Promise.all(PROMETHEUS_COUNTERS.map((n) => this.query(n, increaseQuery(n, seconds)))),
      Promise.all(CURRENT.map((n) => this.query(n, n))),
    ]);
    const problems: string[] = [];
    const pick = (rs: Result<Sample[]>[]) =>
      rs.flatMap((r) => {
        if (r.ok) return r.value;
        problems.push(r.error.message);
        return [];
      });
    const increases = pick(inc).filter((s) => s.value > 0);
    const current = pick(cur);
    return problems.length === inc.length + cur.length ? { problems } : { window: { seconds, increases, current }, problems };
  }
}
