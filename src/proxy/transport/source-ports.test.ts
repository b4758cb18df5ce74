import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { PortCursor, parsePortRange } from "./source-ports.js";

describe("source ports", () => {
  const cases: { text: string; want: ReturnType<typeof parsePortRange> }[] = [
    { text: "32768\t60999\n", want: { first: 32768, last: 60999 } },
    { text: "1024 1030", want: { first: 1024, last: 1030 } },
    { text: "60999 32768", want: undefined },
    { text: "80 90", want: undefined },
    { text: "32768", want: undefined },
    { text: "a b", want: undefined },
  ];
  for (const c of cases) {
    test(`parses ${JSON.stringify(c.text)} as ${JSON.stringify(c.want)}`, () => {
      assert.deepEqual(parsePortRange(c.text), c.want);
    });
  }

  test("the cursor walks the range round-robin and wraps", () => {
    const cursor = new PortCursor({ first: 40000, last: 40002 }, 0.5);
    assert.deepEqual([cursor.take(), cursor.take(), cursor.take(), cursor.take()], [40001, 40002, 40000, 40001]);
  });

  test("the cursor starts inside the range for any start value", () => {
    for (const start of [0, 0.999999, 0.3]) {
      const p = new PortCursor({ first: 50000, last: 50009 }, start).take();
      assert.ok(p >= 50000 && p <= 50009, String(p));
    }
  });
});
