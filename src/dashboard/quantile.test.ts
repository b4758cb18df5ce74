import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { histogramQuantile } from "./quantile.js";

const b = (pairs: [number, number][]) => new Map(pairs);

void describe("histogramQuantile (Prometheus's interpolation)", () => {
  void it("interpolates inside the bucket holding the rank", () => {
    // 100 observations: 50 <= 10 ms, 90 <= 100 ms, all <= 1000 ms.
    const h = b([
      [10, 50],
      [100, 90],
      [1000, 100],
      [Infinity, 100],
    ]);
    assert.equal(histogramQuantile(0.5, h), 10);
    assert.equal(histogramQuantile(0.25, h), 5); // lowest bucket starts at 0
    assert.equal(histogramQuantile(0.7, h), 55);
    assert.equal(histogramQuantile(0.99, h), 910);
  });

  void it("answers the highest finite bound for a rank in +Inf, nothing for an empty histogram", () => {
    assert.equal(
      histogramQuantile(
        0.99,
        b([
          [5, 1],
          [Infinity, 10],
        ]),
      ),
      5,
    );
    assert.equal(
      histogramQuantile(
        0.99,
        b([
          [5, 0],
          [Infinity, 0],
        ]),
      ),
      undefined,
    );
    assert.equal(histogramQuantile(0.99, b([[5, 3]])), undefined, "no +Inf bucket: not a histogram");
    assert.equal(
      histogramQuantile(
        1.5,
        b([
          [5, 1],
          [Infinity, 1],
        ]),
      ),
      undefined,
    );
  });
});
