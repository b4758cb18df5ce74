/**
 * What the delta ADS server needs to know about a resource type: its type URL, how a domain
 * object is named, aliased, encoded and scoped. The server is generic over these; the two
 * ztunnel types (Address, Authorization) are defined here, the waypoint's Envoy types in
 * envoy-kinds.ts.
 */
import type { Authorization } from "../../common/model/authorization.js";
import { authorizationKey } from "../../common/model/authorization.js";
import { type AddressResource, addressAliases, addressName, encodeAddress } from "../../common/xds/address-codec.js";
import { encodeAuthorization } from "../../common/xds/authorization-codec.js";
import { ADDRESS_TYPE_URL, AUTHORIZATION_TYPE_URL } from "../../common/xds/proto.js";

export interface ResourceKind<T> {
  readonly typeUrl: string;
  /** The xDS resource name (unique within the type). */
  name(value: T): string;
  /** Alternative names sent in Resource.aliases (for on-demand lookups by `network/IP`). */
  aliases(value: T): string[];
  /** The wire bytes of the resource (the `value` of its google.protobuf.Any). */
  encode(value: T): Uint8Array;
  /**
   * The waypoints (`ns/gateway`) a resource is for. A kind with scopes is served only to
   * waypoint callers, and to each only the resources that name its Gateway; kinds without
   * (Address, Authorization) go to every caller.
   */
  scopes?(value: T): readonly string[];
}

export const addressKind: ResourceKind<AddressResource> = {
  typeUrl: ADDRESS_TYPE_URL,
  name: addressName,
  aliases: addressAliases,
  encode: encodeAddress,
};

export const authorizationKind: ResourceKind<Authorization> = {
  typeUrl: AUTHORIZATION_TYPE_URL,
  name: authorizationKey,
  aliases: () => [],
  encode: encodeAuthorization,
};
