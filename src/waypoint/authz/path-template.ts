/**
 * Envoy's URI template path matcher (envoy.extensions.path.match.uri_template), which istiod
 * uses for AuthorizationPolicy paths with `{*}` / `{**}` (rewritten to `*` / `**`). A template
 * is `/`-separated segments: a literal, `*` (exactly one segment), `**` (zero or more characters
 * across segments; istiod also writes it mid-path, `/{**}/x`), or a variable `{name}`, `{name=*}`, `{name=**}`.
 * The character classes are Envoy's (RFC 3986 pchar; `**` adds `/`). Compiled once to a regex.
 * Pure.
 */
import { type Result, ok, err } from "../../common/result.js";
import type { PathTemplate } from "./types.js";

const PCHAR = "[a-zA-Z0-9\\-._~%!$&'()+,;:@=]";
const ONE = `${PCHAR}+`;
const MANY = `[a-zA-Z0-9\\-._~%!$&'()+,;:@=/]*`;
const LITERAL = /^[a-zA-Z0-9\-._~%!$&'()+,;:@=]*$/;

export function compilePathTemplate(template: string): Result<PathTemplate> {
  if (!template.startsWith("/")) return err(new Error(`path template ${JSON.stringify(template)} must start with /`));
  const segments = template.slice(1).split("/");
  const out: string[] = [];
  for (const seg of segments) {
    const op = /^\{[a-zA-Z][a-zA-Z0-9_]*(=(\*\*|\*))?\}$/.test(seg) ? (seg.includes("=**") ? "**" : "*") : seg;
    if (op === "*") out.push(ONE);
    else if (op === "**") out.push(MANY);
    else if (LITERAL.test(seg)) out.push(seg.replace(/[.$()+]/g, (c) => `\\${c}`));
    else
      return err(
        new Error(
          `path template ${JSON.stringify(template)}: segment ${JSON.stringify(seg)} is neither a literal nor a whole-segment operator`,
        ),
      );
  }
  return ok({ template, regex: new RegExp(`^/${out.join("/")}$`) });
}
