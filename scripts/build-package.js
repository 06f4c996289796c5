#!/usr/bin/env node
// `npm run build`: everything the npm package ships, built into dist/ (nothing the package needs is left only
// in the checkout):
//   1. tsc -p tsconfig.build.json: compiled JS + .d.ts of the library, worker SDK, policy, CLI, gateway, provider;
//   2. the gateway's runtime assets tsc does not copy: the queue's Lua scripts and the KEDA scaler's .proto;
//   3. the provider's schema (dist/provider/schema.json), generated here by Pulumi's component analysis from
//      whatever provider/index.ts exports (it re-exports components/), so `pulumi package add` and every preview
//      of a Python program read a file instead of type-checking and analysing the TypeScript each start;
//   4. KEDA's upstream install manifests for the default version (dist/manifests/keda-v<version>.yaml), the
//      Keda component's default source when neither LONGSHORE_KEDA_MANIFESTS nor a rendered cache file exists.
//   node scripts/build-package.js [--skip-tsc] [--require-keda]
//   (--skip-tsc: reuse dist/ from an earlier tsc run; --require-keda: fail when KEDA's manifests cannot be rendered)
"use strict";
const { execFileSync } = require("child_process");
const fs = require("fs");
const path = require("path");

const ROOT = path.resolve(__dirname, "..");
const DIST = path.join(ROOT, "dist");
const t0 = Date.now();
const step = (what) => process.stdout.write(`build: ${what} (${((Date.now() - t0) / 1000).toFixed(1)} s)\n`);

if (!process.argv.includes("--skip-tsc")) {
  fs.rmSync(DIST, { recursive: true, force: true });
  execFileSync(process.execPath, [require.resolve("typescript/bin/tsc"), "-p", path.join(ROOT, "tsconfig.build.json")], { stdio: "inherit", cwd: ROOT });
  step("tsc");
}

fs.cpSync(path.join(ROOT, "gateway/src/queue/lua"), path.join(DIST, "gateway/src/queue/lua"), { recursive: true });
fs.cpSync(path.join(ROOT, "gateway/proto"), path.join(DIST, "gateway/proto"), { recursive: true });
step("gateway assets");

const { generateProviderSchema, componentNames } = require(path.join(DIST, "provider/schema"));
const built = generateProviderSchema(path.join(ROOT, "provider"), componentNames(require(path.join(DIST, "provider/index"))));
fs.writeFileSync(path.join(DIST, "provider/schema.json"), JSON.stringify(built) + "\n");
step(`provider schema: ${Object.keys(built.schema.resources).length} components, ${Object.keys(built.schema.types ?? {}).length} types`);

const { DEFAULT_KEDA_VERSION } = require(path.join(DIST, "components/keda"));
const keda = path.join(DIST, "manifests", `keda-v${DEFAULT_KEDA_VERSION}.yaml`);
// rendered once into the cache (upstream images, unlike the proving ground's copy with local ones), then copied
const cache = process.env.LONGSHORE_CACHE || path.join(process.env.XDG_CACHE_HOME || path.join(require("os").homedir(), ".cache"), "longshore");
const rendered = path.join(cache, `keda-upstream-v${DEFAULT_KEDA_VERSION}.yaml`);
try {
  execFileSync("bash", [path.join(ROOT, "scripts/render-keda.sh"), DEFAULT_KEDA_VERSION, rendered], { stdio: ["ignore", "ignore", "inherit"], cwd: ROOT });
  fs.mkdirSync(path.dirname(keda), { recursive: true });
  fs.copyFileSync(rendered, keda);
  step(`KEDA ${DEFAULT_KEDA_VERSION} manifests (${(fs.statSync(keda).size / 1024).toFixed(0)} KiB)`);
} catch (e) {
  // Rendering needs Go (the module proxy) and kubectl or kustomize. A build for local use (e.g. the provider
  // built in a git clone by provider/install-deps.js) goes on without them; the Keda component then reads
  // $LONGSHORE_CACHE or an explicit source. A release needs them (npm run release checks the tarball has the file).
  if (process.argv.includes("--require-keda")) throw e;
  process.stderr.write(`build: WARNING: KEDA's manifests not bundled (${e.message.split("\n")[0]}); the Keda component will need source.manifests or a rendered cache file\n`);
}
