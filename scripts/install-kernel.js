#!/usr/bin/env node
'use strict';
/**
 * Register the tslab (TypeScript) kernel for this checkout with Jupyter, pointing at this checkout's
 * own tslab binary (so tslab need not be on PATH). Jupyter itself comes from Debian:
 *   apt-get install -y --no-install-recommends jupyter-notebook jupyter-nbconvert python3-nbclient python3-ipykernel jupyter-client
 */
const { spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const root = path.resolve(__dirname, '..');
const tslab = path.join(root, 'node_modules', '.bin', 'tslab');
const JUPYTER_HINT = 'apt-get install -y --no-install-recommends jupyter-notebook jupyter-nbconvert python3-nbclient python3-ipykernel jupyter-client';

/** A python that has jupyter_client and nbconvert (Debian's /usr/bin/python3 first). */
function findPython() {
  const candidates = [process.env.SAELAB_PYTHON, '/usr/bin/python3', 'python3'].filter(Boolean);
  for (const py of candidates) {
    const r = spawnSync(py, ['-c', 'import jupyter_client, nbconvert, nbclient, ipykernel'], { stdio: 'ignore' });
    if (r.status === 0) return py;
  }
  return null;
}

function main() {
  if (!fs.existsSync(tslab)) {
    console.error(`install-kernel: ${tslab} not found: run npm ci first.`);
    return 1;
  }
  const python = findPython();
  if (!python) {
    console.error(`install-kernel: Jupyter (jupyter_client, nbconvert, nbclient, ipykernel) is not installed for python3. Install it with:\n  ${JUPYTER_HINT}`);
    return 1;
  }
  const args = ['install', `--python=${python}`, `--binary=${tslab}`];
  if (process.getuid && process.getuid() !== 0) args.push('--user');
  const r = spawnSync(tslab, args, { stdio: 'inherit' });
  if (r.status !== 0) return r.status || 1;
  console.log(`install-kernel: registered the tslab kernel (binary ${tslab}, python ${python})`);
  return 0;
}

if (require.main === module) process.exit(main());
module.exports = { findPython, JUPYTER_HINT };
