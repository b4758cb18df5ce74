/**
 * The write (and one-off read) facade over @kubernetes/client-node for code that talks to an API
 * server: typed clients (`api(AuthenticationV1Api)`), the generic `KubernetesObjectApi` for
 * create / patch (merge, strategic, server-side apply) / replace / delete of any kind, and a raw
 * JSON `request` for paths without a typed call (list pages, status subresources by path).
 *
 * All three go through the library's authentication (tokens, token files, client certificates,
 * exec credential plugins, OIDC) and TLS. `request` returns `KubeError` values with stable codes
 * instead of throwing: `transport` (no answer, including a failing credential plugin), `status`
 * (an error answer; HTTP code and the Status `reason` kept), `decode` (not JSON), `aborted`.
 * Raw answers are the API server's JSON as sent: the typed clients' models turn timestamps into
 * Dates and drop fields they do not know, which the store and validators must not see.
 */
import type { ApiConstructor, ApiType, KubeConfig, KubernetesObjectApi } from "@kubernetes/client-node";
import type { Result } from "../../common/result.js";
import { ok, err } from "../../common/result.js";
import type { KubeClientConfig } from "./kube-config.js";
import { serverOf } from "./kube-config.js";
import { clientNode } from "./kube-lib.js";

export type KubeErrorCode = "transport" | "status" | "decode" | "aborted";

export class KubeError extends Error {
  constructor(
    readonly code: KubeErrorCode,
    message: string,
    /** HTTP status (for `status`), or the `code` of a watch ERROR event's Status. */
    readonly httpStatus?: number,
    /** The Status `reason` (e.g. `NotFound`, `Expired`, `Gone`) when the server sent one. */
    readonly reason?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "KubeError";
  }
}

export type Method = "GET" | "POST" | "PUT" | "PATCH" | "DELETE";

export interface RequestOptions {
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
  /** Body media type; default JSON, `application/merge-patch+json` for PATCH. */
  readonly contentType?: string;
}

export interface KubeApi {
  readonly config: KubeConfig;
  /** The API server URL, for messages. */
  readonly server: string;
  /** A typed client, e.g. `api(k8s.AuthenticationV1Api)` (load the class with `clientNode()`). */
  api<T extends ApiType>(ctor: ApiConstructor<T>): T;
  /** Generic create/read/list/patch/replace/delete of any kind by apiVersion and kind. */
  readonly objects: KubernetesObjectApi;
  /** A raw JSON request; 2xx answers decode to T. */
  request<T>(method: Method, path: string, body?: unknown, opts?: RequestOptions): Promise<Result<T, KubeError>>;
}

export function kubeApi(config: KubeClientConfig): KubeApi {
  const lib = clientNode();
  const server = serverOf(config);
  let objects: KubernetesObjectApi | undefined;
  return {
    config,
    server,
    api: (ctor) => config.makeApiClient(ctor),
    get objects() {
      objects ??= lib.KubernetesObjectApi.makeApiClient(config);
      return objects;
    },
    request: (method, path, body, opts = {}) => rawRequest(config, server, method, path, body, opts),
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
  opts: RequestOptions,
): Promise<Result<T, KubeError>> {
  const lib = clientNode();
  const what = `${method} ${path}`;
  const ctx = new lib.RequestContext(`${server}${path}`, method);
  ctx.setHeaderParam("Accept", "application/json");
  if (body !== undefined) {
    ctx.setHeaderParam("Content-Type", opts.contentType ?? (method === "PATCH" ? "application/merge-patch+json" : "application/json"));
    ctx.setBody(JSON.stringify(body));
  }
  const signals = [opts.signal, opts.timeoutMs !== undefined ? AbortSignal.timeout(opts.timeoutMs) : undefined].filter(
    (s): s is AbortSignal => s !== undefined,
  );
  if (signals.length > 0) ctx.setSignal(AbortSignal.any(signals));
  let status: number;
  let text: string;
  try {
    await config.applySecurityAuthentication(ctx);
    const res = await new lib.IsomorphicFetchHttpLibrary().send(ctx).toPromise();
    status = res.httpStatusCode;
    text = await res.body.text();
  } catch (e) {
    const aborted = opts.signal?.aborted === true;
    const timedOut = (e as { name?: string }).name === "TimeoutError";
    return err(
      new KubeError(
        aborted ? "aborted" : "transport",
        `${what}: ${timedOut ? `no answer within ${opts.timeoutMs} ms` : causeChain(e)}`,
        undefined,
        undefined,
        {
          cause: e,
        },
      ),
    );
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
