/**
 * A small structural schema language for Kubernetes-shaped objects, and its checker.
 *
 * Why not JSON Schema: we need `kubectl --validate=strict` behaviour (an unknown field is an
 * error naming its path), Kubernetes' null-means-absent rule, and error paths in the form
 * users read (`spec.containers[0].ports[1].containerPort`), with no dependency. Subtrees the
 * mesh never reads are declared `any()` so ordinary manifests load without us copying the
 * whole Kubernetes API.
 *
 * Pure; the checker stops at the first problem (one clear message beats a wall of them).
 */
import { isIP as netIsIp } from "node:net";

export type Schema =
  | { readonly t: "string"; readonly enum?: readonly string[]; readonly check?: (v: string) => string | undefined }
  | { readonly t: "int"; readonly min?: number; readonly max?: number }
  | { readonly t: "number" }
  | { readonly t: "bool" }
  | { readonly t: "intOrString"; readonly check?: (v: number | string) => string | undefined }
  | { readonly t: "any" }
  | {
      readonly t: "object";
      readonly fields: Readonly<Record<string, Field>>;
      readonly open?: boolean;
      readonly check?: (v: Record<string, unknown>) => Problem | undefined;
    }
  | { readonly t: "map"; readonly values: Schema; readonly keyCheck?: (k: string) => string | undefined }
  | { readonly t: "array"; readonly items: Schema; readonly minItems?: number; readonly maxItems?: number };

export type Field = Schema & { readonly required?: boolean };

/** A problem at a path relative to where checking started (`""` = the value itself). */
export interface Problem {
  readonly field: string;
  readonly reason: string;
}

// Builders: keep the kind tables in validate-*.ts short and readable.
export const str = (opts: { enum?: readonly string[]; check?: (v: string) => string | undefined } = {}): Schema => ({
  t: "string",
  ...opts,
});
export const int = (opts: { min?: number; max?: number } = {}): Schema => ({ t: "int", ...opts });
export const num = (): Schema => ({ t: "number" });
export const bool = (): Schema => ({ t: "bool" });
export const intOrString = (check?: (v: number | string) => string | undefined): Schema => ({
  t: "intOrString",
  ...(check ? { check } : {}),
});
/** A subtree the mesh does not read: any JSON value is accepted. */
export const any = (): Schema => ({ t: "any" });
export const obj = (
  fields: Record<string, Field>,
  opts: { open?: boolean; check?: (v: Record<string, unknown>) => Problem | undefined } = {},
): Schema => ({ t: "object", fields, ...opts });
export const map = (values: Schema, keyCheck?: (k: string) => string | undefined): Schema => ({
  t: "map",
  values,
  ...(keyCheck ? { keyCheck } : {}),
});
export const arr = (items: Schema, minItems?: number, maxItems?: number): Schema => ({
  t: "array",
  items,
  ...(minItems !== undefined ? { minItems } : {}),
  ...(maxItems !== undefined ? { maxItems } : {}),
});
export const req = (s: Schema): Field => ({ ...s, required: true });

/** `a.b`, `a[0]`, `a["weird.key"]`: how kubectl prints paths. */
export function joinPath(base: string, key: string | number): string {
  if (typeof key === "number") return `${base}[${key}]`;
  const plain = /^[A-Za-z_$][A-Za-z0-9_$-]*$/.test(key);
  if (!plain) return `${base}[${JSON.stringify(key)}]`;
  return base === "" ? key : `${base}.${key}`;
}

/** Appends an already printed relative path (`a.b[0]`) to `base`. */
export function appendPath(base: string, rel: string): string {
  if (rel === "") return base;
  if (base === "" || rel.startsWith("[")) return base + rel;
  return `${base}.${rel}`;
}

function typeName(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  return typeof v;
}

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/**
 * Checks `value` against `schema`; `path` is the printed path of `value`. With
 * `allowUnknown`, fields a schema does not list are accepted (objects an API server already
 * validated may carry fields newer than weft's tables).
 */
