/**
 * The pure core of the folder source: from the text of each file to the set of objects in
 * force, and from one such set to the next as a batch of ConfigEvents.
 *
 * Rules (docs/config.md):
 * - A file that fails to parse keeps its previous good objects in force; the problem names the
 *   file, document and line.
 * - An object that fails validation keeps its previous good version (from the same file) in
 *   force; the others in the file apply. A document without a readable identity (apiVersion,
 *   kind, metadata.name) fails the whole file, like a parse error.
 * - An object defined twice (in two files, or twice in one file) is taken from the first
 *   definition in path order, then document order; every later one is reported as a conflict.
 * - Namespaced kinds without `metadata.namespace` get the default namespace, as kubectl does.
 */
import type { KubeObject, Origin } from "../object.js";
import { objectKey } from "../object.js";
import type { ConfigEvent, InvalidObject } from "../source.js";
import type { Result } from "../../common/result.js";
import type { RawObject } from "./yaml-documents.js";
import { describePosition, parseConfigText } from "./yaml-documents.js";
import { isPlainObject } from "../validate/validate-schema.js";
import { isNamespacedKind, objectLabel } from "../validate/validate.js";

export type Validate = (o: KubeObject, origin: Origin) => Result<KubeObject, InvalidObject>;

export interface Entry {
  readonly object: KubeObject;
  readonly origin: Origin;
  /** Canonical JSON of the object, to tell a real change from a rewrite of the same content. */
  readonly json: string;
}

/** The good objects of one file, in document order (duplicates inside the file already dropped). */
export interface FileObjects {
  readonly entries: ReadonlyMap<string, Entry>;
}

export interface FileRead {
  readonly state: FileObjects;
  /** Parse, validation and in-file duplicate problems of this read. */
  readonly problems: readonly InvalidObject[];
  /** The whole file failed to parse, and `state` is the previous one. */
  readonly parseFailed: boolean;
}

export const emptyFile: FileObjects = { entries: new Map() };

/** JSON with sorted object keys: equal content gives equal strings whatever the key order. */
export function canonicalJson(v: unknown): string {
  return JSON.stringify(v, (_k, val: unknown) => {
    if (!isPlainObject(val)) return val;
    return Object.fromEntries(
      Object.keys(val)
        .sort()
        .map((k) => [k, val[k]]),
    );
  });
}

/** Sets metadata.namespace of a namespaced kind that omits it (a new object; the input is untouched). */
export function withDefaultNamespace(raw: unknown, defaultNamespace: string): unknown {
  if (!isPlainObject(raw) || !isPlainObject(raw.metadata) || typeof raw.apiVersion !== "string" || typeof raw.kind !== "string") return raw;
  const ns = raw.metadata.namespace;
  if (ns !== undefined && ns !== null && ns !== "") return raw;
  if (isNamespacedKind(raw.apiVersion, raw.kind) !== true) return raw;
  return { ...raw, metadata: { ...raw.metadata, namespace: defaultNamespace } };
}

/** The store key of a raw object, if its envelope can be read at all. */
function rawKey(raw: unknown): string | undefined {
  if (!isPlainObject(raw) || !isPlainObject(raw.metadata)) return undefined;
  const { apiVersion, kind } = raw;
  const { name, namespace } = raw.metadata;
  if (typeof apiVersion !== "string" || typeof kind !== "string" || typeof name !== "string") return undefined;
  return objectKey({ apiVersion, kind, metadata: { name, ...(typeof namespace === "string" && namespace !== "" ? { namespace } : {}) } });
}

