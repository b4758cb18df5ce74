/**
 * handleRequest contains a failure of the request path itself: the client gets a 500 and the
 * exchange is logged, and the process goes on (an unhandled rejection would end it). The runtime
 * is a fault-injecting fake (its route view throws), named as one: no real component throws on cue.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { identity } from "../../common/spiffe.js";
import type { AccessLogEntry } from "../telemetry/access-log.js";
import type { ProxyRuntime, TunnelContext } from "./context.js";
import { handleRequest } from "./forward.js";

test("an exception in the request path answers 500 and is logged, and the waypoint keeps serving", async () => {
  const logged: AccessLogEntry[] = [];
  let metered = 0;
  const faultyRuntime = {
    l7: {
      listenerFor: () => {
        throw new TypeError("injected fault");
      },
    },
    metrics: { requestOn: () => void metered++ },
    accessLog: (e: AccessLogEntry) => void logged.push(e),
  } as unknown as ProxyRuntime;
  const ctx = {
    // Access logging on (the HCM's access_log), as Istio's Telemetry accessLogging would configure it.
    listener: { filter: { kind: "http", filterOrder: [], authz: [], accessLog: [{ path: "/dev/stdout", encoding: "JSON" }] } },
    target: { ip: "10.96.0.1", port: 80 },
    client: { ip: "10.0.0.2", port: 40000 },
    peer: identity("cluster.local", "default", "client"),
  } as unknown as TunnelContext;
  const rejections: unknown[] = [];
  const onRejection = (e: unknown): void => void rejections.push(e);
  process.on("unhandledRejection", onRejection);
  const server = http.createServer((req, res) => void handleRequest(faultyRuntime, ctx, req, res, false));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  try {
    const { port } = server.address() as AddressInfo;
    for (let i = 0; i < 2; i++) {
      const status = await new Promise<number>((resolve, reject) => {
        http
          .get({ host: "127.0.0.1", port, path: "/x", agent: false }, (res) => {
            res.resume();
            res.on("end", () => resolve(res.statusCode ?? 0));
          })
          .on("error", reject);
      });
      assert.equal(status, 500);
    }
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(rejections, []);
    assert.equal(logged.length, 2);
    assert.equal(logged[0]!.response_code, 500);
    assert.equal(logged[0]!.response_code_details, "internal_error");
    assert.equal(metered, 2);
  } finally {
    process.off("unhandledRejection", onRejection);
    server.close();
  }
});
