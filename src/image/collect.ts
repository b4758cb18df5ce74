/**
 * Gathering an image's files from the build machine: a directory tree (with a filter), and ELF
 * programs with the shared libraries they load (their `ldd` closure). Every system file must
 * belong to an installed Debian package; the package and version are reported so the image's
 * provenance is on record (docs/kubernetes-testbed.md, "Images").
 */
import { execFileSync } from "node:child_process";
import { lstatSync, readdirSync, readFileSync, readlinkSync, realpathSync } from "node:fs";
import path from "node:path";
import type { TarEntry } from "./tar.js";

/** File mode in the image: 0755 for anything executable, else 0644 (no setuid, no group-write). */
function imageMode(mode: number): number {
  return mode & 0o111 ? 0o755 : 0o644;
}

export interface TreeOptions {
  /** Relative path (posix) -> keep it? Directories are asked too (false prunes the subtree). */
  readonly keep?: (rel: string, isDir: boolean) => boolean;
  readonly uid?: number;
  readonly gid?: number;
}

/** Every file, directory and symlink under `src`, placed under `dest` in the image. */
export function treeEntries(src: string, dest: string, opts: TreeOptions = {}): TarEntry[] {
  const out: TarEntry[] = [];
  const walk = (rel: string): void => {
    const abs = path.join(src, rel);
    for (const name of readdirSync(abs).sort()) {
      const r = rel ? `${rel}/${name}` : name;
      const st = lstatSync(path.join(src, r));
      const isDir = st.isDirectory();
      if (opts.keep && !opts.keep(r, isDir)) continue;
      const to = `${dest}/${r}`;
      if (st.isSymbolicLink()) out.push({ path: to, type: "symlink", target: readlinkSync(path.join(src, r)) });
      else if (isDir) {
        out.push({ path: to, type: "dir", uid: opts.uid, gid: opts.gid });
        walk(r);
      } else if (st.isFile()) {
        out.push({ path: to, type: "file", data: readFileSync(path.join(src, r)), mode: imageMode(st.mode), uid: opts.uid, gid: opts.gid });
      }
    }
  };
  walk("");
  return out;
}

/** One file at `dest` (default: the same absolute path). */
export function fileEntry(src: string, dest = src): TarEntry {
  const st = lstatSync(src);
  if (!st.isFile()) throw new Error(`image file ${src}: not a regular file`);
  return { path: dest, type: "file", data: readFileSync(src), mode: imageMode(st.mode) };
}

/** Debian's merged /usr: /bin, /sbin, /lib, /lib64 are symlinks into /usr. dpkg knows either spelling. */
const MERGED = [
  ["/bin/", "/usr/bin/"],
  ["/sbin/", "/usr/sbin/"],
  ["/lib/", "/usr/lib/"],
  ["/lib64/", "/usr/lib64/"],
] as const;

function spellings(p: string): string[] {
  const out = [p];
  for (const [a, b] of MERGED) {
    if (p.startsWith(a)) out.push(b + p.slice(a.length));
    if (p.startsWith(b)) out.push(a + p.slice(b.length));
  }
  return out;
}

/** The Debian package (`name version`) owning a file, or an error naming it. */
export function debianPackageOf(file: string): string {
  for (const p of spellings(file)) {
    try {
      const owner = execFileSync("dpkg-query", ["-S", p], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] })
        .split("\n")[0]!
        .split(":")[0]!;
      const version = execFileSync("dpkg-query", ["-W", "-f=${Version}", owner], { encoding: "utf8" });
      return `${owner} ${version}`;
    } catch {
      // try the other spelling
    }
  }
  throw new Error(`image file ${file}: belongs to no installed Debian package (dpkg-query -S)`);
}

/** Shared objects `ldd` resolves for an ELF file (absolute paths as the loader asks for them). */
export function lddDeps(file: string): string[] {
  const text = execFileSync("ldd", [file], { encoding: "utf8" });
  const deps: string[] = [];
  for (const line of text.split("\n")) {
    const m = /=>\s+(\/\S+)/.exec(line) ?? /^\s+(\/\S+)\s+\(/.exec(line);
    if (m) deps.push(m[1]!);
    else if (/not found/.test(line)) throw new Error(`image file ${file}: ldd cannot resolve "${line.trim()}"`);
  }
  return deps;
}

export interface SystemFiles {
  readonly entries: TarEntry[];
  /** `package version` of every system file taken. */
  readonly packages: ReadonlySet<string>;
}

/**
 * The programs (at their real paths) and every library they need, each at the path the loader
 * asks for: the file at its real path, and a symlink where the asked-for path differs (e.g.
 * /lib64/ld-linux-x86-64.so.2 -> /usr/lib/x86_64-linux-gnu/...). Debian packages only.
 * `extra` are ELF objects loaded some other way (a Node addon): their libraries come along,
 * they themselves do not.
 */
export function systemFiles(programs: readonly string[], extra: readonly string[] = []): SystemFiles {
  const files = new Map<string, string>(); // asked-for path -> real path
  for (const p of programs) files.set(p, realpathSync(p));
  for (const p of [...programs, ...extra]) for (const d of lddDeps(p)) files.set(d, realpathSync(d));
  const entries: TarEntry[] = [];
  const packages = new Set<string>();
  const seen = new Set<string>();
  for (const [asked, real] of [...files].sort()) {
    packages.add(debianPackageOf(real));
    if (!seen.has(real)) {
      seen.add(real);
      entries.push(fileEntry(real));
    }
    // /lib and /lib64 are symlinks to usr/ in the image (like Debian), so only paths that still
    // differ after that need their own link.
    let viaUsr = asked;
    for (const [a, b] of MERGED) if (asked.startsWith(a)) viaUsr = b + asked.slice(a.length);
    if (viaUsr !== real && !seen.has(viaUsr)) {
      seen.add(viaUsr);
      entries.push({ path: viaUsr, type: "symlink", target: real });
    }
  }
  return { entries, packages };
}

/** Debian's merged-/usr top-level links. */
export function mergedUsrLinks(): TarEntry[] {
  return MERGED.map(([a, b]) => ({ path: a.slice(1, -1), type: "symlink", target: b.slice(1, -1) }) as TarEntry);
}
