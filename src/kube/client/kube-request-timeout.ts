/**
 * The per-request timeout of every call weft makes to an API server. Typed clients
 * (`api(CoreV1Api)`), the generic object API (get, list, create, server-side apply and other
 * patches, replace, delete) and raw requests all send through `TimedHttpLibrary`, built into the
 * clients by `timedClient` (the library's own `makeApiClient` builds clients without a bound):
 * one deadline per request, from sending to the last byte of the answer's body, after which the
 * request is aborted and fails with a `KubeError` of code `timeout` naming the method, the path
 * and the bound. A caller's own signal (a shorter per-call timeout, a stop) still applies.
 *
 * Why: a stalled API server (overloaded, paused, a network that drops packets without a reset)
 * otherwise keeps a request pending for as long as the TCP connection lives, and `weft install`
 * or `uninstall` hangs without a word. Retrying is the caller's decision (only it knows whether
 * the operation is idempotent): kube/apply/apply.ts retries its reads, lists, applies and deletes.
 *
 * Watches are long-lived and bounded differently, by the library's `Watch`: 30 s to the
 * response headers, then 30 s without any data (events, bookmarks) ends the stream, and the
 * informer resumes from the last resourceVersion (kube-informer.ts).
 */
import type {
  ApiConstructor,
  ApiType,
  HttpLibrary,
  KubeConfig,
  KubernetesObjectApi,
  Observable,
  RequestContext,
  ResponseBody,
  ResponseContext,
} from "@kubernetes/client-node";
import { KubeError } from "./kube-error.js";
import { clientNode } from "./kube-lib.js";

/** Default bound of one request (kubectl has none unless given --request-timeout; the library's Watch uses 30 s). */
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;

/** `GET /api/v1/namespaces/x/pods/y`: how a request is named in errors (no query, no server). */
export function requestLabel(method: string, url: string): string {
  let path = url;
  try {
    path = new URL(url).pathname;
  } catch {
    // not absolute: keep as given
  }
  return `${method.toUpperCase()} ${path.split("?")[0]}`;
}

/** The bound as people say it: `2 s`, `30 s`, `1.5 s`, `250 ms`. */
export function formatBound(ms: number): string {
  return ms < 1000 ? `${ms} ms` : `${Number((ms / 1000).toFixed(1))} s`;
}

export function timeoutError(label: string, timeoutMs: number, cause?: unknown): KubeError {
  return new KubeError("timeout", `${label}: no answer within ${formatBound(timeoutMs)}`, undefined, undefined, { cause });
}

/** The library's fetch-based HTTP client with one deadline per request (body included). */
export class TimedHttpLibrary implements HttpLibrary {
  private readonly inner: HttpLibrary;

  constructor(readonly timeoutMs: number) {
    if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) throw new Error(`request timeout: ${timeoutMs}: expected a positive number of ms`);
    this.inner = new (clientNode().IsomorphicFetchHttpLibrary)();
  }

  send(ctx: RequestContext): Observable<ResponseContext> {
    const lib = clientNode();
    const deadline = AbortSignal.timeout(this.timeoutMs);
    const caller = ctx.getSignal();
    ctx.setSignal(caller ? AbortSignal.any([caller, deadline]) : deadline);
    const label = requestLabel(ctx.getHttpMethod(), ctx.getUrl());
    // Ours only when the deadline fired and the caller did not abort first.
    const mapped = (e: unknown): never => {
      if (deadline.aborted && !caller?.aborted) throw timeoutError(label, this.timeoutMs, e);
      throw e;
    };
    const answered = this.inner
      .send(ctx)
      .toPromise()
      .then((res) => {
        const body: ResponseBody = {
          text: () => res.body.text().catch(mapped),
          binary: () => res.body.binary().catch(mapped),
          stream: () => res.body.stream(),
        };
        return new lib.ResponseContext(res.httpStatusCode, res.headers, body);
      }, mapped);
    return new lib.Observable(answered);
  }
}

/**
 * A client of `ctor` (a typed API, KubernetesObjectApi or a subclass) for the kubeconfig's
 * current cluster whose every request is bounded by `timeoutMs`: what `kc.makeApiClient(ctor)`
 * builds, with TimedHttpLibrary as its HTTP client.
 */
export function timedClient<T extends ApiType>(kc: KubeConfig, ctor: ApiConstructor<T>, timeoutMs: number): T {
  const lib = clientNode();
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error("kubeconfig: no current cluster");
  const config = lib.createConfiguration({
    baseServer: new lib.ServerConfiguration(cluster.server, {}),
    authMethods: { default: kc },
    middleware: [lib.setHeaderMiddleware("User-Agent", "weft (kubernetes-client-javascript)")],
    httpApi: new TimedHttpLibrary(timeoutMs),
  });
  return new ctor(config);
}

/** The generic object API with bounded requests, its default namespace the context's (as `KubernetesObjectApi.makeApiClient` sets it). */
export function timedObjectApi(kc: KubeConfig, timeoutMs: number): KubernetesObjectApi {
  const api = timedClient(kc, clientNode().KubernetesObjectApi, timeoutMs);
  // Protected in the library's typings; makeApiClient calls it the same way.
  (api as unknown as { setDefaultNamespace(kc: KubeConfig): void }).setDefaultNamespace(kc);
  return api;
}
