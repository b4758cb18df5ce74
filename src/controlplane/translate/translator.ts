/**
 * Incremental translation from the config store to the mesh model: given the keys a store
 * batch changed, recompute only the pods and services they can affect, and return what really
 * changed (an upsert whose result is identical to the previous one is dropped).
 *
 * What a change reaches:
 * - a Pod: itself;
 * - a Service: itself and the pods its old or new selector matches;
 * - a Namespace: every pod and service in it (enrollment and waypoint labels);
 * - a Node: the pods last seen on it (locality);
 * - an AuthorizationPolicy or PeerAuthentication: the pods of its namespace (all pods when it
 *   lives in the root namespace);
 * - a Gateway: everything (a waypoint may be used from any namespace; gateways change rarely);
 * - a ServiceEntry, WorkloadEntry or EndpointSlice (and a Service, Namespace or policy): the
 *   whole mesh edge (mesh-edge.ts), the pods an entry's old or new workloadSelector matches and
 *   the pods selector-less Services' slices name.
 *
 * No IO; the only state is the previous output, kept to compute deltas.
 */
import type { Service } from "../../common/model/service.js";
import type { Workload } from "../../common/model/workload.js";
import type { KubeObject } from "../../kube/object.js";
import type { ReadStore } from "../model/store.js";
import { parseKey } from "../model/store.js";
import { isPlainObject } from "../../kube/validate/validate-schema.js";
import type { TranslateConfig } from "./translate-config.js";
import { podUid, serviceHostname } from "./translate-config.js";
import { GATEWAY_KIND, WaypointIndex, type WaypointProblem } from "./waypoint.js";
import { SERVICE_KIND, serviceSpec, translateService } from "./service.js";
import { POD_KIND, selectorMatches, translatePod } from "./workload.js";
import { ENDPOINT_SLICE_KIND, MeshEdge, SERVICE_ENTRY_KIND, WORKLOAD_ENTRY_KIND } from "./mesh-edge.js";

export interface Delta<T> {
  readonly upserted: readonly T[];
  /** Resource names: workload uids, or `ns/hostname` for services. */
  readonly removed: readonly string[];
}

export interface TranslationDelta {
  readonly workloads: Delta<Workload>;
  readonly services: Delta<Service>;
}

const NAMESPACE_KIND = "/Namespace";
const NODE_KIND = "/Node";
const AUTHZ_KIND = "security.istio.io/AuthorizationPolicy";
const PEERAUTHN_KIND = "security.istio.io/PeerAuthentication";

/** JSON of a model object with Maps as sorted entry lists: equal content, equal string. */
export function modelJson(v: unknown): string {
  return JSON.stringify(v, (_k, val: unknown) =>
    val instanceof Map ? [...(val as Map<string, unknown>).entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)) : val,
  );
}

interface Out<T> {
  readonly value: T;
  /** modelJson(value), computed when first needed (a first full translation needs none). */
  json?: string;
}

/** Default policy binding: selector AuthorizationPolicies of the namespace and the root namespace. */
export function selectorPolicies(
  store: ReadStore,
  rootNamespace: string,
  namespace: string,
  labels: Readonly<Record<string, string>>,
): string[] {
  const out: string[] = [];
  for (const ns of namespace === rootNamespace ? [namespace] : [namespace, rootNamespace]) {
    for (const p of store.list(AUTHZ_KIND, ns)) {
      const spec = isPlainObject(p.spec) ? p.spec : {};
      const sel =
        isPlainObject(spec.selector) && isPlainObject(spec.selector.matchLabels)
          ? (spec.selector.matchLabels as Record<string, string>)
          : undefined;
      if (selectorMatches(sel, labels)) out.push(`${ns}/${p.metadata.name}`);
    }
  }
  return out.sort();
}

export class Translator {
  private readonly workloadOut = new Map<string, Out<Workload>>();
  private readonly serviceOut = new Map<string, Out<Service>>();
  /** Service store key -> selector last translated (to find the pods an old selector matched). */
  private readonly selectors = new Map<string, Readonly<Record<string, string>>>();
  /** Node name -> pod store keys last translated onto it. */
  private readonly podsByNode = new Map<string, Set<string>>();
  private readonly nodeOfPod = new Map<string, string>();
  /** use-waypoint labels that bind nothing, keyed by the object resolved (`Service ns/name`, `Pod ns/name`). */
  private readonly problems = new Map<string, WaypointProblem>();
  private readonly edge: MeshEdge;
  /** Keys of serviceOut / workloadOut the edge produced last. */
  private edgeServiceKeys = new Set<string>();
  private edgeWorkloadUids = new Set<string>();
  private edgeConflictList: readonly string[] = [];

