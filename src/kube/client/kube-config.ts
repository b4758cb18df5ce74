/**
 * Where the Kubernetes API is and how to authenticate to it: a kubeconfig file (the subset the
 * control plane needs: server, CA, client certificate, bearer token or token file) or the
 * in-cluster service account mount.
 *
 * `parseKubeconfig` is pure: it returns file references as paths (resolved against the
 * kubeconfig's folder, as kubectl does) and inline `*-data` fields decoded; `loadKubeconfig`
 * and `inClusterConfig` do the file IO. Unsupported auth (exec plugins, auth-provider) is an
 * error naming the user entry rather than a silent anonymous client.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { parse as parseYaml } from "yaml";
import type { Result } from "../../common/result.js";
import { ok, err } from "../../common/result.js";

export interface KubeClientConfig {
  /** `https://host:port` of the API server. */
  readonly server: string;
  /** PEM of the CA that signs the API server's serving certificate. */
  readonly ca?: string;
  /** PEM client certificate and key (x509 client auth). */
  readonly cert?: string;
  readonly key?: string;
  /** Static bearer token. */
  readonly token?: string;
  /** File holding a bearer token, re-read periodically (projected SA tokens rotate). */
  readonly tokenFile?: string;
  readonly insecureSkipTlsVerify?: boolean;
}

/** A parsed kubeconfig before its file references are read. */
export interface KubeconfigRefs {
  readonly server: string;
  readonly insecureSkipTlsVerify: boolean;
  readonly ca?: { data: string } | { file: string };
  readonly cert?: { data: string } | { file: string };
  readonly key?: { data: string } | { file: string };
  readonly token?: string;
  readonly tokenFile?: string;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);

function named(list: unknown, name: string, field: string): Result<Obj, Error> {
  if (!Array.isArray(list)) return err(new Error(`kubeconfig: ${field} is not a list`));
  for (const [i, e] of list.entries()) {
    if (isObj(e) && e.name === name) {
      const inner = e[field.replace(/s$/, "")];
      if (!isObj(inner)) return err(new Error(`kubeconfig: ${field}[${i}] (${name}) has no ${field.replace(/s$/, "")} map`));
      return ok(inner);
    }
  }
  return err(new Error(`kubeconfig: no entry named "${name}" in ${field}`));
}

function ref(o: Obj, key: string, where: string, baseDir: string): Result<{ data: string } | { file: string } | undefined, Error> {
  const data = o[`${key}-data`];
  const file = o[key];
  if (data !== undefined) {
    if (typeof data !== "string") return err(new Error(`kubeconfig: ${where}.${key}-data is not a string`));
    return ok({ data: Buffer.from(data, "base64").toString("utf8") });
  }
  if (file !== undefined) {
    if (typeof file !== "string") return err(new Error(`kubeconfig: ${where}.${key} is not a string`));
    return ok({ file: path.resolve(baseDir, file) });
  }
  return ok(undefined);
}

