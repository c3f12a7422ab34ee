#!/usr/bin/env node
/*
 * Builds saelab's native TF.js backend addon (native/ -> native/build/Release/saelab_native.node) with node-gyp.
 * Runs at `npm install` (the package's install script). The addon is optional: when it cannot be built
 * (no C++ compiler, no OpenBLAS headers/library, no Node headers) this prints ONE line saying why, records it in
 * native/build/BUILD_FAILED.txt (shown later by initBackend) and exits 0, so the install succeeds and saelab
 * uses the wasm backend. SAELAB_SKIP_NATIVE=1 skips the build. Full compiler output: native/build/build.log.
 * Environment: SAELAB_BLAS_INCLUDE (dirs with cblas.h), SAELAB_BLAS_LIBS (link flags; default: the OpenMP build
 * of OpenBLAS where Debian's libopenblas0-openmp is installed, else -lopenblas),
 * SAELAB_NATIVE_CFLAGS (extra compiler flags, e.g. -march=native for a machine-specific build),
 * SAELAB_DNNL_INCLUDE (a dir holding oneapi/dnnl/dnnl.h; SAELAB_DNNL=0 builds without oneDNN). oneDNN is optional:
 * with its headers (Debian's libdnnl-dev) the addon gets the bfloat16 matmul, which opens libdnnl.so.2 at run time.
 */
'use strict';
const fs = require('fs');
const path = require('path');
const { spawnSync } = require('child_process');

const root = path.resolve(__dirname, '..');
const nativeDir = path.join(root, 'native');
const buildDir = path.join(nativeDir, 'build');
const failedFile = path.join(buildDir, 'BUILD_FAILED.txt');

function fail(reason) {
  fs.mkdirSync(buildDir, { recursive: true });
  fs.writeFileSync(failedFile, reason + '\n');
  console.log(`saelab: native backend not built: ${reason}; saelab will use the wasm backend.`);
  process.exit(0);
}

function has(cmd, args) {
  const r = spawnSync(cmd, args, { stdio: 'ignore' });
  return r.status === 0;
}

