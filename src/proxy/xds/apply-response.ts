/**
 * Handling of one DeltaDiscoveryResponse (ztunnel's and the waypoint's), as upstream ztunnel does it
 * (src/xds/client.rs + src/xds.rs): every resource is decoded and validated on its own; the
 * valid ones and all removals are applied through the handler; the ones that fail (in the
 * codec, or refused by the state) are reported together in one NACK while the client keeps its
 * previous version of each. The known-version map (sent as initial_resource_versions on
 * reconnect) records only what was applied, so a rejected resource is asked for again after a
 * reconnect. Pure except for the handler call it is given.
 */
import type { IncomingDeltaResponse } from "../../common/xds/delta-wire.js";
import { type ResourceError, formatResourceErrors } from "../../common/xds/resource-error.js";
import type { XdsHandler } from "./handler.js";
import { type Named, type XdsSubscription, ztunnelSubscriptions } from "./subscription.js";

export interface ApplyOutcome {
  /** Rejected resources; empty means ACK. */
  readonly errors: ResourceError[];
  readonly applied: number;
  readonly removed: number;
}

/** The NACK error_detail for `errors` (google.rpc.Code INVALID_ARGUMENT = 3). */
export function nackDetail(errors: readonly ResourceError[]): { code: number; message: string } {
  return { code: 3, message: formatResourceErrors(errors) };
}

/** ztunnel's form: the response applied through its handler (Address or Authorization by type URL). */
export function applyResponse(resp: IncomingDeltaResponse, handler: XdsHandler, known: Map<string, string>): ApplyOutcome {
  const sub = ztunnelSubscriptions(handler).find((s) => s.typeUrl === resp.typeUrl) as XdsSubscription | undefined;
  if (!sub) return { errors: [{ resource: "*", field: "type_url", reason: `unexpected type ${resp.typeUrl}` }], applied: 0, removed: 0 };
  return applyDelta(resp, sub, known);
}

/** One response of `sub`'s type: decode each resource, apply the valid ones and all removals, NACK the rest. */
export function applyDelta(resp: IncomingDeltaResponse, sub: XdsSubscription, known: Map<string, string>): ApplyOutcome {
  const errors: ResourceError[] = [];
  const versions = new Map<string, string>();
  const upserts: Named<unknown>[] = [];
  for (const r of resp.resources) {
    if (!r.resource) {
      errors.push({ resource: r.name, field: "resource", reason: "missing (ttl heartbeats are not supported)" });
      continue;
    }
    if (r.resource.typeUrl !== resp.typeUrl) {
      errors.push({ resource: r.name, field: "resource.type_url", reason: `${r.resource.typeUrl} in a ${resp.typeUrl} response` });
      continue;
    }
    const d = sub.decode(r.resource.value, r.name);
    if (!d.ok) {
      errors.push(...d.error);
      continue;
    }
    upserts.push({ name: r.name, value: d.value });
    versions.set(r.name, r.version);
  }
  const removals = [...resp.removed];
  const result = sub.apply(upserts, removals);
  if (!result.ok) errors.push(...result.error);
  // Decoded resources are named by their xDS name (the codec checks it), so the state's
  // rejections can be matched to versions by name.
  const rejected = new Set(result.ok ? [] : result.error.map((e) => e.resource));
  let applied = 0;
  for (const [name, version] of versions) {
    if (rejected.has(name)) continue;
    known.set(name, version);
    applied++;
  }
  for (const name of removals) known.delete(name);
  return { errors, applied, removed: removals.length };
}
