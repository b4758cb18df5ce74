import { test } from "node:test";
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import type * as DnsPacket from "dns-packet";
import { lazyModule } from "./lazy-module.js";

test("lazyModule loads on the first call, not before, and returns the same module afterwards", () => {
  const resolved = createRequire(__filename).resolve("dns-packet");
  assert.equal(require.cache[resolved], undefined, "dns-packet is already loaded: pick a module this test process has not loaded");
  const dnsPacket = lazyModule<typeof DnsPacket>("dns-packet");
  assert.equal(require.cache[resolved], undefined, "loaded before the first call");
  const a = dnsPacket();
  assert.ok(require.cache[resolved], "not loaded by the first call");
  assert.equal(typeof a.encode, "function");
  assert.equal(dnsPacket(), a);
});

test("lazyModule reports a missing module at the first call", () => {
  const missing = lazyModule<unknown>("weft-no-such-module");
  assert.throws(() => missing(), /Cannot find module 'weft-no-such-module'/);
});
