/**
 * Authenticator that asks the Kubernetes API server about a bearer token (TokenReview), as
 * istiod's CA does for ztunnel: the token must be a service-account token valid for the
 * audience `istio-ca` (by default), and the answer names the service account and, for tokens
 * bound to a pod, the pod.
 *
 * The node comes from the TokenReview itself when the API server reports it (Kubernetes 1.30+
 * adds `authentication.kubernetes.io/node-name` to the user extras of pod- and node-bound
 * tokens); otherwise, like istiod's NodeAuthorizer, from the bound pod's `spec.nodeName`, after
 * checking the pod still has the token's pod UID (a re-created pod with the same name is a
 * different caller). Tokens not bound to a pod or node authenticate without a node.
 *
 * `interpretTokenReview` is pure (the decision); `TokenReviewAuthenticator` does the IO, through
 * @kubernetes/client-node's typed `AuthenticationV1Api` and `CoreV1Api` (loaded on the first
 * review, so merely importing this module costs nothing).
 */
import type { Result } from "../../common/result.js";
import { ok, err } from "../../common/result.js";
import { DEFAULT_TRUST_DOMAIN, identity as makeIdentity, toUri } from "../../common/spiffe.js";
import type { AuthenticationV1Api, ConfigurationOptions, CoreV1Api } from "@kubernetes/client-node";
import type { KubeClientConfig } from "../../kube/client/kube-config.js";
import { apiErrorMessage, kubeApi } from "../../kube/client/kube-api.js";
import { clientNode } from "../../kube/client/kube-lib.js";
import type { Authenticator, Caller } from "./authenticator.js";

export const ISTIO_CA_AUDIENCE = "istio-ca";

const extraPodName = "authentication.kubernetes.io/pod-name";
const extraPodUid = "authentication.kubernetes.io/pod-uid";
const extraNodeName = "authentication.kubernetes.io/node-name";

/** The `status` of an authentication.k8s.io/v1 TokenReview. */
export interface TokenReviewStatus {
  readonly authenticated?: boolean;
  readonly error?: string;
  readonly audiences?: readonly string[];
  readonly user?: {
    readonly username?: string;
    readonly uid?: string;
    readonly groups?: readonly string[];
    readonly extra?: Readonly<Record<string, readonly string[]>>;
  };
}

/** What a review proves about the caller, before any pod lookup. */
export interface ReviewedToken {
  readonly namespace: string;
  readonly serviceAccount: string;
  readonly pod?: { readonly namespace: string; readonly name: string; readonly uid: string };
  readonly node?: string;
}

function single(extra: Readonly<Record<string, readonly string[]>> | undefined, key: string): string | undefined {
  const v = extra?.[key];
  return Array.isArray(v) && v.length === 1 && typeof v[0] === "string" && v[0] !== "" ? v[0] : undefined;
}

/** Decides whether a TokenReview status authenticates a service account for `audiences`. */
export function interpretTokenReview(status: TokenReviewStatus | undefined, audiences: readonly string[]): Result<ReviewedToken> {
  if (!status || status.authenticated !== true) {
    return err(new Error(`token rejected by the API server${status?.error ? `: ${status.error}` : ""}`));
  }
  if (audiences.length > 0) {
    // An API server that checked audiences echoes the ones the token is valid for.
    const got = status.audiences ?? [];
    if (!got.some((a) => audiences.includes(a))) {
      return err(new Error(`token is not valid for audience ${audiences.join(",")} (valid for: ${got.join(",") || "none reported"})`));
    }
  }
  const username = status.user?.username ?? "";
  const m = /^system:serviceaccount:([^:]+):([^:]+)$/.exec(username);
  if (!m) return err(new Error(`token does not belong to a service account (user ${JSON.stringify(username)})`));
  const [, namespace, serviceAccount] = m as unknown as [string, string, string];
  const extra = status.user?.extra;
  const podName = single(extra, extraPodName);
  const podUid = single(extra, extraPodUid);
  if ((podName === undefined) !== (podUid === undefined)) {
    return err(new Error(`token review names a pod without its uid (or the reverse) for ${namespace}/${serviceAccount}`));
  }
  const node = single(extra, extraNodeName);
  return ok({
    namespace,
    serviceAccount,
    ...(podName && podUid ? { pod: { namespace, name: podName, uid: podUid } } : {}),
    ...(node ? { node } : {}),
  });
}

