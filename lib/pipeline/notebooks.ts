import { spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { SAELAB_ROOT } from '../version';
import { writeFileAtomic } from '../io/atomic';

export const JUPYTER_INSTALL_HINT = 'apt-get install -y --no-install-recommends jupyter-notebook jupyter-nbconvert python3-nbclient python3-ipykernel jupyter-client';

/** A numbered pipeline notebook: notebooks/NN_name.ipynb. */
export interface PipelineNotebook {
  /** the number prefix, e.g. "01" */
  number: string;
  /** file name without extension, e.g. "01_compute_activations" */
  name: string;
  file: string;
}

/** Numbered notebooks in a folder, in numeric order. */
export function listNotebooks(dir = path.join(SAELAB_ROOT, 'notebooks')): PipelineNotebook[] {
  return fs.readdirSync(dir)
    .map((f) => /^(\d+)_.*\.ipynb$/.exec(f))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ number: m[1], name: m[0].replace(/\.ipynb$/, ''), file: path.join(dir, m[0]) }))
    .sort((a, b) => Number(a.number) - Number(b.number) || a.name.localeCompare(b.name));
}

/** A python with Jupyter's nbconvert/nbclient (Debian's first), or an error saying what to install. */
export function findJupyterPython(): string {
  for (const py of [process.env.SAELAB_PYTHON, '/usr/bin/python3', 'python3'].filter((x): x is string => !!x)) {
    const r = spawnSync(py, ['-c', 'import nbconvert, nbclient, ipykernel, jupyter_client'], { stdio: 'ignore' });
    if (r.status === 0) return py;
  }
  throw new Error(`Jupyter is not installed (nbconvert, nbclient, ipykernel, jupyter_client for python3). Install it with:\n  ${JUPYTER_INSTALL_HINT}\nthen register the kernel: npm run kernel:install`);
}

/** Is the tslab kernel registered with Jupyter for this python? */
export function kernelRegistered(python: string): boolean {
  const r = spawnSync(python, ['-c', 'import jupyter_client.kernelspec as k; import sys; sys.exit(0 if "tslab" in k.find_kernel_specs() else 1)'], { stdio: 'ignore' });
  return r.status === 0;
}

/** Register this checkout's tslab kernel (scripts/install-kernel.js). */
export function registerKernel(): void {
  const r = spawnSync(process.execPath, [path.join(SAELAB_ROOT, 'scripts', 'install-kernel.js')], { stdio: 'inherit' });
  if (r.status !== 0) throw new Error('registering the tslab kernel failed (see above)');
}

/**
 * A Jupyter data folder private to this checkout (build/jupyter, git-ignored) holding a `tslab` kernel
 * spec that runs this checkout's own tslab binary. The pipeline puts it first on JUPYTER_PATH, so a
 * machine-wide `tslab` spec registered by another checkout (possibly one that no longer exists) is
 * never used. Returns the folder to put on JUPYTER_PATH.
 */
export function checkoutKernelPath(root = SAELAB_ROOT): string {
  const tslab = path.join(root, 'node_modules', '.bin', 'tslab');
  if (!fs.existsSync(tslab)) throw new Error(`${tslab} not found: run npm ci first (it installs tslab, the notebooks' TypeScript kernel)`);
  const dir = path.join(root, 'build', 'jupyter');
  const spec = { argv: [tslab, 'kernel', '--config-path', '{connection_file}'], display_name: 'TypeScript', language: 'typescript' };
  const file = path.join(dir, 'kernels', 'tslab', 'kernel.json');
  const text = JSON.stringify(spec, null, 1);
  if (!fs.existsSync(file) || fs.readFileSync(file, 'utf8') !== text) {
    writeFileAtomic(file, text);
  }
  return dir;
}

export interface NotebookRunResult {
  ok: boolean;
  seconds: number;
  /** on failure: cell index, its source and the error text */
  cell?: number;
  source?: string;
  error?: string;
  log: string;
}

/**
 * Execute a notebook headless (nbconvert's ExecutePreprocessor) into outDir as .ipynb and .html, with
 * this checkout's tslab kernel (checkoutKernelPath). `env` is added to the kernel's environment
 * (SAELAB_CONFIG, SAELAB_RUN_DIR).
 */
export function executeNotebook(nb: PipelineNotebook, outDir: string, env: Record<string, string>, python = findJupyterPython()): Promise<NotebookRunResult> {
  const script = path.join(SAELAB_ROOT, 'scripts', 'execute_notebook.py');
  const start = Date.now();
  return new Promise((resolve, reject) => {
    const jupyterPath = [checkoutKernelPath(), process.env.JUPYTER_PATH].filter(Boolean).join(path.delimiter);
    const child = spawn(python, [script, nb.file, outDir], { env: { ...process.env, ...env, JUPYTER_PATH: jupyterPath, PYDEVD_DISABLE_FILE_VALIDATION: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { err += d; });
    child.on('error', reject);
    child.on('close', (code) => {
      const seconds = (Date.now() - start) / 1000;
      const last = out.trim().split('\n').pop() ?? '';
      let parsed: { failed?: boolean; cell?: number; source?: string; error?: string } = {};
      try { parsed = JSON.parse(last); } catch { /* not JSON: the script itself failed */ }
      if (code === 0 && parsed.failed === false) resolve({ ok: true, seconds, log: err });
      else if (parsed.failed) resolve({ ok: false, seconds, cell: parsed.cell, source: parsed.source, error: parsed.error, log: err });
      else resolve({ ok: false, seconds, error: `the notebook runner failed (exit ${code}):\n${err.split('\n').filter((l) => !/debugger|frozen|PYDEVD|^0\.00s/i.test(l)).slice(-15).join('\n')}`, log: err });
    });
  });
}
