import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { parseLine, parsePromText } from "./prom-text.js";

void describe("prometheus text format", () => {
  void it("reads names, escaped label values, special values and timestamps", () => {
    const cases: [string, { name: string; labels: Record<string, string>; value: number }][] = [
      ["up 1", { name: "up", labels: {}, value: 1 }],
      [
        'a_total{x="1",y="q\\"uote",z="back\\\\slash"} 3 1700000000000',
        { name: "a_total", labels: { x: "1", y: 'q"uote', z: "back\\slash" }, value: 3 },
      ],
      ['h_bucket{le="+Inf",k="v",} 2', { name: "h_bucket", labels: { le: "+Inf", k: "v" }, value: 2 }],
      ['nl{m="a\\nb"} -Inf', { name: "nl", labels: { m: "a\nb" }, value: -Infinity }],
      ["g 1.5e3", { name: "g", labels: {}, value: 1500 }],
    ];
    for (const [line, want] of cases) {
      const r = parseLine(line);
      assert.ok(r.ok, line);
      assert.deepEqual(r.value, want, line);
    }
  });

  void it("keeps each label set of a histogram apart (what the npm parser merges)", () => {
    const { samples } = parsePromText(
      [
        "# TYPE h histogram",
        'h_bucket{k="v",le="1"} 1',
        'h_bucket{k="v",le="+Inf"} 2',
        'h_bucket{k="w",le="1"} 5',
        'h_bucket{k="w",le="+Inf"} 6',
      ].join("\n"),
    );
    assert.deepEqual(
      samples.map((s) => `${s.labels.k}/${s.labels.le}=${s.value}`),
      ["v/1=1", "v/+Inf=2", "w/1=5", "w/+Inf=6"],
    );
  });

  void it("reports malformed lines by number and keeps the rest", () => {
    const r = parsePromText(["ok 1", 'bad{x="1"', 'novalue{x="1"}', '{x="1"} 2', "also_ok 2"].join("\n"));
    assert.deepEqual(
      r.samples.map((s) => s.name),
      ["ok", "also_ok"],
    );
    assert.equal(r.problems.length, 3);
    assert.match(r.problems[0]!, /^line 2: /);
    assert.match(r.problems[1]!, /^line 3: metric novalue: value "" is not a number/);
    assert.match(r.problems[2]!, /^line 4: no metric name/);
  });
});
