// The upstream HTTP server of `npm run bench:http`: answers /ping 200 and any other request with a small JSON
// body (after reading the request body), like a trivial inference API. Prints its port once listening.
const http = require("http");
const server = http.createServer((req, res) => {
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
