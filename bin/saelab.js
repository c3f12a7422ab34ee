#!/usr/bin/env node
'use strict';
const path = require('path');
const fs = require('fs');
const main = path.join(__dirname, '..', 'dist', 'lib', 'cli', 'main.js');
if (!fs.existsSync(main)) {
  console.error('saelab is not built: run `npm run build` (or `npm ci`, which builds) in ' + path.join(__dirname, '..'));
  process.exit(1);
}
require(main).main(process.argv.slice(2)).then((code) => process.exit(code));
