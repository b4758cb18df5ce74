/**
 * The native engine honours Node's `--tls-keylog=FILE` (native/tls_keylog.c,
 * src/proxy/hbone/native-keylog.ts): a process started with it, tunnelling from the native client
 * to the native server (no Node TLS socket in it), appends both sides' TLS 1.3 secrets to the
 * file in NSS key log format, so captures decrypt as they do on the Node engine (the e2e tests
 * read HBONE CONNECTs and certificates off the wire with it).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { nativeHbone } from "../../src/proxy/hbone/native-addon.js";

const child = path.join(__dirname, "native-keylog-child.js");

test("a native tunnel's TLS secrets, both sides, are appended to Node's --tls-keylog file", async (t) => {
  if (!nativeHbone().ok) {
    t.skip("the native addon is not built (scripts/setup.sh)");
    return;
  }
  const dir = mkdtempSync(path.join(tmpdir(), "weft-keylog-"));
  try {
    const file = path.join(dir, "keys.log");
    const out = await new Promise<string>((resolve, reject) =>
      execFile(
        process.execPath,
        [`--tls-keylog=${file}`, child],
        { env: { ...process.env, WEFT_HBONE_ENGINE: "native", NODE_OPTIONS: "" }, timeout: 30_000 },
        (e, stdout, stderr) => (e ? reject(new Error(`${e.message}\n${stderr}`)) : resolve(stdout)),
      ),
    );
    assert.equal(out.trim(), "echoed");
    const lines = readFileSync(file, "utf8").split("\n").filter(Boolean);
    const byLabel = new Map<string, string[]>();
    for (const l of lines) {
      const [label = "", random = "", secret = ""] = l.split(" ");
      assert.match(random, /^[0-9a-f]{64}$/, `client random: ${l}`);
      assert.match(secret, /^[0-9a-f]{64,96}$/, `secret: ${l}`);
      byLabel.set(label, [...(byLabel.get(label) ?? []), random]);
    }
    // One connection, logged by its server and its client: each TLS 1.3 secret twice, one client random.
    for (const label of [
      "CLIENT_HANDSHAKE_TRAFFIC_SECRET",
      "SERVER_HANDSHAKE_TRAFFIC_SECRET",
      "CLIENT_TRAFFIC_SECRET_0",
      "SERVER_TRAFFIC_SECRET_0",
    ])
      assert.equal(byLabel.get(label)?.length, 2, `${label} from both sides: ${lines.join("\n")}`);
    assert.equal(new Set(lines.map((l) => l.split(" ")[1])).size, 1, "one connection's client random");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
