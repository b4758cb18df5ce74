/**
 * Wire edge of istio.v1.auth.IstioCertificateService/CreateCertificate, shared by the control
 * plane's CA service and ztunnel's CA client: plain records and the grpc-js method definition.
 */
import type { MethodDefinition } from "@grpc/grpc-js";
import { protoTypes } from "./proto.js";
import { stringStruct, structStrings } from "./delta-wire.js";

export const CA_SERVICE = "istio.v1.auth.IstioCertificateService";
export const CREATE_CERTIFICATE_PATH = `/${CA_SERVICE}/CreateCertificate`;
export const IMPERSONATED_IDENTITY = "ImpersonatedIdentity";

export interface CertificateRequest {
  readonly csr: string;
  /** Seconds; 0 means the CA default. */
  readonly validityDuration: number;
  /** String entries of the metadata Struct (e.g. ImpersonatedIdentity). */
  readonly metadata: Readonly<Record<string, string>>;
}

export interface CertificateResponse {
  /** Leaf first, root last. */
  readonly certChain: readonly string[];
}

interface WireRequest {
  csr?: string;
  validityDuration?: number | { toNumber(): number };
  metadata?: { fields?: Record<string, { stringValue?: string }> } | null;
}

export function encodeCertificateRequest(r: CertificateRequest): Buffer {
  return Buffer.from(
    protoTypes()
      .IstioCertificateRequest.encode({ csr: r.csr, validityDuration: r.validityDuration, metadata: stringStruct({ ...r.metadata }) })
      .finish(),
  );
}

export function decodeCertificateRequest(buf: Buffer): CertificateRequest {
  const m = protoTypes().IstioCertificateRequest.decode(buf) as WireRequest;
  const v = m.validityDuration;
  return { csr: m.csr ?? "", validityDuration: typeof v === "number" ? v : v ? v.toNumber() : 0, metadata: structStrings(m.metadata) };
}

export function encodeCertificateResponse(r: CertificateResponse): Buffer {
  return Buffer.from(
    protoTypes()
      .IstioCertificateResponse.encode({ certChain: [...r.certChain] })
      .finish(),
  );
}

export function decodeCertificateResponse(buf: Buffer): CertificateResponse {
  const m = protoTypes().IstioCertificateResponse.decode(buf) as { certChain?: string[] };
  return { certChain: m.certChain ?? [] };
}

export const createCertificateMethod: MethodDefinition<CertificateRequest, CertificateResponse> = {
  path: CREATE_CERTIFICATE_PATH,
  requestStream: false,
  responseStream: false,
  requestSerialize: encodeCertificateRequest,
  requestDeserialize: decodeCertificateRequest,
  responseSerialize: encodeCertificateResponse,
  responseDeserialize: decodeCertificateResponse,
};
