/**
 * DNS name handling of ztunnel's DNS proxy, as upstream ztunnel's (src/dns/server.rs
 * get_aliases, to_kube_fqdns, get_wildcards). Pure. Names are lower case, without the trailing
 * dot.
 *
 * A client's resolver applies its search domains before asking (with `ndots:5`, `reviews` is
 * asked as `reviews.<ns>.svc.cluster.local` first, and `api.example.com` as
 * `api.example.com.<ns>.svc.cluster.local`), so a query is matched against:
 * 1. the name itself;
 * 2. its Kubernetes expansions from the client's namespace: `name` -> `name.<ns>.svc.<domain>`;
 *    `name.ns` -> `name.ns.svc.<domain>` (and `name.ns.<client ns>.svc.<domain>`);
 *    `name.ns.svc` -> `name.ns.svc.<domain>`; 3 labels -> `+.svc.<domain>`; 4 labels ending in
 *    `svc` -> `+.<domain>`;
 * 3. the name with one of the client's search domains (`<ns>.svc.<domain>`, `svc.<domain>`,
 *    `<domain>`) stripped, and that stripped name's expansions: these are "stripped" aliases,
 *    answered with a CNAME from the asked name to the stripped one.
 * Each alias is then tried as itself and as wildcards of decreasing specificity
 * (`www.example.com`, `*.example.com`, `*.com`).
 */

export interface Alias {
  readonly name: string;
  /** Set when the alias came from stripping a search domain: the stripped name (the CNAME target). */
  readonly stripped?: string;
}

export function normalizeName(name: string): string {
  const n = name.toLowerCase();
  return n.endsWith(".") ? n.slice(0, -1) : n;
}

/** Kubernetes' search domains of a pod in `namespace` (what upstream ztunnel assumes). */
export function searchDomains(namespace: string, clusterDomain: string): string[] {
  return [`${namespace}.svc.${clusterDomain}`, `svc.${clusterDomain}`, clusterDomain];
}

/** The Kubernetes FQDNs a (short) name may stand for, from a client in `namespace`. */
export function kubeFqdns(name: string, namespace: string, clusterDomain: string): string[] {
  const labels = name.split(".");
  const svcDomain = `svc.${clusterDomain}`;
  const nsDomain = `${namespace}.${svcDomain}`;
  switch (labels.length) {
    case 1:
      return [`${name}.${nsDomain}`];
    case 2:
      return [`${name}.${svcDomain}`, `${name}.${nsDomain}`];
    case 3:
      return [...(labels[2] === "svc" ? [`${name}.${clusterDomain}`] : []), `${name}.${svcDomain}`];
    case 4:
      return labels[3] === "svc" ? [`${name}.${clusterDomain}`] : [];
    default:
      return [];
  }
}

/** `name` with `domain` removed from its end, if it ends with it (and has more labels). */
export function trimDomain(name: string, domain: string): string | undefined {
  return name.endsWith(`.${domain}`) ? name.slice(0, -(domain.length + 1)) : undefined;
}

export function aliases(name: string, namespace: string, clusterDomain: string, search = searchDomains(namespace, clusterDomain)): Alias[] {
  const out: Alias[] = [];
  const seen = new Set<string>();
  const add = (a: Alias) => {
    if (seen.has(a.name)) return;
    seen.add(a.name);
    out.push(a);
  };
  add({ name });
  for (const f of kubeFqdns(name, namespace, clusterDomain)) add({ name: f });
  for (const d of search) {
    const stripped = trimDomain(name, d);
    if (stripped === undefined) continue;
    add({ name: stripped, stripped });
    for (const f of kubeFqdns(stripped, namespace, clusterDomain)) add({ name: f, stripped });
  }
  return out;
}

/** The name, then `*.` wildcards replacing ever more leading labels. */
export function wildcards(name: string): string[] {
  const out = [name];
  let rest = name;
  for (let i = rest.indexOf("."); i >= 0; i = rest.indexOf(".")) {
    rest = rest.slice(i + 1);
    out.push(`*.${rest}`);
  }
  return out;
}
