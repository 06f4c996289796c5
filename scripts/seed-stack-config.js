#!/usr/bin/env node
// Seeds a stack's own config file (Pulumi.<stack>.yaml: the user's, not committed) from the repository's
// committed defaults for that stack (stacks/<stack>.defaults.yaml). A key the stack file lacks is added; a key
// it has — the user's own setting, the generated API key — is kept. So `pulumi config set` (and the key that
// `npm run up` generates) never dirties a tracked file, and new defaults reach existing stacks.
//   node scripts/seed-stack-config.js [stack]     (default: local)
"use strict";
const fs = require("fs");
const path = require("path");
const yaml = require("js-yaml");

const root = path.resolve(__dirname, "..");
const stack = process.argv[2] || "local";
const defaultsFile = path.join(root, "stacks", `${stack}.defaults.yaml`);
const stackFile = path.join(root, `Pulumi.${stack}.yaml`);

if (!fs.existsSync(defaultsFile)) {
    console.error(`no committed defaults for stack ${stack} (${path.relative(root, defaultsFile)})`);
    process.exit(2);
}
if (!fs.existsSync(stackFile)) {
    fs.copyFileSync(defaultsFile, stackFile); // verbatim: the comments explain each key
    console.error(`created ${path.basename(stackFile)} from ${path.relative(root, defaultsFile)}`);
    process.exit(0);
}
const defaults = yaml.load(fs.readFileSync(defaultsFile, "utf8")) || {};
const current = yaml.load(fs.readFileSync(stackFile, "utf8")) || {};
current.config = current.config || {};
const added = Object.keys(defaults.config || {}).filter((k) => !(k in current.config));
if (added.length === 0) process.exit(0);
for (const k of added) current.config[k] = defaults.config[k];
fs.writeFileSync(stackFile, yaml.dump(current, { lineWidth: 120 }));
console.error(`${path.basename(stackFile)}: added default ${added.join(", ")} from ${path.relative(root, defaultsFile)}`);
