/**
 * Names operators type for workloads: `IP`, `IP:PORT`, `POD`, `POD:PORT`, `NS/POD[:PORT]`, with
 * `-n NS` for a bare pod name (kubectl's rule). Resolved against the workloads a ztunnel's
 * config dump lists. Pure.
 */
import { canonicalIp, parseAddress } from "../common/net/addr.js";
import { type Result, ok, err } from "../common/result.js";

/** The fields of a dumped workload these verbs use. */
export interface DumpedWorkload {
  readonly uid: string;
  readonly name: string;
  readonly namespace: string;
  readonly addresses: readonly string[];
  readonly node: string;
  readonly trustDomain: string;
  readonly serviceAccount: string;
  readonly tunnelProtocol: string;
  readonly workloadName?: string;
  readonly status?: string;
  readonly waypoint?: unknown;
}

export type WorkloadRef =
  | { readonly kind: "ip"; readonly ip: string; readonly port?: number }
  | { readonly kind: "pod"; readonly namespace: string; readonly name: string; readonly port?: number };

export function parseWorkloadRef(text: string, namespace: string, wantPort: boolean): Result<WorkloadRef> {
  const ip = canonicalIp(text);
  if (ip) return wantPort ? err(new Error(`${text}: a port is needed (${text}:PORT)`)) : ok({ kind: "ip", ip });
  const a = parseAddress(text);
  if (a.ok) return wantPort ? ok({ kind: "ip", ip: a.value.ip, port: a.value.port }) : ok({ kind: "ip", ip: a.value.ip });
  const m = /^(?:([a-z0-9][a-z0-9.-]*)\/)?([a-z0-9][a-z0-9.-]*)(?::(\d{1,5}))?$/.exec(text);
  if (!m)
    return err(new Error(`${JSON.stringify(text)} is neither an IP address nor a pod name ([NAMESPACE/]POD${wantPort ? ":PORT" : ""})`));
  const port = m[3] === undefined ? undefined : Number(m[3]);
  if (wantPort && (port === undefined || port < 1 || port > 65535)) return err(new Error(`${text}: a port 1-65535 is needed (POD:PORT)`));
  if (!wantPort && port !== undefined) return err(new Error(`${text}: no port expected here`));
  return ok({ kind: "pod", namespace: m[1] ?? namespace, name: m[2]!, ...(port !== undefined ? { port } : {}) });
}

/** The workload a reference names (by pod name and namespace, or by any of its addresses). */
export function findWorkload(ref: WorkloadRef, workloads: readonly DumpedWorkload[]): Result<DumpedWorkload | undefined> {
  if (ref.kind === "ip") return ok(workloads.find((w) => w.addresses.includes(ref.ip)));
  const w = workloads.find((x) => x.namespace === ref.namespace && x.name === ref.name);
  return w ? ok(w) : err(new Error(`no pod ${ref.namespace}/${ref.name} in the mesh's workloads`));
}

export const workloadPrincipal = (w: DumpedWorkload): string => `${w.trustDomain}/ns/${w.namespace}/sa/${w.serviceAccount}`;
