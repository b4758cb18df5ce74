/**
 * Where the Kubernetes API is and how to authenticate to it, as @kubernetes/client-node's
 * `KubeConfig`: a kubeconfig file (everything the library supports: CA, client certificates,
 * tokens, exec credential plugins, OIDC and other auth-providers, proxies), the in-cluster
 * service account mount, or explicit parts (tests, tools).
 *
 * The library does the parsing; this module adds what weft relied on before: a chosen context
 * must exist, the context's cluster and user must exist and the server be an http(s) URL, kubectl's
 * `tokenFile` user field is honoured and re-read as the token rotates (the library reads only
 * `token-file`, once), and a relative exec plugin path is resolved against the file's folder. Every failure is an error value naming the file and entry.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { parse as parseYaml } from "yaml";
import type { KubeConfig, User } from "@kubernetes/client-node";
import type { Result } from "../../common/result.js";
import { ok, err } from "../../common/result.js";
import { clientNode } from "./kube-lib.js";

/** A ready connection description: the library's KubeConfig with a current context. */
export type KubeClientConfig = KubeConfig;

/** Explicit connection parts (tests, tools that already hold credentials). */
export interface KubeConfigParts {
  /** `https://host:port` of the API server. */
  readonly server: string;
  /** PEM of the CA that signs the API server's serving certificate. */
  readonly ca?: string;
  /** PEM client certificate and key (x509 client auth). */
  readonly cert?: string;
  readonly key?: string;
  /** Static bearer token. */
  readonly token?: string;
  /** File holding a bearer token, re-read every minute (projected service account tokens rotate). */
  readonly tokenFile?: string;
  readonly insecureSkipTlsVerify?: boolean;
}

const saDir = "/var/run/secrets/kubernetes.io/serviceaccount";

function tokenFileUser(name: string, tokenFile: string): User {
  return { name, authProvider: { name: "tokenFile", config: { tokenFile } } };
}

/** A KubeConfig with one cluster, user and context named `weft`. */
export function kubeConfigFromParts(p: KubeConfigParts): KubeClientConfig {
  const kc = new (clientNode().KubeConfig)();
  const b64 = (s: string | undefined) => (s === undefined ? undefined : Buffer.from(s).toString("base64"));
  const user: User = p.tokenFile
    ? tokenFileUser("weft", p.tokenFile)
    : { name: "weft", ...(p.token ? { token: p.token } : {}), certData: b64(p.cert), keyData: b64(p.key) };
  kc.loadFromOptions({
    clusters: [{ name: "weft", server: p.server, caData: b64(p.ca), skipTLSVerify: p.insecureSkipTlsVerify === true }],
    users: [user],
    contexts: [{ name: "weft", cluster: "weft", user: "weft" }],
    currentContext: "weft",
  });
  return kc;
}

/** Checks what the library leaves to the first request: context, cluster and server exist. */
function checkCurrent(kc: KubeConfig, where: string): Result<KubeConfig, Error> {
  const ctxName = kc.getCurrentContext();
  if (!ctxName) return err(new Error(`${where}: no current-context and none given`));
  const ctx = kc.getContextObject(ctxName);
  if (!ctx) return err(new Error(`${where}: no entry named "${ctxName}" in contexts`));
  const cluster = kc.getCluster(ctx.cluster);
  if (!cluster) return err(new Error(`${where}: context "${ctxName}" names cluster "${ctx.cluster}", which is not in clusters`));
  if (!/^https?:\/\//.test(cluster.server)) return err(new Error(`${where}: clusters[${cluster.name}].server must be an http(s) URL`));
  if (ctx.user && !kc.getUser(ctx.user))
    return err(new Error(`${where}: context "${ctxName}" names user "${ctx.user}", which is not in users`));
  return ok(kc);
}

/** Users with kubectl's `tokenFile` field, by name, as absolute paths. */
function tokenFiles(text: string, baseDir: string): Map<string, string> {
  const out = new Map<string, string>();
  const doc = parseYaml(text) as { users?: Array<{ name?: unknown; user?: { tokenFile?: unknown } }> } | null;
  for (const u of Array.isArray(doc?.users) ? doc.users : []) {
    if (typeof u?.name === "string" && typeof u.user?.tokenFile === "string") out.set(u.name, path.resolve(baseDir, u.user.tokenFile));
  }
  return out;
}

/**
 * What kubectl resolves that the library does not: `tokenFile` (when no other credential is set),
 * and an exec plugin's relative command path (one with a `/`), against the kubeconfig's folder.
 */
function resolveUser(u: User, tokenFile: string | undefined, baseDir: string): User {
  if (tokenFile && !u.token && !u.exec && !u.authProvider) return tokenFileUser(u.name, tokenFile);
  const command = (u.exec as { command?: unknown } | undefined)?.command;
  if (typeof command === "string" && command.includes("/") && !path.isAbsolute(command)) {
    return { ...u, exec: { ...(u.exec as object), command: path.resolve(baseDir, command) } };
  }
  return u;
}

/** Reads a kubeconfig file; `context` defaults to its `current-context`. */
export function loadKubeconfig(file: string, context?: string): Result<KubeClientConfig, Error> {
  const kc = new (clientNode().KubeConfig)();
  let text: string;
  try {
    text = readFileSync(file, "utf8");
    kc.loadFromFile(file);
  } catch (e) {
    return err(new Error(`kubeconfig ${file}: ${(e as Error).message}`));
  }
  if (context) kc.setCurrentContext(context);
  const baseDir = path.dirname(path.resolve(file));
  const files = tokenFiles(text, baseDir);
  kc.loadFromOptions({
    clusters: kc.getClusters(),
    contexts: kc.getContexts(),
    currentContext: kc.getCurrentContext(),
    users: kc.getUsers().map((u) => resolveUser(u, files.get(u.name), baseDir)),
  });
  return checkCurrent(kc, `kubeconfig ${file}`);
}

/**
 * The in-cluster config: KUBERNETES_SERVICE_HOST/PORT and the service account mount (`ca.crt`,
 * `token`, re-read every minute). Like the library's `loadFromCluster`, with the environment and
 * folder injectable, and the CA checked now rather than at the first request.
 */
export function inClusterConfig(env: NodeJS.ProcessEnv = process.env, dir = saDir): Result<KubeClientConfig, Error> {
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT;
  if (!host || !port) return err(new Error("in-cluster config: KUBERNETES_SERVICE_HOST/PORT are not set (not running in a pod?)"));
  let ca: string;
  try {
    ca = readFileSync(path.join(dir, "ca.crt"), "utf8");
  } catch (e) {
    return err(new Error(`in-cluster config: ${(e as Error).message}`));
  }
  const server = `https://${host.includes(":") ? `[${host}]` : host}:${port}`;
  return ok(kubeConfigFromParts({ server, ca, tokenFile: path.join(dir, "token") }));
}

/** The API server URL of the current context. */
export function serverOf(kc: KubeClientConfig): string {
  return kc.getCurrentCluster()?.server ?? "(no cluster)";
}