  constructor(readonly cfg: TranslateConfig) {
    this.edge = new MeshEdge(cfg);
  }

  /** ServiceEntry hosts left out because another Service or entry defines them. */
  edgeConflicts(): readonly string[] {
    return this.edgeConflictList;
  }

  /** Current use-waypoint problems, sorted by object. */
  waypointProblems(): WaypointProblem[] {
    return [...this.problems.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([, p]) => p);
  }

  get workloads(): ReadonlyMap<string, Workload> {
    return new Map([...this.workloadOut].map(([k, o]) => [k, o.value]));
  }

  get services(): ReadonlyMap<string, Service> {
    return new Map([...this.serviceOut].map(([k, o]) => [k, o.value]));
  }

  /** Recomputes everything (first sync, or a change that reaches everything). */
  full(store: ReadStore): TranslationDelta {
    const pods = new Set(store.list(POD_KIND).map((o) => `${POD_KIND}/${o.metadata.namespace ?? ""}/${o.metadata.name}`));
    for (const keys of this.podsByNode.values()) for (const k of keys) pods.add(k);
    for (const k of this.nodeOfPod.keys()) pods.add(k);
    const services = new Set(store.list(SERVICE_KIND).map((o) => `${SERVICE_KIND}/${o.metadata.namespace ?? ""}/${o.metadata.name}`));
    for (const k of this.selectors.keys()) services.add(k);
    for (const k of this.serviceOut.keys()) {
      if (this.edgeServiceKeys.has(k)) continue;
      // ns/hostname -> store key
      const [ns = "", host = ""] = k.split("/");
      services.add(`${SERVICE_KIND}/${ns}/${host.split(".")[0] ?? ""}`);
    }
    return this.recompute(store, pods, services, true);
  }

  /** Recomputes what `changed` (store keys) can reach. */
  update(store: ReadStore, changed: ReadonlySet<string>): TranslationDelta {
    const pods = new Set<string>();
    const services = new Set<string>();
    let edgeDirty = false;
    const addPods = (list: readonly KubeObject[]) => {
      for (const o of list) pods.add(`${POD_KIND}/${o.metadata.namespace ?? ""}/${o.metadata.name}`);
    };
    for (const key of changed) {
      const p = parseKey(key);
      const kind = `${p.group}/${p.kind}`;
      switch (kind) {
        case POD_KIND:
          pods.add(key);
          break;
        case SERVICE_KIND: {
          services.add(key);
          edgeDirty = true;
          const old = this.selectors.get(key);
          if (old) addPods(store.select(POD_KIND, p.namespace, old));
          const now = store.get(key);
          const sel = now ? serviceSpec(now).selector : undefined;
          if (sel && Object.keys(sel).length > 0) addPods(store.select(POD_KIND, p.namespace, sel));
          break;
        }
        case NAMESPACE_KIND:
          edgeDirty = true;
          addPods(store.list(POD_KIND, p.name));
          for (const s of store.list(SERVICE_KIND, p.name)) services.add(`${SERVICE_KIND}/${p.name}/${s.metadata.name}`);
          break;
        case NODE_KIND:
          for (const k of this.podsByNode.get(p.name) ?? []) pods.add(k);
          break;
        case AUTHZ_KIND:
        case PEERAUTHN_KIND:
          edgeDirty = true;
          addPods(p.namespace === this.cfg.rootNamespace ? store.list(POD_KIND) : store.list(POD_KIND, p.namespace));
          break;
        case GATEWAY_KIND:
          return this.full(store);
        case SERVICE_ENTRY_KIND: {
          edgeDirty = true;
          const now = store.get(key);
          const sel =
            now && isPlainObject(now.spec) && isPlainObject(now.spec.workloadSelector) ? now.spec.workloadSelector.labels : undefined;
          for (const k of MeshEdge.selectedPods(store, p.namespace, this.edge.selectors.get(key))) pods.add(k);
          for (const k of MeshEdge.selectedPods(store, p.namespace, isPlainObject(sel) ? (sel as Record<string, string>) : undefined))
            pods.add(k);
          break;
        }
        case WORKLOAD_ENTRY_KIND:
        case ENDPOINT_SLICE_KIND:
          edgeDirty = true;
          break;
        default:
          break;
      }
    }
    return this.recompute(store, pods, services, edgeDirty);
  }

