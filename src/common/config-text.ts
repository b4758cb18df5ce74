/**
 * Parses the text of a static config file (YAML or JSON) into a plain value, for the ztunnel's
 * and the waypoint's `--config`. JSON (text starting with `{` or `[`) goes through JSON.parse and
 * a scan that refuses duplicate keys as the yaml package does (a later duplicate must not
 * silently replace an earlier one, e.g. a second `workloads:` dropping the first). Anything else,
 * or text JSON.parse refuses (a YAML flow mapping such as `{a: 1}`), goes to the yaml package,
 * loaded on first use: ~70 modules and ~2 MB resident that a process fed by xDS or by a JSON file
 * never needs. JSON.parse also costs far less on large files: a 2.7 MB file of 10,000 workloads
 * took 1.8 s with yaml and left 225 MB resident, against 20 ms and nothing (docs/hbone.md).
 *
 * Throws, like yaml's `parse`, with a message naming the place of the problem.
 */
import type * as Yaml from "yaml";
import { lazyModule } from "./lazy-module.js";

const yaml = lazyModule<typeof Yaml>("yaml");

export function parseConfigText(text: string): unknown {
  const start = /^\s*/.exec(text)![0].length;
  if (text[start] === "{" || text[start] === "[") {
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch {
      return yaml().parse(text) as unknown;
    }
    const dup = firstDuplicateKey(text);
    if (dup) throw new Error(`duplicate key ${JSON.stringify(dup.key)} in ${dup.path || "the top-level object"}`);
    return doc;
  }
  return yaml().parse(text) as unknown;
}

type Frame =
  { kind: "object"; path: string; keys: Set<string>; key: string; expectKey: boolean } | { kind: "array"; path: string; index: number };

function childPath(top: Frame | undefined): string {
  if (!top) return "";
  if (top.kind === "array") return `${top.path}[${top.index}]`;
  return top.path ? `${top.path}.${top.key}` : top.key;
}

/**
 * The first key that appears twice in one object of `text`, which must be valid JSON (checked
 * by JSON.parse first), with the path of that object (`workloads[3].labels`; "" for the top).
 */
export function firstDuplicateKey(text: string): { key: string; path: string } | undefined {
  const stack: Frame[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      let j = i + 1;
      let escaped = false;
      while (text.charCodeAt(j) !== 0x22) {
        if (text.charCodeAt(j) === 0x5c /* \ */) {
          escaped = true;
          j++;
        }
        j++;
      }
      const top = stack[stack.length - 1];
      if (top?.kind === "object" && top.expectKey) {
        const key = escaped ? (JSON.parse(text.slice(i, j + 1)) as string) : text.slice(i + 1, j);
        if (top.keys.has(key)) return { key, path: top.path };
        top.keys.add(key);
        top.key = key;
        top.expectKey = false;
      }
      i = j;
    } else if (c === 0x7b /* { */) {
      stack.push({ kind: "object", path: childPath(stack[stack.length - 1]), keys: new Set(), key: "", expectKey: true });
    } else if (c === 0x5b /* [ */) {
      stack.push({ kind: "array", path: childPath(stack[stack.length - 1]), index: 0 });
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      stack.pop();
    } else if (c === 0x2c /* , */) {
      const top = stack[stack.length - 1];
      if (top?.kind === "object") top.expectKey = true;
      else if (top) top.index++;
    }
  }
  return undefined;
}
