/**
 * Prometheus text exposition (format 0.0.4), parsed into flat samples: one per line, the
 * metric's full name (`_bucket`, `_sum`, `_count` suffixes kept) and its labels (`le` kept).
 * Pure. Comments and TYPE/HELP lines are skipped, a malformed line is reported by number and
 * skipped (a component's page is read in full or not trusted: `parsePromText` says which).
 *
 * Written here rather than taken from npm: the parser there (parse-prometheus-text-format
 * 1.1.1) merges the label sets of a histogram into one, which loses every per-edge latency
 * (docs/dependencies.md).
 */
import { type Result, ok, err } from "../common/result.js";

export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*/;

function parseValue(text: string): number | undefined {
  if (text === "+Inf") return Infinity;
  if (text === "-Inf") return -Infinity;
  if (text === "NaN") return NaN;
  const v = Number(text);
  return text !== "" && !Number.isNaN(v) ? v : undefined;
}

/** One sample line, or an error saying what is wrong with it. */
export function parseLine(line: string): Result<Sample> {
  const m = NAME.exec(line);
  if (!m) return err(new Error("no metric name"));
  const name = m[0];
  let i = name.length;
  const labels: Record<string, string> = {};
  if (line[i] === "{") {
    i++;
    for (;;) {
      while (line[i] === " " || line[i] === ",") i++;
      if (line[i] === "}") {
        i++;
        break;
      }
      const ln = LABEL_NAME.exec(line.slice(i));
      if (!ln) return err(new Error(`bad label name at column ${i + 1}`));
      i += ln[0].length;
      if (line[i] !== "=" || line[i + 1] !== '"') return err(new Error(`label ${ln[0]}: want ="value"`));
      i += 2;
      let v = "";
      for (;;) {
        const c = line[i];
        if (c === undefined) return err(new Error(`label ${ln[0]}: unterminated value`));
        i++;
        if (c === '"') break;
        if (c === "\\") {
          const e = line[i++];
          v += e === "n" ? "\n" : (e ?? "");
        } else v += c;
      }
      labels[ln[0]] = v;
    }
  }
  const rest = line.slice(i).trim().split(/\s+/);
  const value = parseValue(rest[0] ?? "");
  if (value === undefined) return err(new Error(`metric ${name}: value ${JSON.stringify(rest[0] ?? "")} is not a number`));
  return ok({ name, labels, value });
}

export interface Parsed {
  readonly samples: Sample[];
  /** `line N: why` for each line that could not be read. */
  readonly problems: string[];
}

export function parsePromText(text: string): Parsed {
  const samples: Sample[] = [];
  const problems: string[] = [];
  text.split("\n").forEach((raw, n) => {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) return;
    const r = parseLine(line);
    if (r.ok) samples.push(r.value);
    else problems.push(`line ${n + 1}: ${r.error.message}`);
  });
  return { samples, problems };
}
