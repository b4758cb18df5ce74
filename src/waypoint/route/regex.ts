/**
 * Envoy's `safe_regex` (RE2) as a JavaScript RegExp. Envoy matches a safe_regex against the
 * WHOLE value (RE2::FullMatch), so the compiled form is anchored `^(?:...)$`; regex_rewrite
 * substitutions use RE2::GlobalReplace, so a "global" variant is kept for those.
 *
 * RE2 vs JS RegExp (docs/waypoint.md "Regular expressions"): RE2 has no lookaround and no
 * backreferences, so a pattern using `(?=`, `(?!`, `(?<=`, `(?<!` or `\1`..`\9` is rejected here
 * exactly as Envoy would reject it (instead of silently matching more in JS). RE2 forms that JS
 * spells differently are translated: `(?P<name>` -> `(?<name>`, a leading `(?i)` -> the `i` flag,
 * `\A` -> `^`, `\z` -> `$`. Remaining known differences: RE2 character classes like `[[:alpha:]]`
 * and `\pN` without braces are not supported (rejected); JS `.` does not match `\n` either
 * (same as RE2 without `s`). Pure.
 */
import { type Result, ok, err } from "../../common/result.js";

export interface CompiledRegex {
  /** Anchored, for full matches. */
  readonly full: RegExp;
  /** Unanchored and global, for substitutions. */
  readonly global: RegExp;
  readonly source: string;
}

const UNSUPPORTED: ReadonlyArray<[RegExp, string]> = [
  [/\(\?<?[=!]/, "lookaround assertions are not RE2"],
  [/(^|[^\\])\\[1-9]/, "backreferences are not RE2"],
  [/\[\[:[a-z]+:\]\]/, "POSIX classes [[:name:]] are not supported"],
  [/\\[pP][A-Za-z]/, "\\pX without braces is not supported; use \\p{X}"],
];

/** Compiles an RE2 pattern; an error explains what is not supported. */
export function compileRe2(pattern: string): Result<CompiledRegex> {
  for (const [re, why] of UNSUPPORTED) if (re.test(pattern)) return err(new Error(`regex ${JSON.stringify(pattern)}: ${why}`));
  let src = pattern;
  let flags = "";
  const lead = /^\(\?([imsU]+)\)/.exec(src);
  if (lead) {
    for (const f of lead[1]!) {
      if (f === "U") return err(new Error(`regex ${JSON.stringify(pattern)}: the U (ungreedy) flag is not supported`));
      if (!flags.includes(f)) flags += f;
    }
    src = src.slice(lead[0].length);
  }
  src = src
    .replace(/\(\?P</g, "(?<")
    .replace(/(^|[^\\])\\A/g, "$1^")
    .replace(/(^|[^\\])\\z/g, "$1$$");
  try {
    return ok({ full: new RegExp(`^(?:${src})$`, flags), global: new RegExp(src, flags + "g"), source: pattern });
  } catch (e) {
    return err(new Error(`regex ${JSON.stringify(pattern)}: ${(e as Error).message}`));
  }
}

/**
 * RE2::GlobalReplace: every non-overlapping match replaced; `\N` in the substitution is the
 * Nth capture group (Envoy's syntax), translated to JS `$N`.
 */
export function re2Replace(re: RegExp, input: string, substitution: string): string {
  const js = substitution.replace(/\$/g, "$$$$").replace(/\\([0-9])/g, "$$$1");
  re.lastIndex = 0;
  return input.replace(re, js);
}
