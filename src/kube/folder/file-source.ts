/**
 * ConfigSource over a folder (recursive) of `.yaml`, `.yml` and `.json` files.
 *
 * IO only: the rules (parse, validate, keep-previous-on-error, first-definition-wins, diff)
 * live in file-index.ts. A scan stats every config file, re-reads those whose (inode, size,
 * mtime) changed, and delivers the difference to what the sink holds as one batch.
 *
 * Change detection: one fs.watch per directory (Node 20's `recursive` mode on Linux loses a
 * file after it is renamed over, which is how editors save) triggers a scan after a short
 * debounce, so an editor's
 * write-to-temp-then-rename, or `kubectl`-style bursts of files, become one batch; a periodic
 * rescan covers what watches miss (network filesystems, a replaced root folder, inotify limits,
 * ConfigMap mounts whose `..data` symlink is swapped). Hidden entries (`.foo`, `..data`) are not
 * walked, but top-level symlinks into them are followed, which is how ConfigMap volumes look.
 *
 * Invariants: scans never overlap (a trigger during a scan schedules one more); nothing reaches
 * the sink after stop() resolves; a scan that cannot read the root folder changes nothing.
 */
import { watch, type FSWatcher } from "node:fs";
import { readdir, readFile as readText, realpath, stat } from "node:fs/promises";
import { join } from "node:path";
import type { Logger } from "../../common/log.js";
import { logger } from "../../common/log.js";
import type { ConfigSink, ConfigSource, InvalidObject } from "../source.js";
import type { Entry, FileObjects, FileRead, Validate } from "./file-index.js";
import { canonicalJson, diffEffective, emptyFile, readFile, resolveFolder } from "./file-index.js";
import { isConfigFileName } from "./yaml-documents.js";
import { objectValidator } from "../validate/validate.js";

export interface FileSourceOptions {
  /** The folder to read, recursively. */
  readonly dir: string;
  /** Validation of each object; default: validateObject with no extra spec validators. */
  readonly validate?: Validate;
  /** Namespace given to namespaced objects that have none (kubectl's behaviour); default `default`. */
  readonly defaultNamespace?: string;
  /** Quiet time after a watch event before scanning; default 50 ms. */
  readonly debounceMs?: number;
  /** Periodic rescan interval; 0 disables; default 2000 ms. */
  readonly rescanMs?: number;
  /** Source name for logs; default `file:<dir>`. */
  readonly name?: string;
}

interface FileState {
  readonly signature: string;
  readonly textJson: string;
  readonly objects: FileObjects;
  readonly problems: readonly InvalidObject[];
}

export interface FileSourceStats {
  scans: number;
  filesRead: number;
  batches: number;
  events: number;
  watchErrors: number;
}

export class FileSource implements ConfigSource {
  readonly name: string;
  readonly stats: FileSourceStats = { scans: 0, filesRead: 0, batches: 0, events: 0, watchErrors: 0 };
  private readonly dir: string;
  private readonly validate: Validate;
  private readonly defaultNamespace: string;
  private readonly debounceMs: number;
  private readonly rescanMs: number;
  private readonly log: Logger = logger("controlplane.config.file");
  private sink?: ConfigSink;
  private files = new Map<string, FileState>();
  private emitted: ReadonlyMap<string, Entry> = new Map();
  /** Last problem list reported per file (canonical JSON), to report only changes. */
  private reported = new Map<string, string>();
  /** One watcher per directory walked by the last scan. */
  private watchers = new Map<string, FSWatcher>();
  private debounceTimer?: NodeJS.Timeout;
  private rescanTimer?: NodeJS.Timeout;
  private scanning?: Promise<void>;
  private again = false;
  private stopped = false;

  constructor(opts: FileSourceOptions) {
    this.dir = opts.dir;
    this.name = opts.name ?? `file:${opts.dir}`;
    this.validate = opts.validate ?? objectValidator();
    this.defaultNamespace = opts.defaultNamespace ?? "default";
    this.debounceMs = opts.debounceMs ?? 50;
    this.rescanMs = opts.rescanMs ?? 2000;
  }

