/**
 * What `weft local up` runs, from ordinary Kubernetes YAML, pure: Pods and Deployments become
 * local pods (each container's command + args run as a process in the pod's namespace),
 * Namespaces and Services are read for labels and VIPs, and every other object is handed to
 * the control plane's folder unchanged. Also renders the Pod objects the runtime reports, the
 * way a kubelet reports status to the API server.
 *
 * Scheduling: `spec.nodeName` when it names a node of the cluster, else round-robin over the
 * nodes in file order. Deployment replicas are named `<deployment>-<hash>-<i>` with the
 * `pod-template-hash` label and a ReplicaSet owner reference, so the control plane sees them
 * as one Deployment workload, as in Kubernetes.
 * Errors name the file, document and field; nothing is run when any document is bad.
 */
import { createHash } from "node:crypto";
import { isIP, isIPv4 } from "node:net";
import { dirname } from "node:path";
import { parseAllDocuments } from "yaml";
import { type Result, ok, err } from "../common/result.js";

type Labels = Record<string, string>;

export interface LocalContainer {
  readonly name: string;
  /** command + args; the first element is the program. */
  readonly argv: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  readonly ports: readonly { readonly name?: string; readonly containerPort: number }[];
}

export interface LocalPod {
  readonly namespace: string;
  readonly name: string;
  readonly labels: Readonly<Labels>;
  readonly annotations: Readonly<Labels>;
  readonly serviceAccount: string;
  readonly node: string;
  readonly containers: readonly LocalContainer[];
  /** Folder of the manifest file: the working directory of the pod's processes. */
  readonly dir: string;
  /** Deployment replicas: the ReplicaSet owning them. */
  readonly owner?: { readonly replicaSet: string; readonly hash: string };
}

export interface LocalService {
  readonly namespace: string;
  readonly name: string;
  /** The primary cluster IP (`spec.clusterIP`, = `clusterIPs[0]`). */
  readonly clusterIP?: string;
  /** Every cluster IP, primary first, at most one per family (`spec.clusterIPs`, dual stack). */
  readonly clusterIPs?: readonly string[];
  readonly selector: Readonly<Labels>;
  readonly ports: readonly { readonly port: number; readonly targetPort: number | string; readonly protocol: string }[];
}

export interface Manifests {
  /** Namespace name -> labels (namespaces only referenced by objects get no labels). */
  readonly namespaces: ReadonlyMap<string, Readonly<Labels>>;
  readonly pods: readonly LocalPod[];
  readonly services: readonly LocalService[];
  /** Objects for the control plane's folder as they were written (Services, policies, Deployments...). */
  readonly passthrough: readonly Record<string, unknown>[];
}

export interface ManifestFile {
  readonly path: string;
  readonly text: string;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);

function strMap(v: unknown, field: string, where: string): Result<Labels> {
  if (v === undefined || v === null) return ok({});
  if (!isObj(v)) return err(new Error(`${where}: ${field}: must be a mapping`));
  const out: Labels = {};
  for (const [k, x] of Object.entries(v)) {
    if (typeof x !== "string") return err(new Error(`${where}: ${field}.${k}: must be a string`));
    out[k] = x;
  }
  return ok(out);
}

function containersOf(spec: Obj, where: string): Result<LocalContainer[]> {
  const list = spec.containers;
  if (!Array.isArray(list) || list.length === 0) return err(new Error(`${where}: spec.containers: at least one container is required`));
  const out: LocalContainer[] = [];
  for (const [i, c] of list.entries()) {
    const f = `spec.containers[${i}]`;
    if (!isObj(c) || typeof c.name !== "string") return err(new Error(`${where}: ${f}.name: required string`));
    const cmd = c.command ?? [];
    const args = c.args ?? [];
    if (!Array.isArray(cmd) || !cmd.every((x) => typeof x === "string"))
      return err(new Error(`${where}: ${f}.command: must be a list of strings`));
    if (!Array.isArray(args) || !args.every((x) => typeof x === "string"))
      return err(new Error(`${where}: ${f}.args: must be a list of strings`));
    const argv = [...(cmd as string[]), ...(args as string[])];
    if (argv.length === 0)
      return err(new Error(`${where}: ${f}.command: required: a local pod has no image, its container runs command + args`));
    const env: Record<string, string> = {};
    for (const [j, e] of (Array.isArray(c.env) ? c.env : []).entries()) {
      if (!isObj(e) || typeof e.name !== "string" || e.valueFrom !== undefined || (e.value !== undefined && typeof e.value !== "string")) {
        return err(new Error(`${where}: ${f}.env[${j}]: needs name and a string value (valueFrom is not supported locally)`));
      }
      env[e.name] = (e.value as string | undefined) ?? "";
    }
    const ports: { name?: string; containerPort: number }[] = [];
    for (const [j, p] of (Array.isArray(c.ports) ? c.ports : []).entries()) {
      if (!isObj(p) || !Number.isInteger(p.containerPort))
        return err(new Error(`${where}: ${f}.ports[${j}].containerPort: required integer`));
      ports.push({ ...(typeof p.name === "string" ? { name: p.name } : {}), containerPort: p.containerPort as number });
    }
    out.push({ name: c.name, argv, env, ports });
  }
  return ok(out);
}

