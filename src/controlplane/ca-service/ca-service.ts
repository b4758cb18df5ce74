/**
 * istio.v1.auth.IstioCertificateService/CreateCertificate on the control plane's gRPC server.
 *
 * Decision (pure, `decideIdentity`): the caller is authenticated from its bearer token; with
 * `metadata.ImpersonatedIdentity` it asks for a pod's identity, granted only if the caller is a
 * trusted node account (Istio's CA_TRUSTED_NODE_ACCOUNTS, default `<root ns>/ztunnel`), its
 * node is known and the NodeAuthorizer says a pod with that identity runs on that node (the
 * control plane answers from its pod model); without it, the caller gets its own identity:
 * that is how a workload caller (a waypoint) gets its certificate, and all it can get (an
 * ImpersonatedIdentity equal to the caller's own identity counts as none).
 * The CSR's own SAN is ignored: the CA writes the granted identity (src/ca).
 *
 * Status mapping, in one place: no/bad token UNAUTHENTICATED; identity not allowed
 * PERMISSION_DENIED; malformed identity, CSR, or TTL INVALID_ARGUMENT; CA failure INTERNAL.
 */
import { type sendUnaryData, type ServerUnaryCall, status } from "@grpc/grpc-js";
import { logger } from "../../common/log.js";
import { type Result, ok, err } from "../../common/result.js";
import { type Identity, parseUri, toUri } from "../../common/spiffe.js";
import { IMPERSONATED_IDENTITY, type CertificateRequest, type CertificateResponse } from "../../common/xds/ca-wire.js";
import type { Authenticator, Caller } from "../auth/authenticator.js";
import { CaError, isCallerError } from "../../ca/errors.js";
import { type CallError, authenticateCall, callError } from "../xds/caller-auth.js";

const log = logger("controlplane.ca-service");

/** Whether a pod with `identity` (SPIFFE URI) runs on `node`. Wired to the pod model. */
export interface NodeAuthorizer {
  mayIssue(node: string, identity: string): boolean;
}

/** What signs: CertificateAuthority from src/ca satisfies this. */
export interface CertificateSigner {
  sign(csrPem: string, req: { identity: Identity; ttlSeconds?: number }): Promise<Result<string[], Error>>;
}

export interface CaServiceOptions {
  readonly authenticator: Authenticator;
  readonly nodeAuthorizer: NodeAuthorizer;
  readonly signer: CertificateSigner;
  /**
   * `namespace/serviceAccount` of the callers that may impersonate pods on their node (node
   * proxies). Default: any caller bound to a node (bootstrap node tokens are only ever given to
   * ztunnels); the control plane passes `<root ns>/ztunnel`, as istiod does, so that a
   * pod-bound TokenReview token of an ordinary pod never impersonates its neighbours.
   */
  readonly trustedNodeAccounts?: readonly string[];
}

/** Which identity the caller gets, or the status to refuse with. Pure. */
export function decideIdentity(
  caller: Caller,
  metadata: Readonly<Record<string, string>>,
  authz: NodeAuthorizer,
  trustedNodeAccounts?: readonly string[],
): Result<Identity, CallError> {
  const requested = metadata[IMPERSONATED_IDENTITY];
  // Asking to "impersonate" oneself is no impersonation: the shared identity manager always
  // names the identity it wants, so a waypoint's request carries its own.
  if (requested === undefined || requested === "" || requested === caller.identity) {
    const own = parseUri(caller.identity);
    if (!own.ok) return err(callError(status.PERMISSION_DENIED, `caller identity ${JSON.stringify(caller.identity)} is not a spiffe id`));
    return ok(own.value);
  }
  const id = parseUri(requested);
  if (!id.ok) return err(callError(status.INVALID_ARGUMENT, `metadata.${IMPERSONATED_IDENTITY}: ${id.error.message}`));
  const uri = toUri(id.value);
  if (!caller.node)
    return err(callError(status.PERMISSION_DENIED, `caller ${caller.identity} is not bound to a node and may not impersonate ${uri}`));
  if (trustedNodeAccounts) {
    const own = parseUri(caller.identity);
    if (!own.ok || !trustedNodeAccounts.includes(`${own.value.namespace}/${own.value.serviceAccount}`))
      return err(
        callError(status.PERMISSION_DENIED, `caller ${caller.identity} is not a trusted node account and may not impersonate ${uri}`),
      );
  }
  if (!authz.mayIssue(caller.node, uri)) {
    return err(callError(status.PERMISSION_DENIED, `no pod with identity ${uri} runs on node ${caller.node} of caller ${caller.identity}`));
  }
  return ok(id.value);
}

export class CaService {
  constructor(private readonly opts: CaServiceOptions) {}

  /** The grpc-js handler for CreateCertificate. */
  readonly handler = (
    call: ServerUnaryCall<CertificateRequest, CertificateResponse>,
    callback: sendUnaryData<CertificateResponse>,
  ): void => {
    this.create(call.request, call).then(
      (r) => (r.ok ? callback(null, r.value) : callback(r.error)),
      (e: unknown) => {
        log.error({ err: e }, "certificate request failed unexpectedly");
        callback(callError(status.INTERNAL, "internal error"));
      },
    );
  };

  private async create(
    req: CertificateRequest,
    call: ServerUnaryCall<CertificateRequest, CertificateResponse>,
  ): Promise<Result<CertificateResponse, CallError>> {
    const caller = await authenticateCall(this.opts.authenticator, call.metadata);
    if (!caller.ok) {
      log.warn({ peer: call.getPeer(), details: caller.error.details }, "certificate request unauthenticated");
      return caller;
    }
    const id = decideIdentity(caller.value, req.metadata, this.opts.nodeAuthorizer, this.opts.trustedNodeAccounts);
    if (!id.ok) {
      log.warn({ caller: caller.value.identity, node: caller.value.node, details: id.error.details }, "certificate request refused");
      return id;
    }
    if (!Number.isInteger(req.validityDuration) || req.validityDuration < 0) {
      return err(callError(status.INVALID_ARGUMENT, `validity_duration ${req.validityDuration} must be >= 0 seconds`));
    }
    const signed = await this.opts.signer.sign(req.csr, { identity: id.value, ttlSeconds: req.validityDuration || undefined });
    if (!signed.ok) {
      const e = signed.error;
      const callerFault = e instanceof CaError ? isCallerError(e) : false;
      log.warn({ caller: caller.value.identity, identity: toUri(id.value), err: e.message }, "certificate signing failed");
      return err(callError(callerFault ? status.INVALID_ARGUMENT : status.INTERNAL, `${toUri(id.value)}: ${e.message}`));
    }
    log.info({ caller: caller.value.identity, node: caller.value.node, identity: toUri(id.value) }, "certificate issued");
    return ok({ certChain: signed.value });
  }
}
