// Entry of the plugin (package.json "main"; PulumiPlugin.yaml runtime nodejs): the engine's Node.js host loads
// this file. It serves the prebuilt provider (compiled JS + the schema generated at build time, host.ts) from
// ../dist: the npm package this directory ships in (node_modules/longshore/provider, or the package unpacked
// into a folder), or a built checkout; install-deps.js (npm install here) installs and builds what is missing.
// Otherwise, in a checkout without `npm run build`, exports the TypeScript components so @pulumi/pulumi's
// own component host analyses them from source (slow: a type check and the analysis at every start).
// In a checkout, a build older than any TypeScript source it was built from is not used (a warning says so):
// the provider never serves components other than the ones in the tree.
// LONGSHORE_PROVIDER_FROM_SOURCE=1 forces the source path (bench/providerStartup.ts measures both).
"use strict";
const fs = require("fs");
const path = require("path");

const root = path.join(__dirname, "..");
const built = path.join(root, "dist/provider");

/** The newest mtime of the .ts files under the checkout's source folders (0 in the npm package: no sources). */
function newestSource() {
  let newest = 0;
  const walk = (d) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(path.join(d, e.name));
      else if (e.name.endsWith(".ts")) newest = Math.max(newest, fs.statSync(path.join(d, e.name)).mtimeMs);
    }
  };
  for (const d of ["components", "contract", "provider"]) if (fs.existsSync(path.join(root, d, "index.ts"))) walk(path.join(root, d));
  return newest;
}

function usable() {
  if (process.env.LONGSHORE_PROVIDER_FROM_SOURCE === "1") return false;
  const schema = path.join(built, "schema.json");
  if (!fs.existsSync(schema)) return false;
  if (newestSource() <= fs.statSync(schema).mtimeMs) return true;
  process.stderr.write("longshore provider: dist/ is older than the TypeScript sources; running from source (npm run build to run prebuilt)\n");
  return false;
}

if (usable()) {
  require(path.join(built, "host.js")).serve();
} else {
  module.exports = require("./index.ts");
}