/** node-gyp's entry script: a local install, npm's bundled copy (next to npm_execpath, or the npm on PATH). */
function findNodeGyp() {
  const candidates = [];
  try { candidates.push(require.resolve('node-gyp/bin/node-gyp.js')); } catch { /* not a dependency */ }
  if (process.env.npm_config_node_gyp) candidates.push(process.env.npm_config_node_gyp);
  if (process.env.npm_execpath) {
    // .../npm/bin/npm-cli.js -> .../npm/node_modules/node-gyp/bin/node-gyp.js
    candidates.push(path.join(path.dirname(path.dirname(process.env.npm_execpath)), 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  }
  const prefix = path.dirname(path.dirname(process.execPath));
  candidates.push(path.join(prefix, 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  const which = spawnSync('sh', ['-c', 'command -v npm'], { encoding: 'utf8' });
  if (which.status === 0 && which.stdout.trim()) {
    try {
      const npmCli = fs.realpathSync(which.stdout.trim()); // .../npm/bin/npm-cli.js
      candidates.push(path.join(path.dirname(path.dirname(npmCli)), 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
    } catch { /* ignore */ }
  }
  return candidates.find((c) => c && fs.existsSync(c));
}

/** A directory with include/node/node_api.h for this node (so node-gyp needs no header download). */
function findNodeDir() {
  const dirs = [process.env.npm_config_nodedir, path.dirname(path.dirname(process.execPath)), '/usr', '/usr/local'];
  return dirs.find((d) => d && fs.existsSync(path.join(d, 'include', 'node', 'node_api.h')) && fs.existsSync(path.join(d, 'include', 'node', 'common.gypi')));
}

/** Directories holding cblas.h (SAELAB_BLAS_INCLUDE first, then the usual places). */
function findBlasInclude() {
  const dirs = (process.env.SAELAB_BLAS_INCLUDE || '').split(/[\s:]+/).filter(Boolean)
    .concat(['/usr/include/x86_64-linux-gnu', '/usr/include/aarch64-linux-gnu', '/usr/include/openblas', '/usr/include', '/usr/local/include',
      '/opt/homebrew/opt/openblas/include', '/usr/local/opt/openblas/include']);
  return dirs.filter((d) => fs.existsSync(path.join(d, 'cblas.h')));
}

/**
 * Link flags for OpenBLAS: SAELAB_BLAS_LIBS when set; else Debian/Ubuntu's OpenMP build of OpenBLAS
 * (libopenblas0-openmp) by its own path, with a run path to its folder, so that its threads are the addon's
 * OpenMP pool (the system's default libopenblas, usually the pthreads build, is left as it is); else -lopenblas.
 */
function blasLibs() {
  if (process.env.SAELAB_BLAS_LIBS) return { libs: process.env.SAELAB_BLAS_LIBS, kind: 'SAELAB_BLAS_LIBS' };
  const dirs = ['/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/usr/lib64', '/usr/lib'].map((d) => path.join(d, 'openblas-openmp'));
  for (const dir of dirs) {
    const lib = path.join(dir, 'libopenblas.so.0');
    if (fs.existsSync(lib)) return { libs: `${lib} -Wl,-rpath,${dir}`, kind: `OpenBLAS (OpenMP) ${lib}` };
  }
  return { libs: '-lopenblas', kind: 'OpenBLAS (-lopenblas)' };
}

/** Compiler flags enabling the oneDNN bfloat16 matmul where oneDNN's headers are found ('' = built without it). */
function dnnlFlags() {
  if (process.env.SAELAB_DNNL === '0') return { flags: '', kind: 'without oneDNN (SAELAB_DNNL=0)' };
  const dirs = (process.env.SAELAB_DNNL_INCLUDE || '').split(/[\s:]+/).filter(Boolean).concat(['/usr/include', '/usr/local/include', '/opt/homebrew/include']);
  const dir = dirs.find((d) => fs.existsSync(path.join(d, 'oneapi', 'dnnl', 'dnnl.h')));
  if (!dir) return { flags: '', kind: 'without oneDNN (no oneapi/dnnl/dnnl.h: apt-get install libdnnl-dev for the bfloat16 matmul)' };
  return { flags: dir === '/usr/include' ? '-DSAELAB_HAVE_DNNL' : `-DSAELAB_HAVE_DNNL -I${dir}`, kind: `oneDNN bfloat16 matmul (${dir}/oneapi/dnnl)` };
}

/** One line naming the likely cause of a failed node-gyp build. */
function diagnose(log) {
  const lib = log.match(/cannot find -l([\w.+-]+)/);
  if (lib) return `the library ${lib[1]} was not found at link time (for OpenBLAS: apt-get install libopenblas-dev, or set SAELAB_BLAS_LIBS)`;
  if (/omp\.h|-fopenmp/.test(log) && /error/.test(log)) return 'the compiler has no OpenMP support (omp.h)';
  if (/node_api\.h: No such file|ENOTFOUND|EAI_AGAIN|ECONNREFUSED/.test(log)) return "Node's headers are not available offline (install Node's development headers, or set npm_config_nodedir)";
  const err = log.match(/[^\n]*error:[^\n]*/);
  if (err) return `compile error: ${err[0].trim()}`;
  return 'node-gyp failed';
}

function main() {
  if (process.env.SAELAB_SKIP_NATIVE === '1') {
    console.log('saelab: SAELAB_SKIP_NATIVE=1, native backend not built; saelab will use the wasm backend.');
    return;
  }
  if (!fs.existsSync(path.join(nativeDir, 'binding.gyp'))) fail('native/binding.gyp is missing from this copy of saelab');
  const cxx = process.env.CXX || 'c++';
  if (!has(cxx, ['--version']) && !has('g++', ['--version'])) fail('no C++ compiler found (install g++ or clang, e.g. apt-get install g++)');
  if (!has('make', ['--version'])) fail('make is not installed (apt-get install make)');
  if (!has('python3', ['--version'])) fail('python3 (needed by node-gyp) is not installed');
  const blasInc = findBlasInclude();
  if (blasInc.length === 0) fail('no BLAS headers found (cblas.h; install OpenBLAS: apt-get install libopenblas-dev, or set SAELAB_BLAS_INCLUDE)');
  const gyp = findNodeGyp();
  if (!gyp) fail('node-gyp was not found (it ships with npm; or `npm install -g node-gyp`)');
  const nodedir = findNodeDir();
  const args = [gyp, 'rebuild'];
  if (nodedir) args.push(`--nodedir=${nodedir}`);
  const blas = blasLibs();
  const dnnl = dnnlFlags();
  const env = { ...process.env, SAELAB_BLAS_INCLUDE: blasInc.join(' '), SAELAB_BLAS_LIBS: blas.libs, SAELAB_DNNL_CFLAGS: dnnl.flags };
  const r = spawnSync(process.execPath, args, { cwd: nativeDir, env, encoding: 'utf8' });
  const log = `${r.stdout || ''}\n${r.stderr || ''}${r.error ? `\n${r.error.message}` : ''}`;
  fs.mkdirSync(buildDir, { recursive: true });
  fs.writeFileSync(path.join(buildDir, 'build.log'), log);
  if (r.status !== 0) fail(`${diagnose(log)} (full log: native/build/build.log)`);
  const built = path.join(buildDir, 'Release', 'saelab_native.node');
  if (!fs.existsSync(built)) fail('node-gyp reported success but produced no saelab_native.node');
  if (fs.existsSync(failedFile)) fs.rmSync(failedFile);
  console.log(`saelab: native backend built (${path.relative(root, built)}, ${blas.kind}, ${dnnl.kind}).`);
}

main();
