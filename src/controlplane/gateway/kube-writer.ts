/**
 * The control plane's writes to the Kubernetes API, through @kubernetes/client-node: server-side
 * apply (field manager `weft-gateway-controller`, forced, as istiod's deployment controller
 * does), reads, deletes, a create that leaves an existing object alone, and status writes to the
 * status subresource as JSON merge patches carrying the resourceVersion they were computed from
 * (a concurrent change answers 409 and the next pass recomputes).
 *
 * Every failure is a Result naming the object; nothing here throws. Every request is bounded by
 * the client facade's per-request timeout (kube/client/kube-request-timeout.ts).
 */
import {
  ApiException,
  CustomObjectsApi,
  KubeConfig,
  type KubernetesObjectApi,
  PatchStrategy,
  setHeaderOptions,
} from "@kubernetes/client-node";
import type { KubeObject } from "../../kube/object.js";
import { type Result, ok, err } from "../../common/result.js";
import { FIELD_MANAGER } from "./labels.js";
import { DEFAULT_REQUEST_TIMEOUT_MS, timedClient, timedObjectApi } from "../../kube/client/kube-request-timeout.js";

/** A custom resource's address for status writes. */
export interface StatusTarget {
  readonly group: string;
  readonly version: string;
  readonly plural: string;
  readonly namespace?: string;
  readonly name: string;
}

export class KubeWriteError extends Error {
  constructor(
    message: string,
    readonly httpStatus?: number,
  ) {
    super(message);
    this.name = "KubeWriteError";
  }
}

const describe = (o: { kind: string; metadata: { namespace?: string; name: string } }) =>
  `${o.kind} ${o.metadata.namespace ? `${o.metadata.namespace}/` : ""}${o.metadata.name}`;

function failure(what: string, e: unknown): KubeWriteError {
  if (e instanceof ApiException) {
    const body = typeof e.body === "string" ? e.body : JSON.stringify(e.body);
    let message = body;
    try {
      message = (JSON.parse(body) as { message?: string }).message ?? body;
    } catch {
      // not a Status object
    }
    return new KubeWriteError(`${what}: HTTP ${e.code}: ${message}`, e.code);
  }
  return new KubeWriteError(`${what}: ${(e as Error).message}`);
}

/** Loads a kubeconfig file, or the pod's service account when `in-cluster`. */
export function kubeConfigFor(kubeconfig: string): Result<KubeConfig> {
  const kc = new KubeConfig();
  try {
    if (kubeconfig === "in-cluster") kc.loadFromCluster();
    else kc.loadFromFile(kubeconfig);
  } catch (e) {
    return err(new Error(`kubeconfig ${kubeconfig}: ${(e as Error).message}`));
  }
  return ok(kc);
}

export class KubeWriter {
  private readonly objects: KubernetesObjectApi;
  private readonly custom: CustomObjectsApi;
  private readonly mergePatch = setHeaderOptions("Content-Type", PatchStrategy.MergePatch);

  constructor(kc: KubeConfig, requestTimeoutMs = DEFAULT_REQUEST_TIMEOUT_MS) {
    this.objects = timedObjectApi(kc, requestTimeoutMs);
    this.custom = timedClient(kc, CustomObjectsApi, requestTimeoutMs);
  }

  /** Server-side apply of `obj` (all fields it names become ours, conflicts forced). */
  async apply(obj: KubeObject): Promise<Result<KubeObject, KubeWriteError>> {
    try {
      const body = { ...obj, metadata: { ...obj.metadata } } as never;
      const out = await this.objects.patch(body, undefined, undefined, FIELD_MANAGER, true, PatchStrategy.ServerSideApply);
      return ok(out as unknown as KubeObject);
    } catch (e) {
      return err(failure(`apply ${describe(obj)}`, e));
    }
  }

  /** The object, or undefined when it does not exist. */
  async read(
    apiVersion: string,
    kind: string,
    namespace: string | undefined,
    name: string,
  ): Promise<Result<KubeObject | undefined, KubeWriteError>> {
    try {
      const out = await this.objects.read({ apiVersion, kind, metadata: { name, ...(namespace ? { namespace } : {}) } });
      return ok(out as unknown as KubeObject);
    } catch (e) {
      if (e instanceof ApiException && e.code === 404) return ok(undefined);
      return err(failure(`read ${kind} ${namespace ? `${namespace}/` : ""}${name}`, e));
    }
  }

  /** Creates `obj` unless an object of that name exists (then leaves it as it is). */
  async createIfAbsent(obj: KubeObject): Promise<Result<"created" | "exists", KubeWriteError>> {
    try {
      await this.objects.create(obj as never, undefined, undefined, FIELD_MANAGER);
      return ok("created");
    } catch (e) {
      if (e instanceof ApiException && e.code === 409) return ok("exists");
      return err(failure(`create ${describe(obj)}`, e));
    }
  }

  /** Deletes the object (dependents in the background); a missing object is fine. */
  async delete(apiVersion: string, kind: string, namespace: string, name: string): Promise<Result<void, KubeWriteError>> {
    try {
      await this.objects.delete(
        { apiVersion, kind, metadata: { name, namespace } },
        undefined,
        undefined,
        undefined,
        undefined,
        "Background",
      );
      return ok(undefined);
    } catch (e) {
      if (e instanceof ApiException && e.code === 404) return ok(undefined);
      return err(failure(`delete ${kind} ${namespace}/${name}`, e));
    }
  }

  /**
   * Writes `status` to the status subresource as a merge patch; keys of `previous` that `status`
   * lacks are removed. `resourceVersion` (when given) makes it conditional.
   */
  async patchStatus(
    t: StatusTarget,
    status: Record<string, unknown>,
    previous: Record<string, unknown>,
    resourceVersion?: string,
  ): Promise<Result<void, KubeWriteError>> {
    const patch: Record<string, unknown> = { ...status };
    for (const k of Object.keys(previous)) if (!(k in status)) patch[k] = null;
    const body = { ...(resourceVersion ? { metadata: { resourceVersion } } : {}), status: patch };
    const common = { group: t.group, version: t.version, plural: t.plural, name: t.name, body, fieldManager: FIELD_MANAGER };
    try {
      if (t.namespace) await this.custom.patchNamespacedCustomObjectStatus({ ...common, namespace: t.namespace }, this.mergePatch);
      else await this.custom.patchClusterCustomObjectStatus(common, this.mergePatch);
      return ok(undefined);
    } catch (e) {
      return err(failure(`status of ${t.plural}.${t.group} ${t.namespace ? `${t.namespace}/` : ""}${t.name}`, e));
    }
  }
}
