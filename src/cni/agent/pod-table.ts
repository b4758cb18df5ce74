/**
 * The node agent's view of pods and namespaces, merged from two feeds: CNI events (sandbox,
 * veth, IPs; keyed by container id, named by K8S_POD_NAMESPACE/NAME) and the config source
 * (Pod and Namespace objects). Plain data with one mutator per feed; decisions are in
 * enrollment.ts.
 *
 * Invariants: a pod appears once per `namespace/name`; a newer CNI ADD for the same pod
 * replaces the older sandbox; a DEL for a container id that is not current is ignored (the
 * runtime may delete an old sandbox after the new one was added).
 */
import type { KubeObject } from "../../kube/object.js";
import type { ConfigEvent } from "../../kube/source.js";
import type { PodEvent, PodStatusLine } from "../../capture/agent-api.js";
import { type Capture, type PodFacts, decide } from "./enrollment.js";

type Labels = Readonly<Record<string, string>>;
type CniFacts = NonNullable<PodFacts["cni"]>;
type ObjectFacts = NonNullable<PodFacts["object"]>;

/** A CNI sandbox as persisted across agent restarts. */
export interface SandboxRecord extends CniFacts {
  readonly namespace: string;
  readonly name: string;
}

export class PodTable {
  private readonly sandboxes = new Map<string, SandboxRecord>();
  private readonly objects = new Map<string, ObjectFacts>();
  private readonly namespaces = new Map<string, Labels>();

  constructor(readonly node: string) {}

  /** ADD/DEL from the plugin. Returns false for an event the table ignores (stale DEL). */
  applyCni(ev: PodEvent): boolean {
    const key = ev.namespace || ev.name ? `${ev.namespace}/${ev.name}` : `cni/${ev.containerId}`;
    if (ev.command === "ADD") {
      this.sandboxes.set(key, {
        namespace: ev.namespace,
        name: ev.name,
        containerId: ev.containerId,
        netns: ev.netns,
        ips: [...ev.ips],
        ...(ev.hostInterface ? { hostInterface: ev.hostInterface } : {}),
      });
      return true;
    }
    if (ev.command === "DEL") {
      for (const [k, s] of this.sandboxes) {
        if (s.containerId === ev.containerId) {
          this.sandboxes.delete(k);
          return true;
        }
      }
      return false;
    }
    return true;
  }

  /** Whether a CHECK's container is the current sandbox of a known pod. */
  hasSandbox(containerId: string): boolean {
    for (const s of this.sandboxes.values()) if (s.containerId === containerId) return true;
    return false;
  }

  /** Pod and Namespace events from the config source; other kinds are ignored. */
  applyConfig(events: readonly ConfigEvent[]): void {
    for (const ev of events) {
      if (ev.type === "upsert") {
        const o: KubeObject = ev.object;
        if (o.apiVersion === "v1" && o.kind === "Namespace") this.namespaces.set(o.metadata.name, { ...(o.metadata.labels ?? {}) });
        if (o.apiVersion === "v1" && o.kind === "Pod") {
          const spec = (o.spec ?? {}) as { nodeName?: unknown };
          this.objects.set(`${o.metadata.namespace ?? "default"}/${o.metadata.name}`, {
            labels: { ...(o.metadata.labels ?? {}) },
            annotations: { ...(o.metadata.annotations ?? {}) },
            ...(typeof spec.nodeName === "string" ? { nodeName: spec.nodeName } : {}),
          });
        }
      } else {
        // Keys are group/kind/namespace/name (object.ts objectKey); core group is empty.
        const [group, kind, ns, name] = ev.key.split("/");
        if (group === "" && kind === "Namespace" && name) this.namespaces.delete(name);
        if (group === "" && kind === "Pod" && name) this.objects.delete(`${ns}/${name}`);
      }
    }
  }

  /** Every pod with a sandbox here, with its decision. */
  decisions(): PodStatusLine[] {
    const out: PodStatusLine[] = [];
    for (const [key, s] of this.sandboxes) {
      const facts: PodFacts = {
        key,
        namespace: s.namespace,
        name: s.name,
        cni: s,
        ...(this.objects.has(key) ? { object: this.objects.get(key)! } : {}),
      };
      out.push({
        key,
        ips: s.ips,
        ...(s.hostInterface ? { hostInterface: s.hostInterface } : {}),
        decision: decide(facts, this.namespaces.get(s.namespace), this.node),
      });
    }
    return out.sort((a, b) => a.key.localeCompare(b.key));
  }

  /** The captures the backend should hold. */
  desired(): Map<string, Capture> {
    const out = new Map<string, Capture>();
    for (const d of this.decisions()) {
      if (d.decision.enroll && d.hostInterface) out.set(d.key, { key: d.key, hostVeth: d.hostInterface, ips: [...d.ips].sort() });
    }
    return out;
  }

  sandboxRecords(): SandboxRecord[] {
    return [...this.sandboxes.values()];
  }

  restore(records: readonly SandboxRecord[]): void {
    for (const r of records) this.sandboxes.set(r.namespace || r.name ? `${r.namespace}/${r.name}` : `cni/${r.containerId}`, r);
  }
}
