/**
 * One subscribed xDS type: its type URL, how a resource's bytes become a validated domain
 * value (the decoder at the edge), and where decoded resources are applied (the one mutator
 * of that state). ztunnel subscribes to Address and Authorization (`ztunnelSubscriptions`); the
 * waypoint adds Envoy's Listener, RouteConfiguration, Cluster and ClusterLoadAssignment.
 */
import type { Authorization } from "../../common/model/authorization.js";
import type { Result } from "../../common/result.js";
import { type AddressResource, decodeAddress } from "../../common/xds/address-codec.js";
import { decodeAuthorization } from "../../common/xds/authorization-codec.js";
import { ADDRESS_TYPE_URL, AUTHORIZATION_TYPE_URL } from "../../common/xds/proto.js";
import type { ResourceError } from "../../common/xds/resource-error.js";
import type { XdsHandler } from "./handler.js";

/** A decoded resource with its xDS name (the state's rejections are matched to versions by name). */
export interface Named<T> {
  readonly name: string;
  readonly value: T;
}

export interface XdsSubscription<T = unknown> {
  readonly typeUrl: string;
  /** Decodes and validates one resource; errors name the resource and field. */
  decode(bytes: Uint8Array, name: string): Result<T, ResourceError[]>;
  /** Applies the valid upserts and all removals at once; returns the resources it refused. */
  apply(upserts: Named<T>[], removals: string[]): Result<void, ResourceError[]>;
}

/** ztunnel's two types, applied through its state mutator. */
export function ztunnelSubscriptions(handler: XdsHandler): [XdsSubscription<AddressResource>, XdsSubscription<Authorization>] {
  return [addressSubscription(handler), authorizationSubscription(handler)];
}

export function addressSubscription(handler: Pick<XdsHandler, "applyAddresses">): XdsSubscription<AddressResource> {
  return {
    typeUrl: ADDRESS_TYPE_URL,
    decode: (bytes, name) => decodeAddress(bytes, name),
    apply: (upserts, removals) =>
      handler.applyAddresses(
        upserts.map((u) => u.value),
        removals,
      ),
  };
}

export function authorizationSubscription(handler: Pick<XdsHandler, "applyAuthorizations">): XdsSubscription<Authorization> {
  return {
    typeUrl: AUTHORIZATION_TYPE_URL,
    decode: (bytes, name) => decodeAuthorization(bytes, name),
    apply: (upserts, removals) =>
      handler.applyAuthorizations(
        upserts.map((u) => u.value),
        removals,
      ),
  };
}
