import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { UpstreamFd } from "./upstream-fd.js";

describe("UpstreamFd: the descriptor is closed exactly once, by its owner", () => {
  const steps: { name: string; ops: ("take" | "reset")[]; closes: number; throws?: boolean; owned: boolean }[] = [
    { name: "reset while owned closes it (with a reset)", ops: ["reset"], closes: 1, owned: false },
    { name: "a second reset does nothing", ops: ["reset", "reset"], closes: 1, owned: false },
    { name: "take hands it over: nothing closed here", ops: ["take"], closes: 0, owned: false },
    { name: "reset after the hand-over does nothing (the engine closes it)", ops: ["take", "reset"], closes: 0, owned: false },
    { name: "a second take is a programming error", ops: ["take", "take"], closes: 0, throws: true, owned: false },
    { name: "take after reset is a programming error", ops: ["reset", "take"], closes: 1, throws: true, owned: false },
  ];
  for (const c of steps)
    test(c.name, () => {
      const closed: number[] = [];
      const u = new UpstreamFd(42, (fd) => closed.push(fd));
      assert.equal(u.isOwned, true);
      let threw = false;
      for (const op of c.ops) {
        try {
          if (op === "take") assert.equal(u.take(), 42);
          else u.reset();
        } catch {
          threw = true;
        }
      }
      assert.equal(threw, c.throws ?? false);
      assert.equal(closed.length, c.closes);
      assert.equal(u.isOwned, c.owned);
    });
});
