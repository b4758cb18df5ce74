/**
 * What `weft install` and `weft uninstall` do (flags: install.ts): the manifest set of manifests.ts (+ crds.ts) server-side applied to the cluster of a kubeconfig
 * with field manager `weft-install`, a progress line per object and per readiness change, and a
 * summary; a second run reports everything `unchanged`. Uninstall removes what install created
 * (found by the labels part-of=weft and managed-by=weft-install), the workloads first so the CNI node agent
 * can remove its chained plugin config while its RBAC still exists; CRDs only with --purge.
 * The decisions (what to apply, keep, prune, delete) are in plan.ts; this file does the IO.
 */
import { readFileSync } from "node:fs";
import { connect, type KubeConnection } from "../../kube/apply/connect.js";
import {
  type KubeObject,
  type RetryOptions,
  applyObject,
  deleteObject,
  listByLabel,
  readObject,
  refOf,
  strays,
  waitGone,
  waitNone,
  waitReady,
} from "../../kube/apply/apply.js";
import { WAITED_KINDS } from "../../kube/apply/readiness.js";
import { isRequestTimeout } from "../../kube/client/kube-error.js";
import { CliError, EXIT_OK } from "../command.js";
import { INSTALL_SELECTOR, MANAGED_BY, MANAGED_BY_LABEL, PART_OF, PART_OF_LABEL, inApplyOrder } from "./manifest.js";
import { CA_SECRET, CNI_AGENT, type ManifestOptions, defaultManifestOptions, renderManifests } from "./manifests.js";
import { renderCrds } from "./crds.js";
import { toYaml } from "./render.js";
import { newCaSecret, rootConfigMap } from "./ca-objects.js";
import { parseDurationMs, parseBool } from "./flags.js";
import { rootLogger } from "../../common/log.js";
import { parseMeshConfig } from "../../controlplane/mesh-config.js";

export const FIELD_MANAGER = "weft-install";

export interface TargetOpts {
  kubeconfig?: string;
  context?: string;
  requestTimeout: string;
}

export interface InstallOpts extends TargetOpts {
  namespace: string;
  image: string;
  captureBackend: "ebpf" | "nftables";
  cniConfDir: string;
  cniBinDir: string;
  trustDomain: string;
  meshConfig?: string;
  crds: "auto" | "skip";
  dryRun?: boolean;
  wait: string | boolean;
  timeout: string;
}

export interface UninstallOpts extends TargetOpts {
  namespace: string;
  purge?: boolean;
  wait: string | boolean;
  timeout: string;
}

const say = (line: string): void => void process.stdout.write(`${line}\n`);

function manifestOptions(o: InstallOpts): ManifestOptions {
  return {
    ...defaultManifestOptions(),
    namespace: o.namespace,
    image: o.image,
    captureBackend: o.captureBackend,
    cniConfDir: o.cniConfDir,
    cniBinDir: o.cniBinDir,
    trustDomain: o.trustDomain,
    ...(o.meshConfig !== undefined ? { meshConfig: meshConfigText(o.meshConfig) } : {}),
  };
}

/** The --mesh-config file, checked with the control plane's own reader: a mesh config it would refuse is never applied. */
function meshConfigText(file: string): string {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    throw new CliError(
      `--mesh-config ${file}: ${(e as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : (e as Error).message}`,
      2,
    );
  }
  const parsed = parseMeshConfig(text, file);
  if (!parsed.ok) throw new CliError(parsed.error.message, 2);
  return text.endsWith("\n") ? text : `${text}\n`;
}

function waitSettings(o: { wait: string | boolean; timeout: string }): { wait: boolean; timeoutMs: number } {
  const wait = parseBool(o.wait, "--wait");
  if (!wait.ok) throw new CliError(wait.error.message, 2);
  const t = parseDurationMs(o.timeout, "--timeout");
  if (!t.ok) throw new CliError(t.error.message, 2);
  return { wait: wait.value, timeoutMs: t.value };
}

async function cluster(o: TargetOpts): Promise<KubeConnection> {
  const t = parseDurationMs(o.requestTimeout, "--request-timeout");
  if (!t.ok) throw new CliError(t.error.message, 2);
  if (t.value <= 0) throw new CliError(`--request-timeout ${JSON.stringify(o.requestTimeout)}: must be more than 0`, 2);
  const c = await connect({
    ...(o.kubeconfig !== undefined ? { kubeconfig: o.kubeconfig } : {}),
    ...(o.context !== undefined ? { context: o.context } : {}),
    requestTimeoutMs: t.value,
  });
  if (!c.ok) throw new CliError(timeoutHint(c.error));
  say(`cluster ${c.value.describe}, Kubernetes ${c.value.serverVersion}`);
  return c.value;
}

