/**
 * Codec for `istio.security.Authorization`, the xDS edge of src/common/model/authorization.ts.
 * Decoding validates: name and namespace required; scope/action known enum values; every
 * StringMatch has exactly one of exact/prefix/suffix/presence; every Address is 4 or 16 bytes
 * with a prefix length that fits (<= 32 / <= 128); ports are 0..65535 (as upstream ztunnel). Every problem of the
 * resource is returned at once, naming the resource (`namespace/name`) and the proto field.
 * Pure: no IO, no logging.
 */
import type { AddressMatch, Authorization, Clause, Match, Rule, ServiceAccountMatch, StringMatch } from "../model/authorization.js";
import { authorizationKey } from "../model/authorization.js";
import { type Result, ok, err } from "../result.js";
import { ipFromBytes, ipToBytes } from "./ip-bytes.js";
import { protoTypes } from "./proto.js";
import type { ResourceError } from "./resource-error.js";

const SCOPE = ["GLOBAL", "NAMESPACE", "WORKLOAD_SELECTOR"] as const;
const ACTION = ["ALLOW", "DENY"] as const;

interface WireStringMatch {
  exact?: string | null;
  prefix?: string | null;
  suffix?: string | null;
  presence?: object | null;
}
interface WireAddress {
  address?: Uint8Array;
  length?: number;
}
interface WireSaMatch {
  namespace?: string;
  serviceAccount?: string;
}
interface WireMatch {
  namespaces?: WireStringMatch[];
  notNamespaces?: WireStringMatch[];
  principals?: WireStringMatch[];
  notPrincipals?: WireStringMatch[];
  sourceIps?: WireAddress[];
  notSourceIps?: WireAddress[];
  destinationIps?: WireAddress[];
  notDestinationIps?: WireAddress[];
  destinationPorts?: number[];
  notDestinationPorts?: number[];
  serviceAccounts?: WireSaMatch[];
  notServiceAccounts?: WireSaMatch[];
}
interface WireAuthorization {
  name?: string;
  namespace?: string;
  scope?: number;
  action?: number;
  rules?: Array<{ clauses?: Array<{ matches?: WireMatch[] }> }>;
  dryRun?: boolean;
}

function encodeStringMatch(m: StringMatch): WireStringMatch {
  if ("exact" in m) return { exact: m.exact };
  if ("prefix" in m) return { prefix: m.prefix };
  if ("suffix" in m) return { suffix: m.suffix };
  return { presence: {} };
}

function encodeAddressMatch(a: AddressMatch, what: string): WireAddress {
  const b = ipToBytes(a.address);
  // Only validated domain objects are encoded: a bad IP here is a programming error.
  if (!b) throw new Error(`xds codec: ${what}: ${JSON.stringify(a.address)} is not an IP address`);
  return { address: b, length: a.length };
}

function encodeMatch(m: Match, what: string): WireMatch {
  const sm = (l: readonly StringMatch[]) => l.map(encodeStringMatch);
  const am = (l: readonly AddressMatch[]) => l.map((a) => encodeAddressMatch(a, what));
  const sa = (l: readonly ServiceAccountMatch[]) => l.map((s) => ({ namespace: s.namespace, serviceAccount: s.serviceAccount }));
  return {
    namespaces: sm(m.namespaces),
    notNamespaces: sm(m.notNamespaces),
    principals: sm(m.principals),
    notPrincipals: sm(m.notPrincipals),
    sourceIps: am(m.sourceIps),
    notSourceIps: am(m.notSourceIps),
    destinationIps: am(m.destinationIps),
    notDestinationIps: am(m.notDestinationIps),
    destinationPorts: [...m.destinationPorts],
    notDestinationPorts: [...m.notDestinationPorts],
    serviceAccounts: sa(m.serviceAccounts),
    notServiceAccounts: sa(m.notServiceAccounts),
  };
}

/** Wire bytes of `a`, which must be a valid domain object. */
export function encodeAuthorization(a: Authorization): Uint8Array {
  const key = authorizationKey(a);
  const msg: WireAuthorization = {
    name: a.name,
    namespace: a.namespace,
    scope: SCOPE.indexOf(a.scope),
    action: ACTION.indexOf(a.action),
    rules: a.rules.map((r, ri) => ({
      clauses: r.clauses.map((c, ci) => ({
        matches: c.matches.map((m, mi) => encodeMatch(m, `authorization ${key} rules[${ri}].clauses[${ci}].matches[${mi}]`)),
      })),
    })),
    dryRun: a.dryRun,
  };
  return protoTypes().Authorization.encode(msg).finish();
}

type Add = (field: string, reason: string) => void;

function decodeStringMatches(list: WireStringMatch[] | undefined, field: string, add: Add): StringMatch[] {
  return (list ?? []).map((m, i) => {
    // Decoded messages carry only the fields present on the wire as own properties (unset oneof
    // members read as prototype defaults such as ""), so presence is an own-property test.
    const set = (["exact", "prefix", "suffix", "presence"] as const).filter((k) => Object.hasOwn(m, k) && m[k] != null);
    if (set.length !== 1) {
      add(`${field}[${i}]`, set.length === 0 ? "one of exact, prefix, suffix, presence required" : `only one of ${set.join(", ")} allowed`);
      return { exact: "" };
    }
    const k = set[0]!;
    return k === "presence"
      ? { presence: true }
      : k === "exact"
        ? { exact: m.exact! }
        : k === "prefix"
          ? { prefix: m.prefix! }
          : { suffix: m.suffix! };
  });
}