/** Parses kubeconfig YAML; `context` defaults to `current-context`. */
export function parseKubeconfig(text: string, opts: { context?: string; baseDir?: string } = {}): Result<KubeconfigRefs, Error> {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (e) {
    return err(new Error(`kubeconfig: not YAML: ${(e as Error).message}`));
  }
  if (!isObj(doc)) return err(new Error("kubeconfig: not a map"));
  const baseDir = opts.baseDir ?? process.cwd();
  const ctxName = opts.context ?? doc["current-context"];
  if (typeof ctxName !== "string" || ctxName === "") return err(new Error("kubeconfig: no current-context and none given"));
  const ctx = named(doc.contexts, ctxName, "contexts");
  if (!ctx.ok) return ctx;
  const clusterName = ctx.value.cluster;
  if (typeof clusterName !== "string") return err(new Error(`kubeconfig: context "${ctxName}" names no cluster`));
  const cluster = named(doc.clusters, clusterName, "clusters");
  if (!cluster.ok) return cluster;
  const server = cluster.value.server;
  if (typeof server !== "string" || !/^https?:\/\//.test(server)) {
    return err(new Error(`kubeconfig: clusters[${clusterName}].server must be an http(s) URL`));
  }
  const ca = ref(cluster.value, "certificate-authority", `clusters[${clusterName}]`, baseDir);
  if (!ca.ok) return ca;

  let user: Obj = {};
  const userName = ctx.value.user;
  if (typeof userName === "string" && userName !== "") {
    const u = named(doc.users, userName, "users");
    if (!u.ok) return u;
    user = u.value;
  }
  const where = `users[${String(userName)}]`;
  for (const unsupported of ["exec", "auth-provider", "username", "password"]) {
    if (user[unsupported] !== undefined)
      return err(new Error(`kubeconfig: ${where}.${unsupported} is not supported (use a token or client certificate)`));
  }
  const cert = ref(user, "client-certificate", where, baseDir);
  if (!cert.ok) return cert;
  const key = ref(user, "client-key", where, baseDir);
  if (!key.ok) return key;
  if ((cert.value === undefined) !== (key.value === undefined)) {
    return err(new Error(`kubeconfig: ${where} needs both client-certificate and client-key`));
  }
  const token = user.token;
  if (token !== undefined && typeof token !== "string") return err(new Error(`kubeconfig: ${where}.token is not a string`));
  const tokenFile = user.tokenFile;
  if (tokenFile !== undefined && typeof tokenFile !== "string") return err(new Error(`kubeconfig: ${where}.tokenFile is not a string`));
  return ok({
    server,
    insecureSkipTlsVerify: cluster.value["insecure-skip-tls-verify"] === true,
    ...(ca.value ? { ca: ca.value } : {}),
    ...(cert.value ? { cert: cert.value } : {}),
    ...(key.value ? { key: key.value } : {}),
    ...(token ? { token } : {}),
    ...(tokenFile ? { tokenFile: path.resolve(baseDir, tokenFile) } : {}),
  });
}

function readRef(r: { data: string } | { file: string } | undefined): string | undefined {
  if (r === undefined) return undefined;
  return "data" in r ? r.data : readFileSync(r.file, "utf8");
}

/** Reads a kubeconfig file and the files it points to. */
export function loadKubeconfig(file: string, context?: string): Result<KubeClientConfig, Error> {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    return err(new Error(`kubeconfig ${file}: ${(e as Error).message}`));
  }
  const refs = parseKubeconfig(text, { baseDir: path.dirname(path.resolve(file)), ...(context ? { context } : {}) });
  if (!refs.ok) return err(new Error(`${file}: ${refs.error.message}`));
  try {
    const r = refs.value;
    return ok({
      server: r.server,
      insecureSkipTlsVerify: r.insecureSkipTlsVerify,
      ca: readRef(r.ca),
      cert: readRef(r.cert),
      key: readRef(r.key),
      token: r.token,
      tokenFile: r.tokenFile,
    });
  } catch (e) {
    return err(new Error(`kubeconfig ${file}: ${(e as Error).message}`));
  }
}

const saDir = "/var/run/secrets/kubernetes.io/serviceaccount";

/** The in-cluster config (KUBERNETES_SERVICE_HOST/PORT and the service account mount). */
export function inClusterConfig(env: NodeJS.ProcessEnv = process.env, dir = saDir): Result<KubeClientConfig, Error> {
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT;
  if (!host || !port) return err(new Error("in-cluster config: KUBERNETES_SERVICE_HOST/PORT are not set (not running in a pod?)"));
  try {
    const ca = readFileSync(path.join(dir, "ca.crt"), "utf8");
    const server = `https://${host.includes(":") ? `[${host}]` : host}:${port}`;
    return ok({ server, ca, tokenFile: path.join(dir, "token") });
  } catch (e) {
    return err(new Error(`in-cluster config: ${(e as Error).message}`));
  }
}
