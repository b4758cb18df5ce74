import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { gunzipSync } from "node:zlib";
import { buildImage, checkRef, sha256, type ImageSpec } from "./oci.js";

const spec: ImageSpec = {
  ref: "weft.local/sample:1.2.3",
  layers: [
    { comment: "one", entries: [{ path: "bin/app", type: "file", data: Buffer.from("#!app"), mode: 0o755 }] },
    { comment: "two", entries: [{ path: "etc/conf", type: "file", data: Buffer.from("x=1\n") }] },
  ],
  config: { User: "65532:65532", Entrypoint: ["/bin/app"] },
};

/** Unpacks an archive with GNU tar and reads the layout as a registry-less client would. */
function unpack(archive: Buffer): {
  dir: string;
  blob: (digest: string) => Buffer;
  index: { manifests: { digest: string; size: number; annotations: Record<string, string> }[] };
} {
  const dir = mkdtempSync(path.join(tmpdir(), "weft-oci-test-"));
  const r = spawnSync("tar", ["-x", "-C", dir, "-f", "-"], { input: archive });
  assert.equal(r.status, 0, String(r.stderr));
  const blob = (d: string): Buffer => readFileSync(path.join(dir, "blobs/sha256", d.replace("sha256:", "")));
  return { dir, blob, index: JSON.parse(readFileSync(path.join(dir, "index.json"), "utf8")) };
}

test("the layout is self-consistent: every digest is the sha256 of its blob, diff_ids of the uncompressed layers", () => {
  const img = buildImage(spec);
  const { dir, blob, index } = unpack(img.archive);
  try {
    assert.equal(JSON.parse(readFileSync(path.join(dir, "oci-layout"), "utf8")).imageLayoutVersion, "1.0.0");
    const m = index.manifests[0]!;
    assert.equal(m.annotations["io.containerd.image.name"], spec.ref);
    assert.equal(m.annotations["org.opencontainers.image.ref.name"], spec.ref);
    assert.equal(m.digest, img.manifestDigest);
    const manifest = JSON.parse(blob(m.digest).toString());
    assert.equal(sha256(blob(m.digest)), m.digest);
    assert.equal(blob(m.digest).length, m.size);
    const config = JSON.parse(blob(manifest.config.digest).toString());
    assert.equal(sha256(blob(manifest.config.digest)), manifest.config.digest);
    assert.deepEqual(config.config, spec.config);
    assert.equal(manifest.layers.length, 2);
    manifest.layers.forEach((l: { digest: string; size: number }, i: number) => {
      const gz = blob(l.digest);
      assert.equal(sha256(gz), l.digest);
      assert.equal(gz.length, l.size);
      assert.equal(sha256(gunzipSync(gz)), config.rootfs.diff_ids[i]);
    });
    assert.deepEqual(
      config.history.map((h: { comment: string }) => h.comment),
      ["one", "two"],
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("two builds of the same spec are byte-identical", () => {
  assert.deepEqual(buildImage(spec).archive, buildImage(spec).archive);
});

test("a changed file changes its layer's digest only", () => {
  const a = buildImage(spec);
  const changed = {
    ...spec,
    layers: [spec.layers[0]!, { comment: "two", entries: [{ path: "etc/conf", type: "file" as const, data: Buffer.from("x=2\n") }] }],
  };
  const b = buildImage(changed);
  assert.equal(a.layers[0]!.digest, b.layers[0]!.digest);
  assert.notEqual(a.layers[1]!.digest, b.layers[1]!.digest);
});

for (const [ref, ok] of [
  ["weft.local/weft:0.1.0", true],
  ["weft.local:5000/a/b:v1", true],
  ["weft:0.1.0", false],
  ["weft.local/weft", false],
  ["weft.local/Weft:1", false],
] as const) {
  test(`checkRef(${ref}) ${ok ? "accepts" : "rejects"}`, () => {
    assert.equal(checkRef(ref) === undefined, ok);
  });
}

test("an image without layers or with a bad reference is refused, naming it", () => {
  assert.throws(() => buildImage({ ...spec, layers: [] }), /image weft.local\/sample:1.2.3: no layers/);
  assert.throws(() => buildImage({ ...spec, ref: "nope" }), /image reference "nope"/);
});
