import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { Sample } from "./prom-text.js";
import { ScrapeRing, increases } from "./window.js";

const s = (name: string, value: number, labels: Record<string, string> = {}): Sample => ({ name, labels, value });
const scrape = (at: number, eps: Record<string, Sample[]>) => ({ at, byEndpoint: new Map(Object.entries(eps)) });

void describe("increases between two scrapes", () => {
  void it("per endpoint and series; resets and new series count from zero; gauges only in current", () => {
    const w = increases(
      scrape(0, { a: [s("x_total", 10), s("r_total", 50), s("g", 7)], b: [s("x_total", 1)] }),
      scrape(10_000, { a: [s("x_total", 15), s("r_total", 4), s("n_total", 2, { k: "v" }), s("g", 9)], b: [s("x_total", 1)] }),
    );
    assert.equal(w.seconds, 10);
    assert.deepEqual(
      w.increases.map((x) => `${x.name}=${x.value}`),
      ["x_total=5", "r_total=4", "n_total=2"],
      "b's unchanged counter gives no increase",
    );
    assert.deepEqual(w.current.find((x) => x.name === "g")?.value, 9);
  });

  void it("the ring keeps one scrape at or before the span's start", () => {
    const r = new ScrapeRing(60_000);
    assert.equal(r.window(), undefined);
    for (let t = 0; t <= 100_000; t += 10_000) r.add(scrape(t, { a: [s("c_total", t / 1000)] }));
    const w = r.window()!;
    assert.equal(w.seconds, 60);
    assert.equal(w.increases[0]!.value, 60);
  });
});
