/**
 * OCI image layout (image-spec v1.1) assembly: layers (uncompressed tars) and a runtime config in,
 * an OCI archive out (oci-layout, index.json, blobs/sha256/...) as one tar that `ctr images
 * import` and `skopeo copy oci-archive:` read. Pure and reproducible: digests are sha256 of the
 * exact bytes, gzip output is deterministic for given input, `created` is fixed.
 */
import { createHash } from "node:crypto";
import { gzipSync } from "node:zlib";
import { writeTar, type TarEntry } from "./tar.js";

export const MEDIA = {
  index: "application/vnd.oci.image.index.v1+json",
  manifest: "application/vnd.oci.image.manifest.v1+json",
  config: "application/vnd.oci.image.config.v1+json",
  layerGzip: "application/vnd.oci.image.layer.v1.tar+gzip",
} as const;

export interface Descriptor {
  readonly mediaType: string;
  readonly digest: string;
  readonly size: number;
  readonly annotations?: Record<string, string>;
}

/** The parts of the OCI runtime config weft's images set. */
export interface ImageRuntimeConfig {
  readonly User?: string;
  readonly Env?: readonly string[];
  readonly Entrypoint?: readonly string[];
  readonly Cmd?: readonly string[];
  readonly WorkingDir?: string;
  readonly Labels?: Readonly<Record<string, string>>;
}

export interface ImageLayer {
  /** What the layer holds, for the image history ("node runtime", "app"). */
  readonly comment: string;
  readonly entries: readonly TarEntry[];
}

export interface ImageSpec {
  /** Full reference, e.g. `weft.local/weft:0.1.0`. */
  readonly ref: string;
  readonly layers: readonly ImageLayer[];
  readonly config: ImageRuntimeConfig;
  /** Fixed creation time (ISO 8601); default the epoch. */
  readonly created?: string;
}

export interface BuiltImage {
  readonly ref: string;
  readonly manifestDigest: string;
  /** The OCI archive (a tar of the OCI layout). */
  readonly archive: Buffer;
  /** Compressed size of every layer plus config and manifest: what a node stores. */
  readonly size: number;
  readonly layers: readonly { readonly comment: string; readonly digest: string; readonly size: number; readonly diffId: string }[];
}

export function sha256(data: Buffer): string {
  return `sha256:${createHash("sha256").update(data).digest("hex")}`;
}

/** `registry/name:tag` with a tag; errors name the reference. */
export function checkRef(ref: string): string | undefined {
  if (!/^[a-z0-9.-]+(:[0-9]+)?\/[a-z0-9._/-]+:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/.test(ref)) {
    return `image reference "${ref}": want <registry>/<name>:<tag> in lower case`;
  }
  return undefined;
}

function json(v: unknown): Buffer {
  return Buffer.from(JSON.stringify(v));
}

export function buildImage(spec: ImageSpec): BuiltImage {
  const bad = checkRef(spec.ref);
  if (bad) throw new Error(bad);
  if (spec.layers.length === 0) throw new Error(`image ${spec.ref}: no layers`);
  const created = spec.created ?? "1970-01-01T00:00:00Z";
  const blobs = new Map<string, Buffer>();
  const layers = spec.layers.map((l) => {
    const tar = writeTar(l.entries);
    const gz = gzipSync(tar, { level: 9 });
    const digest = sha256(gz);
    blobs.set(digest, gz);
    return { comment: l.comment, digest, size: gz.length, diffId: sha256(tar) };
  });
  const config = json({
    created,
    architecture: "amd64",
    os: "linux",
    config: spec.config,
    rootfs: { type: "layers", diff_ids: layers.map((l) => l.diffId) },
    history: layers.map((l) => ({ created, created_by: "weft scripts/images.sh", comment: l.comment })),
  });
  const configDesc: Descriptor = { mediaType: MEDIA.config, digest: sha256(config), size: config.length };
  blobs.set(configDesc.digest, config);
  const manifest = json({
    schemaVersion: 2,
    mediaType: MEDIA.manifest,
    config: configDesc,
    layers: layers.map((l): Descriptor => ({ mediaType: MEDIA.layerGzip, digest: l.digest, size: l.size })),
    annotations: { "org.opencontainers.image.created": created },
  });
  const manifestDigest = sha256(manifest);
  blobs.set(manifestDigest, manifest);
  const index = json({
    schemaVersion: 2,
    mediaType: MEDIA.index,
    manifests: [
      {
        mediaType: MEDIA.manifest,
        digest: manifestDigest,
        size: manifest.length,
        platform: { architecture: "amd64", os: "linux" },
        // containerd's importer names the image from io.containerd.image.name; other OCI tools
        // read ref.name.
        annotations: { "io.containerd.image.name": spec.ref, "org.opencontainers.image.ref.name": spec.ref },
      },
    ],
  });
  const entries: TarEntry[] = [
    { path: "oci-layout", type: "file", data: json({ imageLayoutVersion: "1.0.0" }) },
    { path: "index.json", type: "file", data: index },
    ...[...blobs].map(([digest, data]): TarEntry => ({ path: `blobs/sha256/${digest.slice("sha256:".length)}`, type: "file", data })),
  ];
  const size = [...blobs.values()].reduce((n, b) => n + b.length, 0);
  return { ref: spec.ref, manifestDigest, archive: writeTar(entries), size, layers };
}
