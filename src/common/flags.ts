/**
 * A component's command-line flags as data: name, value placeholder, environment variable,
 * default and one line of help. Each component's config.ts owns its table and stays the only
 * reader of its flags and environment; the `weft` command declares the same table to its
 * argument parser, so `--help` shows every flag with its default and environment variable, and
 * a wrong flag is refused before the component starts. Pure.
 */
import type { ParseArgsConfig } from "node:util";

type ParseArgsOptionsConfig = NonNullable<ParseArgsConfig["options"]>;

export interface FlagSpec {
  /** Long name without the dashes: `trust-domain`. */
  readonly name: string;
  /** One-letter alias, when kubectl or istioctl has one (`n` for namespace). */
  readonly short?: string;
  /** Placeholder of the value in help (`DIR`, `HOST:PORT`); absent for an on/off switch. */
  readonly arg?: string;
  /** Environment variable read when the flag is absent. */
  readonly env?: string;
  /** The default, as help shows it; the loader applies it (from a DEFAULT_* constant). */
  readonly default?: string;
  readonly description: string;
}

/** The `node:util` parseArgs options of a flag table. */
export function parseArgsOptions(specs: readonly FlagSpec[]): ParseArgsOptionsConfig {
  const out: ParseArgsOptionsConfig = {};
  for (const f of specs) out[f.name] = { type: f.arg ? "string" : "boolean", ...(f.short ? { short: f.short } : {}) };
  return out;
}

/** One line of help for a flag: its description, then `(env X, default Y)` when it has either. */
export function flagHelp(f: FlagSpec): string {
  const extra = [f.env ? `env ${f.env}` : "", f.default !== undefined ? `default ${f.default}` : ""].filter(Boolean).join(", ");
  return extra ? `${f.description} (${extra})` : f.description;
}

/**
 * node's parseArgs errors are long ("... To specify a positional argument starting with a '-',
 * place it at the end of the command after '--' ..."): the first sentence is what the user needs.
 */
export function shortParseError(e: unknown): string {
  const m = e instanceof Error ? e.message : String(e);
  const first = m.split(/\.\s/)[0]!.replace(/\.$/, "");
  return first.charAt(0).toLowerCase() + first.slice(1);
}