/** Progress lines for requests that timed out: retried ones, and failed checks of a wait. */
const retry: RetryOptions = {
  onRetry: (message, attempt, attempts) =>
    say(
      attempts !== undefined
        ? `  ${message}: trying again (attempt ${attempt + 1}/${attempts})`
        : `  ${message}: counted as a failed check, still waiting`,
    ),
};

function timeoutHint(e: Error): string {
  return isRequestTimeout(e)
    ? `${e.message} (the API server did not answer in time: overloaded or unreachable? --request-timeout sets the bound)`
    : e.message;
}

const ours = (x: KubeObject | undefined): boolean =>
  x?.metadata.labels?.[PART_OF_LABEL] === PART_OF && x.metadata.labels[MANAGED_BY_LABEL] === MANAGED_BY;
const unwrap = <T>(r: { ok: true; value: T } | { ok: false; error: Error }): T => {
  if (!r.ok) throw new CliError(timeoutHint(r.error));
  return r.value;
};

export async function runInstall(o: InstallOpts): Promise<number> {
  // The progress lines are the output; the libraries' info logs (the CA's "created a root") would interleave with them.
  if (!process.env.WEFT_LOG) rootLogger.level = "warn";
  const { wait, timeoutMs } = waitSettings(o);
  const mo = manifestOptions(o);
  const objects = renderManifests(mo) as unknown as KubeObject[];
  const crds = o.crds === "auto" ? (renderCrds() as unknown as KubeObject[]) : [];
  if (o.dryRun) {
    process.stdout.write(toYaml([...crds, ...objects] as never, [`weft install --dry-run (namespace ${mo.namespace}, image ${mo.image})`]));
    return EXIT_OK;
  }
  const c = await cluster(o);
  const counts: Record<string, number> = { created: 0, configured: 0, unchanged: 0, kept: 0, pruned: 0 };
  const report = (ref: string, what: string): void => {
    counts[what.split(" ")[0]!] = (counts[what.split(" ")[0]!] ?? 0) + 1;
    say(`  ${ref} ${what}`);
  };
  const applied: KubeObject[] = [];
  const ordered = inApplyOrder([...crds, ...objects]);
  const first = ordered.filter((x) => x.kind === "CustomResourceDefinition" || x.kind === "Namespace");
  for (const x of first) {
    // A CRD or the Namespace that exists and is not weft's (Istio's CRDs, a namespace the user made) is left as it is.
    const cur = unwrap(await readObject(c.objects, x, retry));
    if (cur && !ours(cur)) {
      report(refOf(x), "kept (exists, not created by weft)");
      continue;
    }
    report(refOf(x), unwrap(await applyObject(c.objects, x, FIELD_MANAGER, retry)));
    applied.push(x);
  }
  await ensureCa(c, mo, report, applied);
  for (const x of ordered.filter((y) => !first.includes(y))) {
    report(refOf(x), unwrap(await applyObject(c.objects, x, FIELD_MANAGER, retry)));
    applied.push(x);
  }
  for (const s of unwrap(await strays(c.objects, applied, INSTALL_SELECTOR, retry))) {
    if (s.kind === "CustomResourceDefinition") continue; // CRDs are removed only by uninstall --purge
    unwrap(await deleteObject(c.objects, s, retry));
    report(refOf(s), "pruned (no longer part of the install)");
  }
  const summary = Object.entries(counts)
    .filter(([, n]) => n > 0)
    .map(([k, n]) => `${n} ${k}`)
    .join(", ");
  if (!wait) {
    say(`not waiting for readiness (--wait=false); check with: kubectl -n ${mo.namespace} get pods`);
    say(`weft applied: ${summary}`);
    return EXIT_OK;
  }
  say(`waiting for readiness (timeout ${Math.round(timeoutMs / 1000)} s)`);
  const waited = applied.filter((x) => WAITED_KINDS.includes(x.kind));
  const r = await waitReady(c.objects, waited, { ...retry, timeoutMs, onProgress: (ref, st) => say(`  ${ref}: ${st.detail}`) });
  if (!r.ok)
    throw new CliError(
      `${r.error.message} (applied: ${summary}; see kubectl -n ${mo.namespace} get pods, docs/kubernetes.md#troubleshooting)`,
    );
  say(`weft installed and ready: ${summary}`);
  return EXIT_OK;
}

