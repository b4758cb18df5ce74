/**
 * Which service an inbound connection was for, for destination_service on the receiving side
 * (upstream ztunnel's guess_inbound_service): the services the destination workload backs are
 * the candidates, so a peer cannot name an arbitrary one. First the one the client named in
 * `forwarded: host=`, then the first whose port maps to the dialled target port (directly, or
 * through the workload's own port mapping for named target ports). Pure.
 */
import type { Service } from "../../common/model/service.js";
import type { Workload } from "../../common/model/workload.js";

export function guessInboundService(
  lookup: (key: string) => Service | undefined,
  destination: Workload,
  targetPort: number,
  forwardedHost?: string,
): Service | undefined {
  const candidates: Array<[Service, readonly { servicePort: number; targetPort: number }[]]> = [];
  for (const [key, mappings] of destination.services) {
    const s = lookup(key);
    if (s) candidates.push([s, mappings]);
  }
  if (forwardedHost) {
    const named = candidates.find(([s]) => s.hostname === forwardedHost);
    if (named) return named[0];
  }
  const hit = candidates.find(
    ([s, mappings]) =>
      s.ports.some((p) => p.targetPort === targetPort) ||
      mappings.some((m) => (m.targetPort || m.servicePort) === targetPort && s.ports.some((p) => p.servicePort === m.servicePort)),
  );
  return hit?.[0];
}
