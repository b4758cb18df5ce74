/**
 * The control plane's Kubernetes writer for ambient Gateways, like istiod's deployment and
 * status controllers (runs only with the Kubernetes source; the local cluster runs its own
 * waypoints):
 *
 * - Deployment controller (`--manage-waypoints`): for every Gateway of a waypoint class, the
 *   ServiceAccount, Deployment and Service of waypoint-deployment.ts are server-side applied,
 *   again whenever what they render to changes (and every resync, so a deleted Deployment comes
 *   back); an existing object without `gateway.istio.io/managed` is never taken over (istiod's
 *   canManage). The `istio-ca-root-cert` ConfigMap the pods mount is applied in each namespace
 *   holding one. The istio-waypoint GatewayClass is created when absent. When a Gateway is
 *   deleted, the garbage collector removes what it owns (ownerReferences); the controller also
 *   deletes the Deployment and Service itself (and the ServiceAccount when no other managed
 *   Gateway uses it), so cleanup also happens without a kube-controller-manager.
 * - Status (`--gateway-status`): Gateway, GatewayClass and HTTPRoute/GRPCRoute status
 *   (gateway-status.ts, route-status.ts) written to the status subresource only when it differs
 *   from what the object holds, and never twice with the same content while the watch has not
 *   yet delivered the first write (no write storms).
 *
 * Passes are coalesced (many store batches -> one pass) and serialized. A failed write is
 * logged and retried by a pass `retryMs` later.
 */
import { logger } from "../../common/log.js";
import type { KubeObject } from "../../kube/object.js";
import { isPlainObject } from "../../kube/validate/validate-schema.js";
import type { ConfigStore } from "../model/store.js";
import { GATEWAY_KIND } from "../translate/waypoint.js";
import { GRPCROUTE_KIND, HTTPROUTE_KIND } from "../translate/routes/waypoint-resources.js";
import { kubeTime, sameJson } from "./conditions.js";
import { gatewayClassStatus, gatewayStatus } from "./gateway-status.js";
import type { KubeWriter, StatusTarget } from "./kube-writer.js";
import { MANAGED_LABEL, MANAGED_VALUE, MESH_CONTROLLER, WAYPOINT_CLASS } from "./labels.js";
import { routeParents } from "./route-status.js";
import { ROOT_CERT_CONFIGMAP, ROOT_CERT_KEY, type WaypointDeploymentSettings, renderWaypoint } from "./waypoint-deployment.js";

const log = logger("controlplane.gateway");

export interface GatewayControllerOptions {
  readonly store: ConfigStore;
  readonly writer: KubeWriter;
  readonly manageWaypoints: boolean;
  readonly writeStatus: boolean;
  readonly deployment: WaypointDeploymentSettings;
  readonly waypointClasses: readonly string[];
  readonly clusterDomain: string;
  /** Istio revision this control plane serves ("" = all). */
  readonly revision: string;
  /** PEM of the mesh roots for `istio-ca-root-cert`. */
  readonly rootsPem: () => readonly string[];
  readonly resyncMs?: number;
  readonly retryMs?: number;
}

const GW_GROUP = "gateway.networking.k8s.io";
type Written = { readonly rv: string; readonly content: string };

/** A status without transition times: what decides whether a write is a repeat. */
function content(status: unknown): string {
  return JSON.stringify(status, (k, v: unknown) => (k === "lastTransitionTime" ? undefined : v));
}

export class GatewayController {
  /** Object key -> JSON last applied. */
  private readonly applied = new Map<string, string>();
  /** Gateway `ns/name` -> the keys of what was applied for it (for deletion). */
  private readonly owned = new Map<string, { serviceAccount: string; keys: string[] }>();
  private readonly statusWritten = new Map<string, Written>();
  private unsubscribe: (() => void) | undefined;
  private timers = new Set<NodeJS.Timeout>();
  private running: Promise<void> | undefined;
  private retry: NodeJS.Timeout | undefined;
  private again = false;
  private stopped = false;
  private classChecked = false;
  private classStatusDone = false;
  /** Passes run so far (tests wait on it). */
  passes = 0;

  constructor(private readonly o: GatewayControllerOptions) {}

  start(): void {
    this.unsubscribe = this.o.store.subscribe(() => this.schedule());
    const resync = setInterval(() => {
      this.applied.clear();
      this.classChecked = false;
      this.classStatusDone = false;
      this.schedule();
    }, this.o.resyncMs ?? 60_000);
    resync.unref();
    this.timers.add(resync);
    this.schedule();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.unsubscribe?.();
    for (const t of this.timers) clearTimeout(t);
    await this.running;
  }

  /** Resolves once a pass that started after this call has finished. */
  async settled(): Promise<void> {
    this.schedule();
    while (this.running) await this.running;
  }

