/**
 * `weft authz explain` at L7: what the waypoint's HTTP filters decide for one described request,
 * and why, per filter and per policy rule, with the deciding policy and rule named. Uses the same
 * evaluator as the request path (rbac.ts evaluateFilter / policyMatches), in the listener's filter
 * order, so the explanation cannot disagree with enforcement for the same inputs.
 *
 * A JWT is described by its claims (`iss`, `sub`, `aud`, ...) and taken as verified: the
 * explanation puts them where jwt_authn puts a verified payload (its dynamic metadata), so
 * `requestPrincipals` and `request.auth.claims[...]` conditions see them; a token's signature,
 * expiry and keys are not checked here. A CUSTOM (ext_authz) step says that the external
 * authorizer decides: its answer is not asked for. Pure.
 */
import type { RequestFacts } from "../route/request.js";
import { EXT_AUTHZ_SHADOW_PREFIX, RBAC_METADATA, rbacRequest, recordShadow, type AuthzHttpFilter } from "./chain.js";
import { extAuthzEnabled } from "./ext-authz.js";
import { normalize } from "./jwt.js";
import { type RbacRequest, evaluateFilter, policyMatches } from "./rbac.js";
import type { RbacRules } from "./types.js";

export interface L7ExplainInput {
  readonly facts: RequestFacts;
  readonly peerPrincipal: string | undefined;
  readonly clientIp: string;
  readonly destinationIp: string;
  readonly destinationPort: number;
  /** Claims of a JWT taken as verified; absent: the request carries no token. */
  readonly claims?: Readonly<Record<string, unknown>>;
}

export interface L7Explanation {
  readonly lines: readonly string[];
  readonly decision: "ALLOW" | "DENY" | "EXTERNAL";
  /** The Envoy policy name that decided (a DENY that matched, the ALLOW that admitted, the CUSTOM that asks). */
  readonly policy?: string;
  readonly summary: string;
}

/** `ns[a]-policy[b]-rule[0]` (with istiod's CUSTOM prefix or bad-CUSTOM suffix) as `a/b rule 0`. */
export function policyLabel(envoyName: string): string {
  const m = /^(?:istio-ext-authz-([a-z0-9-]+?)-)?ns\[([^\]]*)\]-policy\[([^\]]*)\]-rule\[(\d+)\](-deny-due-to-bad-CUSTOM-action)?$/.exec(
    envoyName,
  );
  if (!m) return envoyName;
  const custom = m[1] ? ` (CUSTOM, provider ${m[1]}${m[5] ? " unusable: denies" : ""})` : "";
  return `${m[2]}/${m[3]} rule ${m[4]}${custom}`;
}

const ACTION_NAME = { ALLOW: "ALLOW", DENY: "DENY", LOG: "AUDIT" } as const;

function rulesLines(rules: RbacRules, req: RbacRequest, label: string): string[] {
  if (!rules.policies.length) return [`  ${label}: no policies`];
  return rules.policies.map((p) => `  ${label} ${policyLabel(p.name)}: ${policyMatches(p, req) ? "MATCHES" : "no match"}`);
}

export function explainRequest(filters: readonly AuthzHttpFilter[], input: L7ExplainInput): L7Explanation {
  const lines: string[] = [];
  const metadata = new Map<string, Readonly<Record<string, unknown>>>();
  let external: string | undefined;
  let admittedBy: string | undefined;
  for (const f of filters) {
    if (f.kind === "jwt_authn") {
      if (!input.claims) {
        lines.push(
          "jwt_authn: no JWT described: the request has no requestPrincipal (a tokenless request passes authentication, as in Istio)",
        );
        continue;
      }
      const iss = input.claims.iss;
      const provider = [...f.providers.values()].find((p) => p.issuer === iss);
      if (!provider) {
        lines.push(`jwt_authn: no RequestAuthentication rule has issuer ${JSON.stringify(iss)}: 401 Jwt issuer is not configured`);
        return { lines, decision: "DENY", summary: "DENY (401): the JWT's issuer is not configured" };
      }
      if (provider.payloadInMetadata)
        metadata.set(f.name, { [provider.payloadInMetadata]: normalize(input.claims as never, provider.spaceDelimitedClaims) });
      lines.push(
        `jwt_authn: JWT of ${String(iss)} taken as verified (provider ${provider.name}), requestPrincipal ${String(iss)}/${String(input.claims.sub ?? "")}`,
      );
      continue;
    }
    const req = rbacRequest(input, input.facts, metadata);
    if (f.kind === "ext_authz") {
      if (!extAuthzEnabled(f, metadata)) {
        lines.push(`ext_authz (${f.service.kind} ${f.service.cluster}): not called (no CUSTOM rule matched)`);
        continue;
      }
      const trigger = metadata.get(RBAC_METADATA)?.[`${EXT_AUTHZ_SHADOW_PREFIX}shadow_effective_policy_id`];
      external ??= typeof trigger === "string" ? trigger : f.name;
      lines.push(
        `ext_authz (${f.service.kind} ${f.service.cluster}): CALLED for ${policyLabel(external)}: the external authorizer decides ` +
          `(on error: ${f.failureModeAllow ? "allow (failOpen)" : `${f.statusOnError}`}); if it allows, the next filters apply`,
      );
      continue;
    }
    const custom = f.shadowRulesStatPrefix === EXT_AUTHZ_SHADOW_PREFIX;
    const kind = custom ? "CUSTOM" : f.rules ? ACTION_NAME[f.rules.action] : f.shadowRules ? ACTION_NAME[f.shadowRules.action] : "RBAC";
    lines.push(`rbac ${kind}:`);
    if (f.rules) lines.push(...rulesLines(f.rules, req, "enforced"));
    if (f.shadowRules) lines.push(...rulesLines(f.shadowRules, req, custom ? "custom" : "dry-run"));
    const r = evaluateFilter(f, req);
    if (r.shadow) recordShadow(metadata, f, r.shadow);
    if (!r.allowed) {
      const why = r.policy ? `${policyLabel(r.policy)} (${r.policy})` : `no ALLOW policy matches`;
      return { lines, decision: "DENY", ...(r.policy ? { policy: r.policy } : {}), summary: `DENY (403 RBAC: access denied): ${why}` };
    }
    if (f.rules?.action === "ALLOW" && r.policy) admittedBy = r.policy;
  }
  if (external)
    return {
      lines,
      decision: "EXTERNAL",
      policy: external,
      summary: `decided by the external authorizer (CUSTOM ${policyLabel(external)})${admittedBy ? `; then allowed by ${policyLabel(admittedBy)}` : ""}`,
    };
  if (admittedBy) return { lines, decision: "ALLOW", policy: admittedBy, summary: `ALLOW: ${policyLabel(admittedBy)} (${admittedBy})` };
  return {
    lines,
    decision: "ALLOW",
    summary: filters.length ? "ALLOW: no DENY matches and no ALLOW policy applies" : "ALLOW: no authorization filters on this listener",
  };
}

export function formatRequestExplanation(e: L7Explanation): string {
  return `${e.lines.join("\n")}${e.lines.length ? "\n" : ""}decision: ${e.summary}\n`;
}