export function readFile(file: string, text: string, previous: FileObjects, validate: Validate, defaultNamespace: string): FileRead {
  const parsed = parseConfigText(text);
  if (!parsed.ok) {
    const p = parsed.error;
    const origin = { source: describePosition(file, p) };
    return {
      state: previous,
      parseFailed: true,
      problems: [{ origin, field: "", reason: `${p.reason}; the file's previous objects stay in force` }],
    };
  }
  const entries = new Map<string, Entry>();
  const problems: InvalidObject[] = [];
  const firstOrigin = new Map<string, string>();
  // A document whose identity cannot be read could be any of the file's previous objects:
  // dropping them all would half-apply an edit, so the whole file keeps its previous state.
  for (const raw of parsed.value as RawObject[]) {
    if (rawKey(withDefaultNamespace(raw.value, defaultNamespace)) !== undefined) continue;
    const origin = { source: describePosition(file, raw) };
    const v = validate(raw.value as KubeObject, origin);
    const e = v.ok ? { origin, field: "metadata.name", reason: "required field is missing" } : v.error;
    return {
      state: previous,
      parseFailed: true,
      problems: [{ ...e, reason: `${e.reason}; the object cannot be identified, so the file's previous objects stay in force` }],
    };
  }
  for (const raw of parsed.value as RawObject[]) {
    const value = withDefaultNamespace(raw.value, defaultNamespace);
    const origin: Origin = { source: describePosition(file, raw) };
    const key = rawKey(value);
    if (key !== undefined && firstOrigin.has(key)) {
      problems.push({
        origin,
        ...objLabel(value),
        field: "metadata.name",
        reason: `duplicate definition: already defined at ${firstOrigin.get(key)}; keeping the first`,
      });
      continue;
    }
    if (key !== undefined) firstOrigin.set(key, origin.source);
    const v = validate(value as KubeObject, origin);
    if (!v.ok) {
      const kept = key !== undefined ? previous.entries.get(key) : undefined;
      problems.push(kept ? { ...v.error, reason: `${v.error.reason}; the previous version stays in force` } : v.error);
      if (kept && key !== undefined) entries.set(key, kept);
      continue;
    }
    const k = objectKey(v.value);
    entries.set(k, { object: v.value, origin, json: canonicalJson(v.value) });
  }
  return { state: { entries }, problems, parseFailed: false };
}

function objLabel(v: unknown): { object?: string } {
  const l = objectLabel(v);
  return l ? { object: l } : {};
}

export interface Resolved {
  readonly effective: ReadonlyMap<string, Entry>;
  /** Conflicts, by the file holding the losing definition. */
  readonly conflicts: ReadonlyMap<string, readonly InvalidObject[]>;
}

/** The objects in force across files: the first definition by path order wins. */
export function resolveFolder(files: ReadonlyMap<string, FileObjects>): Resolved {
  const effective = new Map<string, Entry>();
  const owner = new Map<string, string>();
  const conflicts = new Map<string, InvalidObject[]>();
  for (const file of [...files.keys()].sort()) {
    for (const [key, e] of files.get(file)!.entries) {
      const first = effective.get(key);
      if (first) {
        const list = conflicts.get(file) ?? [];
        list.push({
          origin: e.origin,
          ...objLabel(e.object),
          field: "metadata.name",
          reason: `conflicting definition: also defined at ${first.origin.source} (${owner.get(key)} comes first and is kept)`,
        });
        conflicts.set(file, list);
        continue;
      }
      effective.set(key, e);
      owner.set(key, file);
    }
  }
  return { effective, conflicts };
}

/** Deletes (in key order) then upserts (in key order) that turn `prev` into `next`. */
export function diffEffective(
  prev: ReadonlyMap<string, Entry>,
  next: ReadonlyMap<string, Entry>,
  removedOrigin: (key: string) => Origin,
): ConfigEvent[] {
  const deletes: ConfigEvent[] = [];
  const upserts: ConfigEvent[] = [];
  for (const key of [...prev.keys()].sort()) {
    if (!next.has(key)) deletes.push({ type: "delete", key, origin: removedOrigin(key) });
  }
  for (const key of [...next.keys()].sort()) {
    const n = next.get(key)!;
    if (prev.get(key)?.json !== n.json) upserts.push({ type: "upsert", object: n.object, origin: n.origin });
  }
  return [...deletes, ...upserts];
}
