import { describe, it } from "node:test";
import assert from "node:assert/strict";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { type Result, ok, err } from "../common/result.js";
import { ScrapeWindowSource, increaseQuery, samplesOfQuery } from "./sources.js";
import { Dashboard } from "./server.js";
import { EMPTY_INVENTORY } from "./inventory.js";

/** A real metrics endpoint whose counter the test sets; GET through fetch. */
async function metricsServer(): Promise<{ url: string; set(v: number | "down"): void; close(): Promise<void> }> {
  let value: number | "down" = 1;
  const srv = http.createServer((_req, res) => {
    if (value === "down") res.writeHead(500).end("boom");
    else
      res.end(
        `# TYPE istio_tcp_connections_opened_total counter\nistio_tcp_connections_opened_total{reporter="destination"} ${value}\nbad line here\n`,
      );
  });
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", () => r()));
  return {
    url: `http://127.0.0.1:${(srv.address() as AddressInfo).port}`,
    set: (v) => (value = v),
    close: () => new Promise((r) => srv.close(() => r())),
  };
}

const fetchGet =
  (base: string) =>
  async (_name: string, path: string): Promise<Result<string>> => {
    const r = await fetch(base + path);
    return r.ok ? ok(await r.text()) : err(new Error(`HTTP ${r.status}`));
  };

void describe("dashboard sources", () => {
  void it("scrapes: rates from the second scrape on; a failed scrape keeps the last samples (no false reset)", async () => {
    const m = await metricsServer();
    let now = 0;
    try {
      const src = new ScrapeWindowSource(["zt"], fetchGet(m.url), () => now);
      const first = await src.next();
      assert.equal(first.window, undefined);
      assert.match(first.problems[0]!, /zt \/metrics line 3: /);
      m.set(11);
      now = 10_000;
      const second = await src.next();
      assert.equal(second.window!.seconds, 10);
      assert.equal(second.window!.increases[0]!.value, 10);
      m.set("down");
      now = 20_000;
      const third = await src.next();
      assert.match(third.problems.join(), /zt: HTTP 500/);
      m.set(12);
      now = 30_000;
      const fourth = await src.next();
      assert.equal(fourth.window!.increases[0]!.value, 11, "12 - 1 over the window, not 12 counted as a reset");
    } finally {
      await m.close();
    }
  });

  void it("reads Prometheus query answers; new series count whole", () => {
    const r = samplesOfQuery(
      "istio_requests_total",
      JSON.stringify({
        status: "success",
        data: {
          resultType: "vector",
          result: [
            { metric: { __name__: "x", a: "1" }, value: [1, "2.5"] },
            { metric: {}, value: [1, "NaN"] },
          ],
        },
      }),
    );
    assert.ok(r.ok);
    assert.deepEqual(r.value, [{ name: "istio_requests_total", labels: { a: "1" }, value: 2.5 }]);
    assert.match((samplesOfQuery("n", "{}") as { error: Error }).error.message, /query for n: status \?/);
    assert.match((samplesOfQuery("n", '{"status":"error","error":"bad_data"}') as { error: Error }).error.message, /bad_data/);
    assert.match((samplesOfQuery("n", "<html>") as { error: Error }).error.message, /not JSON/);
    assert.equal(increaseQuery("c_total", 60), "(c_total unless c_total offset 60s) or increase(c_total[60s])");
  });

  void it("serves the page, the graph as JSON, health; refuses other methods and paths", async () => {
    const m = await metricsServer();
    const d = new Dashboard({
      host: "127.0.0.1",
      port: 0,
      intervalMs: 60_000,
      window: new ScrapeWindowSource(["zt"], fetchGet(m.url)),
      inventory: () => Promise.resolve({ inventory: EMPTY_INVENTORY, problems: ["inventory: none (test)"] }),
    });
    try {
      const at = await d.start();
      const base = `http://127.0.0.1:${at.port}`;
      await d.refresh();
      const page = await fetch(base + "/");
      assert.match(await page.text(), /<svg id="graph"/);
      const snap = (await (await fetch(base + "/api/graph")).json()) as { source: string; problems: string[] };
      assert.equal(snap.source, "scraping 1 metrics endpoint(s)");
      assert.ok(snap.problems.includes("inventory: none (test)"));
      assert.equal((await fetch(base + "/healthz")).status, 200);
      assert.equal((await fetch(base + "/api/graph", { method: "POST" })).status, 405);
      assert.equal((await fetch(base + "/nope")).status, 404);
    } finally {
      await d.close();
      await m.close();
    }
  });
});
