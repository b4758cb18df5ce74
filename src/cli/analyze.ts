/**
 * `weft analyze [DIR|FILE...]`: offline validation of a folder of YAML, like `istioctl
 * analyze`. Each object goes through the control plane's own validators (the folder source's
 * reader, so the messages, file:line and field are the ones the control plane would log), then
 * the mesh-level findings of analyze-mesh.ts. Without arguments: the local cluster's config.
 * `--cluster`: a Kubernetes API server's objects instead (analyze-cluster.ts), same findings.
 * Exit 0: nothing found or warnings only; 1: errors; 2: bad arguments.
 */
import { readdir, readFile, stat } from "node:fs/promises";
import * as path from "node:path";
import type { Command } from "commander";
import { type FileObjects, emptyFile, readFile as readConfigFile, resolveFolder } from "../kube/folder/file-index.js";
import { isConfigFileName } from "../kube/folder/yaml-documents.js";
import { objectValidator } from "../kube/validate/validate.js";
import type { InvalidObject } from "../kube/source.js";
import { type PolicySettings, policyValidator } from "../controlplane/policies.js";
import { translateAuthorizationPolicy } from "../controlplane/translate/authorization-policy.js";
import { translatePeerAuthentication } from "../controlplane/translate/peer-authentication.js";
import type { KubeObject } from "../kube/object.js";
import type { KubeClientConfig } from "../kube/client/kube-config.js";
import { DEFAULT_AUTHZ_L4_MODE, DEFAULT_CLUSTER_DOMAIN, DEFAULT_ROOT_NAMESPACE, DEFAULT_TRUST_DOMAIN } from "../controlplane/config.js";
import { CliError, EXIT_FAILED, EXIT_OK, EXIT_USAGE, action, examples, outputFormat, outputOption, subcommand } from "./command.js";
import { type Finding, type Located, analyzeMesh, formatFinding } from "./analyze-mesh.js";
import { localDir } from "./targets.js";
import { render } from "./output.js";
import { type NamespaceScope, clusterConfig, contextNamespace, inScope, readCluster } from "./analyze-cluster.js";
import { parseDurationMs } from "./install/flags.js";

interface Options {
  dir?: string;
  output?: string;
  rootNamespace: string;
  trustDomain: string;
  clusterDomain: string;
  authzL4Mode: string;
  cluster?: boolean;
  kubeconfig?: string;
  context?: string;
  namespace?: string;
  allNamespaces?: boolean;
  timeout: string;
}

type Settings = Pick<Options, "rootNamespace" | "trustDomain" | "clusterDomain" | "authzL4Mode">;

async function configFiles(paths: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  const walk = async (p: string, explicit: boolean): Promise<void> => {
    const st = await stat(p).catch(() => undefined);
    if (!st) throw new CliError(`${p}: no such file or directory`, EXIT_USAGE);
    if (st.isDirectory()) {
      for (const e of (await readdir(p)).sort()) if (!e.startsWith(".")) await walk(path.join(p, e), false);
    } else if (explicit || isConfigFileName(path.basename(p))) out.push(p);
  };
  for (const p of paths) await walk(path.resolve(p), true);
  return out;
}

/** A rejected object as a finding; `withOrigin` false for the cluster (no file:line to show). */
export function invalidToFinding(p: InvalidObject, withOrigin = true): Finding {
  return {
    level: "Error",
    code: "SchemaValidationError",
    object: p.object ?? "-",
    field: p.field || "-",
    message: p.reason,
    origin: withOrigin ? p.origin.source : "",
  };
}

/**
 * The control plane's own translation of each security policy: a malformed one is not
 * rejected but enforced as a DENY of everything in its scope (fail closed), and Istio's
 * status conditions become warnings. Both are what the control plane logs.
 */
export function policyFindings(objs: ReadonlyArray<{ object: KubeObject; origin: string }>, s: PolicySettings): Finding[] {
  const out: Finding[] = [];
  for (const { object: o, origin } of objs) {
    if (!o.apiVersion.startsWith("security.istio.io/")) continue;
    const t =
      o.kind === "AuthorizationPolicy"
        ? translateAuthorizationPolicy(o, s)
        : o.kind === "PeerAuthentication"
          ? translatePeerAuthentication(o, s)
          : undefined;
    if (!t?.ok) continue; // refused by the validator already
    const object = `${o.kind} ${o.metadata.namespace ?? "default"}/${o.metadata.name}`;
    // The control plane's own words for what a malformed policy does, once per error.
    const closed = t.value.warnings.map((w) => /failing closed: (.*?) until it is fixed/.exec(w)?.[1]).find((x) => x);
    for (const e of t.value.errors)
      out.push({
        level: "Error",
        code: "PolicyFailsClosed",
        object,
        field: e.field,
        origin,
        message: `${e.reason}: the policy fails closed (${closed ?? "a DENY of everything in its scope"})`,
      });
    for (const w of t.value.warnings)
      if (!/malformed, failing closed/.test(w))
        out.push({ level: "Warning", code: "PolicyWarning", object, field: "-", origin, message: w });
  }
  return out;
}

function policySettings(o: Settings): PolicySettings {
  if (o.authzL4Mode !== "istio" && o.authzL4Mode !== "strict")
    throw new CliError(`--authz-l4-mode: ${o.authzL4Mode} is not istio or strict`, EXIT_USAGE);
  return { rootNamespace: o.rootNamespace, trustDomain: o.trustDomain, l4Mode: o.authzL4Mode };
}

