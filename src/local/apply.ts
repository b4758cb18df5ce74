/**
 * `weft local apply|delete FILES`: changes the config of a running local cluster, as `kubectl
 * apply` / `kubectl delete -f` would. Config objects (routes, VirtualServices, policies,
 * Gateways...) are written to (or removed from) the control plane's folder, one file per object,
 * so applying an object again replaces it. Namespaces may be applied (their labels replace the
 * current ones). A new Gateway of class istio-waypoint also gets its waypoint pod and Service
 * (waypoints.ts), deleting it removes them.
 *
 * Pods, Deployments and Services are fixed at `up` (the service NAT is computed then): applying
 * them is refused, naming the object. Everything is validated before anything is written.
 *
 * Difference from a cluster: the control plane reads its bootstrap tokens at start, so a new
 * waypoint's token takes a control-plane restart (ztunnels reconnect and keep their state).
 */
import { readFile, rm, writeFile } from "node:fs/promises";
import { stringify as toYaml } from "yaml";
import { type Result, ok, err } from "../common/result.js";
import {
  type ClusterState,
  type TokenEntry,
  type WaypointRecord,
  controlPlaneSpec,
  httpReady,
  namespaceFile,
  objectFile,
  p,
  readState,
  startPod,
  stopPod,
  until,
  waitWaypointReady,
  waypointContext,
  waypointToken,
  writeAtomic,
  writeState,
} from "./cluster.js";
import { type ManifestFile, namespaceObject, readManifests } from "./manifests.js";
import { makePlan } from "./plan.js";
import { isAlive, readPids, writeSpec } from "./supervisor.js";
import { planWaypoints, waypointGateways } from "./waypoints.js";

export interface ApplyResult {
  /** One line per object: `<kind> <ns>/<name> configured|created|deleted`. */
  readonly lines: readonly string[];
}

async function load(dir: string, files: readonly ManifestFile[]) {
  const state = await readState(dir);
  if (!state) return err(new Error(`local: no cluster in ${dir} (run weft local up)`));
  const planned = makePlan(state.plan);
  if (!planned.ok) return planned;
  const m = readManifests(
    files,
    planned.value.nodes.map((n) => n.name),
  );
  if (!m.ok) return m;
  const fixed = m.value.pods[0] ?? m.value.services[0];
  if (fixed)
    return err(
      new Error(
        `${"containers" in fixed ? "Pod" : "Service"} ${fixed.namespace}/${fixed.name}: Pods, Deployments and Services are fixed at weft local up; put them in the up manifests`,
      ),
    );
  return ok({ state, plan: planned.value, m: m.value });
}

const describe = (o: Record<string, unknown>): string => {
  const meta = o.metadata as { name: string; namespace?: string };
  return o.kind === "Namespace" ? `Namespace ${meta.name}` : `${String(o.kind)} ${meta.namespace ?? "default"}/${meta.name}`;
};

export async function apply(dir: string, files: readonly ManifestFile[], timeoutMs = 60_000): Promise<Result<ApplyResult>> {
  const loaded = await load(dir, files);
  if (!loaded.ok) return loaded;
  const { state, plan, m } = loaded.value;
  const have = new Set((state.waypoints ?? []).map((w) => w.gateway));
  const taken = new Set(state.services.map((s) => s.name).filter((n) => !have.has(n)));
  const planned = planWaypoints(m.passthrough, waypointContext(dir, plan), taken);
  if (!planned.ok) return planned;
  const fresh = planned.value.filter((w) => !have.has(`${w.gateway.namespace}/${w.gateway.name}`));
  const lines: string[] = [];
  for (const [name, labels] of m.namespaces) {
    await writeAtomic(namespaceFile(dir, name), toYaml(namespaceObject(name, labels)));
    lines.push(`Namespace ${name} configured`);
  }
  if (fresh.length) {
    const tokens = JSON.parse(await readFile(p(dir).tokens, "utf8")) as TokenEntry[];
    for (const w of fresh) tokens.push(await waypointToken(dir, w));
    await writeFile(p(dir).tokens, JSON.stringify(tokens), { mode: 0o600 });
    // The control plane reads its tokens at start: restart it (a changed spec restarts it), and
    // wait for the NEW process to be ready (the old one answers /ready until it is stopped).
    const before = (await readPids(dir)).get("controlplane")?.pid;
    await writeSpec(dir, controlPlaneSpec(dir, plan, Date.now()));
    const restarted = await until("control plane restart", timeoutMs, async () => {
      const now = (await readPids(dir)).get("controlplane");
      return now !== undefined && now.pid !== before && isAlive(now);
    });
    if (!restarted.ok) return restarted;
    const cp = await httpReady(plan.underlayNetns, `http://${plan.controlPlaneIp}:15014/ready`, timeoutMs, "control plane ready");
    if (!cp.ok) return cp;
  }
  for (const o of m.passthrough) {
    await writeAtomic(objectFile(dir, o), toYaml(o));
    lines.push(`${describe(o)} configured`);
  }
  let pods = [...state.pods];
  const waypoints: WaypointRecord[] = [...(state.waypoints ?? [])];
  const services = [...state.services];
  for (const w of fresh) {
    await writeAtomic(objectFile(dir, w.serviceObject), toYaml(w.serviceObject));
    const rec = await startPod(dir, plan, w.pod);
    if (!rec.ok) return err(new Error(`waypoint pod ${w.pod.namespace}/${w.pod.name}: ${rec.error.message}`));
    pods = [...pods, rec.value];
    waypoints.push({
      gateway: `${w.gateway.namespace}/${w.gateway.name}`,
      namespace: w.pod.namespace,
      pod: w.pod.name,
      token: w.tokenFile,
    });
    services.push({ name: `${w.service.namespace}/${w.service.name}` });
    await writeState(dir, { ...state, pods, waypoints, services });
    const ready = await waitWaypointReady(plan, rec.value, timeoutMs);
    if (!ready.ok) return ready;
    lines.push(
      `waypoint ${w.gateway.namespace}/${w.gateway.name}: pod ${w.pod.name} on ${w.pod.node} ${rec.value.ip} ready (${w.identity})`,
    );
  }
  return ok({ lines });
}

export async function remove(dir: string, files: readonly ManifestFile[]): Promise<Result<ApplyResult>> {
  const loaded = await load(dir, files);
  if (!loaded.ok) return loaded;
  const { state, plan, m } = loaded.value;
  const gws = waypointGateways(m.passthrough);
  if (!gws.ok) return gws;
  const lines: string[] = [];
  for (const o of m.passthrough) {
    await rm(objectFile(dir, o), { force: true });
    lines.push(`${describe(o)} deleted`);
  }
  let next: ClusterState = state;
  for (const gw of gws.value) {
    const key = `${gw.namespace}/${gw.name}`;
    const w = (next.waypoints ?? []).find((x) => x.gateway === key);
    if (!w) continue;
    const pod = next.pods.find((x) => x.namespace === w.namespace && x.name === w.pod);
    await rm(objectFile(dir, { apiVersion: "v1", kind: "Service", metadata: { name: gw.name, namespace: gw.namespace } }), { force: true });
    if (pod) await stopPod(dir, plan, pod);
    await rm(`${dir}/${w.token}`, { force: true });
    next = {
      ...next,
      pods: next.pods.filter((x) => x !== pod),
      waypoints: (next.waypoints ?? []).filter((x) => x !== w),
      services: next.services.filter((s) => s.name !== key),
    };
    await writeState(dir, next);
    lines.push(`waypoint ${key}: pod ${w.pod} removed`);
  }
  return ok({ lines });
}
