/**
 * Output of the inspection verbs, kubectl style: a table with upper-case headers (`wide` adds
 * columns), or the same rows as JSON or YAML for scripts (`-o json|yaml`). Pure.
 */
import { stringify as toYaml } from "yaml";
import type { OutputFormat } from "./command.js";

export interface Column<T> {
  readonly header: string;
  readonly value: (row: T) => string;
  /** Shown only with `-o wide`. */
  readonly wide?: boolean;
}

/** Columns padded to their widest cell, separated by three spaces (kubectl's look). */
export function table<T>(rows: readonly T[], columns: readonly Column<T>[], wide = false): string {
  const cols = columns.filter((c) => wide || !c.wide);
  const cells = [cols.map((c) => c.header), ...rows.map((r) => cols.map((c) => c.value(r) || "-"))];
  const widths = cols.map((_c, i) => Math.max(...cells.map((line) => line[i]!.length)));
  return cells.map((line) => line.map((cell, i) => (i === line.length - 1 ? cell : cell.padEnd(widths[i]!))).join("   ")).join("\n") + "\n";
}

/** The rows as the format asks: table/wide through `columns`, json/yaml as data. */
export function render<T>(format: OutputFormat, rows: readonly T[], columns: readonly Column<T>[], data: unknown = rows): string {
  switch (format) {
    case "json":
      return JSON.stringify(data, replacer, 2) + "\n";
    case "yaml":
      return toYaml(JSON.parse(JSON.stringify(data, replacer)) as unknown);
    default:
      return rows.length ? table(rows, columns, format === "wide") : "No resources found.\n";
  }
}

function replacer(_k: string, v: unknown): unknown {
  if (v instanceof Map) return Object.fromEntries(v);
  if (v instanceof Set) return [...v];
  return v;
}

/** `3s`, `5m`, `2h`, `4d`: kubectl's AGE column. */
export function age(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return "-";
  const s = Math.floor(ms / 1000);
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.floor(s / 60)}m`;
  if (s < 172800) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}
