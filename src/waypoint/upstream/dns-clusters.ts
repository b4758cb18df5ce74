/**
 * The IO half of DNS clusters: resolves the targets of every STRICT_DNS / LOGICAL_DNS cluster
 * the L7 store holds, in the background, and serves their current hosts to the request path
 * (`endpointsOf`, synchronous). Started on a cluster's arrival (a cluster is served once its
 * first answer is in: before that, requests to it get 503 UH), re-resolved per
 * dns-endpoints.ts's refresh rule, stopped when the cluster goes or changes.
 *
 * Lookups go through Node's c-ares resolver (`dns.promises.Resolver`, as Envoy's c-ares one):
 * the nameservers of /etc/resolv.conf unless `servers` are given, names asked as given (no
 * search domains, no /etc/hosts: Envoy's default resolver does not use them either for fully
 * qualified names). An IP literal needs no lookup.
 */
import { Resolver } from "node:dns/promises";
import { isIP } from "node:net";
import { logger } from "../../common/log.js";
import type { Cluster, ClusterEndpoints, DnsDiscovery } from "../envoy/types.js";
import { type DnsAnswer, dnsEndpoints, lookupPlan, nextRefreshMs, sameEndpoints } from "./dns-endpoints.js";

const log = logger("waypoint.dns");

/** Looks one name up for one family; rejects on failure (NXDOMAIN, timeout, no records). */
export type LookupFamily = (hostname: string, family: 4 | 6) => Promise<DnsAnswer>;

/** Node's c-ares resolver; `servers` (`ip` or `ip:port`) replace resolv.conf's. */
export function systemLookup(servers?: readonly string[]): LookupFamily {
  const r = new Resolver({ timeout: 2000, tries: 2 });
  if (servers?.length) r.setServers([...servers]);
  return async (hostname, family) => {
    const recs = family === 4 ? await r.resolve4(hostname, { ttl: true }) : await r.resolve6(hostname, { ttl: true });
    if (recs.length === 0) throw new Error(`no ${family === 4 ? "A" : "AAAA"} records`);
    return { addresses: recs.map((x) => x.address), ttlSeconds: Math.min(...recs.map((x) => x.ttl)) };
  };
}

/** One name under a DnsDiscovery's family rule (lookupPlan). */
export async function lookupName(lookup: LookupFamily, hostname: string, dns: DnsDiscovery): Promise<DnsAnswer> {
  const name = hostname.endsWith(".") ? hostname.slice(0, -1) : hostname;
  if (isIP(name)) return { addresses: [name] };
  const plan = lookupPlan(dns.family);
  const addresses: string[] = [];
  let ttl: number | undefined;
  let lastError: unknown;
  for (const f of plan.families) {
    if (plan.fallback && addresses.length) break;
    try {
      const a = await lookup(name, f);
      addresses.push(...a.addresses);
      if (a.ttlSeconds !== undefined) ttl = ttl === undefined ? a.ttlSeconds : Math.min(ttl, a.ttlSeconds);
    } catch (e) {
      lastError = e;
    }
  }
  if (addresses.length === 0) throw lastError instanceof Error ? lastError : new Error(`${name}: no addresses`);
  return { addresses, ...(ttl !== undefined ? { ttlSeconds: ttl } : {}) };
}

interface Tracked {
  readonly cluster: Cluster;
  readonly dns: DnsDiscovery;
  readonly answers: Map<string, DnsAnswer>;
  readonly timers: Map<string, NodeJS.Timeout>;
  endpoints: ClusterEndpoints;
}

export class DnsClusters {
  private readonly tracked = new Map<string, Tracked>();
  private stopped = false;

  constructor(
    private readonly lookup: LookupFamily,
    /** Called when a cluster's host set changed (for the config dump and balancers). */
    private readonly changed: (cluster: string) => void = () => {},
  ) {}

  /** Starts, restarts or stops resolution to match the store's DNS clusters. */
  sync(clusters: readonly Cluster[]): void {
    if (this.stopped) return;
    const live = new Set<string>();
    for (const c of clusters) {
      if (c.endpointsFrom.kind !== "dns") continue;
      live.add(c.name);
      const old = this.tracked.get(c.name);
      const dns = c.endpointsFrom.dns;
      if (old && JSON.stringify(old.dns) === JSON.stringify(dns)) continue;
      if (old) this.forget(old);
      const t: Tracked = { cluster: c, dns, answers: new Map(), timers: new Map(), endpoints: dnsEndpoints(c.name, dns, new Map()) };
      this.tracked.set(c.name, t);
      for (const name of new Set(dns.targets.map((x) => x.hostname))) void this.resolve(t, name);
    }
    for (const [name, t] of this.tracked) {
      if (live.has(name)) continue;
      this.forget(t);
      this.tracked.delete(name);
    }
  }

  /** The current hosts of a DNS cluster (empty until its first answer). */
  endpointsOf(cluster: string): ClusterEndpoints | undefined {
    return this.tracked.get(cluster)?.endpoints;
  }

  /** Per cluster: each target's last answer (config dump). */
  dump(): Record<string, Record<string, DnsAnswer | null>> {
    const out: Record<string, Record<string, DnsAnswer | null>> = {};
    for (const [name, t] of this.tracked)
      out[name] = Object.fromEntries(t.dns.targets.map((x) => [x.hostname, t.answers.get(x.hostname) ?? null]));
    return out;
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.tracked.values()) this.forget(t);
    this.tracked.clear();
  }

  private forget(t: Tracked): void {
    for (const timer of t.timers.values()) clearTimeout(timer);
    t.timers.clear();
  }

  private async resolve(t: Tracked, hostname: string): Promise<void> {
    let answer: DnsAnswer | undefined;
    try {
      answer = await lookupName(this.lookup, hostname, t.dns);
    } catch (e) {
      log.warn({ cluster: t.cluster.name, hostname, err: (e as Error).message }, "DNS lookup for a cluster failed; keeping its last hosts");
    }
    if (this.stopped || this.tracked.get(t.cluster.name) !== t) return;
    if (answer) {
      t.answers.set(hostname, answer);
      const next = dnsEndpoints(t.cluster.name, t.dns, t.answers);
      if (!sameEndpoints(t.endpoints, next)) {
        t.endpoints = next;
        log.debug({ cluster: t.cluster.name, hostname, addresses: answer.addresses }, "DNS cluster hosts changed");
        this.changed(t.cluster.name);
      }
    }
    const timer = setTimeout(() => void this.resolve(t, hostname), nextRefreshMs(t.dns, answer));
    timer.unref();
    t.timers.set(hostname, timer);
  }
}