  private recompute(store: ReadStore, pods: ReadonlySet<string>, serviceKeys: ReadonlySet<string>, edgeDirty: boolean): TranslationDelta {
    const waypoints = new WaypointIndex(this.cfg, store);
    const nsLabels = (ns: string) => store.get(`${NAMESPACE_KIND}//${ns}`)?.metadata.labels ?? {};
    const svcUp: Service[] = [];
    const svcRemoved: string[] = [];
    for (const key of [...serviceKeys].sort()) {
      const p = parseKey(key);
      const outKey = `${p.namespace}/${serviceHostname(this.cfg, p.namespace, p.name)}`;
      this.problems.delete(`Service ${p.namespace}/${p.name}`);
      const obj = store.get(key);
      const sel = obj ? serviceSpec(obj).selector : undefined;
      if (sel && Object.keys(sel).length > 0) this.selectors.set(key, sel);
      else this.selectors.delete(key);
      const nsAnnotations = store.get(`${NAMESPACE_KIND}//${p.namespace}`)?.metadata.annotations ?? {};
      const next = obj ? translateService(this.cfg, obj, nsLabels(p.namespace), waypoints, nsAnnotations) : undefined;
      this.diff(this.serviceOut, outKey, next, svcUp, svcRemoved);
    }

    const podKeys = new Set(pods);
    const wlUp: Workload[] = [];
    const wlRemoved: string[] = [];
    if (edgeDirty) this.recomputeEdge(store, waypoints, podKeys, svcUp, svcRemoved, wlUp, wlRemoved);

    // Services selecting each pod, per namespace: direct checks for a few pods, a reverse
    // selection (one label-index lookup per service) when many pods of a namespace changed.
    const byNs = new Map<string, string[]>();
    for (const key of podKeys) {
      const ns = parseKey(key).namespace;
      const l = byNs.get(ns);
      if (l) l.push(key);
      else byNs.set(ns, [key]);
    }
    const policyCache = new Map<string, string[]>();
    for (const [ns, keys] of [...byNs].sort(([a], [b]) => (a < b ? -1 : 1))) {
      const svcs = store.list(SERVICE_KIND, ns).filter((s) => {
        const sel = serviceSpec(s).selector;
        return sel !== undefined && Object.keys(sel).length > 0;
      });
      let reverse: Map<string, KubeObject[]> | undefined;
      if (keys.length * svcs.length > 20_000) {
        reverse = new Map();
        for (const s of svcs) {
          for (const pod of store.select(POD_KIND, ns, serviceSpec(s).selector!)) {
            const k = `${POD_KIND}/${ns}/${pod.metadata.name}`;
            const l = reverse.get(k);
            if (l) l.push(s);
            else reverse.set(k, [s]);
          }
        }
      }
      const namespace = store.get(`${NAMESPACE_KIND}//${ns}`);
      for (const key of keys.sort()) {
        const p = parseKey(key);
        const uid = podUid(this.cfg, p.namespace, p.name);
        this.problems.delete(`Pod ${p.namespace}/${p.name}`);
        const pod = store.get(key);
        this.trackNode(key, pod);
        if (!pod) {
          this.diff(this.workloadOut, uid, undefined, wlUp, wlRemoved);
          continue;
        }
        const labels = pod.metadata.labels ?? {};
        const services = reverse ? (reverse.get(key) ?? []) : svcs.filter((s) => selectorMatches(serviceSpec(s).selector, labels));
        const nodeName = isPlainObject(pod.spec) && typeof pod.spec.nodeName === "string" ? pod.spec.nodeName : "";
        let policyKey = ns;
        for (const k of Object.keys(labels).sort()) policyKey += `\u0000${k}=${labels[k]}`;
        let policies = policyCache.get(policyKey);
        if (!policies) {
          policies = this.cfg.policiesFor
            ? this.cfg.policiesFor(store, ns, labels)
            : selectorPolicies(store, this.cfg.rootNamespace, ns, labels);
          policyCache.set(policyKey, policies);
        }
        // A plain literal: conditional spreads here cost a third of a full translation.
        const next = translatePod(this.cfg, pod, {
          namespace,
          services,
          node: nodeName ? store.get(`${NODE_KIND}//${nodeName}`) : undefined,
          waypoints,
          policies,
          edgeServices: this.edge.podServices(store, pod),
        });
        this.diff(this.workloadOut, uid, next, wlUp, wlRemoved);
      }
    }
    for (const [k, v] of waypoints.problems) this.problems.set(k, v);
    // A key removed and upserted in one pass (a Service gave way to a ServiceEntry host) is an upsert.
    const up = new Set(svcUp.map((s) => `${s.namespace}/${s.hostname}`));
    return {
      workloads: { upserted: wlUp, removed: wlRemoved },
      services: { upserted: svcUp, removed: svcRemoved.filter((k) => !up.has(k)) },
    };
  }

