/**
 * Helpers the Envoy decoders share: walking a protobufjs plain object (`toObject` with
 * defaults off, so only fields that were set are present) while collecting errors that name
 * the resource and the Envoy field path in Envoy's snake_case (`virtual_hosts[0].routes[2].match`).
 *
 * The rule that keeps the waypoint fail-closed: every set field is either understood, on a
 * short list of fields that cannot change how traffic is handled (stats names, metadata,
 * descriptions), or an error. A config weft cannot honour is NACKed, never half-applied.
 * Pure.
 */
import type { ResourceError } from "../../common/xds/resource-error.js";

export type Obj = Record<string, unknown>;

const snake = (s: string) => s.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/** Collects errors for one resource. */
export class Decoding {
  readonly errors: ResourceError[] = [];
  constructor(readonly resource: string) {}

  fail(path: string, reason: string): void {
    this.errors.push({ resource: this.resource, field: path, reason });
  }

  /** Reports every set field of `o` that is neither in `known` nor in `harmless`. */
  only(o: Obj, path: string, known: readonly string[], harmless: readonly string[] = []): void {
    for (const k of Object.keys(o)) {
      if (known.includes(k) || harmless.includes(k)) continue;
      this.fail(join(path, snake(k)), "not supported by the weft waypoint (it would change how traffic is handled; docs/waypoint.md)");
    }
  }
}

export function join(path: string, field: string): string {
  return path ? `${path}.${field}` : field;
}

export function obj(v: unknown): Obj | undefined {
  return v !== null && typeof v === "object" && !Array.isArray(v) && !(v instanceof Uint8Array) ? (v as Obj) : undefined;
}

export function arr(v: unknown): Obj[] {
  return Array.isArray(v) ? (v as unknown[]).map((x) => obj(x) ?? {}) : [];
}

export function str(v: unknown): string | undefined {
  return typeof v === "string" ? v : undefined;
}

export function num(v: unknown): number | undefined {
  if (typeof v === "number") return v;
  if (typeof v === "string" && v !== "" && Number.isFinite(Number(v))) return Number(v);
  return undefined;
}

/** google.protobuf.BoolValue / UInt32Value as decoded: `{ value }` (a missing value is the default). */
export function wrapped<T>(v: unknown, dflt: T): T | undefined {
  const o = obj(v);
  if (!o) return undefined;
  return (o.value as T | undefined) ?? dflt;
}

/** google.protobuf.Duration as decoded ({ seconds, nanos }) in milliseconds. */
export function durationMs(v: unknown): number | undefined {
  const o = obj(v);
  if (!o) return undefined;
  return (num(o.seconds) ?? 0) * 1000 + Math.round((num(o.nanos) ?? 0) / 1e6);
}

/** Lower-cased header names; an empty or pseudo name where one is not allowed is reported. */
export function headerNames(d: Decoding, v: unknown, path: string): string[] {
  const out: string[] = [];
  (Array.isArray(v) ? v : []).forEach((n, i) => {
    if (typeof n !== "string" || n === "") return d.fail(`${path}[${i}]`, "header name must be a non-empty string");
    if (n.startsWith(":") || n.toLowerCase() === "host") return d.fail(`${path}[${i}]`, `${n} cannot be removed (Envoy rejects it too)`);
    out.push(n.toLowerCase());
  });
  return out;
}
