/**
 * What the xDS client hands validated resources to: ztunnel's one state mutator
 * (src/proxy/state/mutator.ts StateMutator satisfies this interface as is). Each call
 * applies the valid upserts and all removals, and returns the resources it refused, each
 * naming the resource and field; those become the NACK.
 */
import type { Authorization } from "../../common/model/authorization.js";
import type { Result } from "../../common/result.js";
import type { AddressResource } from "../../common/xds/address-codec.js";
import type { ResourceError } from "../../common/xds/resource-error.js";

export interface XdsHandler {
  applyAddresses(upserts: AddressResource[], removals: string[]): Result<void, ResourceError[]>;
  applyAuthorizations(upserts: Authorization[], removals: string[]): Result<void, ResourceError[]>;
}
