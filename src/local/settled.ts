/**
 * When a local cluster is settled: every ztunnel knows every pod, by every one of its addresses,
 * and holds a certificate for each enrolled pod on its node. Pure: reads a ztunnel's config dump
 * (its `workloads` and `certificates`), names what is missing.
 *
 * Why `weft local up` waits for it: the CNI agent captures a pod at CNI ADD, before the control
 * plane has read the pod's IPs and pushed its Workload. In that window a peer's ztunnel does not
 * know the address, and an address the mesh does not know is passthrough under ALLOW_ANY
 * (upstream ztunnel's rule, src/ztunnel/traffic/outbound-route.ts): a call made then crosses the
 * underlay in plaintext (the destination's ztunnel refuses it: "unknown target"). In Kubernetes a
 * client learns a pod's address from the same published status istiod reads; in the local
 * cluster the tests and users read it from the state file at once, so `up` returns only once the
 * mesh has caught up (found by test/e2e/dual-stack.test.ts failing in a loaded CI run; see
 * docs/local-cluster.md "How `up` proceeds").
 *
 * The certificates: until a ztunnel holds the certificate of a pod on its node, a first HBONE
 * connection to the pod waits for the CA (the HBONE server waits for a fetch in flight, bounded
 * by its handshake timeout); `up` waits for them too, so the cluster it hands over is ready
 * rather than ready after a CA round trip (before the server learned to wait, such a first call
 * was reset: found by test/e2e/settled.test.ts).
 */
import { canonicalIp } from "../common/net/addr.js";

export interface PodAddresses {
  readonly namespace: string;
  readonly name: string;
  readonly ip: string;
  readonly ips?: readonly string[];
}

/** `namespace/name address` of each pod address no workload in `dump` carries; [] when settled. */
export function unknownPodAddresses(dump: unknown, pods: readonly PodAddresses[]): string[] {
  const known = new Set<string>();
  const workloads = (dump as { workloads?: unknown } | null)?.workloads;
  if (Array.isArray(workloads))
    for (const w of workloads as { addresses?: unknown }[])
      if (Array.isArray(w?.addresses))
        for (const a of w.addresses as unknown[]) {
          const c = typeof a === "string" ? canonicalIp(a) : undefined;
          if (c) known.add(c);
        }
  const missing: string[] = [];
  for (const p of pods)
    for (const ip of p.ips && p.ips.length > 0 ? p.ips : [p.ip]) {
      const c = canonicalIp(ip) ?? ip;
      if (!known.has(c)) missing.push(`${p.namespace}/${p.name} ${c}`);
    }
  return missing;
}

/** `node`'s enrolled (HBONE) workloads in `dump` whose identity has no issued certificate there. */
export function missingCertificates(dump: unknown, node: string): string[] {
  const d = dump as { workloads?: unknown; certificates?: unknown } | null;
  const issued = new Set<string>();
  if (Array.isArray(d?.certificates))
    for (const c of d.certificates as { identity?: unknown; serial?: unknown }[])
      if (typeof c?.identity === "string" && typeof c.serial === "string") issued.add(c.identity);
  const missing: string[] = [];
  if (Array.isArray(d?.workloads))
    for (const w of d.workloads as Record<string, unknown>[]) {
      if (w?.node !== node || w.tunnelProtocol !== "HBONE") continue;
      const id = `spiffe://${String(w.trustDomain)}/ns/${String(w.namespace)}/sa/${String(w.serviceAccount)}`;
      if (!issued.has(id)) missing.push(`${String(w.namespace)}/${String(w.name)} certificate ${id}`);
    }
  return missing;
}
