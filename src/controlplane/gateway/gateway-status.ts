/**
 * The status istiod writes on a waypoint Gateway and on the istio-waypoint GatewayClass, as pure
 * functions of the Gateway, its Service and the previous status (so unchanged input gives an
 * identical status and no write):
 *
 * - Gateway conditions Accepted (True, `Accepted`; fields weft ignores are named in the message),
 *   Programmed (True once the Service `<gateway>.<ns>` exists with a cluster IP; else False,
 *   `AddressNotUsable`, naming the hostname it waits for), ResolvedRefs (True);
 * - addresses: the Service's cluster IPs (IPAddress) and its hostname (Hostname): Istio reports
 *   both for waypoints; none until programmed;
 * - listeners: one entry per listener. The HBONE listener on 15008 is Accepted with no
 *   supportedKinds and 0 attachedRoutes, as istiod (routes attach to Services, not to a
 *   waypoint's listener); any other listener is not Accepted (`UnsupportedProtocol`).
 * - GatewayClass: Accepted True, "Handled by Istio controller".
 */
import type { KubeObject } from "../../kube/object.js";
import { isPlainObject } from "../../kube/validate/validate-schema.js";
import { type Condition, type WantedCondition, conditions } from "./conditions.js";

export interface GatewayStatusInput {
  readonly gateway: KubeObject;
  /** The waypoint's Service (same name and namespace), if it exists. */
  readonly service: KubeObject | undefined;
  readonly clusterDomain: string;
  /** Gateway fields weft does not honour (renderWaypoint's `ignored`). */
  readonly ignored?: readonly { readonly field: string; readonly reason: string }[];
  /** Why the controller does not deploy this Gateway (spec.addresses etc.), if so. */
  readonly unmanaged?: string;
  readonly now: string;
}

const ok = (type: string, reason: string, message: string): WantedCondition => ({ type, status: "True", reason, message });
const no = (type: string, reason: string, message: string): WantedCondition => ({ type, status: "False", reason, message });

function clusterIps(svc: KubeObject | undefined): string[] {
  const spec = svc && isPlainObject(svc.spec) ? svc.spec : {};
  const ips = Array.isArray(spec.clusterIPs) ? spec.clusterIPs : typeof spec.clusterIP === "string" ? [spec.clusterIP] : [];
  return ips.filter((ip): ip is string => typeof ip === "string" && ip !== "" && ip !== "None");
}

export function gatewayStatus(input: GatewayStatusInput): Record<string, unknown> {
  const gw = input.gateway;
  const prev = isPlainObject(gw.status) ? gw.status : {};
  const gen = gw.metadata.generation;
  const ns = gw.metadata.namespace ?? "";
  const host = `${gw.metadata.name}.${ns}.svc.${input.clusterDomain}`;
  const spec = isPlainObject(gw.spec) ? gw.spec : {};
  const listeners = (Array.isArray(spec.listeners) ? spec.listeners : []).filter(isPlainObject);
  const ips = clusterIps(input.service);
  const hbonePort = listeners.find((l) => l.protocol === "HBONE")?.port ?? 15008;

  const notes = [
    ...(input.ignored ?? []).map((i) => `${i.field} ignored: ${i.reason}`),
    ...(input.unmanaged ? [`not deployed by the control plane: ${input.unmanaged}`] : []),
  ];
  const wanted = [
    ok("Accepted", "Accepted", ["Resource accepted", ...notes].join("; ")),
    ips.length > 0
      ? ok("Programmed", "Programmed", `Resource programmed, assigned to service(s) ${host}:${String(hbonePort)}`)
      : no("Programmed", "AddressNotUsable", `Failed to assign to any requested addresses: hostname "${host}" not found`),
    ok("ResolvedRefs", "ResolvedRefs", "All references resolved"),
  ];
  const prevListeners = new Map<string, unknown>();
  for (const l of Array.isArray(prev.listeners) ? prev.listeners : [])
    if (isPlainObject(l) && typeof l.name === "string") prevListeners.set(l.name, l.conditions);
  const listenerStatus = listeners.map((l) => {
    const name = String(l.name ?? "");
    const expected = l.port === 15008 && l.protocol === "HBONE";
    const lc = [
      expected
        ? ok("Accepted", "Accepted", "No errors found")
        : no("Accepted", "UnsupportedProtocol", 'Expected a single listener on port 15008 with protocol "HBONE"'),
      no("Conflicted", "NoConflicts", "No errors found"),
      ok("Programmed", "Programmed", "No errors found"),
      ok("ResolvedRefs", "ResolvedRefs", "No errors found"),
    ];
    return {
      name,
      supportedKinds: [],
      attachedRoutes: 0,
      conditions: conditions(lc, prevListeners.get(name), gen, input.now),
    };
  });
  // Istio: do not report an address until programmed.
  const addresses = ips.length > 0 ? [...ips.map((value) => ({ type: "IPAddress", value })), { type: "Hostname", value: host }] : [];
  return {
    ...(addresses.length ? { addresses } : {}),
    conditions: conditions(wanted, prev.conditions, gen, input.now),
    listeners: listenerStatus,
  };
}

export function gatewayClassStatus(gc: KubeObject, now: string): { conditions: Condition[] } {
  const prev = isPlainObject(gc.status) ? gc.status : {};
  return {
    conditions: conditions([ok("Accepted", "Accepted", "Handled by Istio controller")], prev.conditions, gc.metadata.generation, now),
  };
}
