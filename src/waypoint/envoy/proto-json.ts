/**
 * Envoy's YAML/JSON config form (proto3 JSON mapping, as in an Envoy bootstrap file) to Envoy
 * protobuf messages, so a static waypoint config goes through exactly the same bytes and
 * decoder as xDS. protobufjs' fromObject does not implement the JSON mapping of well-known
 * types, so this walks the message type and converts them: `"@type"` Any, Duration strings
 * ("1.5s"), wrapper primitives (BoolValue, UInt32Value, ...), Struct/Value. Field names may be
 * snake_case (Envoy's docs) or lowerCamelCase (proto3 JSON). An unknown field is an error
 * naming its path, like Envoy's strict bootstrap parsing. Pure apart from the type registry.
 */
import type protobuf from "protobufjs";
import { type Result, ok, err } from "../../common/result.js";
import { envoyTypes } from "../../common/xds/envoy-proto.js";

const WRAPPERS = new Set(
  ["BoolValue", "UInt32Value", "Int32Value", "UInt64Value", "Int64Value", "StringValue", "DoubleValue", "FloatValue", "BytesValue"].map(
    (n) => `google.protobuf.${n}`,
  ),
);

const camel = (s: string) => s.replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase());
// protobufjs keeps an underscore before a digit (`consecutive_5xx`, `enforcingConsecutive_5xx`).
const pbCamel = (s: string) => s.replace(/_([a-z])/g, (_m, c: string) => c.toUpperCase());

class JsonError extends Error {}

/** Encodes a JSON/YAML object of Envoy type `typeName` (e.g. envoy.config.listener.v3.Listener). */
export function encodeFromJson(typeName: string, json: unknown, path: string): Result<Uint8Array> {
  try {
    const type = envoyTypes().root.lookupType(typeName);
    const msg = type.fromObject(adapt(type, json, path));
    return ok(type.encode(msg).finish());
  } catch (e) {
    return err(new Error(e instanceof JsonError ? e.message : `${path}: ${(e as Error).message}`));
  }
}

function fullName(t: protobuf.Type): string {
  return t.fullName.replace(/^\./, "");
}

function adapt(type: protobuf.Type, json: unknown, path: string): Record<string, unknown> {
  const name = fullName(type);
  if (json === null || typeof json !== "object" || Array.isArray(json)) throw new JsonError(`${path}: ${name} must be an object`);
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(json as Record<string, unknown>)) {
    const field = type.fields[camel(key)] ?? type.fields[pbCamel(key)];
    const fp = path ? `${path}.${key}` : key;
    if (!field) throw new JsonError(`${fp}: unknown field of ${name}`);
    field.resolve();
    const conv = (v: unknown, p: string) => (field.resolvedType && "fields" in field.resolvedType ? convert(field.resolvedType, v, p) : v);
    if (field.repeated) {
      if (!Array.isArray(value)) throw new JsonError(`${fp}: must be a list`);
      out[field.name] = value.map((v, i) => conv(v, `${fp}[${i}]`));
    } else if (field.map) {
      out[field.name] = Object.fromEntries(
        Object.entries((value ?? {}) as Record<string, unknown>).map(([k, v]) => [k, conv(v, `${fp}.${k}`)]),
      );
    } else out[field.name] = conv(value, fp);
  }
  return out;
}

function convert(type: protobuf.Type, v: unknown, path: string): unknown {
  const name = fullName(type);
  if (WRAPPERS.has(name)) return v !== null && typeof v === "object" ? v : { value: v };
  if (name === "google.protobuf.Duration") return typeof v === "string" ? duration(v, path) : v;
  if (name === "google.protobuf.Struct") return struct(v, path);
  if (name === "google.protobuf.Value") return value(v);
  if (name === "google.protobuf.Any") {
    const o = (v ?? {}) as Record<string, unknown>;
    const url = o["@type"];
    if (typeof url !== "string") throw new JsonError(`${path}: an Any needs "@type"`);
    const { "@type": _t, ...rest } = o;
    const inner = envoyTypes().root.lookupType(url.slice(url.lastIndexOf("/") + 1));
    return { type_url: url, value: inner.encode(inner.fromObject(adapt(inner, rest, path))).finish() };
  }
  return adapt(type, v, path);
}

function duration(s: string, path: string): { seconds: number; nanos: number } {
  const m = /^(-?\d+)(?:\.(\d{1,9}))?s$/.exec(s.trim());
  if (!m) throw new JsonError(`${path}: ${JSON.stringify(s)} is not a duration like "1.5s"`);
  return { seconds: Number(m[1]), nanos: Number((m[2] ?? "").padEnd(9, "0")) };
}

function struct(v: unknown, path: string): unknown {
  if (v === null || typeof v !== "object" || Array.isArray(v)) throw new JsonError(`${path}: a Struct must be an object`);
  return { fields: Object.fromEntries(Object.entries(v as Record<string, unknown>).map(([k, x]) => [k, value(x)])) };
}

function value(v: unknown): unknown {
  if (v === null || v === undefined) return { nullValue: "NULL_VALUE" };
  if (typeof v === "string") return { stringValue: v };
  if (typeof v === "number") return { numberValue: v };
  if (typeof v === "boolean") return { boolValue: v };
  if (Array.isArray(v)) return { listValue: { values: v.map(value) } };
  return { structValue: { fields: Object.fromEntries(Object.entries(v as Record<string, unknown>).map(([k, x]) => [k, value(x)])) } };
}
