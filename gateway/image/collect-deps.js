// Copies the gateway's runtime dependencies (the production closure of the packages it imports)
// from the repository's node_modules into <out>/node_modules. Used by gateway/Dockerfile so the image
// is built offline from what `npm ci` already installed, without the repo's Pulumi/AWS packages.
//   node gateway/image/collect-deps.js <repoRoot> <outDir>
"use strict";
const fs = require("fs");
const path = require("path");

const [root, out] = process.argv.slice(2);
const ROOTS = ["fastify", "bullmq", "ioredis", "pino", "prom-client", "@grpc/grpc-js", "@grpc/proto-loader"];
const seen = new Map(); // package dir -> true

function findPkgDir(name, fromDir) {
  // node's resolution: walk up node_modules folders from fromDir
  let dir = fromDir;
  for (;;) {
    const cand = path.join(dir, "node_modules", name);
    if (fs.existsSync(path.join(cand, "package.json"))) return cand;
    const up = path.dirname(dir);
    if (up === dir) return undefined;
    dir = up;
  }
}

function visit(name, fromDir, optional) {
  const dir = findPkgDir(name, fromDir);
  if (!dir) {
    if (optional) return;
    throw new Error(`dependency ${name} (needed from ${fromDir}) is not installed; run npm ci`);
  }
  if (seen.has(dir)) return;
  seen.set(dir, true);
  const pkg = JSON.parse(fs.readFileSync(path.join(dir, "package.json"), "utf8"));
  for (const d of Object.keys(pkg.dependencies || {})) visit(d, dir, false);
  for (const d of Object.keys(pkg.optionalDependencies || {})) visit(d, dir, true);
  for (const [d, meta] of Object.entries(pkg.peerDependencies || {})) {
    const opt = pkg.peerDependenciesMeta && pkg.peerDependenciesMeta[d] && pkg.peerDependenciesMeta[d].optional;
    visit(d, dir, !!opt);
  }
}

for (const r of ROOTS) visit(r, root, false);
let n = 0;
for (const dir of seen.keys()) {
  const rel = path.relative(root, dir);
  fs.cpSync(dir, path.join(out, rel), { recursive: true, dereference: true, filter: (src) => !/[/\\]node_modules[/\\]\.bin$/.test(src) });
  n++;
}
process.stdout.write(`collected ${n} packages into ${path.join(out, "node_modules")}\n`);
