// The demo's services, one small Node HTTP server per role (ROLE env var). Every response
// carries the marker "weft-demo-payload" so a capture on the underlay can tell whether the
// application's bytes crossed it in clear. frontend -> reviews (v1 or v2) -> ratings (v2 only).
"use strict";
const http = require("node:http");

const role = process.env.ROLE || "unknown";
const version = process.env.VERSION || "v1";
const port = Number(process.env.PORT || 8080);
const pod = process.env.POD_NAME || "?";

function get(url) {
  return new Promise((resolve) => {
    const req = http.get(url, { timeout: 3000 }, (res) => {
      let body = "";
      res.on("data", (d) => (body += d));
      res.on("end", () => resolve(body.trim()));
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", (e) => resolve(`error calling ${url}: ${e.code || e.message}`));
  });
}

http
  .createServer(async (req, res) => {
    let body = `weft-demo-payload ${role} ${version} (pod ${pod})`;
    if (role === "frontend") body += `\n  -> ${await get(process.env.REVIEWS_URL)}`;
    if (role === "reviews" && version === "v2") body += `\n     -> ${await get(process.env.RATINGS_URL)}`;
    res.writeHead(200, { "content-type": "text/plain" });
    res.end(`${body}\n`);
  })
  .listen(port, "0.0.0.0", () => console.log(`${role} ${version} listening on ${port}`));
