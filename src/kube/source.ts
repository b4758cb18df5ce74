/**
 * The one interface every config source implements (Kubernetes API, folder of YAML).
 * A source delivers a consistent snapshot first (`synced`), then incremental events.
 * Invariants: events for one object arrive in order; an object rejected by validation is
 * reported through `onInvalid` and the previous good version stays in the store.
 */
import type { KubeObject, Origin } from "./object.js";

export type ConfigEvent =
  | { readonly type: "upsert"; readonly object: KubeObject; readonly origin: Origin }
  | { readonly type: "delete"; readonly key: string; readonly origin: Origin };

export interface InvalidObject {
  /** File path (and document index) or API path naming the object. */
  readonly origin: Origin;
  /** `Kind namespace/name` when it could be read, else undefined. */
  readonly object?: string;
  /** Dotted path of the offending field, e.g. `spec.rules[0].from[0].source.ipBlocks[1]`. */
  readonly field: string;
  readonly reason: string;
}

export interface ConfigSink {
  /** A batch of changes, applied atomically by the store. */
  apply(events: readonly ConfigEvent[]): void;
  /** An object that failed validation; nothing of it was applied. */
  onInvalid(problem: InvalidObject): void;
  /** The source has delivered its initial snapshot. */
  synced(): void;
  /**
   * Optional: problems reported earlier whose `origin.source` starts with `prefix` are no longer
   * current (the file was fixed or removed). The folder source calls it before re-reporting a
   * file's problems, so the invalid list shows what is wrong now, not what once was.
   */
  clearInvalid?(prefix: string): void;
}

export interface ConfigSource {
  readonly name: string;
  start(sink: ConfigSink): Promise<void>;
  stop(): Promise<void>;
}
