/**
 * @kubernetes/client-node's KubernetesObjectApi with a server-side apply that sends the object's
 * JSON as given. The library's own `patch` first serializes a body of a kind it has a model for
 * through that model, which expects the model's property names: a CustomResourceDefinition's
 * `x-kubernetes-preserve-unknown-fields` (the model calls it `xKubernetesPreserveUnknownFields`)
 * was silently dropped, so weft's CRDs reached the API server without it and every Istio or
 * Gateway API object's spec was pruned or refused ("strict decoding error: unknown field
 * spec.action"). Found by test/k8s/install.test.ts.
 *
 * Every request it makes is bounded by the client facade's per-request timeout
 * (kube/client/kube-request-timeout.ts).
 */
import { KubernetesObjectApi, type KubeConfig, type KubernetesObject } from "@kubernetes/client-node";
import { timedClient } from "../client/kube-request-timeout.js";

export class ApplyObjectApi extends KubernetesObjectApi {
  static fromConfig(kc: KubeConfig, requestTimeoutMs: number): ApplyObjectApi {
    const api = timedClient(kc, ApplyObjectApi, requestTimeoutMs);
    api.setDefaultNamespace(kc);
    return api;
  }

  /** Server-side apply of `o` exactly as given (JSON is YAML), forced, with field manager `fieldManager`. */
  async apply(o: KubernetesObject, fieldManager: string): Promise<KubernetesObject> {
    const path = await this.specUriPath(o, "patch");
    const ctx = this.configuration.baseServer.makeRequestContext(path, "PATCH");
    ctx.setHeaderParam("Accept", "application/json");
    ctx.setHeaderParam("Content-Type", "application/apply-patch+yaml");
    ctx.setQueryParam("fieldManager", fieldManager);
    ctx.setQueryParam("force", "true");
    ctx.setBody(JSON.stringify(o));
    return this.requestPromise(ctx);
  }

  /** JSON merge patch (RFC 7386) of `patch` onto the object `o` names, sent as given. */
  async mergePatch(o: KubernetesObject, patch: object): Promise<KubernetesObject> {
    const path = await this.specUriPath(o, "patch");
    const ctx = this.configuration.baseServer.makeRequestContext(path, "PATCH");
    ctx.setHeaderParam("Accept", "application/json");
    ctx.setHeaderParam("Content-Type", "application/merge-patch+json");
    ctx.setBody(JSON.stringify(patch));
    return this.requestPromise(ctx);
  }
}
