/**
 * The delta ADS wire edge shared by the control plane (server) and ztunnel (client): plain
 * request/response records, their protobuf (de)serializers, and the grpc-js method
 * definition built from them. grpc-js calls these serializers directly, so no proto-loader
 * object conversion sits on the hot path, and the server can splice resources it encoded once
 * (see ResourceStore) into every client's response as raw bytes.
 */
import type { MethodDefinition } from "@grpc/grpc-js";
import { protoTypes } from "./proto.js";

export const ADS_SERVICE = "envoy.service.discovery.v3.AggregatedDiscoveryService";
export const DELTA_ADS_PATH = `/${ADS_SERVICE}/DeltaAggregatedResources`;

export interface DeltaRequest {
  readonly node?: { readonly id: string; readonly cluster: string; readonly metadata?: Readonly<Record<string, string>> };
  readonly typeUrl: string;
  readonly subscribe: readonly string[];
  readonly unsubscribe: readonly string[];
  readonly initialVersions: Readonly<Record<string, string>>;
  /** Set on ACK and NACK. */
  readonly responseNonce: string;
  /** Set on NACK only. */
  readonly errorDetail?: { readonly code: number; readonly message: string };
}

/** A response as the server builds it: resources are pre-encoded `resources` fields. */
export interface OutgoingDeltaResponse {
  readonly typeUrl: string;
  readonly nonce: string;
  readonly systemVersionInfo: string;
  readonly removed: readonly string[];
  readonly resourceFields: readonly Uint8Array[];
  /** The wire bytes, when already encoded (one encoding shared by every client sent the same delta). */
  readonly encoded?: Buffer;
}

export interface WireResource {
  readonly name: string;
  readonly version: string;
  readonly aliases: readonly string[];
  /** The Any; absent for a TTL heartbeat (not used by weft). */
  readonly resource?: { readonly typeUrl: string; readonly value: Uint8Array };
}

/** A response as the client reads it. */
export interface IncomingDeltaResponse {
  readonly typeUrl: string;
  readonly nonce: string;
  readonly systemVersionInfo: string;
  readonly resources: readonly WireResource[];
  readonly removed: readonly string[];
}

interface ProtoStruct {
  fields?: Record<string, { stringValue?: string; kind?: string }>;
}

/** String-valued entries of a google.protobuf.Struct (other kinds are ignored). */
export function structStrings(s: ProtoStruct | null | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(s?.fields ?? {}))
    if (typeof v.stringValue === "string" && Object.hasOwn(v, "stringValue")) out[k] = v.stringValue;
  return out;
}

/** A google.protobuf.Struct of string values, as plain data protobufjs can encode. */
export function stringStruct(values: Record<string, string>): { fields: Record<string, { stringValue: string }> } {
  return { fields: Object.fromEntries(Object.entries(values).map(([k, v]) => [k, { stringValue: v }])) };
}

export function encodeDeltaRequest(r: DeltaRequest): Buffer {
  const msg = {
    ...(r.node
      ? { node: { id: r.node.id, cluster: r.node.cluster, ...(r.node.metadata ? { metadata: stringStruct(r.node.metadata) } : {}) } }
      : {}),
    typeUrl: r.typeUrl,
    resourceNamesSubscribe: [...r.subscribe],
    resourceNamesUnsubscribe: [...r.unsubscribe],
    initialResourceVersions: { ...r.initialVersions },
    responseNonce: r.responseNonce,
    ...(r.errorDetail ? { errorDetail: { code: r.errorDetail.code, message: r.errorDetail.message } } : {}),
  };
  return Buffer.from(protoTypes().DeltaDiscoveryRequest.encode(msg).finish());
}

interface WireRequest {
  node?: { id?: string; cluster?: string; metadata?: ProtoStruct | null } | null;
  typeUrl?: string;
  resourceNamesSubscribe?: string[];
  resourceNamesUnsubscribe?: string[];
  initialResourceVersions?: Record<string, string>;
  responseNonce?: string;
  errorDetail?: { code?: number; message?: string } | null;
}

/** Throws on malformed bytes; grpc-js turns that into an INTERNAL status for the stream. */
export function decodeDeltaRequest(buf: Buffer): DeltaRequest {
  const m = protoTypes().DeltaDiscoveryRequest.decode(buf) as WireRequest;
  return {
    ...(m.node ? { node: { id: m.node.id ?? "", cluster: m.node.cluster ?? "", metadata: structStrings(m.node.metadata) } } : {}),
    typeUrl: m.typeUrl ?? "",
    subscribe: m.resourceNamesSubscribe ?? [],
    unsubscribe: m.resourceNamesUnsubscribe ?? [],
    initialVersions: { ...(m.initialResourceVersions ?? {}) },
    responseNonce: m.responseNonce ?? "",
    ...(m.errorDetail ? { errorDetail: { code: m.errorDetail.code ?? 0, message: m.errorDetail.message ?? "" } } : {}),
  };
}

export function encodeDeltaResponse(r: OutgoingDeltaResponse): Buffer {
  if (r.encoded) return r.encoded;
  const head = protoTypes()
    .DeltaDiscoveryResponse.encode({
      systemVersionInfo: r.systemVersionInfo,
      typeUrl: r.typeUrl,
      nonce: r.nonce,
      removedResources: [...r.removed],
    })
    .finish();
  // Protobuf fields may come in any order: the header fields, then the pre-encoded resources.
  return Buffer.concat([head, ...r.resourceFields]);
}

interface WireResponse {
  systemVersionInfo?: string;
  typeUrl?: string;
  nonce?: string;
  removedResources?: string[];
  resources?: Array<{
    name?: string;
    version?: string;
    aliases?: string[];
    resource?: { typeUrl?: string; type_url?: string; value?: Uint8Array } | null;
  }>;
}

export function decodeDeltaResponse(buf: Buffer): IncomingDeltaResponse {
  const m = protoTypes().DeltaDiscoveryResponse.decode(buf) as WireResponse;
  return {
    typeUrl: m.typeUrl ?? "",
    nonce: m.nonce ?? "",
    systemVersionInfo: m.systemVersionInfo ?? "",
    removed: m.removedResources ?? [],
    resources: (m.resources ?? []).map((r) => ({
      name: r.name ?? "",
      version: r.version ?? "",
      aliases: r.aliases ?? [],
      ...(r.resource
        ? { resource: { typeUrl: r.resource.typeUrl ?? r.resource.type_url ?? "", value: r.resource.value ?? new Uint8Array() } }
        : {}),
    })),
  };
}

/** Server-side view of the method: requests decoded, responses from OutgoingDeltaResponse. */
export const deltaAdsServerMethod: MethodDefinition<DeltaRequest, OutgoingDeltaResponse> = {
  path: DELTA_ADS_PATH,
  requestStream: true,
  responseStream: true,
  requestSerialize: encodeDeltaRequest,
  requestDeserialize: decodeDeltaRequest,
  responseSerialize: encodeDeltaResponse,
  responseDeserialize: () => {
    throw new Error("xds: the server never reads responses");
  },
};

/** Client-side view of the method. */
export const deltaAdsClientMethod: MethodDefinition<DeltaRequest, IncomingDeltaResponse> = {
  path: DELTA_ADS_PATH,
  requestStream: true,
  responseStream: true,
  requestSerialize: encodeDeltaRequest,
  requestDeserialize: decodeDeltaRequest,
  responseSerialize: () => {
    throw new Error("xds: the client never writes responses");
  },
  responseDeserialize: decodeDeltaResponse,
};
