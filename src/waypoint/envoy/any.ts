/**
 * google.protobuf.Any inside Envoy resources: unpacked with the Envoy type its type_url names
 * (envoyTypes()), into the same plain-object form the decoders read everywhere. Pure apart
 * from the lazily loaded type registry.
 */
import { envoyTypes } from "../../common/xds/envoy-proto.js";
import { type Decoding, type Obj, obj, str } from "./fields.js";

/** How every decoder sees a protobufjs message: only set fields, enums as names, 64-bit ints as numbers. */
export const TO_OBJECT = { enums: String, longs: Number, defaults: false, oneofs: false, bytes: Buffer } as const;

export function unpackAny(d: Decoding, v: unknown, path: string): { typeUrl: string; value: Obj } | undefined {
  const a = obj(v);
  const typeUrl = str(a?.type_url) ?? str(a?.typeUrl);
  if (!a || !typeUrl) {
    d.fail(path, "required (a typed_config with a type_url)");
    return undefined;
  }
  const name = typeUrl.slice(typeUrl.lastIndexOf("/") + 1);
  let type;
  try {
    type = envoyTypes().root.lookupType(name);
  } catch {
    d.fail(path, `unknown type ${typeUrl}`);
    return undefined;
  }
  const bytes = a.value instanceof Uint8Array ? a.value : new Uint8Array();
  try {
    return { typeUrl, value: type.toObject(type.decode(bytes), TO_OBJECT) as Obj };
  } catch (e) {
    d.fail(path, `cannot decode ${typeUrl}: ${(e as Error).message}`);
    return undefined;
  }
}