function decodeAddresses(list: WireAddress[] | undefined, field: string, add: Add): AddressMatch[] {
  return (list ?? []).map((a, i) => {
    const bytes = a.address ?? new Uint8Array();
    const ip = ipFromBytes(bytes);
    const length = a.length ?? 0;
    if (ip === undefined) {
      add(`${field}[${i}].address`, `ip must be 4 or 16 bytes, got ${bytes.length}`);
      return { address: "", length };
    }
    // Prefix lengths refer to the wire width (a v4-mapped v6 address keeps its 128-bit width).
    const max = bytes.length * 8;
    if (length > max) add(`${field}[${i}].length`, `prefix length ${length} exceeds ${max}`);
    const v4mapped = bytes.length === 16 && !ip.includes(":");
    return { address: ip, length: v4mapped ? Math.max(0, length - 96) : length };
  });
}

function decodePorts(list: number[] | undefined, field: string, add: Add): number[] {
  return (list ?? []).map((p, i) => {
    // 0 is accepted as upstream ztunnel does (istiod emits it for `ports: ["0"]`); it never matches.
    if (p > 65535) add(`${field}[${i}]`, `invalid port ${p}`);
    return p;
  });
}

function decodeSa(list: WireSaMatch[] | undefined, field: string, add: Add): ServiceAccountMatch[] {
  return (list ?? []).map((s, i) => {
    if (!s.namespace) add(`${field}[${i}].namespace`, "required");
    if (!s.serviceAccount) add(`${field}[${i}].serviceAccount`, "required");
    return { namespace: s.namespace ?? "", serviceAccount: s.serviceAccount ?? "" };
  });
}

function decodeMatch(m: WireMatch, f: string, add: Add): Match {
  return {
    namespaces: decodeStringMatches(m.namespaces, `${f}.namespaces`, add),
    notNamespaces: decodeStringMatches(m.notNamespaces, `${f}.not_namespaces`, add),
    principals: decodeStringMatches(m.principals, `${f}.principals`, add),
    notPrincipals: decodeStringMatches(m.notPrincipals, `${f}.not_principals`, add),
    sourceIps: decodeAddresses(m.sourceIps, `${f}.source_ips`, add),
    notSourceIps: decodeAddresses(m.notSourceIps, `${f}.not_source_ips`, add),
    destinationIps: decodeAddresses(m.destinationIps, `${f}.destination_ips`, add),
    notDestinationIps: decodeAddresses(m.notDestinationIps, `${f}.not_destination_ips`, add),
    destinationPorts: decodePorts(m.destinationPorts, `${f}.destination_ports`, add),
    notDestinationPorts: decodePorts(m.notDestinationPorts, `${f}.not_destination_ports`, add),
    serviceAccounts: decodeSa(m.serviceAccounts, `${f}.service_accounts`, add),
    notServiceAccounts: decodeSa(m.notServiceAccounts, `${f}.not_service_accounts`, add),
  };
}

/**
 * Decodes and validates one `istio.security.Authorization`. `name` is the xDS resource name it
 * came under (used in errors and checked against `namespace/name`).
 */
export function decodeAuthorization(bytes: Uint8Array, name = "(unnamed)"): Result<Authorization, ResourceError[]> {
  let msg: WireAuthorization;
  try {
    msg = protoTypes().Authorization.decode(bytes) as WireAuthorization;
  } catch (e) {
    return err([{ resource: name, field: "(wire)", reason: `not an istio.security.Authorization: ${(e as Error).message}` }]);
  }
  const resource = msg.name && msg.namespace ? `${msg.namespace}/${msg.name}` : name;
  const errors: ResourceError[] = [];
  const add: Add = (field, reason) => errors.push({ resource, field, reason });
  if (!msg.name) add("name", "required");
  if (!msg.namespace) add("namespace", "required");
  const scope = SCOPE[msg.scope ?? 0];
  if (scope === undefined) add("scope", `unknown enum value ${msg.scope}`);
  const action = ACTION[msg.action ?? 0];
  if (action === undefined) add("action", `unknown enum value ${msg.action}`);
  const rules: Rule[] = (msg.rules ?? []).map((r, ri) => ({
    clauses: (r.clauses ?? []).map((c, ci): Clause => ({
      matches: (c.matches ?? []).map((m, mi) => decodeMatch(m, `rules[${ri}].clauses[${ci}].matches[${mi}]`, add)),
    })),
  }));
  if (errors.length === 0 && name !== "(unnamed)" && resource !== name) {
    add("name", `resource named ${JSON.stringify(name)} holds ${JSON.stringify(resource)}`);
  }
  if (errors.length) return err(errors);
  return ok({ name: msg.name!, namespace: msg.namespace!, scope: scope!, action: action!, rules, dryRun: msg.dryRun ?? false });
}
