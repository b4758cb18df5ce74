/**
 * The control plane's waypoint pipeline: the config store and the mesh model -> each
 * waypoint's Envoy resources (translate/routes/waypoint-resources.ts) -> the xDS resource
 * store, scoped per waypoint; and the loud reporting Istio users expect:
 *
 * - use-waypoint labels that bind nothing (translate/waypoint.ts) and services or workloads
 *   bound to a waypoint with no ready endpoint (ztunnel refuses their traffic) are logged as
 *   warnings when they appear, and listed by `problems()` (the monitor's config dump);
 * - routing problems (invalid backends, ignored VirtualServices, consumer routes) likewise.
 *
 * Status writes to Kubernetes are not done here (issue 15). Recomputation is whole (all
 * waypoints) and coalesced: many store batches in one tick become one pass.
 */
import { logger } from "../common/log.js";
import { CLUSTER_TYPE_URL, ENDPOINT_TYPE_URL, LISTENER_TYPE_URL, ROUTE_TYPE_URL } from "../common/xds/envoy-proto.js";
import type { MeshModel } from "./model/mesh.js";
import type { MeshConfig } from "./mesh-config.js";
import type { ConfigStore } from "./model/store.js";
import type { TranslateConfig } from "./translate/translate-config.js";
import { GATEWAY_KIND, waypointOf } from "./translate/waypoint.js";
import { type WaypointTranslation, WaypointTranslator } from "./translate/routes/waypoint-resources.js";
import type { WaypointResources } from "./translate/routes/envoy-types.js";
import type { WaypointAuthz } from "./waypoint-authz.js";
import type { Scoped } from "./xds/envoy-kinds.js";
import type { WaypointDirectory } from "./xds/ads-server.js";
import type { ResourceStore } from "./xds/resource-store.js";

const log = logger("controlplane.waypoints");

export interface ReportedProblem {
  readonly object: string;
  readonly field: string;
  readonly reason: string;
}

export class WaypointPipeline implements WaypointDirectory {
  private readonly translator = new WaypointTranslator();
  /** Per type URL: resource name -> JSON of what was last published (encoding is the costly part). */
  private readonly published = new Map<string, Map<string, string>>();
  private current: ReportedProblem[] = [];
  private pending = false;
  private readonly unsubscribe: Array<() => void> = [];
  waypointCount = 0;

  private started = false;

  constructor(
    private cfg: TranslateConfig,
    private readonly store: ConfigStore,
    private readonly mesh: MeshModel,
    private readonly resources: ResourceStore,
    /** AuthorizationPolicy / RequestAuthentication at waypoints (HTTP filters); none: no filters. */
    private readonly authz?: WaypointAuthz,
  ) {}

  start(): void {
    this.started = true;
    this.unsubscribe.push(this.store.subscribe(() => this.schedule()));
    if (this.authz) this.unsubscribe.push(this.authz.onKeysChanged(() => this.schedule()));
    this.unsubscribe.push(this.mesh.subscribe(() => this.schedule()));
    this.sync();
  }

  stop(): void {
    for (const u of this.unsubscribe.splice(0)) u();
  }

  /** A new mesh config (tracing and ext authz providers): every waypoint's resources are recomputed. */
  setMeshConfig(mesh: MeshConfig): void {
    this.cfg = Object.freeze({ ...this.cfg, mesh });
    this.authz?.setMeshConfig(mesh);
    if (this.started) this.schedule();
  }

  serviceAccountOf(namespace: string, name: string): string | undefined {
    const gw = this.store.get(`${GATEWAY_KIND}/${namespace}/${name}`);
    return gw ? waypointOf(this.cfg, gw)?.serviceAccount : undefined;
  }

  problems(): readonly ReportedProblem[] {
    return this.current;
  }

  private schedule(): void {
    if (this.pending) return;
    this.pending = true;
    setImmediate(() => {
      this.pending = false;
      this.sync();
    });
  }

