// The upstream HTTP server of `npm run bench:http`: answers /ping 200 and any other request with a small JSON
// body (after reading the request body), like a trivial inference API. Prints its port once listening.
// With PROXY_TO=<port,…> it is instead the bare baseline proxy: node's http server piping each request to the
// next upstream over a keep-alive agent — no auth, routing, queue or accounting: the floor of this design.
const http = require("http");
const targets = (process.env.PROXY_TO || "").split(",").filter(Boolean).map(Number);
const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity });
let next = 0;
const server = http.createServer((req, res) => {
  if (targets.length) {
    const port = targets[next++ % targets.length];
    const up = http.request({ host: "127.0.0.1", port, method: req.method, path: req.url, headers: req.headers, agent }, (ur) => {
      res.writeHead(ur.statusCode, ur.headers);
      ur.pipe(res);
    });
    up.on("error", () => res.destroy());
    req.pipe(up);
    return;
  }
  let n = 0;
  req.on("data", (c) => (n += c.length));
  req.on("end", () => {
    const body = JSON.stringify({ ok: true, path: req.url, bytes: n });
    res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
    res.end(body);
  });
});
server.keepAliveTimeout = 65_000;
server.listen(0, "127.0.0.1", () => process.stdout.write(`READY ${server.address().port}\n`));
