/**
 * The gRPC service definition of `envoy.service.auth.v3.Authorization/Check` with Envoy's
 * vendored protos, for the TEST external authorizers (test/waypoint/authz-ext.test.ts,
 * test/e2e/ext-authz-test-server.ts): requests arrive as protobufjs objects (longs as numbers),
 * answers are CheckResponse objects.
 */
import type * as grpc from "@grpc/grpc-js";
import { envoyTypes } from "../../src/common/xds/envoy-proto.js";

export function checkServiceDefinition(): grpc.ServiceDefinition {
  const root = envoyTypes().root;
  const Req = root.lookupType("envoy.service.auth.v3.CheckRequest");
  const Res = root.lookupType("envoy.service.auth.v3.CheckResponse");
  return {
    Check: {
      path: "/envoy.service.auth.v3.Authorization/Check",
      requestStream: false,
      responseStream: false,
      requestSerialize: (m: object) => Buffer.from(Req.encode(Req.fromObject(m)).finish()),
      requestDeserialize: (b: Buffer) => Req.toObject(Req.decode(b), { longs: Number }),
      responseSerialize: (m: object) => Buffer.from(Res.encode(Res.fromObject(m)).finish()),
      responseDeserialize: (b: Buffer) => Res.toObject(Res.decode(b)),
    },
  } as grpc.ServiceDefinition;
}
