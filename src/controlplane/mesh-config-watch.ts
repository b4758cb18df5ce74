/**
 * The mesh config as istiod keeps it: read from its source and watched, each change applied
 * without a restart (src/controlplane/controlplane.ts pushes it to the waypoints).
 *
 * Sources, istiod's precedence (pilot/pkg/bootstrap/mesh.go, `getConfigurationSources`):
 * 1. a mesh config file (`--mesh-config FILE`, istiod's `--meshConfig`, in a pod the mounted
 *    `istio` ConfigMap): watched (its folder, so a ConfigMap mount's `..data` symlink swap is seen);
 * 2. else, in Kubernetes mode, the ConfigMap `istio` (`istio-<revision>` for a revision) in the
 *    control plane's namespace, key `mesh`: watched through the API (list+watch of that one object);
 * 3. else Istio's defaults, fixed.
 * With SHARED_MESH_CONFIG (`--shared-mesh-config NAME`) in Kubernetes mode, the ConfigMap NAME's
 * `mesh` in the same namespace is a layer under the source above (the source's fields win; the
 * merge rules are mesh-config-layers.ts), watched as well, as istiod does it.
 *
 * An update that does not parse keeps the last good config and is reported once, naming the
 * field (`meshConfigError`, logged at error and shown in the config dump); the next good one
 * clears it. A ConfigMap deleted, or without a `mesh` key, means Istio's defaults (its source then
 * contributes nothing); a file that cannot be read keeps the last good config.
 */
import { type FSWatcher, watch } from "node:fs";
import { readFile } from "node:fs/promises";
import * as path from "node:path";
import { logger } from "../common/log.js";
import { ok } from "../common/result.js";
import type { KubeClientConfig } from "../kube/client/kube-config.js";
import { KubeSource } from "../kube/client/kube-source.js";
import type { KubeObject } from "../kube/object.js";
import type { ConfigEvent, ConfigSink } from "../kube/source.js";
import type { MeshConfig } from "./mesh-config.js";
import { layeredMeshConfig } from "./mesh-config-layers.js";

const log = logger("controlplane.meshconfig");

/** The key of the `istio` ConfigMap holding the MeshConfig YAML (istiod's `kubemesh.MeshConfigKey`). */
export const MESH_CONFIG_KEY = "mesh";

/** istiod's ConfigMap name for a revision: `istio`, or `istio-<revision>`. */
export function meshConfigMapName(revision: string): string {
  return revision === "" || revision === "default" ? "istio" : `istio-${revision}`;
}

/** A ConfigMap holding a mesh config under key `mesh`. */
export interface MeshConfigMapRef {
  readonly config: KubeClientConfig;
  readonly namespace: string;
  readonly name: string;
}

/** The shared layer (SHARED_MESH_CONFIG), under the file or the revision's ConfigMap. */
type Shared = { readonly shared?: MeshConfigMapRef };

export type MeshSourceSpec =
  | ({ readonly kind: "file"; readonly file: string } & Shared)
  | ({ readonly kind: "configmap" } & MeshConfigMapRef & Shared)
  | { readonly kind: "default" };

/**
 * Which sources istiod would use: the file when one is given, else the ConfigMap in Kubernetes
 * mode, else defaults; with `sharedConfigMap` in Kubernetes mode, that ConfigMap under either.
 */
export function meshSourceFor(c: {
  meshConfigFile?: string;
  kube?: KubeClientConfig;
  namespace: string;
  revision: string;
  sharedConfigMap?: string;
}): MeshSourceSpec {
  const shared = c.kube && c.sharedConfigMap ? { shared: { config: c.kube, namespace: c.namespace, name: c.sharedConfigMap } } : {};
  if (c.meshConfigFile) return { kind: "file", file: c.meshConfigFile, ...shared };
  if (c.kube) return { kind: "configmap", config: c.kube, namespace: c.namespace, name: meshConfigMapName(c.revision), ...shared };
  return { kind: "default" };
}

const describeConfigMap = (r: MeshConfigMapRef): string => `ConfigMap ${r.namespace}/${r.name} key ${MESH_CONFIG_KEY}`;

/** The primary source alone (what its messages name). */
function describePrimary(s: MeshSourceSpec): string {
  return s.kind === "file" ? `file ${s.file}` : s.kind === "configmap" ? describeConfigMap(s) : "defaults";
}

export function describeSource(s: MeshSourceSpec): string {
  const shared = s.kind !== "default" && s.shared ? ` over ${describeConfigMap(s.shared)}` : "";
  return `${describePrimary(s)}${shared}`;
}

export interface MeshConfigStatus {
  readonly source: string;
  /** Updates applied since start (the first read included). */
  readonly applied: number;
  /** Why the source's current content is not in force (the last good config is), if it is not. */
  readonly error?: string;
}

/** The layers, lowest first: the shared ConfigMap (when configured), then the primary source. */
const SHARED = 0;
const PRIMARY = 1;

