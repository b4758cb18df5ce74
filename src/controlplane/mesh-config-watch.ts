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
import { type Result, ok } from "../common/result.js";
import type { KubeClientConfig } from "../kube/client/kube-config.js";
import { KubeSource } from "../kube/client/kube-source.js";
import type { KubeObject } from "../kube/object.js";
import type { ConfigEvent, ConfigSink } from "../kube/source.js";
import { DEFAULT_MESH_CONFIG, type MeshConfig, parseMeshConfig } from "./mesh-config.js";

const log = logger("controlplane.meshconfig");

/** The key of the `istio` ConfigMap holding the MeshConfig YAML (istiod's `kubemesh.MeshConfigKey`). */
export const MESH_CONFIG_KEY = "mesh";

/** istiod's ConfigMap name for a revision: `istio`, or `istio-<revision>`. */
export function meshConfigMapName(revision: string): string {
  return revision === "" || revision === "default" ? "istio" : `istio-${revision}`;
}

export type MeshSourceSpec =
  | { readonly kind: "file"; readonly file: string }
  | { readonly kind: "configmap"; readonly config: KubeClientConfig; readonly namespace: string; readonly name: string }
  | { readonly kind: "default" };

/** Which source istiod would use: the file when one is given, else the ConfigMap in Kubernetes mode, else defaults. */
export function meshSourceFor(c: {
  meshConfigFile?: string;
  kube?: KubeClientConfig;
  namespace: string;
  revision: string;
}): MeshSourceSpec {
  if (c.meshConfigFile) return { kind: "file", file: c.meshConfigFile };
  if (c.kube) return { kind: "configmap", config: c.kube, namespace: c.namespace, name: meshConfigMapName(c.revision) };
  return { kind: "default" };
}

export function describeSource(s: MeshSourceSpec): string {
  return s.kind === "file"
    ? `file ${s.file}`
    : s.kind === "configmap"
      ? `ConfigMap ${s.namespace}/${s.name} key ${MESH_CONFIG_KEY}`
      : "defaults";
}

/**
 * What a new text of the source means. Pure. `undefined` text: the source holds no mesh config
 * (ConfigMap gone or without the key): Istio's defaults.
 */
export function nextMeshConfig(text: string | undefined, where: string): Result<MeshConfig> {
  if (text === undefined) return ok(DEFAULT_MESH_CONFIG);
  return parseMeshConfig(text, where);
}

export interface MeshConfigStatus {
  readonly source: string;
  /** Updates applied since start (the first read included). */
  readonly applied: number;
  /** Why the source's current content is not in force (the last good config is), if it is not. */
  readonly error?: string;
}

export class MeshConfigWatcher {
  private current: MeshConfig;
  private lastText: string | undefined | null = null;
  private applied = 0;
  private error: string | undefined;
  private fsWatcher: FSWatcher | undefined;
  private kube: KubeSource | undefined;
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
    if (s.kind === "file") {
      // The folder, not the file: editors and ConfigMap mounts replace the file (rename, symlink swap).
      this.fsWatcher = watch(path.dirname(path.resolve(s.file)), () => this.scheduleRead());
      this.fsWatcher.on("error", (e) => log.error({ file: s.file, err: e.message }, "mesh config file watch failed"));
      await this.readFile(s.file);
    } else if (s.kind === "configmap") {
      this.kube = new KubeSource({
        config: s.config,
        kinds: [
          {
            group: "",
            version: "v1",
            kind: "ConfigMap",
            resource: "configmaps",
            optional: false,
            namespace: s.namespace,
            fieldSelector: `metadata.name=${s.name}`,
          },
        ],
        validate: (o) => ok(o),
        name: "meshconfig",
      });
      await this.kube.start(this.configMapSink(s.name));
      await this.kube.waitSynced();
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.fsWatcher?.close();
    await this.kube?.stop();
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
      this.lastText = null; // the same content, once readable again, applies (and clears the error)
      return this.fail(
        `mesh config ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message} (keeping the last good mesh config)`,
      );
    }
    this.update(text, file);
  }

  private configMapSink(name: string): ConfigSink {
    let cm: KubeObject | undefined;
    return {
      apply: (events: readonly ConfigEvent[]) => {
        for (const e of events) cm = e.type === "upsert" && e.object.metadata.name === name ? e.object : undefined;
        const data = (cm as { data?: Record<string, unknown> } | undefined)?.data;
        const text = typeof data?.[MESH_CONFIG_KEY] === "string" ? (data[MESH_CONFIG_KEY] as string) : undefined;
        this.update(text, describeSource(this.spec));
      },
      onInvalid: () => {},
      synced: () => {
        // An absent ConfigMap: nothing was applied; Istio's defaults hold (the initial config).
        if (this.lastText === null) this.update(undefined, describeSource(this.spec));
      },
    };
  }

  /** Applies a new content of the source, or keeps the last good config and reports why. */
  private update(text: string | undefined, where: string): void {
    if (this.stopped || text === this.lastText) return;
    this.lastText = text;
    const next = nextMeshConfig(text, where);
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
