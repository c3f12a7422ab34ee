#!/usr/bin/env node
/**
 * Remove compiled files in dist/ whose TypeScript source is gone (tsc never deletes outputs). A stale
 * dist/lib/x.js would otherwise shadow a new folder lib/x/ (Node resolves x.js before x/index.js) and a
 * stale test would keep running. Only dist/ is touched, and only .js / .d.ts / .map files tsc writes.
 */
const fs = require('fs');
const path = require('path');

const root = path.join(__dirname, '..');
const dist = path.join(root, 'dist');
const suffixes = ['.d.ts.map', '.js.map', '.d.ts', '.js'];

function walk(dir) {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      walk(full);
      if (fs.readdirSync(full).length === 0) fs.rmdirSync(full);
      continue;
    }
    const suffix = suffixes.find((s) => entry.name.endsWith(s));
    if (!suffix) continue;
    const source = path.join(root, path.relative(dist, dir), entry.name.slice(0, -suffix.length) + '.ts');
    if (!fs.existsSync(source)) fs.rmSync(full);
  }
}

if (fs.existsSync(dist)) walk(dist);