/** What every source of objects gets after validation: the policy translation's findings and the mesh-level ones. */
function objectFindings(objs: readonly Located[], settings: PolicySettings, o: Settings): Finding[] {
  return [...policyFindings(objs, settings), ...analyzeMesh(objs, { rootNamespace: o.rootNamespace, clusterDomain: o.clusterDomain })];
}

/** Every finding for the files: validation problems first (by file), then mesh-level ones. */
export async function analyzePaths(paths: readonly string[], o: Settings): Promise<Finding[]> {
  const settings = policySettings(o);
  const validate = policyValidator(settings, objectValidator());
  const files = new Map<string, FileObjects>();
  const findings: Finding[] = [];
  for (const f of await configFiles(paths)) {
    const r = readConfigFile(f, await readFile(f, "utf8"), emptyFile, validate, "default");
    files.set(f, r.state);
    findings.push(...r.problems.map((p) => invalidToFinding(p)));
  }
  const resolved = resolveFolder(files);
  for (const list of resolved.conflicts.values()) findings.push(...list.map((p) => invalidToFinding(p)));
  const objs = [...resolved.effective.values()].map((e) => ({ object: e.object, origin: e.origin.source }));
  findings.push(...objectFindings(objs, settings, o));
  return findings;
}

/** Every finding for a cluster's objects (all namespaces); the caller filters by namespace. */
export async function analyzeCluster(config: KubeClientConfig, o: Settings, timeoutMs: number): Promise<Finding[]> {
  const settings = policySettings(o);
  const { objects, invalid } = await readCluster(config, settings, timeoutMs);
  return [...invalid.map((p) => invalidToFinding(p, false)), ...objectFindings(objects, settings, o)];
}

/** The cluster's findings in the namespace scope asked for (istioctl's: `-n`, else the context's namespace; `-A` all). */
async function clusterFindings(o: Options): Promise<{ findings: Finding[]; scope: string }> {
  if (o.namespace && o.allNamespaces) throw new CliError("-n and -A are exclusive", EXIT_USAGE);
  const timeout = parseDurationMs(o.timeout, "--timeout");
  if (!timeout.ok) throw new CliError(timeout.error.message, EXIT_USAGE);
  const config = clusterConfig(o);
  const scope: NamespaceScope = o.allNamespaces ? { all: true } : { all: false, namespace: o.namespace ?? contextNamespace(config) };
  const all = await analyzeCluster(config, o, timeout.value);
  return {
    findings: all.filter((f) => inScope(f, scope)),
    scope: scope.all ? "all namespaces" : `namespace: ${scope.namespace}`,
  };
}

export function registerAnalyze(program: Command): void {
  const cmd = subcommand(
    program,
    "analyze",
    "validate YAML offline or a cluster's config with the control plane's validators, plus mesh-level checks",
  )
    .argument("[paths...]", "files or folders (default: the local cluster's config folder)")
    .option("--dir <state>", "local cluster state folder whose config is analyzed when no path is given")
    .option("--cluster", "analyze the objects of a Kubernetes API server (every kind the control plane watches) instead of files")
    .option("--kubeconfig <file>", "with --cluster: kubeconfig (default: $KUBECONFIG, else ~/.kube/config)")
    .option("--context <name>", "with --cluster: kubeconfig context (default: its current-context)")
    .option("-n, --namespace <ns>", "with --cluster: show findings of this namespace (default: the context's, else default)")
    .option("-A, --all-namespaces", "with --cluster: show findings of every namespace")
    .option("--timeout <duration>", "with --cluster: how long listing every kind may take", "30s")
    .option("--root-namespace <ns>", "mesh root namespace", DEFAULT_ROOT_NAMESPACE)
    .option("--trust-domain <td>", "trust domain", DEFAULT_TRUST_DOMAIN)
    .option("--cluster-domain <domain>", "DNS suffix of service hostnames", DEFAULT_CLUSTER_DOMAIN)
    .option("--authz-l4-mode <mode>", "as the control plane's: istio or strict (docs/authorization.md)", DEFAULT_AUTHZ_L4_MODE);
  outputOption(cmd);
  examples(cmd, [
    "weft analyze examples/demo",
    "weft analyze app.yaml policies/ -o json",
    "sudo weft analyze        # the running local cluster's config",
    "weft analyze --cluster -A --kubeconfig ~/.kube/config",
    "weft analyze --cluster -n demo --context prod",
  ]);
  action(cmd, async (o: Options) => {
    let findings: Finding[];
    let what: string;
    if (o.cluster) {
      if (cmd.args.length) throw new CliError("--cluster analyzes the cluster's objects: give no paths", EXIT_USAGE);
      if (o.dir) throw new CliError("--dir and --cluster are exclusive", EXIT_USAGE);
      ({ findings, scope: what } = await clusterFindings(o));
    } else {
      const kubeOnly = (["kubeconfig", "context", "namespace", "allNamespaces"] as const).filter((k) => o[k] !== undefined);
      if (kubeOnly.length) throw new CliError(`${kubeOnly.map(flagName).join(", ")} need --cluster`, EXIT_USAGE);
      const paths = cmd.args.length ? cmd.args : [path.join(localDir(o), "config")];
      findings = await analyzePaths(paths, o);
      what = paths.join(", ");
    }
    const format = outputFormat(o);
    if (format === "json" || format === "yaml") process.stdout.write(render(format, findings, []));
    else if (findings.length === 0) process.stdout.write(`✔ No validation issues found when analyzing ${what}.\n`);
    else process.stdout.write(findings.map(formatFinding).join("\n") + "\n");
    return findings.some((f) => f.level === "Error") ? EXIT_FAILED : EXIT_OK;
  });
}

const flagName = (k: string): string => ({ namespace: "-n", allNamespaces: "-A" })[k] ?? `--${k}`;