export function check(schema: Schema, value: unknown, path: string, allowUnknown = false): Problem | undefined {
  switch (schema.t) {
    case "any":
      return undefined;
    case "string": {
      if (typeof value !== "string") return { field: path, reason: `expected string, got ${typeName(value)}` };
      if (schema.enum && !schema.enum.includes(value)) {
        return {
          field: path,
          reason: `unsupported value ${JSON.stringify(value)}: expected one of ${schema.enum.map((e) => JSON.stringify(e)).join(", ")}`,
        };
      }
      const r = schema.check?.(value);
      return r ? { field: path, reason: r } : undefined;
    }
    case "int": {
      if (typeof value !== "number" || !Number.isInteger(value))
        return { field: path, reason: `expected integer, got ${typeName(value)} ${JSON.stringify(value)}` };
      if (schema.min !== undefined && value < schema.min) return { field: path, reason: `must be >= ${schema.min}, got ${value}` };
      if (schema.max !== undefined && value > schema.max) return { field: path, reason: `must be <= ${schema.max}, got ${value}` };
      return undefined;
    }
    case "number":
      return typeof value === "number" && Number.isFinite(value)
        ? undefined
        : { field: path, reason: `expected number, got ${typeName(value)}` };
    case "bool":
      return typeof value === "boolean"
        ? undefined
        : { field: path, reason: `expected boolean, got ${typeName(value)} ${JSON.stringify(value)}` };
    case "intOrString": {
      if (typeof value === "string" || (typeof value === "number" && Number.isInteger(value))) {
        const r = schema.check?.(value);
        return r ? { field: path, reason: r } : undefined;
      }
      return { field: path, reason: `expected integer or string, got ${typeName(value)}` };
    }
    case "array": {
      if (!Array.isArray(value)) return { field: path, reason: `expected array, got ${typeName(value)}` };
      if (schema.minItems !== undefined && value.length < schema.minItems)
        return { field: path, reason: `must have at least ${schema.minItems} item(s)` };
      if (schema.maxItems !== undefined && value.length > schema.maxItems)
        return { field: path, reason: `must have at most ${schema.maxItems} item(s), got ${value.length}` };
      for (let i = 0; i < value.length; i++) {
        const p = check(schema.items, value[i], joinPath(path, i), allowUnknown);
        if (p) return p;
      }
      return undefined;
    }
    case "map": {
      if (!isPlainObject(value)) return { field: path, reason: `expected object, got ${typeName(value)}` };
      for (const [k, v] of Object.entries(value)) {
        const kr = schema.keyCheck?.(k);
        if (kr) return { field: joinPath(path, k), reason: kr };
        const p = check(schema.values, v, joinPath(path, k), allowUnknown);
        if (p) return p;
      }
      return undefined;
    }
    case "object": {
      if (!isPlainObject(value)) return { field: path, reason: `expected object, got ${typeName(value)}` };
      for (const [name, f] of Object.entries(schema.fields)) {
        const v = value[name];
        if (v === undefined || v === null) {
          if (f.required) return { field: joinPath(path, name), reason: "required field is missing" };
          continue;
        }
        const p = check(f, v, joinPath(path, name), allowUnknown);
        if (p) return p;
      }
      if (!schema.open && !allowUnknown) {
        for (const name of Object.keys(value)) {
          if (!(name in schema.fields)) return { field: joinPath(path, name), reason: "unknown field" };
        }
      }
      const c = schema.check?.(value);
      return c ? { field: appendPath(path, c.field), reason: c.reason } : undefined;
    }
  }
}

// Name rules (k8s.io/apimachinery validation), as reason strings or undefined.

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const QUALIFIED_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

export function dns1123Label(v: string): string | undefined {
  if (v.length > 63) return `${JSON.stringify(v)} must be no more than 63 characters`;
  return DNS1123_LABEL.test(v)
    ? undefined
    : `${JSON.stringify(v)} is not a DNS-1123 label (lower case alphanumerics and '-', starting and ending alphanumeric)`;
}

export function dns1123Subdomain(v: string): string | undefined {
  if (v.length > 253) return `${JSON.stringify(v)} must be no more than 253 characters`;
  return DNS1123_SUBDOMAIN.test(v)
    ? undefined
    : `${JSON.stringify(v)} is not a DNS-1123 subdomain (lower case alphanumerics, '-' and '.', starting and ending alphanumeric)`;
}

export function dns1035Label(v: string): string | undefined {
  if (v.length > 63) return `${JSON.stringify(v)} must be no more than 63 characters`;
  return DNS1035_LABEL.test(v)
    ? undefined
    : `${JSON.stringify(v)} is not a DNS-1035 label (lower case alphanumerics and '-', starting with a letter)`;
}

/** Label and annotation keys: `[prefix/]name`, prefix a DNS subdomain, name <= 63 chars. */
export function qualifiedName(k: string): string | undefined {
  const parts = k.split("/");
  if (parts.length > 2) return `key ${JSON.stringify(k)} has more than one '/'`;
  const name = parts[parts.length - 1]!;
  if (parts.length === 2) {
    const prefix = parts[0]!;
    if (prefix === "" || dns1123Subdomain(prefix)) return `key ${JSON.stringify(k)}: prefix must be a DNS-1123 subdomain`;
  }
  if (name.length === 0 || name.length > 63 || !QUALIFIED_NAME.test(name)) {
    return `key ${JSON.stringify(k)}: name part must be 1-63 alphanumerics, '-', '_' or '.', starting and ending alphanumeric`;
  }
  return undefined;
}

export function labelValue(v: string): string | undefined {
  if (v.length > 63 || !LABEL_VALUE.test(v))
    return `label value ${JSON.stringify(v)} must be at most 63 alphanumerics, '-', '_' or '.', starting and ending alphanumeric`;
  return undefined;
}

export function ipAddress(v: string): string | undefined {
  return isIp(v) ? undefined : `${JSON.stringify(v)} is not an IP address`;
}

/** IPv4 or IPv6 text form (net.isIP is a pure parser). */
export function isIp(v: string): boolean {
  return netIsIp(v) !== 0;
}