  /** The edge's services and workloads into the outputs; the pods its slices name (before and after) into `podKeys`. */
  private recomputeEdge(
    store: ReadStore,
    waypoints: WaypointIndex,
    podKeys: Set<string>,
    svcUp: Service[],
    svcRemoved: string[],
    wlUp: Workload[],
    wlRemoved: string[],
  ): void {
    for (const k of [...this.problems.keys()]) if (k.startsWith("ServiceEntry ") || k.startsWith("WorkloadEntry ")) this.problems.delete(k);
    const before = [...this.edge.slicePodKeys()];
    const policies =
      this.cfg.policiesFor ??
      ((s: ReadStore, ns: string, l: Readonly<Record<string, string>>) => selectorPolicies(s, this.cfg.rootNamespace, ns, l));
    const out = this.edge.compute(store, waypoints, policies);
    this.edgeConflictList = out.conflicts;
    for (const k of [...before, ...this.edge.slicePodKeys()]) {
      const [ns = "", name = ""] = k.split("/");
      podKeys.add(`${POD_KIND}/${ns}/${name}`);
    }
    for (const k of this.edgeServiceKeys)
      if (!out.services.has(k) && !this.edge.isKubeServiceKey(store, k)) this.diff(this.serviceOut, k, undefined, svcUp, svcRemoved);
    for (const [k, s] of out.services) this.diff(this.serviceOut, k, s, svcUp, svcRemoved);
    this.edgeServiceKeys = new Set(out.services.keys());
    for (const uid of this.edgeWorkloadUids) if (!out.workloads.has(uid)) this.diff(this.workloadOut, uid, undefined, wlUp, wlRemoved);
    for (const [uid, w] of out.workloads) this.diff(this.workloadOut, uid, w, wlUp, wlRemoved);
    this.edgeWorkloadUids = new Set(out.workloads.keys());
  }

  private trackNode(key: string, pod: KubeObject | undefined): void {
    const old = this.nodeOfPod.get(key);
    const now = pod && isPlainObject(pod.spec) && typeof pod.spec.nodeName === "string" ? pod.spec.nodeName : undefined;
    if (old === now) return;
    if (old !== undefined) {
      const s = this.podsByNode.get(old);
      s?.delete(key);
      if (s?.size === 0) this.podsByNode.delete(old);
      this.nodeOfPod.delete(key);
    }
    if (now !== undefined) {
      let s = this.podsByNode.get(now);
      if (!s) this.podsByNode.set(now, (s = new Set()));
      s.add(key);
      this.nodeOfPod.set(key, now);
    }
  }

  private diff<T>(out: Map<string, Out<T>>, key: string, next: T | undefined, up: T[], removed: string[]): void {
    const prev = out.get(key);
    if (next === undefined) {
      if (prev) {
        out.delete(key);
        removed.push(key);
      }
      return;
    }
    if (prev) {
      const json = modelJson(next);
      prev.json ??= modelJson(prev.value);
      if (prev.json === json) return;
      out.set(key, { value: next, json });
    } else {
      out.set(key, { value: next });
    }
    up.push(next);
  }
}