interface PodTemplate {
  readonly namespace: string;
  readonly name: string;
  readonly labels: Labels;
  readonly annotations: Labels;
  readonly serviceAccount: string;
  readonly nodeName?: string;
  readonly containers: LocalContainer[];
  readonly dir: string;
}

function podTemplate(meta: Obj, spec: Obj, namespace: string, name: string, where: string, dir: string): Result<PodTemplate> {
  const labels = strMap(meta.labels, "metadata.labels", where);
  if (!labels.ok) return labels;
  const annotations = strMap(meta.annotations, "metadata.annotations", where);
  if (!annotations.ok) return annotations;
  const containers = containersOf(spec, where);
  if (!containers.ok) return containers;
  const sa = spec.serviceAccountName ?? "default";
  if (typeof sa !== "string") return err(new Error(`${where}: spec.serviceAccountName: must be a string`));
  return ok({
    namespace,
    name,
    labels: labels.value,
    annotations: annotations.value,
    serviceAccount: sa,
    ...(typeof spec.nodeName === "string" ? { nodeName: spec.nodeName } : {}),
    containers: containers.value,
    dir,
  });
}

/** Parses every document of every file; any error rejects the whole set. */
export function readManifests(files: readonly ManifestFile[], nodes: readonly string[]): Result<Manifests> {
  const namespaces = new Map<string, Labels>();
  const templates: (PodTemplate & { owner?: LocalPod["owner"] })[] = [];
  const services: LocalService[] = [];
  const passthrough: Obj[] = [];
  const seen = new Set<string>();
  for (const file of files) {
    const docs = parseAllDocuments(file.text);
    for (const [i, doc] of (Array.isArray(docs) ? docs : [docs]).entries()) {
      const where = `${file.path}#${i}`;
      if (doc.errors.length) return err(new Error(`${where}: ${doc.errors[0]!.message}`));
      const o = doc.toJS() as unknown;
      if (o === null || o === undefined) continue;
      if (
        !isObj(o) ||
        typeof o.kind !== "string" ||
        typeof o.apiVersion !== "string" ||
        !isObj(o.metadata) ||
        typeof o.metadata.name !== "string"
      ) {
        return err(new Error(`${where}: not a Kubernetes object (apiVersion, kind, metadata.name required)`));
      }
      const meta = o.metadata;
      const name = meta.name as string;
      const ns = typeof meta.namespace === "string" ? meta.namespace : "default";
      const id = `${o.apiVersion}/${o.kind}/${o.kind === "Namespace" ? "" : ns}/${name}`;
      if (seen.has(id)) return err(new Error(`${where}: ${o.kind} ${ns}/${name} is defined twice`));
      seen.add(id);
      const w = `${where} (${o.kind} ${o.kind === "Namespace" ? name : `${ns}/${name}`})`;
      if (o.kind === "Namespace") {
        const labels = strMap(meta.labels, "metadata.labels", w);
        if (!labels.ok) return labels;
        namespaces.set(name, labels.value);
        continue;
      }
      if (o.kind === "Pod" && o.apiVersion === "v1") {
        if (!isObj(o.spec)) return err(new Error(`${w}: spec: required`));
        const t = podTemplate(meta, o.spec, ns, name, w, dirname(file.path));
        if (!t.ok) return t;
        templates.push(t.value);
        continue;
      }
      if (o.kind === "Deployment" && o.apiVersion === "apps/v1") {
        const spec = o.spec;
        if (!isObj(spec) || !isObj(spec.template) || !isObj(spec.template.spec))
          return err(new Error(`${w}: spec.template.spec: required`));
        const replicas = spec.replicas ?? 1;
        if (!Number.isInteger(replicas) || (replicas as number) < 0 || (replicas as number) > 32)
          return err(new Error(`${w}: spec.replicas: must be 0-32 locally`));
        const tmeta = isObj(spec.template.metadata) ? spec.template.metadata : {};
        const hash = createHash("sha256").update(JSON.stringify(spec.template)).digest("hex").slice(0, 8);
        for (let r = 0; r < (replicas as number); r++) {
          const t = podTemplate(tmeta, spec.template.spec, ns, `${name}-${hash}-${r}`, w, dirname(file.path));
          if (!t.ok) return t;
          templates.push({
            ...t.value,
            labels: { ...t.value.labels, "pod-template-hash": hash },
            owner: { replicaSet: `${name}-${hash}`, hash },
          });
        }
        passthrough.push(o);
        continue;
      }
      if (o.kind === "Service" && o.apiVersion === "v1") {
        const spec = isObj(o.spec) ? o.spec : {};
        const selector = strMap(spec.selector, "spec.selector", w);
        if (!selector.ok) return selector;
        const cips = serviceClusterIPs(spec, w);
        if (!cips.ok) return cips;
        const ports: { port: number; targetPort: number | string; protocol: string }[] = [];
        for (const [j, p] of (Array.isArray(spec.ports) ? spec.ports : []).entries()) {
          if (!isObj(p) || !Number.isInteger(p.port)) return err(new Error(`${w}: spec.ports[${j}].port: required integer`));
          const target = p.targetPort ?? p.port;
          if (typeof target !== "string" && !Number.isInteger(target))
            return err(new Error(`${w}: spec.ports[${j}].targetPort: must be a port number or name`));
          ports.push({
            port: p.port as number,
            targetPort: target as number | string,
            protocol: typeof p.protocol === "string" ? p.protocol : "TCP",
          });
        }
        services.push({
          namespace: ns,
          name,
          ...(cips.value.length > 0 ? { clusterIP: cips.value[0]!, clusterIPs: cips.value } : {}),
          selector: selector.value,
          ports,
        });
        passthrough.push(o);
        continue;
      }
      passthrough.push(o);
    }
  }
  const pods: LocalPod[] = [];
  let next = 0;
  for (const t of templates) {
    let node: string;
    if (t.nodeName !== undefined) {
      if (!nodes.includes(t.nodeName))
        return err(
          new Error(`pod ${t.namespace}/${t.name}: spec.nodeName: ${t.nodeName} is not a node of this cluster (${nodes.join(", ")})`),
        );
      node = t.nodeName;
    } else node = nodes[next++ % nodes.length]!;
    if (!namespaces.has(t.namespace)) namespaces.set(t.namespace, {});
    pods.push({
      namespace: t.namespace,
      name: t.name,
      labels: t.labels,
      annotations: t.annotations,
      serviceAccount: t.serviceAccount,
      node,
      containers: t.containers,
      dir: t.dir,
      ...(t.owner ? { owner: t.owner } : {}),
    });
  }
  return ok({ namespaces, pods, services, passthrough });
}