/** The CA Secret (created when missing, never replaced) and the root ConfigMap derived from it. */
async function ensureCa(
  c: KubeConnection,
  mo: ManifestOptions,
  report: (ref: string, what: string) => void,
  applied: KubeObject[],
): Promise<void> {
  const probe = { apiVersion: "v1", kind: "Secret", metadata: { name: CA_SECRET, namespace: mo.namespace } } as KubeObject;
  let secret = unwrap(await readObject(c.objects, probe, retry));
  if (!secret) {
    secret = unwrap(await newCaSecret(mo.namespace, mo.trustDomain));
    unwrap(await applyObject(c.objects, secret, FIELD_MANAGER, retry));
    report(refOf(secret), "created (a new self-signed mesh root)");
  } else report(refOf(probe), ours(secret) ? "unchanged" : "kept (exists: a plugged-in CA)");
  if (ours(secret)) applied.push({ ...probe, metadata: { ...probe.metadata } });
  const cm = unwrap(rootConfigMap(secret, mo.namespace));
  report(refOf(cm), unwrap(await applyObject(c.objects, cm, FIELD_MANAGER, retry)));
  applied.push(cm);
}

/** What uninstall deletes first (their pods must stop while RBAC still exists), then the rest. */
const WORKLOADS = ["DaemonSet", "Deployment"];
const KINDS: readonly [string, string][] = [
  ["apps/v1", "DaemonSet"],
  ["apps/v1", "Deployment"],
  ["policy/v1", "PodDisruptionBudget"],
  ["v1", "Service"],
  ["v1", "ConfigMap"],
  ["v1", "Secret"],
  ["rbac.authorization.k8s.io/v1", "RoleBinding"],
  ["rbac.authorization.k8s.io/v1", "Role"],
  ["rbac.authorization.k8s.io/v1", "ClusterRoleBinding"],
  ["rbac.authorization.k8s.io/v1", "ClusterRole"],
  ["v1", "ServiceAccount"],
  ["v1", "Namespace"],
];

export async function runUninstall(o: UninstallOpts): Promise<number> {
  const { wait, timeoutMs } = waitSettings(o);
  const c = await cluster(o);
  const kinds: [string, string][] = [
    ...KINDS,
    ...(o.purge ? [["apiextensions.k8s.io/v1", "CustomResourceDefinition"] as [string, string]] : []),
  ];
  const found: KubeObject[] = [];
  for (const [apiVersion, kind] of kinds) found.push(...unwrap(await listByLabel(c.objects, apiVersion, kind, INSTALL_SELECTOR, retry)));
  if (!found.length) {
    say("nothing to uninstall: no object labelled " + INSTALL_SELECTOR);
    return EXIT_OK;
  }
  const del = async (xs: KubeObject[]): Promise<void> => {
    for (const x of xs) say(`  ${refOf(x)} ${unwrap(await deleteObject(c.objects, x, retry))}`);
  };
  const workloads = found.filter((x) => WORKLOADS.includes(x.kind));
  await del(workloads);
  const deadline = Date.now() + timeoutMs;
  const left = (): number => Math.max(0, deadline - Date.now());
  if (wait) {
    // The node agents remove the chained CNI config when they see their DaemonSet deleted; their pods going away means done.
    say("waiting for weft's pods to stop (the CNI node agents remove their plugin config)");
    const sel = { apiVersion: "v1", kind: "Pod" };
    unwrapWait(
      await waitNone(
        c.objects,
        { ...sel, labelSelector: INSTALL_SELECTOR },
        { ...retry, timeoutMs: left(), onProgress: (r, s) => say(`  ${r}: ${s.detail}`) },
      ),
    );
  }
  await del(found.filter((x) => !WORKLOADS.includes(x.kind)));
  if (wait) {
    // A Namespace finishes deleting when the namespace controller has emptied it: not waited for (a CRD's
    // cleanup runs in the API server itself, so CRDs are).
    const rest = found.filter((x) => x.kind !== "Namespace");
    say(`waiting for the ${rest.length} deleted objects to be gone`);
    // What is still there is worth a line (terminating, a finalizer pending); each object gone is not.
    unwrapWait(
      await waitGone(c.objects, rest, {
        ...retry,
        timeoutMs: left(),
        onProgress: (r, st) => st.ready || say(`  ${r}: ${st.detail}`),
        onRequeue: (r, e) =>
          say(e ? `  ${r}: could not queue its cleanup again: ${e}` : `  ${r}: cleanup stalled in the API server, queued again`),
      }),
    );
  }
  const crdsLeft = o.purge
    ? []
    : unwrap(await listByLabel(c.objects, "apiextensions.k8s.io/v1", "CustomResourceDefinition", INSTALL_SELECTOR, retry));
  say(
    `weft uninstalled: ${found.length} objects deleted${crdsLeft.length ? `; ${crdsLeft.length} CRDs kept (weft uninstall --purge removes them)` : ""}`,
  );
  return EXIT_OK;
}

function unwrapWait(r: { ok: true } | { ok: false; error: Error }): void {
  if (!r.ok)
    throw new CliError(
      `${timeoutHint(r.error)} (weft's ${CNI_AGENT} pods remove the CNI config on their nodes; see docs/kubernetes.md#troubleshooting)`,
    );
}
