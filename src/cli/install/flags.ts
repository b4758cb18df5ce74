/** Flag values of install/uninstall as kubectl spells them: `--wait=false`, `--timeout 5m30s`. */
import { type Result, ok, err } from "../../common/result.js";

/** A Go-style duration (`300s`, `5m`, `1h30m`, `1500ms`) in milliseconds; a bare number is seconds. */
export function parseDurationMs(text: string, flag: string): Result<number> {
  if (/^\d+$/.test(text)) return ok(Number(text) * 1000);
  const unit: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  const parts = [...text.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)];
  if (!parts.length || parts.map((p) => p[0]).join("") !== text)
    return err(new Error(`${flag} ${JSON.stringify(text)}: expected a duration such as 300s, 5m or 1h30m`));
  return ok(Math.round(parts.reduce((sum, p) => sum + Number(p[1]) * unit[p[2]!]!, 0)));
}

/** `--wait` alone is true; `--wait=true|false` as given. */
export function parseBool(v: string | boolean, flag: string): Result<boolean> {
  if (typeof v === "boolean") return ok(v);
  if (v === "true") return ok(true);
  if (v === "false") return ok(false);
  return err(new Error(`${flag} ${JSON.stringify(v)}: expected true or false`));
}
