/**
 * PeerAuthentication (`security.istio.io/v1`, `v1beta1`) for ambient workloads.
 *
 * `translatePeerAuthentication` validates one object strictly (unknown fields, bad modes and
 * ports are errors naming the field); a malformed object is not dropped but fails closed: it
 * reads as STRICT, without port exceptions, at the level it was written for. `effectivePeerAuthentication` (peer-authentication-effective.ts)
 * resolves, for one workload, which policies apply (workload > namespace > mesh; UNSET
 * inherits; oldest wins among peers of one level, as Istio does) and the mode of each port.
 * `peerAuthenticationAuthorizations` produces the `Authorization` resources that enforce STRICT
 * the way Istio ambient does: a DENY of peers without a principal, named like upstream
 * (`istio_converted_static_strict` in the root namespace, and
 * `converted_peer_authentication_<name>` for workload policies with port-level exceptions).
 * In ambient DISABLE behaves like PERMISSIVE: ztunnel always accepts HBONE and, unless STRICT,
 * captured plaintext. Pure; no IO.
 */
import { type Result, ok, err } from "../../common/result.js";
import type { KubeObject } from "../../kube/object.js";
import {
  type ValidationError,
  Reader,
  creationTimestamp,
  describe,
  isPlainObject,
  objectName,
  readEnvelope,
} from "./authorization-policy-schema.js";
import { portValue } from "./authorization-policy-values.js";

export type MtlsMode = "UNSET" | "DISABLE" | "PERMISSIVE" | "STRICT";
const MODES: readonly MtlsMode[] = ["UNSET", "DISABLE", "PERMISSIVE", "STRICT"];

export type PeerAuthenticationLevel = "MESH" | "NAMESPACE" | "WORKLOAD";

export interface PeerAuthenticationPolicy {
  readonly name: string;
  readonly namespace: string;
  /** MESH: root namespace without selector; NAMESPACE: other namespace without selector; WORKLOAD: with selector. */
  readonly level: PeerAuthenticationLevel;
  /** `matchLabels`, only for WORKLOAD level. */
  readonly selector?: Readonly<Record<string, string>>;
  /** Top-level mode; UNSET (or absent) inherits from the level above. */
  readonly mode: MtlsMode;
  /** Per workload port (the pod's target port) overrides; only with a selector. */
  readonly portLevelMtls: ReadonlyMap<number, MtlsMode>;
  /** For "oldest wins" among policies of one level; absent sorts last, then by name. */
  readonly creationTimestamp?: string;
  /** Non-empty when the object is malformed: it then fails closed, as STRICT without port overrides. */
  readonly errors: readonly ValidationError[];
  readonly warnings: readonly string[];
}

export interface PeerAuthenticationOptions {
  readonly rootNamespace: string;
}

export function translatePeerAuthentication(
  obj: KubeObject,
  opts: PeerAuthenticationOptions,
): Result<PeerAuthenticationPolicy, ValidationError[]> {
  const r = new Reader(objectName(obj, "PeerAuthentication"));
  const env = readEnvelope(r, obj, "PeerAuthentication");
  const spec = r.object(obj.spec, "spec", ["selector", "mtls", "portLevelMtls"]) ?? {};
  const warnings: string[] = [];

  const before = r.errors.length;
  const sel = r.object(spec.selector, "spec.selector", ["matchLabels"]);
  const labels = sel ? r.labels(sel.matchLabels, "spec.selector.matchLabels") : undefined;
  const selector = labels && Object.keys(labels).length > 0 ? labels : undefined;
  const selectorBroken = r.errors.length > before;
  const mode = readMode(r, spec.mtls, "spec.mtls");

  const portLevelMtls = new Map<number, MtlsMode>();
  const rawPlm = spec.portLevelMtls;
  if (rawPlm !== undefined && rawPlm !== null) {
    if (!isPlainObject(rawPlm)) r.fail("spec.portLevelMtls", `must be a map of port to {mode}, got ${describe(rawPlm)}`);
    else {
      const entries = Object.entries(rawPlm);
      if (entries.length === 0) r.fail("spec.portLevelMtls", "must have at least one port when set");
      if (!selector)
        r.fail("spec.portLevelMtls", "mesh- and namespace-wide PeerAuthentication cannot have port-level mTLS; add a selector");
      for (const [k, v] of entries) {
        const port = portValue(r, k, `spec.portLevelMtls.${k}`);
        const m = readMode(r, v, `spec.portLevelMtls.${k}`);
        if (port !== undefined && m !== undefined) portLevelMtls.set(port, m);
      }
    }
  }

  if (!env) return err(r.errors);
  const name = `PeerAuthentication ${env.namespace}/${env.name}`;
  const ts = creationTimestamp(obj);
  if (!r.clean || mode === undefined) {
    // Never widen access: a malformed policy reads as STRICT for everything it could select
    // (the whole namespace when its selector is unreadable).
    const sel2 = selectorBroken ? undefined : selector;
    const level: PeerAuthenticationLevel = sel2 ? "WORKLOAD" : env.namespace === opts.rootNamespace ? "MESH" : "NAMESPACE";
    const where = sel2 ? "the workloads its selector matches" : level === "MESH" ? "the whole mesh" : `namespace ${env.namespace}`;
    const problems = r.errors.map((e) => `${e.field}: ${e.reason}`).join("; ");
    return ok({
      name: env.name,
      namespace: env.namespace,
      level,
      ...(sel2 ? { selector: sel2 } : {}),
      mode: "STRICT",
      portLevelMtls: new Map(),
      ...(ts ? { creationTimestamp: ts } : {}),
      errors: r.errors,
      warnings: [`${name}: malformed, failing closed: treated as STRICT for ${where} until it is fixed: ${problems}`],
    });
  }
  let level: PeerAuthenticationLevel = selector ? "WORKLOAD" : env.namespace === opts.rootNamespace ? "MESH" : "NAMESPACE";
  if (selector && env.namespace === opts.rootNamespace) {
    // Istio ignores workload-level policies in the root namespace; say so instead of silently.
    warnings.push(
      `${name}: spec.selector: a PeerAuthentication with a selector in the root namespace ${opts.rootNamespace} is ignored (as in Istio); put it in the workload's namespace`,
    );
    level = "WORKLOAD";
  }
  if (mode === "DISABLE" || [...portLevelMtls.values()].includes("DISABLE")) {
    warnings.push(
      `${name}: DISABLE behaves like PERMISSIVE in ambient mode: ztunnel still carries mesh traffic over mTLS and accepts plaintext`,
    );
  }
  return ok({
    name: env.name,
    namespace: env.namespace,
    level,
    ...(selector ? { selector } : {}),
    mode,
    portLevelMtls,
    ...(ts ? { creationTimestamp: ts } : {}),
    errors: [],
    warnings,
  });
}

function readMode(r: Reader, v: unknown, path: string): MtlsMode | undefined {
  const m = r.object(v, path, ["mode"]);
  if (v !== undefined && v !== null && !m) return undefined;
  if (!m || m.mode === undefined || m.mode === null) return "UNSET";
  const mode = r.string(m.mode, `${path}.mode`);
  if (mode === undefined) return undefined;
  if (!(MODES as readonly string[]).includes(mode))
    return r.fail(`${path}.mode`, `unknown mode ${JSON.stringify(mode)} (allowed: ${MODES.join(", ")})`);
  return mode as MtlsMode;
}
