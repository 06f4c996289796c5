// Entry of the runnable policy pack (package.json "main"): in the npm package (node_modules/longshore/policy/pack)
// the compiled pack in ../../dist; in a checkout of the repository, the TypeScript source (index.ts), which
// @pulumi/pulumi's run-policy-pack loads through ts-node.
"use strict";
const fs = require("fs");
const path = require("path");

const root = path.join(__dirname, "../..");
const inCheckout = fs.existsSync(path.join(root, "components/index.ts"));
require(inCheckout ? "./index.ts" : path.join(root, "dist/policy/pack/index.js"));
