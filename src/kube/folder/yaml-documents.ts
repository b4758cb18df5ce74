/**
 * Turns the text of one config file into raw objects with their position: multi-document
 * YAML (JSON is YAML), `List` kinds expanded into their items. Pure; no IO.
 *
 * A file either parses completely or not at all: one broken document fails the whole file, so
 * the file source can keep the file's previous good objects in force rather than applying
 * half of an edit. Duplicate mapping keys are a parse error (as `kubectl --validate=strict`).
 */
import { LineCounter, isAlias, isCollection, isScalar, parseAllDocuments, visit, type Document } from "yaml";
import type { Result } from "../../common/result.js";
import { ok, err } from "../../common/result.js";
import { isPlainObject } from "../validate/validate-schema.js";

/** One object read from a file. */
export interface RawObject {
  readonly value: unknown;
  /** 0-based index of the YAML document in the file. */
  readonly document: number;
  /** 1-based line where the document (or list item) starts. */
  readonly line: number;
  /** `items[3]` when the object came from a List, else undefined. */
  readonly item?: string;
}

export interface ParseProblem {
  readonly document: number;
  readonly line: number;
  readonly reason: string;
}

/** Objects bigger than this are refused: a config file is not a data set. */
export const MAX_FILE_BYTES = 8 * 1024 * 1024;

/** `path:line (document N[, items[i]])`: how origins of file objects read. */
export function describePosition(file: string, p: { document: number; line: number; item?: string }): string {
  return `${file}:${p.line} (document ${p.document}${p.item ? `, ${p.item}` : ""})`;
}

/** A `List` (or `FooList`) with an `items` array: Kubernetes' way to put many objects in one document. */
function isList(v: unknown): v is { items: unknown[] } {
  return isPlainObject(v) && typeof v.kind === "string" && /List$/.test(v.kind) && Array.isArray(v.items);
}

export function parseConfigText(text: string): Result<RawObject[], ParseProblem> {
  if (text.length > MAX_FILE_BYTES) return err({ document: 0, line: 1, reason: `file is larger than ${MAX_FILE_BYTES} bytes` });
  const lc = new LineCounter();
  // maxAliasCount bounds alias expansion ("billion laughs"); uniqueKeys rejects duplicate keys.
  const docs = parseAllDocuments(text, { lineCounter: lc, uniqueKeys: true, prettyErrors: false });
  if (!Array.isArray(docs)) return ok([]); // an empty stream
  const out: RawObject[] = [];
  for (const [i, doc] of docs.entries()) {
    const start = doc.contents?.range?.[0] ?? doc.range[0];
    const line = lc.linePos(start).line;
    const e = doc.errors[0];
    if (e) {
      const at = e.linePos?.[0]?.line ?? lc.linePos(e.pos[0]).line;
      return err({ document: i, line: at, reason: `invalid YAML: ${e.message.split("\n")[0]}` });
    }
    const badKey = collectionKey(doc);
    if (badKey !== undefined)
      return err({
        document: i,
        line: lc.linePos(badKey).line,
        reason: "invalid config: a mapping key must be a string, not a list, a map or binary",
      });
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: 100 });
    } catch (x) {
      return err({ document: i, line, reason: `invalid YAML: ${(x as Error).message.split("\n")[0]}` });
    }
    if (value === null || value === undefined) continue; // empty document, comments only
    if (isCyclic(value)) return err({ document: i, line, reason: "invalid config: an alias refers to a node that contains it (a cycle)" });
    if (isList(value)) {
      const items = value.items;
      const seq =
        doc.contents && "get" in doc.contents ? (doc.contents as { get(k: string, keep: true): unknown }).get("items", true) : undefined;
      const nodes =
        seq && typeof seq === "object" && "items" in seq
          ? (seq as { items: Array<{ range?: [number, number, number] } | null> }).items
          : [];
      items.forEach((item, j) => {
        const r = nodes[j]?.range;
        out.push({ value: item, document: i, line: r ? lc.linePos(r[0]).line : line, item: `items[${j}]` });
      });
      continue;
    }
    out.push({ value, document: i, line });
  }
  return ok(out);
}

/**
 * The offset of the first mapping key that is a list or a map (`? [a]: b`, `{[a]: b}`), a
 * tagged scalar that is not text (`!!binary a: b`), or an alias to one of those. Kubernetes reads YAML as JSON, whose keys are strings; the yaml library would
 * stringify such a key with a process warning (found by the fuzzer, test/fuzz).
 */
function collectionKey(doc: Document.Parsed): number | undefined {
  let at: number | undefined;
  visit(doc, {
    Pair(_, pair) {
      const key = pair.key;
      const target = isAlias(key) ? key.resolve(doc) : key;
      const nonString = isScalar(target) && typeof target.value === "object" && target.value !== null; // `!!binary` and other tags
      if (isCollection(target) || nonString || (isAlias(key) && target === undefined)) {
        at = (key as { range?: [number, number, number] } | null)?.range?.[0] ?? 0;
        return visit.BREAK;
      }
      return undefined;
    },
  });
  return at;
}

/** Whether a value from YAML contains itself (a recursive alias); such a value cannot be an object. */
function isCyclic(v: unknown, ancestors = new Set<object>()): boolean {
  if (typeof v !== "object" || v === null) return false;
  if (ancestors.has(v)) return true;
  ancestors.add(v);
  const children = Array.isArray(v) ? v : v instanceof Map ? [...v.values()] : Object.values(v);
  for (const c of children) if (isCyclic(c, ancestors)) return true;
  ancestors.delete(v);
  return false;
}

/** Config file names the folder source reads; editor droppings and hidden files are skipped. */
export function isConfigFileName(name: string): boolean {
  if (name.startsWith(".") || name.endsWith("~")) return false;
  return /\.(ya?ml|json)$/i.test(name);
}
