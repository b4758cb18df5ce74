/**
 * A reproducible tar writer (POSIX ustar, with pax extended headers for long names): the layer
 * and archive format of weft's OCI images. Pure: entries in, bytes out.
 *
 * Reproducible by construction: entries are sorted by path, every parent directory is emitted
 * before its children, and nothing of the build machine leaks in: mtime is fixed (`mtime`,
 * default 0), uid/gid come from the entry (default 0) with empty user and group names, and modes
 * are only what the entry says. Two builds from the same inputs give the same bytes.
 */

export type TarEntry =
  | {
      readonly path: string;
      readonly type: "file";
      readonly data: Buffer;
      readonly mode?: number;
      readonly uid?: number;
      readonly gid?: number;
    }
  | { readonly path: string; readonly type: "dir"; readonly mode?: number; readonly uid?: number; readonly gid?: number }
  | { readonly path: string; readonly type: "symlink"; readonly target: string };

export interface TarOptions {
  /** Modification time of every entry, seconds since the epoch. */
  readonly mtime?: number;
}

const BLOCK = 512;

/** `a/b/c` -> [`a`, `a/b`]; leading `./` and `/` are dropped. */
function parents(p: string): string[] {
  const parts = p.split("/");
  return parts.slice(0, -1).map((_, i) => parts.slice(0, i + 1).join("/"));
}

/** A path as the archive stores it: relative, no `.` or empty segments, no `..`. */
export function normalizeTarPath(p: string): string {
  const parts = p.split("/").filter((s) => s !== "" && s !== ".");
  if (parts.length === 0) throw new Error(`tar entry path "${p}": empty`);
  if (parts.includes("..")) throw new Error(`tar entry path "${p}": ".." is not allowed`);
  return parts.join("/");
}

function octal(n: number, width: number): string {
  return n.toString(8).padStart(width - 1, "0") + "\0";
}

function header(name: string, type: string, size: number, mode: number, uid: number, gid: number, mtime: number, link = ""): Buffer {
  const h = Buffer.alloc(BLOCK, 0);
  h.write(name, 0, 100, "utf8");
  h.write(octal(mode, 8), 100, "ascii");
  h.write(octal(uid, 8), 108, "ascii");
  h.write(octal(gid, 8), 116, "ascii");
  h.write(octal(size, 12), 124, "ascii");
  h.write(octal(mtime, 12), 136, "ascii");
  h.write("        ", 148, "ascii"); // checksum placeholder
  h.write(type, 156, "ascii");
  h.write(link, 157, 100, "utf8");
  h.write("ustar\0", 257, "ascii");
  h.write("00", 263, "ascii");
  let sum = 0;
  for (const b of h) sum += b;
  h.write(sum.toString(8).padStart(6, "0") + "\0 ", 148, "ascii");
  return h;
}

function pad(n: number): Buffer {
  const rest = n % BLOCK;
  return Buffer.alloc(rest === 0 ? 0 : BLOCK - rest, 0);
}

/** A pax record "<len> key=value\n" where <len> counts the whole record including itself. */
function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  let len = Buffer.byteLength(body) + 1;
  while (String(len).length + Buffer.byteLength(body) !== len) len = String(len).length + Buffer.byteLength(body);
  return `${len}${body}`;
}

function fits(s: string): boolean {
  return Buffer.byteLength(s) < 100 && /^[\x20-\x7e]*$/.test(s);
}

function entryBlocks(e: TarEntry, mtime: number): Buffer[] {
  const name = e.type === "dir" ? `${e.path}/` : e.path;
  const link = e.type === "symlink" ? e.target : "";
  const out: Buffer[] = [];
  const pax: string[] = [];
  if (!fits(name)) pax.push(paxRecord("path", name));
  if (link && !fits(link)) pax.push(paxRecord("linkpath", link));
  if (pax.length > 0) {
    const data = Buffer.from(pax.join(""), "utf8");
    out.push(header("PaxHeader", "x", data.length, 0o644, 0, 0, mtime), data, pad(data.length));
  }
  const shortName = fits(name) ? name : name.slice(0, 99).replace(/[^\x20-\x7e]/g, "_");
  const shortLink = fits(link) ? link : "";
  switch (e.type) {
    case "dir":
      out.push(header(shortName, "5", 0, e.mode ?? 0o755, e.uid ?? 0, e.gid ?? 0, mtime));
      break;
    case "symlink":
      out.push(header(shortName, "2", 0, 0o777, 0, 0, mtime, shortLink));
      break;
    case "file":
      out.push(header(shortName, "0", e.data.length, e.mode ?? 0o644, e.uid ?? 0, e.gid ?? 0, mtime), e.data, pad(e.data.length));
      break;
  }
  return out;
}

/**
 * The archive of `entries` (sorted; missing parent directories added as 0755 root dirs). Two
 * entries for one path are an error naming it: a layer must say one thing per path.
 */
export function writeTar(entries: readonly TarEntry[], opts: TarOptions = {}): Buffer {
  const mtime = opts.mtime ?? 0;
  const byPath = new Map<string, TarEntry>();
  for (const raw of entries) {
    const e = { ...raw, path: normalizeTarPath(raw.path) } as TarEntry;
    const prev = byPath.get(e.path);
    if (prev && !(prev.type === "dir" && e.type === "dir")) throw new Error(`tar entry "${e.path}": given twice`);
    byPath.set(e.path, e);
  }
  for (const p of [...byPath.keys()]) {
    for (const dir of parents(p)) {
      const have = byPath.get(dir);
      if (!have) byPath.set(dir, { path: dir, type: "dir" });
      else if (have.type !== "dir") throw new Error(`tar entry "${p}": its parent "${dir}" is a ${have.type}`);
    }
  }
  // Byte order of "<path>/", so a directory ("a/") sorts right before its children ("a/b/").
  const sorted = [...byPath.values()].sort((a, b) => Buffer.compare(Buffer.from(`${a.path}/`), Buffer.from(`${b.path}/`)));
  const blocks = sorted.flatMap((e) => entryBlocks(e, mtime));
  blocks.push(Buffer.alloc(BLOCK * 2, 0));
  return Buffer.concat(blocks);
}
