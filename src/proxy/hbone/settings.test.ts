import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { DEFAULT_HBONE_SETTINGS, MiB, h2Settings, resolveSettings } from "./settings.js";

describe("hbone settings", () => {
  test("defaults are upstream ztunnel's", () => {
    assert.equal(DEFAULT_HBONE_SETTINGS.streamWindowBytes, 4 * MiB);
    assert.equal(DEFAULT_HBONE_SETTINGS.connectionWindowBytes, 16 * MiB);
    assert.equal(DEFAULT_HBONE_SETTINGS.maxFrameBytes, 1 * MiB);
    assert.equal(DEFAULT_HBONE_SETTINGS.serverMaxConcurrentStreams, 200);
    assert.equal(DEFAULT_HBONE_SETTINGS.poolMaxStreamsPerConnection, 100);
    assert.equal(DEFAULT_HBONE_SETTINGS.poolIdleTimeoutMs, 300_000);
    assert.equal(DEFAULT_HBONE_SETTINGS.pingIntervalMs, 10_000);
    assert.equal(DEFAULT_HBONE_SETTINGS.pingTimeoutMs, 20_000);
    assert.equal(DEFAULT_HBONE_SETTINGS.connectTimeoutMs, 10_000);
  });

  test("overrides apply and the result is frozen", () => {
    const r = resolveSettings({ pingIntervalMs: 50, poolMaxStreamsPerConnection: 2 });
    assert.ok(r.ok);
    assert.equal(r.value.pingIntervalMs, 50);
    assert.equal(r.value.poolMaxStreamsPerConnection, 2);
    assert.equal(r.value.streamWindowBytes, 4 * MiB);
    assert.ok(Object.isFrozen(r.value));
  });

  const bad: { over: object; msg: RegExp }[] = [
    { over: { maxFrameBytes: 1000 }, msg: /maxFrameBytes: 1000 is not an integer in 16384\.\.16777215/ },
    { over: { streamWindowBytes: 2 ** 31 }, msg: /streamWindowBytes/ },
    { over: { poolIdleTimeoutMs: 0 }, msg: /poolIdleTimeoutMs/ },
    { over: { connectTimeoutMs: 1.5 }, msg: /connectTimeoutMs/ },
    { over: { pingTimeoutMs: "5" }, msg: /pingTimeoutMs: "5"/ },
    { over: { nonsense: 1 }, msg: /unknown field "nonsense"/ },
  ];
  for (const b of bad) {
    test(`rejects ${JSON.stringify(b.over)} naming the field`, () => {
      const r = resolveSettings(b.over as never);
      assert.ok(!r.ok);
      assert.match(r.error.message, b.msg);
    });
  }

  test("only the server advertises max concurrent streams; push is off", () => {
    assert.equal(h2Settings(DEFAULT_HBONE_SETTINGS, true).maxConcurrentStreams, 200);
    assert.equal(h2Settings(DEFAULT_HBONE_SETTINGS, false).maxConcurrentStreams, undefined);
    assert.equal(h2Settings(DEFAULT_HBONE_SETTINGS, false).enablePush, false);
    assert.equal(h2Settings(DEFAULT_HBONE_SETTINGS, false).initialWindowSize, 4 * MiB);
  });
});
