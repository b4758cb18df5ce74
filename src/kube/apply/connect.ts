/**
 * A connection to the cluster of a kubeconfig (@kubernetes/client-node: its kubeconfig loader
 * handles contexts, exec and OIDC auth), checked once with GET /version so a bad kubeconfig or
 * an unreachable API server is one clear line before anything is changed. Every request on it
 * (that check included) is bounded by `requestTimeoutMs` (kube/client/kube-request-timeout.ts).
 */
import { KubeConfig, VersionApi } from "@kubernetes/client-node";
import { ApplyObjectApi } from "./object-api.js";
import { type Result, ok, err } from "../../common/result.js";
import { DEFAULT_REQUEST_TIMEOUT_MS, timedClient } from "../client/kube-request-timeout.js";
import { KubeError } from "../client/kube-error.js";

export interface KubeTarget {
  /** A kubeconfig file, or "in-cluster" (the pod's service account); default $KUBECONFIG or ~/.kube/config. */
  readonly kubeconfig?: string;
  /** A context of that kubeconfig; default its current-context. */
  readonly context?: string;
  /** The bound of each request; default DEFAULT_REQUEST_TIMEOUT_MS (30 s). */
  readonly requestTimeoutMs?: number;
}

export interface KubeConnection {
  readonly config: KubeConfig;
  readonly objects: ApplyObjectApi;
  /** `context (server)`, for progress lines. */
  readonly describe: string;
  readonly serverVersion: string;
  readonly requestTimeoutMs: number;
}

/** Loads the kubeconfig and asks the API server its version; every failure names the file, context or server. */
export async function connect(t: KubeTarget): Promise<Result<KubeConnection>> {
  const kc = new KubeConfig();
  const where = t.kubeconfig ?? process.env.KUBECONFIG ?? "~/.kube/config";
  try {
    if (t.kubeconfig === "in-cluster") kc.loadFromCluster();
    else if (t.kubeconfig) kc.loadFromFile(t.kubeconfig);
    else kc.loadFromDefault();
  } catch (e) {
    return err(new Error(`kubeconfig ${where}: ${oneLine(e)}`));
  }
  if (t.context !== undefined) {
    if (!kc.getContextObject(t.context)) {
      const known = kc.getContexts().map((c) => c.name);
      return err(new Error(`kubeconfig ${where}: no context ${JSON.stringify(t.context)} (contexts: ${known.join(", ") || "none"})`));
    }
    kc.setCurrentContext(t.context);
  }
  const cluster = kc.getCurrentCluster();
  if (!cluster) return err(new Error(`kubeconfig ${where}: context ${JSON.stringify(kc.getCurrentContext())} names no cluster`));
  const describe = `${kc.getCurrentContext()} (${cluster.server})`;
  const requestTimeoutMs = t.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  try {
    const v = await timedClient(kc, VersionApi, requestTimeoutMs).getCode();
    return ok({
      config: kc,
      objects: ApplyObjectApi.fromConfig(kc, requestTimeoutMs),
      describe,
      serverVersion: v.gitVersion,
      requestTimeoutMs,
    });
  } catch (e) {
    return err(new Error(`cluster ${describe}: ${oneLine(e)}`, { cause: e }));
  }
}

/** client-node errors carry the HTTP body and headers in the message: keep the first line, or the Status message. */
export function oneLine(e: unknown): string {
  if (e instanceof KubeError) return e.message;
  const x = e as { code?: number; body?: unknown; message?: string; cause?: { code?: string; message?: string } };
  if (typeof x.code === "number" && x.body !== undefined) {
    const body = typeof x.body === "string" ? safeJson(x.body) : x.body;
    const msg = (body as { message?: unknown } | undefined)?.message;
    return `HTTP ${x.code}${typeof msg === "string" ? `: ${msg}` : ""}`;
  }
  const cause = x.cause?.code ?? x.cause?.message;
  const first = String(x.message ?? e).split("\n")[0]!;
  return cause && !first.includes(cause) ? `${first} (${cause})` : first;
}

function safeJson(s: string): unknown {
  try {
    return JSON.parse(s);
  } catch {
    return undefined;
  }
}

/** The HTTP status of a client-node error, if it is one. */
export function httpStatus(e: unknown): number | undefined {
  const c = (e as { code?: unknown }).code;
  return typeof c === "number" ? c : undefined;
}
