/**
 * What the mesh holds, read from ztunnels' `/config_dump` answers (the same on every node for
 * workloads, services and policies; certificates are per node): the graph's nodes exist before
 * any traffic, and a click on one shows its identity, certificate expiry and policies. Pure:
 * the caller fetches, this only reads JSON it cannot trust (fields of the wrong type are left
 * out, never thrown on).
 */
export interface InventoryWorkload {
  readonly uid: string;
  readonly pod: string;
  readonly namespace: string;
  readonly workloadName: string;
  readonly identity: string;
  readonly node: string;
  readonly addresses: readonly string[];
  readonly app: string;
  readonly version: string;
  readonly policies: readonly string[];
  readonly waypoint?: string;
  readonly protocol: string;
}

export interface InventoryPolicy {
  readonly namespace: string;
  readonly name: string;
  readonly action: string;
  readonly scope: string;
}

export interface InventoryService {
  readonly namespace: string;
  readonly name: string;
  readonly hostname: string;
  readonly addresses: readonly string[];
  readonly waypoint?: string;
}

export interface InventoryCertificate {
  readonly identity: string;
  readonly node: string;
  readonly state: string;
  readonly notAfter?: string;
}

export interface Inventory {
  readonly workloads: readonly InventoryWorkload[];
  readonly services: readonly InventoryService[];
  readonly policies: readonly InventoryPolicy[];
  readonly certificates: readonly InventoryCertificate[];
}

export const EMPTY_INVENTORY: Inventory = { workloads: [], services: [], policies: [], certificates: [] };

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);
const str = (v: unknown): string => (typeof v === "string" ? v : typeof v === "number" ? String(v) : "");
const list = (v: unknown): Obj[] => (Array.isArray(v) ? v.filter(isObj) : []);
const strings = (v: unknown): string[] => (Array.isArray(v) ? v.map(str).filter((s) => s !== "") : []);

function waypointOf(v: unknown): string | undefined {
  if (!isObj(v)) return undefined;
  return str(v.hostname) || str(v.address) || undefined;
}

function serviceAddresses(v: unknown): string[] {
  return list(v)
    .map((a) => str(a.address))
    .filter((a) => a !== "");
}

/** Every ztunnel's config dump (by node name), merged: one entry per workload uid, service, policy. */
export function inventoryOf(dumps: ReadonlyMap<string, unknown>): Inventory {
  const workloads = new Map<string, InventoryWorkload>();
  const services = new Map<string, InventoryService>();
  const policies = new Map<string, InventoryPolicy>();
  const certificates: InventoryCertificate[] = [];
  for (const [node, dump] of dumps) {
    if (!isObj(dump)) continue;
    for (const w of list(dump.workloads)) {
      const uid = str(w.uid);
      if (!uid || workloads.has(uid)) continue;
      const ns = str(w.namespace);
      const waypoint = waypointOf(w.waypoint);
      workloads.set(uid, {
        uid,
        pod: str(w.name),
        namespace: ns,
        workloadName: str(w.workloadName) || str(w.name),
        identity: `spiffe://${str(w.trustDomain) || "cluster.local"}/ns/${ns}/sa/${str(w.serviceAccount) || "default"}`,
        node: str(w.node),
        addresses: strings(w.addresses),
        app: str(w.canonicalName),
        version: str(w.canonicalRevision),
        policies: strings(w.authorizationPolicies),
        protocol: str(w.tunnelProtocol),
        ...(waypoint ? { waypoint } : {}),
      });
    }
    for (const s of list(dump.services)) {
      const hostname = str(s.hostname);
      if (!hostname || services.has(hostname)) continue;
      const waypoint = waypointOf(s.waypoint);
      services.set(hostname, {
        namespace: str(s.namespace),
        name: str(s.name),
        hostname,
        addresses: serviceAddresses(s.addresses),
        ...(waypoint ? { waypoint } : {}),
      });
    }
    for (const p of list(dump.policies)) {
      const key = `${str(p.namespace)}/${str(p.name)}`;
      if (!policies.has(key))
        policies.set(key, { namespace: str(p.namespace), name: str(p.name), action: str(p.action), scope: str(p.scope) });
    }
    for (const c of list(dump.certificates)) {
      const notAfter = str(c.notAfter);
      certificates.push({ identity: str(c.identity), node, state: str(c.state), ...(notAfter ? { notAfter } : {}) });
    }
  }
  return { workloads: [...workloads.values()], services: [...services.values()], policies: [...policies.values()], certificates };
}

/**
 * The policies that apply to a workload, as ztunnel binds them: those its selector bound
 * (`authorizationPolicies`), its namespace's namespace-wide ones, and the root namespace's
 * global ones.
 */
export function policiesFor(w: InventoryWorkload, all: readonly InventoryPolicy[]): InventoryPolicy[] {
  const bound = new Set(w.policies);
  return all.filter(
    (p) => bound.has(`${p.namespace}/${p.name}`) || (p.scope === "NAMESPACE" && p.namespace === w.namespace) || p.scope === "GLOBAL",
  );
}
