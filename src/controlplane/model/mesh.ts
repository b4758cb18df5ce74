/**
 * The mesh model: the config store translated into Workloads and Services, kept current, with
 * the lookups the control plane's servers need and a stream of deltas.
 *
 * - `workloads` (uid -> Workload) and `services` (`ns/hostname` -> Service) are the state the
 *   xDS server serves; `subscribe` reports each change as upserts and removals, in the order
 *   the store applied the batches. A delta is delivered only after the maps reflect it.
 * - `podsOnNode(node)` gives the identities the CA may sign for a ztunnel on that node: those of
 *   the enrolled (HBONE) workloads scheduled there.
 * - `addressResources(delta)` turns a delta into the resource names and values of the
 *   `istio.workload.Address` type (a workload by uid, a service as `ns/hostname`).
 *
 * The only IO is the store subscription; translation itself is pure (translate/).
 */
import type { Identity } from "../../common/spiffe.js";
import type { Service } from "../../common/model/service.js";
import { serviceKey } from "../../common/model/service.js";
import type { Workload } from "../../common/model/workload.js";
import type { Logger } from "../../common/log.js";
import { logger } from "../../common/log.js";
import type { ConfigStore, StoreChange } from "./store.js";
import type { TranslateConfig } from "../translate/translate-config.js";
import type { TranslationDelta } from "../translate/translator.js";
import { Translator } from "../translate/translator.js";
import type { WaypointProblem } from "../translate/waypoint.js";

export interface MeshDelta extends TranslationDelta {
  /** Store version this delta brings the model to. */
  readonly version: number;
}

export type MeshListener = (delta: MeshDelta) => void;

/** One `istio.workload.Address` resource: a workload or a service, with its xDS name. */
export type AddressResource = { readonly name: string; readonly workload: Workload } | { readonly name: string; readonly service: Service };

export function addressResources(delta: TranslationDelta): { upserts: AddressResource[]; removals: string[] } {
  return {
    upserts: [
      ...delta.workloads.upserted.map((w) => ({ name: w.uid, workload: w })),
      ...delta.services.upserted.map((s) => ({ name: serviceKey(s), service: s })),
    ],
    removals: [...delta.workloads.removed, ...delta.services.removed],
  };
}

export class MeshModel {
  private readonly translator: Translator;
  private readonly workloadMap = new Map<string, Workload>();
  private readonly serviceMap = new Map<string, Service>();
  /** node -> uids of workloads on it */
  private readonly byNode = new Map<string, Set<string>>();
  private readonly listeners = new Set<MeshListener>();
  private unsubscribe?: () => void;
  private readonly log: Logger = logger("controlplane.mesh");
  version = 0;
  /** Duration of the last translation pass, for metrics. */
  lastTranslateMs = 0;

  constructor(
    private readonly store: ConfigStore,
    cfg: TranslateConfig,
  ) {
    this.translator = new Translator(cfg);
  }

  /** Translates the store as it is now and follows its changes. */
  start(): void {
    if (this.unsubscribe) return;
    this.unsubscribe = this.store.subscribe((c) => this.onChange(c));
    this.applyDelta(
      this.timed(() => this.translator.full(this.store)),
      this.store.version,
    );
  }

  stop(): void {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
  }

  get workloads(): ReadonlyMap<string, Workload> {
    return this.workloadMap;
  }

  get services(): ReadonlyMap<string, Service> {
    return this.serviceMap;
  }

  /** use-waypoint labels that bind nothing (no such waypoint, wrong traffic type, not allowed). */
  waypointProblems(): WaypointProblem[] {
    return this.translator.waypointProblems();
  }

  /** Identities of the enrolled workloads scheduled on `node`, without duplicates. */
  podsOnNode(node: string): Identity[] {
    const out = new Map<string, Identity>();
    for (const uid of this.byNode.get(node) ?? []) {
      const w = this.workloadMap.get(uid);
      if (!w || w.tunnelProtocol !== "HBONE") continue;
      out.set(`${w.namespace}/${w.serviceAccount}`, {
        trustDomain: w.trustDomain,
        namespace: w.namespace,
        serviceAccount: w.serviceAccount,
      });
    }
    return [...out.values()];
  }

  /** Calls `l` with every non-empty delta; returns the unsubscribe function. */
  subscribe(l: MeshListener): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }

  private timed(f: () => TranslationDelta): TranslationDelta {
    const t0 = performance.now();
    const d = f();
    this.lastTranslateMs = performance.now() - t0;
    return d;
  }

  private onChange(c: StoreChange): void {
    let d: TranslationDelta;
    try {
      d = this.timed(() => this.translator.update(this.store, c.changed));
    } catch (e) {
      // A translation bug must not take the control plane down; the previous model stays.
      this.log.error({ err: (e as Error).message, version: c.version }, "translation failed; keeping the previous model");
      return;
    }
    this.applyDelta(d, c.version);
  }

  private applyDelta(d: TranslationDelta, version: number): void {
    for (const uid of d.workloads.removed) {
      const old = this.workloadMap.get(uid);
      if (old) this.byNode.get(old.node)?.delete(uid);
      this.workloadMap.delete(uid);
    }
    for (const w of d.workloads.upserted) {
      const old = this.workloadMap.get(w.uid);
      if (old && old.node !== w.node) this.byNode.get(old.node)?.delete(w.uid);
      this.workloadMap.set(w.uid, w);
      let s = this.byNode.get(w.node);
      if (!s) this.byNode.set(w.node, (s = new Set()));
      s.add(w.uid);
    }
    for (const k of d.services.removed) this.serviceMap.delete(k);
    for (const s of d.services.upserted) this.serviceMap.set(serviceKey(s), s);
    this.version = version;
    const empty = d.workloads.upserted.length + d.workloads.removed.length + d.services.upserted.length + d.services.removed.length === 0;
    if (empty) return;
    this.log.debug(
      {
        version,
        workloads: d.workloads.upserted.length,
        removedWorkloads: d.workloads.removed.length,
        services: d.services.upserted.length,
        removedServices: d.services.removed.length,
        ms: this.lastTranslateMs,
      },
      "mesh model updated",
    );
    const delta: MeshDelta = { ...d, version };
    for (const l of [...this.listeners]) {
      try {
        l(delta);
      } catch (e) {
        this.log.error({ err: (e as Error).message }, "mesh subscriber failed");
      }
    }
  }
}
