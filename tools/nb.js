#!/usr/bin/env node
'use strict';
/**
 * Authoring helper: turn a cell list (a .js file exporting [{md: '...'} | {code: '...'}]) into a
 * tslab .ipynb with no outputs.  usage: node tools/nb.js cells.js out.ipynb
 */
const fs = require('fs');
const path = require('path');

function toLines(src) {
  const lines = src.replace(/^\n+|\s+$/g, '').split('\n');
  return lines.map((l, i) => (i < lines.length - 1 ? l + '\n' : l));
}

function notebook(cells) {
  return {
    cells: cells.map((c) => (c.md !== undefined
      ? { cell_type: 'markdown', metadata: {}, source: toLines(c.md) }
      : { cell_type: 'code', execution_count: null, metadata: {}, outputs: [], source: toLines(c.code) })),
    metadata: {
      kernelspec: { display_name: 'TypeScript', language: 'typescript', name: 'tslab' },
      language_info: { codemirror_mode: { mode: 'typescript', name: 'javascript', typescript: true }, file_extension: '.ts', mimetype: 'text/typescript', name: 'typescript', version: '3.7.2' },
    },
    nbformat: 4,
    nbformat_minor: 5,
  };
}

if (require.main === module) {
  const [src, out] = process.argv.slice(2);
  const cells = require(path.resolve(src));
  const nb = notebook(cells);
  nb.cells.forEach((c, i) => { c.id = `cell-${String(i).padStart(2, '0')}`; });
  fs.writeFileSync(out, JSON.stringify(nb, null, 1) + '\n');
}
module.exports = { notebook };