export class MeshConfigWatcher {
  private current: MeshConfig;
  /** Each layer's last text: null not read (yet), undefined no mesh config there. */
  private readonly texts: Array<string | undefined | null>;
  private applied = 0;
  private error: string | undefined;
  private fsWatcher: FSWatcher | undefined;
  private readonly kube: KubeSource[] = [];
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private reading: Promise<void> = Promise.resolve();

  constructor(
    readonly spec: MeshSourceSpec,
    initial: MeshConfig,
    private readonly onChange: (m: MeshConfig) => void,
    /** How long file events are gathered before the file is read again. */
    private readonly debounceMs = 100,
  ) {
    this.current = initial;
    // No shared layer: it is "nothing there" from the start.
    this.texts = [spec.kind !== "default" && spec.shared ? null : undefined, null];
  }

  get config(): MeshConfig {
    return this.current;
  }

  status(): MeshConfigStatus {
    return { source: describeSource(this.spec), applied: this.applied, ...(this.error ? { error: this.error } : {}) };
  }

  /** Reads the source once and starts watching it; resolves when the first content is applied. */
  async start(): Promise<void> {
    const s = this.spec;
    if (s.kind === "default") return;
    if (s.shared) await this.watchConfigMap(s.shared, SHARED);
    if (s.kind === "file") {
      // The folder, not the file: editors and ConfigMap mounts replace the file (rename, symlink swap).
      this.fsWatcher = watch(path.dirname(path.resolve(s.file)), () => this.scheduleRead());
      this.fsWatcher.on("error", (e) => log.error({ file: s.file, err: e.message }, "mesh config file watch failed"));
      await this.readFile(s.file);
    } else await this.watchConfigMap(s, PRIMARY);
  }

  /** list+watch of one ConfigMap; resolves once its first state (present or absent) is applied. */
  private async watchConfigMap(ref: MeshConfigMapRef, layer: number): Promise<void> {
    const source = new KubeSource({
      config: ref.config,
      kinds: [
        {
          group: "",
          version: "v1",
          kind: "ConfigMap",
          resource: "configmaps",
          optional: false,
          namespace: ref.namespace,
          fieldSelector: `metadata.name=${ref.name}`,
        },
      ],
      validate: (o) => ok(o),
      name: layer === SHARED ? "meshconfig-shared" : "meshconfig",
    });
    this.kube.push(source);
    await source.start(this.configMapSink(ref.name, layer));
    await source.waitSynced();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.fsWatcher?.close();
    await Promise.all(this.kube.map((k) => k.stop()));
    await this.reading;
  }

  private scheduleRead(): void {
    if (this.stopped || this.spec.kind !== "file") return;
    const file = this.spec.file;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.reading = this.reading.then(() => this.readFile(file));
    }, this.debounceMs);
  }

  private async readFile(file: string): Promise<void> {
    let text: string;
    try {
      text = await readFile(file, "utf8");
    } catch (e) {
      this.texts[PRIMARY] = null; // the same content, once readable again, applies (and clears the error)
      return this.fail(
        `mesh config ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message} (keeping the last good mesh config)`,
      );
    }
    this.update(PRIMARY, text);
  }

  private configMapSink(name: string, layer: number): ConfigSink {
    let cm: KubeObject | undefined;
    return {
      apply: (events: readonly ConfigEvent[]) => {
        for (const e of events) cm = e.type === "upsert" && e.object.metadata.name === name ? e.object : undefined;
        const data = (cm as { data?: Record<string, unknown> } | undefined)?.data;
        const text = typeof data?.[MESH_CONFIG_KEY] === "string" ? (data[MESH_CONFIG_KEY] as string) : undefined;
        this.update(layer, text);
      },
      onInvalid: () => {},
      synced: () => {
        // An absent ConfigMap: it contributes nothing (Istio's defaults when no other layer says).
        if (this.texts[layer] === null) this.update(layer, undefined);
      },
    };
  }

  /**
   * Applies a new content of a layer (once every layer was read), or keeps the last good config
   * and reports why.
   */
  private update(layer: number, text: string | undefined): void {
    if (this.stopped || text === this.texts[layer]) return;
    this.texts[layer] = text;
    if (this.texts.some((t) => t === null)) return;
    const s = this.spec;
    const next = layeredMeshConfig([
      { text: this.texts[SHARED] ?? undefined, where: s.kind !== "default" && s.shared ? describeConfigMap(s.shared) : "" },
      { text: this.texts[PRIMARY] ?? undefined, where: describePrimary(s) },
    ]);
    if (!next.ok) return this.fail(`${next.error.message} (keeping the last good mesh config)`);
    this.error = undefined;
    this.current = next.value;
    this.applied++;
    log.info({ source: describeSource(this.spec), applied: this.applied }, "mesh config applied");
    this.onChange(next.value);
  }

  private fail(message: string): void {
    if (message === this.error) return;
    this.error = message;
    log.error({ source: describeSource(this.spec) }, message);
  }
}