  private schedule(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = (async () => {
      do {
        this.again = false;
        await new Promise((r) => setImmediate(r));
        await this.pass().catch((e: unknown) => log.error({ err: (e as Error).message }, "gateway controller pass failed"));
        this.passes++;
      } while (this.again && !this.stopped);
      this.running = undefined;
    })();
  }

  /** One retry pass at a time, however many writes failed. */
  private retryLater(): void {
    if (this.retry || this.stopped) return;
    const t = setTimeout(() => {
      this.timers.delete(t);
      this.retry = undefined;
      this.schedule();
    }, this.o.retryMs ?? 5000);
    t.unref();
    this.retry = t;
    this.timers.add(t);
  }

  private mine(gw: KubeObject): boolean {
    const spec = isPlainObject(gw.spec) ? gw.spec : {};
    if (typeof spec.gatewayClassName !== "string" || !this.o.waypointClasses.includes(spec.gatewayClassName)) return false;
    return !this.o.revision || gw.metadata.labels?.["istio.io/rev"] === this.o.revision;
  }

  private async pass(): Promise<void> {
    const gateways = this.o.store.list(GATEWAY_KIND).filter((g) => this.mine(g));
    const ignored = new Map<string, readonly { field: string; reason: string }[]>();
    const unmanaged = new Map<string, string>();
    if (this.o.manageWaypoints) {
      await this.ensureClass();
      const namespaces = new Set<string>();
      const live = new Set<string>();
      for (const gw of gateways) {
        const key = `${gw.metadata.namespace ?? ""}/${gw.metadata.name}`;
        const d = renderWaypoint(gw, this.o.deployment);
        if (d.kind === "unmanaged") {
          unmanaged.set(key, d.reason);
          continue;
        }
        live.add(key);
        ignored.set(key, d.ignored);
        for (const i of d.ignored) log.warn({ gateway: key, field: i.field }, i.reason);
        namespaces.add(gw.metadata.namespace ?? "");
        const keys: string[] = [];
        for (const obj of d.objects) {
          keys.push(`${obj.apiVersion}/${obj.kind}/${obj.metadata.namespace}/${obj.metadata.name}`);
          await this.applyOwned(obj, key);
        }
        this.owned.set(key, { serviceAccount: d.serviceAccount, keys });
      }
      await this.removeDeleted(live);
      for (const ns of namespaces) await this.applyRootCert(ns);
    }
    if (this.o.writeStatus) {
      await this.classStatus();
      const now = kubeTime(new Date());
      for (const gw of gateways) {
        const key = `${gw.metadata.namespace ?? ""}/${gw.metadata.name}`;
        const svc = this.o.store.get(`/Service/${gw.metadata.namespace ?? ""}/${gw.metadata.name}`);
        const status = gatewayStatus({
          gateway: gw,
          service: svc,
          clusterDomain: this.o.clusterDomain,
          ignored: ignored.get(key) ?? [],
          ...(unmanaged.has(key) ? { unmanaged: unmanaged.get(key)! } : {}),
          now,
        });
        await this.writeStatus(gw, { group: GW_GROUP, version: "v1", plural: "gateways" }, status);
      }
      for (const [kind, plural] of [
        [HTTPROUTE_KIND, "httproutes"],
        [GRPCROUTE_KIND, "grpcroutes"],
      ] as const) {
        for (const r of this.o.store.list(kind)) {
          const parents = routeParents({
            route: r,
            store: this.o.store,
            clusterDomain: this.o.clusterDomain,
            waypointClasses: this.o.waypointClasses,
            now,
          });
          const prev = isPlainObject(r.status) ? r.status : {};
          if ((Array.isArray(prev.parents) ? prev.parents : []).length === 0 && parents.length === 0) continue;
          await this.writeStatus(r, { group: GW_GROUP, version: "v1", plural }, { ...prev, parents });
        }
      }
    }
  }

  /** Applies one object of a Gateway unless it exists unmanaged (istiod's canManage). */
  private async applyOwned(obj: KubeObject, gateway: string): Promise<void> {
    const key = `${obj.apiVersion}/${obj.kind}/${obj.metadata.namespace}/${obj.metadata.name}`;
    const json = JSON.stringify(obj);
    if (this.applied.get(key) === json) return;
    const existing = await this.o.writer.read(obj.apiVersion, obj.kind, obj.metadata.namespace, obj.metadata.name);
    if (!existing.ok) {
      log.warn({ gateway, err: existing.error.message }, "cannot read waypoint object");
      return this.retryLater();
    }
    if (existing.value && existing.value.metadata.labels?.[MANAGED_LABEL] === undefined) {
      log.warn({ gateway, object: key }, `not managing ${obj.kind} ${obj.metadata.name}: it exists without the ${MANAGED_LABEL} label`);
      this.applied.set(key, json);
      return;
    }
    const r = await this.o.writer.apply(obj);
    if (!r.ok) {
      log.warn({ gateway, err: r.error.message }, "waypoint apply failed");
      return this.retryLater();
    }
    this.applied.set(key, json);
    log.info({ gateway, object: key }, "waypoint object applied");
  }