  /** Reads the folder, delivers it and `synced()`, then watches. Rejects if the folder cannot be read. */
  async start(sink: ConfigSink): Promise<void> {
    if (this.sink) throw new Error("FileSource.start called twice");
    const st = await stat(this.dir).catch((e: NodeJS.ErrnoException) => {
      throw new Error(`config folder ${this.dir}: ${e.code ?? e.message}`, { cause: e });
    });
    if (!st.isDirectory()) throw new Error(`config folder ${this.dir}: not a directory`);
    this.sink = sink;
    await this.rescan();
    sink.synced();
    if (this.rescanMs > 0) {
      this.rescanTimer = setInterval(() => void this.rescan(), this.rescanMs);
      this.rescanTimer.unref();
    }
    this.log.info({ dir: this.dir, files: this.files.size, objects: this.emitted.size }, "config folder loaded");
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const w of this.watchers.values()) w.close();
    this.watchers.clear();
    clearTimeout(this.debounceTimer);
    clearInterval(this.rescanTimer);
    await this.scanning;
    this.sink = undefined;
  }

  /** Scans now (coalesced with a scan in progress); resolves when the folder state is delivered. */
  rescan(): Promise<void> {
    if (this.scanning) {
      this.again = true;
      return this.scanning;
    }
    this.scanning = (async () => {
      try {
        do {
          this.again = false;
          await this.scanOnce();
        } while (this.again && !this.stopped);
      } catch (e) {
        // Timers call rescan(); an escaped error would be an unhandled rejection.
        this.log.error({ err: (e as Error).message }, "config folder scan failed; keeping the current config");
      } finally {
        this.scanning = undefined;
      }
    })();
    return this.scanning;
  }

  /** Watches exactly the directories of the last scan. */
  private syncWatchers(dirs: ReadonlySet<string>): void {
    if (this.stopped) return;
    for (const [d, w] of this.watchers) {
      if (!dirs.has(d)) {
        w.close();
        this.watchers.delete(d);
      }
    }
    for (const d of dirs) {
      if (this.watchers.has(d)) continue;
      try {
        const w = watch(d, { persistent: false }, () => this.trigger());
        w.on("error", (e) => {
          // The directory went away or the watch limit was hit: the next scan re-syncs.
          this.stats.watchErrors++;
          this.log.debug({ dir: d, err: e.message }, "directory watch failed");
          w.close();
          if (this.watchers.get(d) === w) this.watchers.delete(d);
          this.trigger();
        });
        this.watchers.set(d, w);
      } catch (e) {
        this.stats.watchErrors++;
        this.log.warn({ dir: d, err: (e as Error).message }, "cannot watch a config directory; relying on the periodic rescan");
      }
    }
  }

  private trigger(): void {
    if (this.stopped) return;
    clearTimeout(this.debounceTimer);
    this.debounceTimer = setTimeout(() => void this.rescan(), this.debounceMs);
  }

  /** All config files under the root with a change signature, and the directories walked; undefined if the root is unreadable. */
  private async listFiles(): Promise<{ files: Map<string, string>; dirs: Set<string> } | undefined> {
    const out = new Map<string, string>();
    const dirs = new Set<string>();
    const seenDirs = new Set<string>();
    const walk = async (dir: string, isRoot: boolean): Promise<boolean> => {
      let real: string;
      try {
        real = await realpath(dir);
      } catch {
        return !isRoot;
      }
      if (seenDirs.has(real)) return true; // a symlink loop
      seenDirs.add(real);
      dirs.add(dir);
      let names: string[];
      try {
        names = await readdir(dir);
      } catch (e) {
        if (isRoot) this.log.error({ dir, err: (e as Error).message }, "cannot read the config folder; keeping the current config");
        return !isRoot;
      }
      for (const n of names.sort()) {
        if (n.startsWith(".")) continue;
        const p = join(dir, n);
        const st = await stat(p).catch(() => undefined); // follows symlinks; vanished entries are skipped
        if (!st) continue;
        if (st.isDirectory()) await walk(p, false);
        else if (st.isFile() && isConfigFileName(n)) out.set(p, `${st.ino}:${st.size}:${st.mtimeMs}`);
      }
      return true;
    };
    return (await walk(this.dir, true)) ? { files: out, dirs } : undefined;
  }

  private async scanOnce(): Promise<void> {
    this.stats.scans++;
    const found = await this.listFiles();
    if (!found || this.stopped) return;
    this.syncWatchers(found.dirs);
    const listed = found.files;
    const changed = new Set<string>();
    for (const file of this.files.keys()) {
      if (!listed.has(file)) {
        this.files.delete(file);
        changed.add(file);
      }
    }
    for (const [file, signature] of listed) {
      const prev = this.files.get(file);
      if (prev?.signature === signature) continue;
      let text: string;
      try {
        text = await readText(file, "utf8");
      } catch (e) {
        // Vanished between stat and read: the next scan sees it gone.
        this.log.debug({ file, err: (e as Error).message }, "config file unreadable this scan");
        continue;
      }
      this.stats.filesRead++;
      const textJson = JSON.stringify(text);
      if (prev && prev.textJson === textJson) {
        this.files.set(file, { ...prev, signature });
        continue;
      }
      let r: FileRead;
      try {
        r = readFile(file, text, prev?.objects ?? emptyFile, this.validate, this.defaultNamespace);
      } catch (e) {
        // A bug in parsing or validation must not stop the source: treat it as a broken file.
        this.log.error({ file, err: (e as Error).message }, "reading a config file failed");
        r = {
          state: prev?.objects ?? emptyFile,
          parseFailed: true,
          problems: [
            {
              origin: { source: `${file}:1 (document 0)` },
              field: "",
              reason: `internal error reading the file: ${(e as Error).message}; the file's previous objects stay in force`,
            },
          ],
        };
      }
      this.files.set(file, { signature, textJson, objects: r.state, problems: r.problems });
      changed.add(file);
    }
    if (changed.size === 0 || this.stopped) return;
    this.deliver();
  }

  private deliver(): void {
    const sink = this.sink;
    if (!sink) return;
    const objects = new Map([...this.files].map(([f, s]) => [f, s.objects]));
    const { effective, conflicts } = resolveFolder(objects);
    const prev = this.emitted;
    const events = diffEffective(prev, effective, (key) => ({ source: `${prev.get(key)?.origin.source ?? this.dir} (removed)` }));
    this.emitted = effective;
    if (events.length > 0) {
      this.stats.batches++;
      this.stats.events += events.length;
      sink.apply(events);
    }
    // Problems: report per file when that file's list changed, or after any batch (the store
    // forgets an object's problems when a valid version of it arrives; a conflict or a kept
    // previous version is still a problem, so it is said again).
    const files = new Set([...this.files.keys(), ...this.reported.keys()]);
    for (const file of [...files].sort()) {
      const problems = [...(this.files.get(file)?.problems ?? []), ...(conflicts.get(file) ?? [])];
      const json = canonicalJson(problems);
      if ((this.reported.get(file) ?? "[]") === json && (events.length === 0 || problems.length === 0)) continue;
      sink.clearInvalid?.(`${file}:`);
      if (problems.length === 0) this.reported.delete(file);
      else this.reported.set(file, json);
      for (const p of problems) {
        this.log.warn({ origin: p.origin.source, object: p.object, field: p.field }, `invalid config: ${p.reason}`);
        sink.onInvalid(p);
      }
    }
  }
}
