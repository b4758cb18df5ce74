import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { writeTar, normalizeTarPath, type TarEntry } from "./tar.js";

/** GNU tar's verbose listing (numeric owners): an independent reader of the archive. */
function gnuList(archive: Buffer): string[] {
  const r = spawnSync("tar", ["--list", "--verbose", "--numeric-owner", "--full-time", "-f", "-"], { input: archive, encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim().split("\n");
}

const file = (p: string, data: string, mode?: number): TarEntry => ({ path: p, type: "file", data: Buffer.from(data), mode });

test("entries come out sorted, parents first, with fixed owner, time and modes", () => {
  const lines = gnuList(writeTar([file("b/x", "2"), file("a/y", "1", 0o755), { path: "a/l", type: "symlink", target: "y" }]));
  assert.deepEqual(
    lines.map((l) => l.replace(/\s+/g, " ")),
    [
      "drwxr-xr-x 0/0 0 1970-01-01 00:00:00 a/",
      "lrwxrwxrwx 0/0 0 1970-01-01 00:00:00 a/l -> y",
      "-rwxr-xr-x 0/0 1 1970-01-01 00:00:00 a/y",
      "drwxr-xr-x 0/0 0 1970-01-01 00:00:00 b/",
      "-rw-r--r-- 0/0 1 1970-01-01 00:00:00 b/x",
    ],
  );
});

test("the same entries in any order give the same bytes", () => {
  const es = [file("z", "z"), file("m/n", "n"), { path: "m", type: "dir" } as TarEntry];
  assert.deepEqual(writeTar(es), writeTar([...es].reverse()));
});

test("long paths and link targets survive through pax headers", () => {
  const long = `${"d".repeat(80)}/${"f".repeat(90)}`;
  const target = "t".repeat(120);
  const lines = gnuList(writeTar([file(long, "x"), { path: "l", type: "symlink", target }]));
  assert.ok(
    lines.some((l) => l.endsWith(` ${long}`)),
    lines.join("\n"),
  );
  assert.ok(
    lines.some((l) => l.endsWith(`l -> ${target}`)),
    lines.join("\n"),
  );
});

test("uids and setuid-free modes are only what the entry says", () => {
  const [line] = gnuList(writeTar([{ path: "h", type: "dir", mode: 0o700, uid: 65532, gid: 65532 }]));
  assert.match(line!, /^drwx------ 65532\/65532 /);
});

for (const [input, want] of [
  ["/usr/bin/x", "usr/bin/x"],
  ["./a//b/", "a/b"],
  ["a/../b", /"\.\." is not allowed/],
  ["/", /empty/],
] as const) {
  test(`normalizeTarPath(${JSON.stringify(input)})`, () => {
    if (typeof want === "string") assert.equal(normalizeTarPath(input), want);
    else assert.throws(() => normalizeTarPath(input), want);
  });
}

test("a path given twice, or a file used as a directory, is an error naming it", () => {
  assert.throws(() => writeTar([file("a", "1"), file("/a", "2")]), /tar entry "a": given twice/);
  assert.throws(() => writeTar([file("a", "1"), file("a/b", "2")]), /tar entry "a\/b": its parent "a" is a file/);
});
