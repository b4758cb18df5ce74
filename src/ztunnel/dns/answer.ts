/**
 * What ztunnel's DNS proxy answers, as a pure function of state (upstream ztunnel's
 * `Store::lookup`): a client workload asks for a name and a record type; the answer is either
 * records ztunnel is the authority for, or "forward" (ask the upstream resolver).
 *
 * - Only A and AAAA are answered; every other type is forwarded.
 * - The name is matched through its aliases and wildcards (names.ts) against service hostnames
 *   (Kubernetes Services and ServiceEntry hosts). A service without VIPs counts only when it is
 *   a Kubernetes headless service (`*.svc.<domain>`); other VIP-less hosts are forwarded (a
 *   ServiceEntry with resolution NONE or DNS and no address lets the real DNS answer).
 * - Services not visible to the client's namespace (ServiceEntry `exportTo: ["."]`) are skipped.
 *   Among several, the one in the client's namespace wins, else the first by namespace.
 * - Addresses: the service's VIPs on the client's network; for a headless service the first
 *   address of each endpoint; of the asked family only; in random order (`shuffle` injected).
 * - A known name with no address of the asked family: an empty authoritative NOERROR (not
 *   NXDOMAIN: the name exists).
 * - Found through a stripped search domain (and not through a wildcard): a CNAME from the asked
 *   name to the stripped name, and the address records under the stripped name.
 * TTL 30 s (upstream's DEFAULT_TTL_SECONDS).
 */
import { isIPv4, isIPv6 } from "node:net";
import type { Service } from "../../common/model/service.js";
import { serviceKey } from "../../common/model/service.js";
import type { Workload } from "../../common/model/workload.js";
import type { StateView } from "../../proxy/state/state.js";
import { type Alias, aliases, normalizeName, wildcards } from "./names.js";

export const DNS_TTL_SECONDS = 30;

export type DnsRecord =
  | { readonly type: "A" | "AAAA"; readonly name: string; readonly ttl: number; readonly data: string }
  | { readonly type: "CNAME"; readonly name: string; readonly ttl: number; readonly data: string };

export type DnsDecision =
  | { readonly kind: "answer"; readonly records: readonly DnsRecord[]; readonly service: Service }
  | { readonly kind: "forward"; readonly reason: "record type" | "unknown host" };

/** Services by hostname, rebuilt when the state changes. */
export class HostIndex {
  private version = -1;
  private byHost = new Map<string, Service[]>();

  constructor(private readonly state: StateView & { readonly version: number }) {}

  get(host: string): readonly Service[] {
    if (this.version !== this.state.version) {
      const m = new Map<string, Service[]>();
      for (const s of this.state.services()) {
        const h = s.hostname.toLowerCase();
        const l = m.get(h);
        if (l) l.push(s);
        else m.set(h, [s]);
      }
      this.byHost = m;
      this.version = this.state.version;
    }
    return this.byHost.get(host) ?? [];
  }
}

export interface AnswerOptions {
  readonly clusterDomain: string;
  /** Randomises address order; tests pass the identity. */
  readonly shuffle?: <T>(xs: T[]) => T[];
}

function shuffleRandom<T>(xs: T[]): T[] {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [xs[i], xs[j]] = [xs[j]!, xs[i]!];
  }
  return xs;
}

function visibleTo(s: Service, namespace: string): boolean {
  return s.visibility !== "NAMESPACE" || s.namespace === namespace;
}

interface Match {
  readonly service: Service;
  readonly alias: Alias;
  readonly wildcard: boolean;
}

export function findService(hosts: HostIndex, client: Workload, name: string, clusterDomain: string): Match | undefined {
  const svcSuffix = `.svc.${clusterDomain}`;
  for (const alias of aliases(name, client.namespace, clusterDomain)) {
    for (const candidate of wildcards(alias.name)) {
      const found = hosts
        .get(candidate)
        .filter((s) => (s.addresses.length > 0 || s.hostname.endsWith(svcSuffix)) && visibleTo(s, client.namespace));
      if (found.length === 0) continue;
      const best =
        found.find((s) => s.namespace === client.namespace) ?? [...found].sort((a, b) => (a.namespace < b.namespace ? -1 : 1))[0]!;
      return { service: best, alias, wildcard: candidate !== alias.name };
    }
  }
  return undefined;
}

function familyOf(type: "A" | "AAAA"): (ip: string) => boolean {
  return type === "A" ? isIPv4 : isIPv6;
}

export function decideAnswer(
  state: StateView,
  hosts: HostIndex,
  client: Workload,
  question: { readonly name: string; readonly type: string },
  opts: AnswerOptions,
): DnsDecision {
  if (question.type !== "A" && question.type !== "AAAA") return { kind: "forward", reason: "record type" };
  const type = question.type;
  const asked = normalizeName(question.name);
  const m = findService(hosts, client, asked, opts.clusterDomain);
  if (!m) return { kind: "forward", reason: "unknown host" };
  const fam = familyOf(type);
  let ips: string[];
  if (m.service.addresses.length > 0) {
    ips = m.service.addresses.filter((a) => a.network === client.network && fam(a.address)).map((a) => a.address);
  } else {
    ips = [];
    for (const w of state.endpointsOf(serviceKey(m.service))) {
      const ip = w.addresses.find(fam);
      if (ip !== undefined) ips.push(ip);
    }
  }
  ips = (opts.shuffle ?? shuffleRandom)(ips);
  const records: DnsRecord[] = [];
  let recordName = asked;
  if (ips.length > 0 && m.alias.stripped !== undefined && !m.wildcard) {
    records.push({ type: "CNAME", name: asked, ttl: DNS_TTL_SECONDS, data: m.alias.stripped });
    recordName = m.alias.stripped;
  }
  for (const ip of ips) records.push({ type, name: recordName, ttl: DNS_TTL_SECONDS, data: ip });
  return { kind: "answer", records, service: m.service };
}
