/**
 * Strict reading of user-written security objects (AuthorizationPolicy, PeerAuthentication):
 * every field is checked for shape, unknown fields are errors, and every error names the
 * object and the dotted path of the field (`spec.rules[0].from[0].source.principalz`).
 *
 * A `Reader` collects all problems of one object instead of stopping at the first, so a user
 * sees every mistake at once. Translators only produce output when the reader stayed clean:
 * nothing of an invalid object is ever half-applied. Pure; no IO.
 */
import type { KubeObject } from "../../kube/object.js";

/** One problem with one field of one object. */
export interface ValidationError {
  /** `Kind namespace/name`, as far as it could be read. */
  readonly object: string;
  /** Dotted path of the offending field, e.g. `spec.rules[0].to[0].operation.ports[1]`. */
  readonly field: string;
  readonly reason: string;
}

export function formatValidationError(e: ValidationError): string {
  return `${e.object}: ${e.field}: ${e.reason}`;
}

export type Json = Record<string, unknown>;

export function isPlainObject(v: unknown): v is Json {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Collects the problems of one object; every check returns undefined after recording an error. */
export class Reader {
  readonly errors: ValidationError[] = [];
  constructor(readonly subject: string) {}

  fail(field: string, reason: string): undefined {
    this.errors.push({ object: this.subject, field, reason });
    return undefined;
  }

  get clean(): boolean {
    return this.errors.length === 0;
  }

  /**
   * An object with only `allowed` keys. `undefined`/`null` read as absent (undefined, no error).
   * Unknown keys are reported one by one, with the allowed ones as a hint.
   */
  object(v: unknown, path: string, allowed: readonly string[]): Json | undefined {
    if (v === undefined || v === null) return undefined;
    if (!isPlainObject(v)) return this.fail(path, `must be an object, got ${describe(v)}`);
    for (const k of Object.keys(v)) {
      if (!allowed.includes(k)) this.fail(`${path}.${k}`, `unknown field (allowed: ${allowed.join(", ")})`);
    }
    return v;
  }

  /** A list; absent reads as undefined so callers can tell `[]` from "not written". */
  list(v: unknown, path: string): unknown[] | undefined {
    if (v === undefined || v === null) return undefined;
    if (!Array.isArray(v)) return this.fail(path, `must be a list, got ${describe(v)}`);
    return v;
  }

  /** A list of non-empty strings; bad entries are reported and left out. */
  strings(v: unknown, path: string): string[] | undefined {
    const l = this.list(v, path);
    if (!l) return undefined;
    const out: string[] = [];
    l.forEach((s, i) => {
      if (typeof s !== "string") this.fail(`${path}[${i}]`, `must be a string, got ${describe(s)}`);
      else if (s.length === 0) this.fail(`${path}[${i}]`, "must not be empty");
      else out.push(s);
    });
    return out;
  }

  string(v: unknown, path: string): string | undefined {
    if (v === undefined || v === null) return undefined;
    if (typeof v !== "string") return this.fail(path, `must be a string, got ${describe(v)}`);
    return v;
  }

  /** `matchLabels`-style map of string to string. */
  labels(v: unknown, path: string): Record<string, string> | undefined {
    if (v === undefined || v === null) return undefined;
    if (!isPlainObject(v)) return this.fail(path, `must be a map of strings, got ${describe(v)}`);
    const out: Record<string, string> = {};
    for (const [k, val] of Object.entries(v)) {
      if (typeof val !== "string") this.fail(`${path}.${k}`, `label value must be a string, got ${describe(val)}`);
      else if (k.includes("*") || val.includes("*")) this.fail(`${path}.${k}`, "wildcards are not supported in selectors");
      else if (k.length === 0) this.fail(path, "label key must not be empty");
      else out[k] = val;
    }
    return out;
  }
}

export function describe(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "a list";
  if (typeof v === "object") return "an object";
  return `${typeof v} ${JSON.stringify(v)}`;
}

/** `Kind namespace/name` for messages, tolerant of a broken envelope. */
export function objectName(obj: Partial<KubeObject> | undefined, kind: string): string {
  const md = obj?.metadata;
  return `${kind} ${md?.namespace ?? "?"}/${md?.name ?? "?"}`;
}

/** The allowed `apiVersion`s of the security.istio.io kinds weft reads. */
export const SECURITY_API_VERSIONS = ["security.istio.io/v1", "security.istio.io/v1beta1"] as const;

/**
 * Checks the envelope (apiVersion, kind, metadata.name/namespace) and returns the namespace
 * and name, or records errors. Namespaced kinds must carry a namespace: a source that defaults
 * it (a YAML folder) does so before translation.
 */
export function readEnvelope(r: Reader, obj: KubeObject, kind: string): { namespace: string; name: string } | undefined {
  if (!(SECURITY_API_VERSIONS as readonly string[]).includes(obj.apiVersion)) {
    r.fail("apiVersion", `${JSON.stringify(obj.apiVersion)} is not supported for ${kind} (use ${SECURITY_API_VERSIONS.join(" or ")})`);
  }
  if (obj.kind !== kind) r.fail("kind", `expected ${kind}, got ${JSON.stringify(obj.kind)}`);
  const name = obj.metadata?.name;
  const namespace = obj.metadata?.namespace;
  if (typeof name !== "string" || name === "") r.fail("metadata.name", "must be set");
  if (typeof namespace !== "string" || namespace === "") r.fail("metadata.namespace", "must be set");
  if (typeof name !== "string" || typeof namespace !== "string" || !name || !namespace) return undefined;
  return { namespace, name };
}

/** `metadata.creationTimestamp` when the source kept it (API objects do); used for "oldest wins". */
export function creationTimestamp(obj: KubeObject): string | undefined {
  const ts = (obj.metadata as unknown as Json | undefined)?.creationTimestamp;
  return typeof ts === "string" ? ts : undefined;
}

/** Go's strconv.ParseBool spellings, which Istio uses for boolean annotations. */
export function parseBoolAnnotation(v: string): boolean | undefined {
  if (["1", "t", "T", "TRUE", "true", "True"].includes(v)) return true;
  if (["0", "f", "F", "FALSE", "false", "False"].includes(v)) return false;
  return undefined;
}
