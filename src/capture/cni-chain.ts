/**
 * Chaining weft's plugin into a node's existing CNI network configuration, and undoing it:
 * pure decisions on the conflist documents (which file the runtime uses, where the entry goes)
 * for the node agent (src/cli/cni-agent.ts) to write. As istio-cni does in a cluster: the
 * runtime uses the first network configuration in its conf dir in lexical order, so weft's entry
 * is appended to that file's `plugins`, after the interface plugin it needs a result from.
 */
import { type Result, ok, err } from "../common/result.js";
import { PLUGIN_TYPE } from "./plugin-install.js";

/** weft-cni's own keys in a conflist entry (docs/cni.md). */
export interface ChainEntry {
  readonly type: typeof PLUGIN_TYPE;
  readonly agentSocket: string;
  readonly excludeNamespaces?: readonly string[];
  readonly agentTimeoutMs?: number;
}

/** The file the container runtime reads: the first `.conflist`/`.conf`/`.json` in lexical order (libcni's ConfFiles order). */
export function primaryConfFile(names: readonly string[]): string | undefined {
  return [...names].filter((n) => /\.(conflist|conf|json)$/.test(n) && !n.startsWith(".")).sort()[0];
}

interface ConfList {
  cniVersion?: string;
  name?: string;
  plugins: Record<string, unknown>[];
  [k: string]: unknown;
}

function parse(file: string, text: string): Result<ConfList> {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    return err(new Error(`${file}: not JSON: ${(e as Error).message}`));
  }
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) return err(new Error(`${file}: expected a JSON object`));
  const d = doc as Record<string, unknown>;
  if (Array.isArray(d.plugins)) {
    if (!d.plugins.every((p) => typeof p === "object" && p !== null && typeof (p as { type?: unknown }).type === "string"))
      return err(new Error(`${file}: plugins: every entry needs a string "type"`));
    return ok(d as ConfList);
  }
  // A single-plugin .conf: the runtime reads it as a list of one; chaining needs the list form.
  if (typeof d.type === "string") {
    const { cniVersion, name, ...plugin } = d;
    return ok({ cniVersion: cniVersion as string, name: name as string, plugins: [plugin] });
  }
  return err(new Error(`${file}: neither a conflist (plugins) nor a plugin configuration (type)`));
}

/** The file's own final newline (or none), kept so that chain + unchain of a 2-space-indented file gives back its bytes. */
const eol = (text: string): string => (text.endsWith("\n") ? "\n" : "");

/**
 * The conflist with weft's entry last (replacing an earlier weft entry in place of it), as the
 * text to write. `unchanged` when it is already exactly so. A single-plugin `.conf` comes back
 * as a list; the caller writes it as `.conflist` (libcni reads a list only from that suffix).
 */
export function chain(file: string, text: string, entry: ChainEntry): Result<{ text: string; unchanged: boolean; asConflist: boolean }> {
  const c = parse(file, text);
  if (!c.ok) return c;
  const others = c.value.plugins.filter((p) => p.type !== PLUGIN_TYPE);
  if (!others.length) return err(new Error(`${file}: no interface plugin to chain after (only ${PLUGIN_TYPE})`));
  const out = JSON.stringify({ ...c.value, plugins: [...others, { ...entry }] }, null, 2) + eol(text);
  return ok({ text: out, unchanged: out === text, asConflist: !file.endsWith(".conflist") });
}

/** The conflist without weft's entry; `unchanged` when it had none. */
export function unchain(file: string, text: string): Result<{ text: string; unchanged: boolean }> {
  const c = parse(file, text);
  if (!c.ok) return c;
  if (!c.value.plugins.some((p) => p.type === PLUGIN_TYPE)) return ok({ text, unchanged: true });
  const out = JSON.stringify({ ...c.value, plugins: c.value.plugins.filter((p) => p.type !== PLUGIN_TYPE) }, null, 2) + eol(text);
  return ok({ text: out, unchanged: false });
}
