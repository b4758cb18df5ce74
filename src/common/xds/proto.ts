/**
 * The one place that loads weft's .proto files (proto/ ships with the package) into a
 * protobufjs reflection root and hands out the message types the xDS and CA edges use.
 *
 * Why runtime reflection and not generated code: protobufjs compiles a specialised
 * encoder/decoder function per message type the first time it is used (Type.setup), so after
 * warm-up it runs the same code a static build would, without a code generator in the build
 * (see docs/xds.md for the measured 10k-resource numbers). Loading is synchronous and done once.
 *
 * Invariant: nothing outside src/common/xds, src/controlplane/xds, src/controlplane/ca-service,
 * src/proxy/xds and src/ztunnel/ca-client sees a protobufjs message.
 */
import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import protobuf from "protobufjs";

export const ADDRESS_TYPE_URL = "type.googleapis.com/istio.workload.Address";
export const AUTHORIZATION_TYPE_URL = "type.googleapis.com/istio.security.Authorization";

const FILES = [
  "envoy/service/discovery/v3/discovery.proto",
  "istio/workload/workload.proto",
  "istio/security/authorization.proto",
  "istio/v1/auth/ca.proto",
];

/** Finds proto/ by walking up from this module (src/... when run from source, dist/src/... when built). */
export function protoDir(): string {
  let dir = __dirname;
  for (let i = 0; i < 8; i++) {
    const candidate = join(dir, "proto");
    if (existsSync(join(candidate, "istio/workload/workload.proto"))) return candidate;
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  throw new Error(`xds: proto/ directory not found above ${__dirname}`);
}

export interface ProtoTypes {
  readonly root: protobuf.Root;
  readonly Address: protobuf.Type;
  readonly Authorization: protobuf.Type;
  readonly DeltaDiscoveryRequest: protobuf.Type;
  readonly DeltaDiscoveryResponse: protobuf.Type;
  readonly Resource: protobuf.Type;
  readonly Any: protobuf.Type;
  readonly IstioCertificateRequest: protobuf.Type;
  readonly IstioCertificateResponse: protobuf.Type;
}

let cached: ProtoTypes | undefined;

/** Loads (once) and returns the message types. Throws only if the shipped .proto files are broken. */
export function protoTypes(): ProtoTypes {
  if (cached) return cached;
  const dir = protoDir();
  const root = new protobuf.Root();
  // Imports are relative to proto/; google/protobuf/* resolve to protobufjs's bundled copies.
  root.resolvePath = (_origin, target) => (target.startsWith("google/protobuf/") ? target : resolve(dir, target));
  root.loadSync(FILES.map((f) => join(dir, f)));
  root.resolveAll();
  const t = (name: string) => root.lookupType(name);
  cached = {
    root,
    Address: t("istio.workload.Address"),
    Authorization: t("istio.security.Authorization"),
    DeltaDiscoveryRequest: t("envoy.service.discovery.v3.DeltaDiscoveryRequest"),
    DeltaDiscoveryResponse: t("envoy.service.discovery.v3.DeltaDiscoveryResponse"),
    Resource: t("envoy.service.discovery.v3.Resource"),
    Any: t("google.protobuf.Any"),
    IstioCertificateRequest: t("istio.v1.auth.IstioCertificateRequest"),
    IstioCertificateResponse: t("istio.v1.auth.IstioCertificateResponse"),
  };
  return cached;
}
