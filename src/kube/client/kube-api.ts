/**
 * The write (and one-off read) facade over @kubernetes/client-node for code that talks to an API
 * server: typed clients (`api(AuthenticationV1Api)`), the generic `KubernetesObjectApi` for
 * create / patch (merge, strategic, server-side apply) / replace / delete of any kind, and a raw
 * JSON `request` for paths without a typed call (list pages, status subresources by path).
 *
 * All three go through the library's authentication (tokens, token files, client certificates,
 * exec credential plugins, OIDC) and TLS, and every request of all three is bounded by the
 * facade's per-request timeout (kube-request-timeout.ts; default 30 s, `request` takes its own).
 * `request` returns `KubeError` values (kube-error.ts) instead of throwing; the typed clients and
 * `objects` throw them (a timeout) or the library's ApiException (an error answer).
 * Raw answers are the API server's JSON as sent: the typed clients' models turn timestamps into
 * Dates and drop fields they do not know, which the store and validators must not see.
 */
import type { ApiConstructor, ApiType, KubeConfig, KubernetesObjectApi } from "@kubernetes/client-node";
import type { Result } from "../../common/result.js";
import { ok, err } from "../../common/result.js";
import type { KubeClientConfig } from "./kube-config.js";
import { serverOf } from "./kube-config.js";
import { clientNode } from "./kube-lib.js";
import { KubeError } from "./kube-error.js";
import { DEFAULT_REQUEST_TIMEOUT_MS, TimedHttpLibrary, timedClient, timedObjectApi } from "./kube-request-timeout.js";

export { KubeError, type KubeErrorCode, isRequestTimeout } from "./kube-error.js";

export type Method = "GET" | "POST" | "PUT" | "PATCH" | "DELETE";

export interface RequestOptions {
  /** This request's bound instead of the facade's. */
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
  /** Body media type; default JSON, `application/merge-patch+json` for PATCH. */
  readonly contentType?: string;
}

export interface KubeApi {
  readonly config: KubeConfig;
  /** The API server URL, for messages. */
  readonly server: string;
  /** The bound of each request (typed clients, `objects`, `request` without its own). */
  readonly requestTimeoutMs: number;
  /** A typed client, e.g. `api(k8s.AuthenticationV1Api)` (load the class with `clientNode()`). */
  api<T extends ApiType>(ctor: ApiConstructor<T>): T;
  /** Generic create/read/list/patch/replace/delete of any kind by apiVersion and kind. */
  readonly objects: KubernetesObjectApi;
  /** A raw JSON request; 2xx answers decode to T. */
  request<T>(method: Method, path: string, body?: unknown, opts?: RequestOptions): Promise<Result<T, KubeError>>;
}

export interface KubeApiOptions {
  /** Default DEFAULT_REQUEST_TIMEOUT_MS (30 s). */
  readonly requestTimeoutMs?: number;
}

export function kubeApi(config: KubeClientConfig, o: KubeApiOptions = {}): KubeApi {
  const server = serverOf(config);
  const requestTimeoutMs = o.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  let objects: KubernetesObjectApi | undefined;
  return {
    config,
    server,
    requestTimeoutMs,
    api: (ctor) => timedClient(config, ctor, requestTimeoutMs),
    get objects() {
      objects ??= timedObjectApi(config, requestTimeoutMs);
      return objects;
    },
    request: (method, path, body, opts = {}) =>
      rawRequest(config, server, method, path, body, { ...opts, timeoutMs: opts.timeoutMs ?? requestTimeoutMs }),
  };
}

/** The message of an error and its causes (`fetch failed: connect ECONNREFUSED ...`). */
export function causeChain(e: unknown): string {
  const parts: string[] = [];
  for (let c: unknown = e; c instanceof Error && parts.length < 4; c = c.cause) parts.push(c.message);
  return parts.join(": ") || String(e);
}

async function rawRequest<T>(
  config: KubeConfig,
  server: string,
  method: Method,
  path: string,
  body: unknown,
  opts: RequestOptions & { timeoutMs: number },
): Promise<Result<T, KubeError>> {
  const lib = clientNode();
  const what = `${method} ${path}`;
  const ctx = new lib.RequestContext(`${server}${path}`, method);
  ctx.setHeaderParam("Accept", "application/json");
  if (body !== undefined) {
    ctx.setHeaderParam("Content-Type", opts.contentType ?? (method === "PATCH" ? "application/merge-patch+json" : "application/json"));
    ctx.setBody(JSON.stringify(body));
  }
  if (opts.signal) ctx.setSignal(opts.signal);
  let status: number;
  let text: string;
  try {
    await config.applySecurityAuthentication(ctx);
    const res = await new TimedHttpLibrary(opts.timeoutMs).send(ctx).toPromise();
    status = res.httpStatusCode;
    text = await res.body.text();
  } catch (e) {
    if (opts.signal?.aborted === true)
      return err(new KubeError("aborted", `${what}: ${causeChain(e)}`, undefined, undefined, { cause: e }));
    if (e instanceof KubeError) return err(e);
    return err(new KubeError("transport", `${what}: ${causeChain(e)}`, undefined, undefined, { cause: e }));
  } finally {
    // applySecurityAuthentication makes a fresh undici Agent per request: close it so its idle
    // keep-alive socket does not outlive the request (it would never be reused).
    void (ctx.getDispatcher() as { close?: () => Promise<void> } | undefined)?.close?.().catch(() => undefined);
  }
  if (status < 200 || status > 299) return err(statusError(what, status, text));
  try {
    return ok(JSON.parse(text) as T);
  } catch (e) {
    return err(new KubeError("decode", `${what}: response is not JSON`, status, undefined, { cause: e }));
  }
}

/** Turns an error answer (usually a metav1.Status) into a KubeError keeping code and reason. */
export function statusError(what: string, httpStatus: number, text: string): KubeError {
  let reason: string | undefined;
  let message = text.slice(0, 300);
  try {
    const s = JSON.parse(text) as { reason?: unknown; message?: unknown };
    if (typeof s.reason === "string") reason = s.reason;
    if (typeof s.message === "string") message = s.message;
  } catch {
    // not a Status: keep the raw text
  }
  return new KubeError("status", `${what}: ${httpStatus}${reason ? ` ${reason}` : ""}: ${message}`, httpStatus, reason);
}

/** A typed client's failure (ApiException: code and Status body) as a message naming the call. */
export function apiErrorMessage(what: string, e: unknown): string {
  const x = e as { code?: unknown; body?: unknown };
  if (typeof x?.code === "number") {
    const body = typeof x.body === "string" ? x.body : JSON.stringify(x.body ?? "");
    return statusError(what, x.code, body).message;
  }
  return `${what}: ${causeChain(e)}`;
}