export interface PodStatus {
  readonly podIP: string;
  /** Every address, podIP first (dual stack); just podIP when absent. */
  readonly podIPs?: readonly string[];
  readonly ready: boolean;
}

/** The Pod object as the runtime reports it (status omitted while the sandbox is being built). */
export function podObject(p: LocalPod, status?: PodStatus): Record<string, unknown> {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name: p.name,
      namespace: p.namespace,
      labels: p.labels,
      ...(Object.keys(p.annotations).length ? { annotations: p.annotations } : {}),
      ...(p.owner
        ? {
            ownerReferences: [
              { apiVersion: "apps/v1", kind: "ReplicaSet", name: p.owner.replicaSet, controller: true, uid: `local-${p.owner.replicaSet}` },
            ],
          }
        : {}),
    },
    spec: {
      nodeName: p.node,
      serviceAccountName: p.serviceAccount,
      containers: p.containers.map((c) => ({ name: c.name, image: "local", ...(c.ports.length ? { ports: c.ports } : {}) })),
    },
    status: status
      ? {
          phase: "Running",
          podIP: status.podIP,
          podIPs: (status.podIPs ?? [status.podIP]).map((ip) => ({ ip })),
          conditions: [{ type: "Ready", status: status.ready ? "True" : "False" }],
        }
      : { phase: "Pending" },
  };
}