  /** Cleanup for Gateways that are gone (the garbage collector does the same through ownerReferences). */
  private async removeDeleted(live: ReadonlySet<string>): Promise<void> {
    for (const [gateway, { serviceAccount, keys }] of [...this.owned]) {
      if (live.has(gateway) || this.o.store.get(`${GATEWAY_KIND}/${gateway}`)) continue;
      const [ns] = gateway.split("/");
      const saShared = [...this.owned].some(
        ([g, o]) => g !== gateway && live.has(g) && g.startsWith(`${ns}/`) && o.serviceAccount === serviceAccount,
      );
      for (const key of keys) {
        const parts = key.split("/");
        const [name, namespace, kind] = [parts.pop()!, parts.pop()!, parts.pop()!];
        if (kind === "ServiceAccount" && saShared) continue;
        const r = await this.o.writer.delete(parts.join("/"), kind, namespace, name);
        if (!r.ok) {
          log.warn({ gateway, err: r.error.message }, "waypoint cleanup failed");
          this.retryLater();
          return;
        }
        this.applied.delete(key);
      }
      this.owned.delete(gateway);
      log.info({ gateway }, "waypoint objects deleted with their Gateway");
    }
  }

  private async applyRootCert(namespace: string): Promise<void> {
    const roots = this.o.rootsPem();
    if (roots.length === 0) return;
    await this.applyOwned(
      {
        apiVersion: "v1",
        kind: "ConfigMap",
        metadata: { name: ROOT_CERT_CONFIGMAP, namespace, labels: { "istio.io/config": "true", [MANAGED_LABEL]: MANAGED_VALUE } },
        data: { [ROOT_CERT_KEY]: roots.join("") },
      },
      `${namespace}/*`,
    );
  }

  /** The istio-waypoint GatewayClass, created once when absent (istiod's built-in classes). */
  private async ensureClass(): Promise<void> {
    if (this.classChecked) return;
    const r = await this.o.writer.createIfAbsent({
      apiVersion: `${GW_GROUP}/v1`,
      kind: "GatewayClass",
      metadata: { name: WAYPOINT_CLASS },
      spec: { controllerName: MESH_CONTROLLER, description: "The default Istio waypoint GatewayClass" },
    });
    if (!r.ok) {
      log.warn({ err: r.error.message }, "GatewayClass istio-waypoint");
      return this.retryLater();
    }
    if (r.value === "created") log.info("GatewayClass istio-waypoint created");
    this.classChecked = true;
  }

  /** Once, and again at each resync: the class is not watched. */
  private async classStatus(): Promise<void> {
    if (this.classStatusDone) return;
    const r = await this.o.writer.read(`${GW_GROUP}/v1`, "GatewayClass", undefined, WAYPOINT_CLASS);
    if (!r.ok) {
      log.warn({ err: r.error.message }, "GatewayClass istio-waypoint");
      return this.retryLater();
    }
    const gc = r.value;
    this.classStatusDone = true;
    if (!gc || !isPlainObject(gc.spec) || gc.spec.controllerName !== MESH_CONTROLLER) return;
    const ok = await this.writeStatus(
      gc,
      { group: GW_GROUP, version: "v1", plural: "gatewayclasses" },
      gatewayClassStatus(gc, kubeTime(new Date())),
    );
    if (!ok) this.classStatusDone = false;
  }

  /** Writes `status` when it differs; false when the write failed. */
  private async writeStatus(o: KubeObject, t: Omit<StatusTarget, "name" | "namespace">, status: Record<string, unknown>): Promise<boolean> {
    const prev = isPlainObject(o.status) ? o.status : {};
    if (sameJson(prev, status)) return true;
    const key = `${t.plural}/${o.metadata.namespace ?? ""}/${o.metadata.name}`;
    const rv = o.metadata.resourceVersion ?? "";
    const c = content(status);
    const last = this.statusWritten.get(key);
    // Written already from this very version: the watch has not delivered our write yet.
    if (last && last.rv === rv && last.content === c) return true;
    const target: StatusTarget = { ...t, name: o.metadata.name, ...(o.metadata.namespace ? { namespace: o.metadata.namespace } : {}) };
    const r = await this.o.writer.patchStatus(target, status, prev, rv || undefined);
    if (!r.ok) {
      // 409: the object changed meanwhile; its watch event brings a new pass.
      if (r.error.httpStatus !== 409) {
        log.warn({ object: key, err: r.error.message }, "status write failed");
        this.retryLater();
      }
      return false;
    }
    this.statusWritten.set(key, { rv, content: c });
    log.debug({ object: key }, "status written");
    return true;
  }
}
