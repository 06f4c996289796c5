// `npm install` in this directory (what the engine runs for a plugin folder or git URL whose @pulumi/pulumi does
// not resolve) installs the package this directory belongs to, one level up: the provider's code and
// dependencies are the package's own, so they are installed there once, not copied into provider/.
//   - the npm package unpacked into a folder (compiled dist/ present): its runtime dependencies
//     (npm install --omit=dev in the package folder);
//   - a git clone (no dist/): the locked dependencies (npm ci) and the build (npm run build), so the provider
//     runs prebuilt from there too.
// Nothing to do where @pulumi/pulumi already resolves from the package and dist/ is built (node_modules/longshore).
"use strict";
const { execFileSync } = require("child_process");
const fs = require("fs");
const path = require("path");

const root = path.resolve(__dirname, "..");
const built = fs.existsSync(path.join(root, "dist/provider/schema.json"));
let resolves = true;
try {
  require.resolve("@pulumi/pulumi", { paths: [root] });
} catch {
  resolves = false;
}
const npm = (args) => {
  process.stdout.write(`longshore provider: npm ${args.join(" ")} in ${root}\n`);
  execFileSync("npm", args, { cwd: root, stdio: "inherit" });
};
if (built) {
  if (!resolves) npm(["install", "--omit=dev", "--no-audit", "--no-fund", "--no-package-lock", "--ignore-scripts"]);
} else if (fs.existsSync(path.join(root, "package-lock.json")) && fs.existsSync(path.join(root, "tsconfig.build.json"))) {
  if (!fs.existsSync(path.join(root, "node_modules/typescript"))) npm(["ci", "--no-audit", "--no-fund", "--ignore-scripts"]);
  npm(["run", "build"]);
} else {
  throw new Error(`longshore provider: ${root} is neither the npm package (dist/ built) nor a checkout of the repository`);
}
