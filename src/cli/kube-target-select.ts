/**
 * Pure decisions of the inspection verbs' Kubernetes discovery (IO in kube-targets.ts):
 * - which target a verb uses (`targetMode`): an explicit address, a Kubernetes cluster, or the
 *   local cluster, with the rule documented in docs/cli.md ("Where components are found");
 * - which pods stand for the control plane (the Service's selector) and for each node's ztunnel
 *   (the DaemonSet's selector, one pod per `spec.nodeName`).
 */
import { type Result, ok, err } from "../common/result.js";

export type TargetMode =
  | { readonly kind: "address" }
  | { readonly kind: "kube"; readonly kubeconfig: string; readonly context?: string }
  | { readonly kind: "local"; readonly dir: string };

export interface ModeInput {
  /** `--controlplane` / `--ztunnel` given (the one the verb takes). */
  readonly address?: string;
  readonly dir?: string;
  readonly kubeconfig?: string;
  readonly context?: string;
}

export interface ModeFacts {
  readonly env: NodeJS.ProcessEnv;
  /** The default local state folder (when neither --dir nor WEFT_LOCAL_DIR is set). */
  readonly defaultDir: string;
  /** Whether a local cluster's state file exists in a folder. */
  readonly localClusterIn: (dir: string) => boolean;
  readonly fileExists: (file: string) => boolean;
}

/** The kubeconfig file kubectl would use: --kubeconfig, else $KUBECONFIG's first entry, else ~/.kube/config. */
export function kubeconfigPath(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  if (flag) return flag;
  const first = env.KUBECONFIG?.split(":").find((p) => p !== "");
  return first ?? `${env.HOME ?? ""}/.kube/config`;
}

/**
 * The rule: an explicit address wins; `--kubeconfig`/`--context` mean Kubernetes; `--dir` or
 * WEFT_LOCAL_DIR mean the local cluster; otherwise the local cluster when its default state
 * exists, else Kubernetes when kubectl's kubeconfig ($KUBECONFIG, ~/.kube/config) exists, else the
 * local cluster (whose absence is then the error). An address with --kubeconfig/--context, or
 * --dir with them, is a usage error (an address with --dir: the address, as before).
 */
export function targetMode(o: ModeInput, f: ModeFacts): Result<TargetMode, Error> {
  const kube = o.kubeconfig !== undefined || o.context !== undefined;
  if (o.address !== undefined && kube) return err(new Error("an explicit address excludes --kubeconfig and --context"));
  if (o.address !== undefined) return ok({ kind: "address" });
  if (kube && o.dir !== undefined) return err(new Error("--dir (the local cluster) and --kubeconfig/--context (Kubernetes) are exclusive"));
  const kubeMode = (): TargetMode => ({
    kind: "kube",
    kubeconfig: kubeconfigPath(o.kubeconfig, f.env),
    ...(o.context !== undefined ? { context: o.context } : {}),
  });
  if (kube) return ok(kubeMode());
  const dir = o.dir ?? f.env.WEFT_LOCAL_DIR;
  if (dir !== undefined) return ok({ kind: "local", dir });
  if (f.localClusterIn(f.defaultDir)) return ok({ kind: "local", dir: f.defaultDir });
  if (f.fileExists(kubeconfigPath(undefined, f.env))) return ok(kubeMode());
  return ok({ kind: "local", dir: f.defaultDir });
}

export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: Array<{ key: string; operator: string; values?: string[] }>;
}

/** A label selector as the `labelSelector` query parameter; an empty one selects nothing here. */
export function selectorQuery(sel: LabelSelector | undefined, what: string): Result<string, Error> {
  const parts = Object.entries(sel?.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`);
  for (const e of sel?.matchExpressions ?? []) {
    const vals = `(${(e.values ?? []).join(",")})`;
    if (e.operator === "In") parts.push(`${e.key} in ${vals}`);
    else if (e.operator === "NotIn") parts.push(`${e.key} notin ${vals}`);
    else if (e.operator === "Exists") parts.push(e.key);
    else if (e.operator === "DoesNotExist") parts.push(`!${e.key}`);
    else return err(new Error(`${what}: selector operator ${JSON.stringify(e.operator)} is not In, NotIn, Exists or DoesNotExist`));
  }
  if (parts.length === 0) return err(new Error(`${what} has no selector`));
  return ok(parts.join(","));
}

export interface PodSummary {
  metadata: { name: string; namespace?: string; creationTimestamp?: string; deletionTimestamp?: string };
  spec?: { nodeName?: string };
  status?: { phase?: string; conditions?: Array<{ type: string; status: string }> };
}

const ready = (p: PodSummary): boolean => p.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") === true;
const live = (p: PodSummary): boolean => !p.metadata.deletionTimestamp && p.status?.phase === "Running";
/** Ready first, then the newest, then by name (a rollout may leave two pods for a while). */
const better = (a: PodSummary, b: PodSummary): number =>
  Number(ready(b)) - Number(ready(a)) ||
  (b.metadata.creationTimestamp ?? "").localeCompare(a.metadata.creationTimestamp ?? "") ||
  a.metadata.name.localeCompare(b.metadata.name);

/** The control plane pod to ask: a Running one of the Service's, Ready first. */
export function pickControlPlanePod(service: string, selector: string, pods: readonly PodSummary[]): Result<PodSummary, Error> {
  const running = pods.filter(live).sort(better);
  if (running.length === 0)
    return err(new Error(`Service ${service}: no Running pod selected by ${selector} (${pods.length} pods in all)`));
  return ok(running[0]!);
}

/** One ztunnel pod per node (by spec.nodeName), sorted by node; only `node`'s when given. */
export function pickZtunnelPods(
  daemonSet: string,
  selector: string,
  pods: readonly PodSummary[],
  node?: string,
): Result<PodSummary[], Error> {
  const byNode = new Map<string, PodSummary>();
  for (const p of pods.filter(live).sort(better)) {
    const n = p.spec?.nodeName;
    if (n && !byNode.has(n)) byNode.set(n, p);
  }
  if (byNode.size === 0)
    return err(new Error(`DaemonSet ${daemonSet}: no Running pod selected by ${selector} (${pods.length} pods in all)`));
  if (node !== undefined) {
    const p = byNode.get(node);
    return p
      ? ok([p])
      : err(
          new Error(
            `DaemonSet ${daemonSet}: no Running ztunnel pod on node ${JSON.stringify(node)} (nodes: ${[...byNode.keys()].sort().join(", ")})`,
          ),
        );
  }
  return ok([...byNode.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([, p]) => p));
}