  /** Recomputes every waypoint's resources now and publishes what changed. */
  sync(): void {
    let t: WaypointTranslation;
    try {
      this.authz?.refresh(this.store);
      t = this.translator.translate({
        cfg: this.cfg,
        store: this.store,
        services: this.mesh.services,
        workloads: this.mesh.workloads,
        ...(this.authz ? { httpFilters: this.authz.filtersFor } : {}),
      });
    } catch (e) {
      log.error({ err: (e as Error).message }, "waypoint translation failed; keeping the previous resources");
      return;
    }
    this.waypointCount = t.waypoints.size;
    const union = <T>(pick: (r: WaypointResources) => readonly T[], name: (v: T) => string): Scoped<T>[] => {
      const m = new Map<string, { value: T; scopes: string[] }>();
      for (const [wp, r] of t.waypoints) {
        for (const v of pick(r)) {
          const e = m.get(name(v));
          if (e) e.scopes.push(wp);
          else m.set(name(v), { value: v, scopes: [wp] });
        }
      }
      return [...m.values()];
    };
    const changed = [
      ...this.resources.setAll(
        LISTENER_TYPE_URL,
        union(
          (r) => r.listeners,
          (v) => v.name,
        ),
      ),
      ...this.resources.setAll(
        ROUTE_TYPE_URL,
        union(
          (r) => r.routes,
          (v) => v.name,
        ),
      ),
      ...this.resources.setAll(
        CLUSTER_TYPE_URL,
        union(
          (r) => r.clusters,
          (v) => v.name,
        ),
      ),
      ...this.resources.setAll(
        ENDPOINT_TYPE_URL,
        union(
          (r) => r.endpoints,
          (v) => v.clusterName,
        ),
      ),
    ];
    if (changed.length) log.info({ waypoints: t.waypoints.size, changed: changed.length }, "waypoint resources updated");
    this.report([...t.problems, ...(this.authz?.problems ?? []), ...this.bindingProblems(), ...this.readinessProblems()]);
  }

  /** Hands the resource store only what differs from the last publication (it encodes each upsert). */
  private publish<T>(typeUrl: string, items: Scoped<T>[], name: (v: T) => string): string[] {
    const before = this.published.get(typeUrl) ?? new Map<string, string>();
    const now = new Map<string, string>();
    const upserts: Scoped<T>[] = [];
    for (const it of items) {
      const n = name(it.value);
      const json = JSON.stringify(it);
      now.set(n, json);
      if (before.get(n) !== json) upserts.push(it);
    }
    const removals = [...before.keys()].filter((n) => !now.has(n));
    const changed = this.resources.update(typeUrl, upserts, removals);
    this.published.set(typeUrl, now); // only once the store took it (update throws on an encoding bug)
    return changed;
  }

  private bindingProblems(): ReportedProblem[] {
    return this.mesh
      .waypointProblems()
      .map((p) => ({ object: p.object, field: `metadata.labels["${p.label}"]`, reason: `${JSON.stringify(p.value)}: ${p.reason}` }));
  }

  /** Services and workloads bound to a waypoint whose service has no healthy endpoint. */
  private readinessProblems(): ReportedProblem[] {
    const ready = new Set<string>();
    for (const w of this.mesh.workloads.values()) if (w.status === "HEALTHY") for (const k of w.services.keys()) ready.add(k);
    const out: ReportedProblem[] = [];
    const check = (object: string, wp: { kind: string; namespace?: string; hostname?: string }) => {
      if (wp.kind !== "hostname" || ready.has(`${wp.namespace}/${wp.hostname}`)) return;
      out.push({
        object,
        field: 'metadata.labels["istio.io/use-waypoint"]',
        reason: `waypoint ${wp.hostname} has no ready endpoint: ztunnel refuses this traffic until it has one`,
      });
    };
    for (const s of this.mesh.services.values()) if (s.waypoint) check(`Service ${s.namespace}/${s.name}`, s.waypoint);
    for (const w of this.mesh.workloads.values()) if (w.waypoint) check(`Pod ${w.namespace}/${w.name}`, w.waypoint);
    return out;
  }

  private report(next: ReportedProblem[]): void {
    const key = (p: ReportedProblem) => `${p.object}\u0000${p.field}\u0000${p.reason}`;
    const before = new Set(this.current.map(key));
    for (const p of next) if (!before.has(key(p))) log.warn({ object: p.object, field: p.field }, p.reason);
    const now = new Set(next.map(key));
    for (const p of this.current) if (!now.has(key(p))) log.info({ object: p.object, field: p.field }, "resolved: " + p.reason);
    this.current = next;
  }
}
