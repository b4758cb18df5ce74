/**
 * `weft analyze --cluster`: the same analysis as `weft analyze DIR`, over what a Kubernetes API
 * server holds. Every kind the control plane watches is read through the control plane's own
 * config source (KubeSource: list of each kind, a CRD that is not installed counts as empty) with
 * the control plane's own validator for that source (`policyValidator` over `objectValidator({
 * strict: false })`, src/controlplane/controlplane.ts), so a rejected object gets the message the
 * control plane logs; then the same policy translation and mesh-level findings as for a folder.
 *
 * Findings name `Kind namespace/name` and the field; they carry no file:line (origin is empty).
 * Like `istioctl analyze`, the whole cluster is read (mesh findings need every namespace: root
 * namespace policies, `use-waypoint-namespace`) and the findings are shown for one namespace
 * (`-n`, default the kubeconfig context's, else `default`) or all (`-A`).
 */
import { rootLogger } from "../common/log.js";
import { loadKubeconfig } from "../kube/client/kube-config.js";
import type { KubeClientConfig } from "../kube/client/kube-config.js";
import { kubeApi } from "../kube/client/kube-api.js";
import { KubeSource } from "../kube/client/kube-source.js";
import { objectKey } from "../kube/object.js";
import type { ConfigEvent, ConfigSink, InvalidObject } from "../kube/source.js";
import { objectValidator } from "../kube/validate/validate.js";
import { type PolicySettings, policyValidator } from "../controlplane/policies.js";
import type { Finding, Located } from "./analyze-mesh.js";
import { CliError, EXIT_FAILED, EXIT_USAGE } from "./command.js";
import { kubeconfigPath } from "./kube-target-select.js";

/** Which namespace's findings are shown: one, or every one (`all`). */
export type NamespaceScope = { readonly all: true } | { readonly all: false; readonly namespace: string };

export interface ClusterTarget {
  readonly kubeconfig?: string;
  readonly context?: string;
  /** How long the first list of every kind may take. */
  readonly timeoutMs: number;
}

/** A ConfigSink that keeps the snapshot: valid objects by key, rejected ones as problems. */
class SnapshotSink implements ConfigSink {
  readonly objects = new Map<string, Located>();
  readonly invalid = new Map<string, InvalidObject>();
  apply(events: readonly ConfigEvent[]): void {
    for (const e of events) {
      if (e.type === "delete") this.objects.delete(e.key);
      else this.objects.set(objectKey(e.object), { object: e.object, origin: "" });
    }
  }
  onInvalid(p: InvalidObject): void {
    this.invalid.set(p.object ?? p.origin.source, p);
  }
  synced(): void {}
}

export { kubeconfigPath };

export function clusterConfig(t: Pick<ClusterTarget, "kubeconfig" | "context">): KubeClientConfig {
  const file = kubeconfigPath(t.kubeconfig);
  const cfg = loadKubeconfig(file, t.context);
  if (!cfg.ok) throw new CliError(`--kubeconfig ${file}: ${cfg.error.message}`, EXIT_USAGE);
  return cfg.value;
}

/** The namespace of the kubeconfig's current context, else `default` (kubectl's). */
export function contextNamespace(config: KubeClientConfig): string {
  return config.getContextObject(config.getCurrentContext())?.namespace ?? "default";
}

/**
 * Reads every watched kind once, validated as the control plane validates them. Throws a
 * CliError naming the server when it does not answer, or the kinds whose list did not complete.
 */
export async function readCluster(
  config: KubeClientConfig,
  settings: PolicySettings,
  timeoutMs: number,
): Promise<{ objects: Located[]; invalid: InvalidObject[] }> {
  const api = kubeApi(config);
  const version = await api.request<{ gitVersion?: string }>("GET", "/version", undefined, { timeoutMs });
  if (!version.ok) throw new CliError(`cluster ${api.server}: ${version.error.message}`, EXIT_FAILED);
  // The informers log retries at warn on stdout; the CLI reports failures itself, below.
  const level = rootLogger.level;
  rootLogger.level = process.env.WEFT_LOG ?? "silent";
  const source = new KubeSource({
    config,
    validate: policyValidator(settings, objectValidator({ strict: false })),
    reflector: { requestTimeoutMs: timeoutMs, backoff: { initialMs: 200, maxMs: 2000 } },
    name: "cluster",
  });
  const sink = new SnapshotSink();
  try {
    await source.start(sink);
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs)));
    const synced = await Promise.race([source.waitSynced().then(() => true), timedOut]);
    clearTimeout(timer);
    if (!synced) {
      const failing = Object.entries(source.stats())
        .filter(([, s]) => s.errors > 0 || s.lists === 0)
        .map(([k]) => k);
      throw new CliError(
        `cluster ${api.server}: could not list ${failing.join(", ") || "every kind"} within ${timeoutMs} ms ` +
          `(RBAC needs list on every kind the control plane watches; WEFT_LOG=warn shows the errors)`,
      );
    }
  } finally {
    await source.stop();
    rootLogger.level = level;
  }
  return { objects: [...sink.objects.values()], invalid: [...sink.invalid.values()] };
}

/** The namespace a finding is about: from `Kind ns/name`; a Namespace's own name; undefined if cluster-scoped. */
function findingNamespace(f: Finding): string | undefined {
  const m = /^(\S+) (?:([^/\s]+)\/)?(\S+)$/.exec(f.object);
  if (!m) return undefined;
  return m[1] === "Namespace" ? m[3] : m[2];
}

/** istioctl's namespace filter: findings about objects of that namespace (a Namespace counts as its own). */
export function inScope(f: Finding, scope: NamespaceScope): boolean {
  return scope.all || findingNamespace(f) === scope.namespace;
}