export function namespaceObject(name: string, labels: Readonly<Labels>): Record<string, unknown> {
  return { apiVersion: "v1", kind: "Namespace", metadata: { name, ...(Object.keys(labels).length ? { labels } : {}) } };
}

/** `key=value` sets, `key-` removes (kubectl label syntax). */
export function applyLabelEdits(labels: Readonly<Labels>, edits: readonly string[]): Result<Labels> {
  const out: Labels = { ...labels };
  for (const e of edits) {
    const m = /^([A-Za-z0-9./_-]+)(?:=([A-Za-z0-9._-]*)|(-))$/.exec(e);
    if (!m) return err(new Error(`label ${JSON.stringify(e)}: expected key=value or key-`));
    if (m[3]) delete out[m[1]!];
    else out[m[1]!] = m[2]!;
  }
  return ok(out);
}

/**
 * Kubernetes' `$(VAR)` expansion of command and args: a reference to a defined variable is
 * replaced by its value, `$$` is a literal `$`, an undefined reference stays as written.
 */
export function expandVars(s: string, env: Readonly<Record<string, string>>): string {
  return s.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (m, name: string | undefined) =>
    m === "$$" ? "$" : name !== undefined && name in env ? env[name]! : m,
  );
}

const FAMILY = (ip: string): "IPv4" | "IPv6" => (isIPv4(ip) ? "IPv4" : "IPv6");

/**
 * A Service's cluster IPs as Kubernetes holds them (the local cluster assigns none itself):
 * `clusterIP` and/or `clusterIPs` (dual stack: at most one per family, `clusterIPs[0]` the same
 * as `clusterIP`), each an IPv4 or IPv6 literal; `ipFamilies`, when given, names their families
 * in the same order. "None" (headless) or nothing: []. Errors name the Service and field.
 */
export function serviceClusterIPs(spec: Record<string, unknown>, w: string): Result<string[]> {
  const one = spec.clusterIP;
  if (one !== undefined && one !== "None" && !(typeof one === "string" && isIP(one) !== 0))
    return err(new Error(`${w}: spec.clusterIP: ${JSON.stringify(one)} is not an IP address (the local cluster assigns none itself)`));
  let ips: string[] = typeof one === "string" && one !== "None" ? [one] : [];
  if (spec.clusterIPs !== undefined) {
    const list = spec.clusterIPs;
    if (!Array.isArray(list) || list.some((x) => typeof x !== "string"))
      return err(new Error(`${w}: spec.clusterIPs: must be a list of addresses`));
    const given = (list as string[]).filter((x) => x !== "None");
    for (const [i, ip] of given.entries())
      if (isIP(ip) === 0) return err(new Error(`${w}: spec.clusterIPs[${i}]: ${JSON.stringify(ip)} is not an IP address`));
    if (given.length > 2 || (given.length === 2 && FAMILY(given[0]!) === FAMILY(given[1]!)))
      return err(new Error(`${w}: spec.clusterIPs: at most one address per family (dual stack), got ${given.join(", ")}`));
    if (ips.length > 0 && given.length > 0 && given[0] !== ips[0])
      return err(new Error(`${w}: spec.clusterIPs[0]: ${given[0]} must equal spec.clusterIP ${ips[0]}`));
    if (given.length > 0) ips = given;
  }
  if (spec.ipFamilies !== undefined) {
    const fams = spec.ipFamilies;
    if (!Array.isArray(fams) || fams.some((f) => f !== "IPv4" && f !== "IPv6"))
      return err(new Error(`${w}: spec.ipFamilies: must be a list of "IPv4" and "IPv6"`));
    if (ips.length > 0 && (fams.length !== ips.length || fams.some((f, i) => f !== FAMILY(ips[i]!))))
      return err(new Error(`${w}: spec.ipFamilies: ${JSON.stringify(fams)} does not match the cluster IPs ${ips.join(", ")}`));
  }
  return ok(ips);
}
