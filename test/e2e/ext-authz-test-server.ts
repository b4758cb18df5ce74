/**
 * A TEST external authorizer (not part of weft), run as a pod of the local cluster by
 * test/e2e/authz-custom.test.ts. It decides as Istio's samples/extauthz server does: a request
 * carrying `x-ext-authz: allow` is allowed and gets `x-ext-authz-check-result: allowed`; anything
 * else is denied with 403, `x-ext-authz-check-result: denied` and a body naming the missing
 * header. HTTP on --http (the check is the client's request, path prefixed) and gRPC
 * `envoy.service.auth.v3.Authorization/Check` on --grpc (Envoy's vendored protos). Each check is
 * printed as one JSON line on stdout (the pod's log), so the test can see what was asked.
 *
 * Usage: node ext-authz-test-server.js --http 8000 --grpc 9000
 */
import http from "node:http";
import * as grpc from "@grpc/grpc-js";
import { checkServiceDefinition } from "../support/ext-authz-check-service.js";

const arg = (name: string): number => Number(process.argv[process.argv.indexOf(name) + 1]);
const DENIED = "denied by ext_authz for not found header `x-ext-authz: allow` in the request";
const RESULT = "x-ext-authz-check-result";

const log = (o: Record<string, unknown>) => process.stdout.write(`${JSON.stringify({ check: true, ...o })}\n`);

const server = http.createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on("data", (c: Buffer) => chunks.push(c));
  req.on("end", () => {
    const allow = req.headers["x-ext-authz"] === "allow";
    log({ kind: "http", method: req.method, path: req.url, headers: req.headers, body: Buffer.concat(chunks).toString(), allow });
    if (allow) res.writeHead(200, { [RESULT]: "allowed", "x-ext-authz-user": "e2e-user" }).end();
    else res.writeHead(403, { [RESULT]: "denied", "content-type": "text/plain" }).end(DENIED);
  });
});
server.listen(arg("--http"), "0.0.0.0");

interface Attrs {
  source?: { principal?: string };
  request?: { http?: { path?: string; headers?: Record<string, string>; body?: string } };
}
const g = new grpc.Server();
g.addService(checkServiceDefinition(), {
  Check: (call: grpc.ServerUnaryCall<{ attributes?: Attrs }, object>, cb: grpc.sendUnaryData<object>) => {
    const a = call.request.attributes ?? {};
    const h = a.request?.http ?? {};
    const allow = h.headers?.["x-ext-authz"] === "allow";
    log({ kind: "grpc", path: h.path, principal: a.source?.principal, headers: h.headers, body: h.body ?? "", allow });
    const header = (key: string, value: string) => ({ header: { key, value } });
    if (allow)
      cb(null, { status: { code: 0 }, okResponse: { headers: [header(RESULT, "allowed"), header("x-ext-authz-user", "e2e-user")] } });
    else
      cb(null, {
        status: { code: 7 },
        deniedResponse: { status: { code: 403 }, headers: [header(RESULT, "denied")], body: DENIED },
      });
  },
});
g.bindAsync(`0.0.0.0:${arg("--grpc")}`, grpc.ServerCredentials.createInsecure(), (e) => {
  if (e) throw e;
});