export interface TokenReviewOptions {
  readonly config: KubeClientConfig;
  /** Audiences the token must be valid for; default `["istio-ca"]`. */
  readonly audiences?: readonly string[];
  readonly trustDomain?: string;
  /** Per request, ms; default 10 s. */
  readonly timeoutMs?: number;
}

export class TokenReviewAuthenticator implements Authenticator {
  private readonly config: KubeClientConfig;
  private apis?: { auth: AuthenticationV1Api; core: CoreV1Api };
  private readonly audiences: readonly string[];
  private readonly trustDomain: string;
  private readonly timeoutMs: number;

  constructor(opts: TokenReviewOptions) {
    this.config = opts.config;
    this.audiences = opts.audiences ?? [ISTIO_CA_AUDIENCE];
    this.trustDomain = opts.trustDomain ?? DEFAULT_TRUST_DOMAIN;
    this.timeoutMs = opts.timeoutMs ?? 10_000;
  }

  async authenticate(token: string): Promise<Result<Caller>> {
    if (token.trim() === "") return err(new Error("empty bearer token"));
    const { auth } = this.clients();
    let status: TokenReviewStatus | undefined;
    try {
      const review = await auth.createTokenReview(
        { body: { apiVersion: "authentication.k8s.io/v1", kind: "TokenReview", spec: { token, audiences: [...this.audiences] } } },
        this.callOptions(),
      );
      status = review.status;
    } catch (e) {
      return err(new Error(`token review failed: ${apiErrorMessage("create TokenReview", e)}`, { cause: e }));
    }
    const r = interpretTokenReview(status, this.audiences);
    if (!r.ok) return r;
    let id: string;
    try {
      id = toUri(makeIdentity(this.trustDomain, r.value.namespace, r.value.serviceAccount));
    } catch (e) {
      return err(new Error(`token names an unusable identity: ${(e as Error).message}`));
    }
    const { pod } = r.value;
    let node = r.value.node;
    if (node === undefined && pod) {
      const found = await this.nodeOfPod(pod);
      if (!found.ok) return found;
      node = found.value;
    }
    return ok({ identity: id, ...(node ? { node } : {}), ...(pod ? { pod } : {}) });
  }

  private clients(): { auth: AuthenticationV1Api; core: CoreV1Api } {
    if (!this.apis) {
      const lib = clientNode();
      const api = kubeApi(this.config);
      this.apis = { auth: api.api(lib.AuthenticationV1Api), core: api.api(lib.CoreV1Api) };
    }
    return this.apis;
  }

  /** Per call: give up after `timeoutMs` (the typed clients have no timeout of their own). */
  private callOptions(): ConfigurationOptions {
    const ms = this.timeoutMs;
    const { Observable } = clientNode();
    return {
      middlewareMergeStrategy: "append",
      middleware: [
        {
          pre: (ctx) => {
            ctx.setSignal(AbortSignal.timeout(ms));
            return new Observable(Promise.resolve(ctx));
          },
          post: (res) => new Observable(Promise.resolve(res)),
        },
      ],
    };
  }

  private async nodeOfPod(pod: { namespace: string; name: string; uid: string }): Promise<Result<string | undefined>> {
    let found: { metadata?: { uid?: string }; spec?: { nodeName?: string } };
    try {
      found = await this.clients().core.readNamespacedPod({ name: pod.name, namespace: pod.namespace }, this.callOptions());
    } catch (e) {
      return err(new Error(`looking up pod ${pod.namespace}/${pod.name} of the token: ${apiErrorMessage("get pod", e)}`, { cause: e }));
    }
    if (found.metadata?.uid !== pod.uid) {
      return err(new Error(`pod ${pod.namespace}/${pod.name} has uid ${found.metadata?.uid ?? "?"}, the token was issued for ${pod.uid}`));
    }
    return ok(found.spec?.nodeName || undefined);
  }
}
