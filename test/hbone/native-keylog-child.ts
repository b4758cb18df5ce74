/**
 * Child process of native-keylog.test.ts (started with Node's `--tls-keylog=FILE` and
 * WEFT_HBONE_ENGINE=native): one tunnel from the native client to the native server, an echo
 * through it, then exit. Prints "echoed" when the bytes came back.
 */
import { createHboneServer, createHbonePool } from "../../src/proxy/hbone/engine.js";
import { NativeTunnel } from "../../src/proxy/hbone/native-client.js";
import { connectToTarget, echo, readAll, startTcp, testPki, CLIENT_IP } from "./fixture.js";

async function main(): Promise<void> {
  const pki = await testPki();
  const serverCert = await pki.certFor("default", "server");
  const clientCert = await pki.certFor("default", "client");
  const up = await startTcp(echo);
  const server = createHboneServer(
    { certificateFor: (ip) => (ip === "127.0.20.51" ? serverCert : undefined), trustDomains: ["cluster.local"], handler: connectToTarget },
    "native",
  );
  const address = await server.listen("127.0.20.51", 0);
  const pool = createHbonePool({ pingIntervalMs: 0 }, "native");
  const r = await pool.connect(
    { source: clientCert, expected: [serverCert.identity], destination: address },
    { target: up.address, forwardedFor: { ip: CLIENT_IP, port: 4000 }, host: "svc.ns.svc.cluster.local" },
  );
  if (!r.ok) throw r.error;
  if (!(r.value instanceof NativeTunnel)) throw new Error("not a native tunnel");
  const d = r.value.duplex();
  d.end("keylog-ping");
  const got = (await readAll(d)).toString();
  process.stdout.write(got === "keylog-ping" ? "echoed\n" : `got ${JSON.stringify(got)}\n`);
  await pool.close(100);
  await server.close(100);
  await up.close();
}

void main();
