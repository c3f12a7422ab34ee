/**
 * saelab's native CPU backend, registered with TF.js as `native`.
 *
 * Tensors live in ordinary TypedArrays, exactly as in the pure-JS cpu backend (the backend class extends
 * MathBackendCPU), so every kernel is first registered as the cpu kernel and then the heavy ones (matmul,
 * elementwise, softmax, reductions, gather, transpose ...) are replaced by calls into a Node-API addon
 * (native/src, built with node-gyp at install time over OpenBLAS and OpenMP). Disposing a tensor drops the
 * TypedArray, which the JS garbage collector frees; the addon keeps no memory of its own.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import { NativeAddon, NativeKernel } from './nativeKernels/common';
import { elementwiseKernels } from './nativeKernels/elementwise';
import { layoutKernels } from './nativeKernels/layout';
import { matmulKernels } from './nativeKernels/matmul';
import { reduceKernels } from './nativeKernels/reduce';
import { fusedReplacementKernels, saelabKernels } from './nativeKernels/fused';
import { registerFusedGradients } from './fusedOps';
import { setBf16Addon } from './bf16';
import { setNativeNonFiniteCounter } from '../io/finite';
import { setNativeFileMapper } from '../io/safetensors';
import { setAllocatorTrim } from '../model/memory';

/** The tfjs backend name. */
export const NATIVE_BACKEND = 'native';

/** Where the build (scripts/build-native.js) puts the addon, relative to the repository root. */
export const NATIVE_ADDON_RELPATH = path.join('native', 'build', 'Release', 'saelab_native.node');
/** File in which a failed install-time build records its one-line reason. */
export const NATIVE_BUILD_ERROR_RELPATH = path.join('native', 'build', 'BUILD_FAILED.txt');

/** The backend: the cpu backend's storage and fallbacks, with the heavy kernels native. */
export class NativeBackend extends MathBackendCPU {
  constructor() {
    super();
    // The cpu backend's first write suggests installing tfjs-node for speed; that advice is not for this backend.
    (this as unknown as { firstUse: boolean }).firstUse = false;
  }
}

let addon: NativeAddon | undefined;

/** Thread settings the addon's libraries read when it loads, set unless the user set them. */
const THREAD_ENV_DEFAULTS: Record<string, string> = { OMP_WAIT_POLICY: 'PASSIVE', OPENBLAS_THREAD_TIMEOUT: '4' };
const envSetHere: string[] = [];

/**
 * The environment as the user gave it: process.env without the thread settings saelab added when its addon
 * loaded (so a process it starts that is not saelab, such as a PyTorch baseline, runs as it would from the shell).
 */
export function userEnvironment(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const k of envSetHere) delete env[k];
  return env;
}
let registeredOk = false;

/** Repository root, from dist/lib/backend (compiled) or lib/backend (sources). */
function repoRoot(): string {
  let dir = __dirname;
  for (let i = 0; i < 5; i++) {
    if (fs.existsSync(path.join(dir, 'package.json')) && fs.existsSync(path.join(dir, 'native'))) return dir;
    dir = path.dirname(dir);
  }
  return path.resolve(__dirname, '..', '..', '..');
}

/** Load the compiled addon: SAELAB_NATIVE_ADDON (a .node path) or native/build/Release. */
export function loadNativeAddon(): { addon?: NativeAddon; reason: string } {
  if (addon) return { addon, reason: '' };
  const root = repoRoot();
  const file = process.env.SAELAB_NATIVE_ADDON || path.join(root, NATIVE_ADDON_RELPATH);
  if (!fs.existsSync(file)) {
    const failed = path.join(root, NATIVE_BUILD_ERROR_RELPATH);
    const why = fs.existsSync(failed) ? fs.readFileSync(failed, 'utf8').trim() : 'it was not built';
    return { reason: `the native addon ${file} is missing (${why}); build it with \`node scripts/build-native.js\` (needs g++ and OpenBLAS: apt-get install libopenblas-dev)` };
  }
  try {
    // Threads sleep between kernels instead of spinning (read by libgomp and OpenBLAS when the addon loads):
    // on a shared or small machine spinning workers steal the cores the next kernel needs.
    for (const [k, v] of Object.entries(THREAD_ENV_DEFAULTS)) {
      if (process.env[k] !== undefined) continue;
      process.env[k] = v;
      envSetHere.push(k);
    }
    const mod = require(file) as NativeAddon;
    const threads = Number(process.env.SAELAB_NATIVE_THREADS) || (os.availableParallelism?.() ?? os.cpus().length);
    mod.setThreads(threads);
    setBf16Addon(mod);
    if (mod.nonFinite) setNativeNonFiniteCounter(mod.nonFinite.bind(mod));
    if (mod.mapFile) setNativeFileMapper(mod.mapFile.bind(mod));
    tuneAllocator(mod);
    addon = mod;
    return { addon, reason: '' };
  } catch (e) {
    return { reason: `the native addon ${file} failed to load (${String((e as Error).message).split('\n')[0]}); rebuild it with \`node scripts/build-native.js\`` };
  }
}

/** Blocks under this size stay on the C heap and are reused (glibc would map and unmap each one afresh). */
const HEAP_BLOCK_BYTES = 64 << 20;
/** Free memory at the heap's top kept for reuse before it goes back to the system. */
const HEAP_TRIM_BYTES = 256 << 20;

/**
 * Tensor buffers of a few MB are made and freed on every op; glibc maps each one afresh and page-faults it in (a
 * GELU over [1024, 3072]: 12 ms with a new output, 2 ms reusing one). Keep them on the heap, unless the user tunes
 * malloc (GLIBC_TUNABLES) or sets SAELAB_ALLOCATOR=system; collectGarbage gives the free pages back.
 */
function tuneAllocator(mod: NativeAddon): void {
  if (!mod.allocatorTune || process.env.SAELAB_ALLOCATOR === 'system' || /malloc/.test(process.env.GLIBC_TUNABLES ?? '')) return;
  if (mod.allocatorTune(HEAP_BLOCK_BYTES, HEAP_TRIM_BYTES) && mod.allocatorTrim) setAllocatorTrim(mod.allocatorTrim.bind(mod));
}

/** The native kernels the loaded addon provides, by tfjs kernel name. */
function nativeKernels(mod: NativeAddon): Record<string, NativeKernel> {
  return { ...matmulKernels(mod), ...elementwiseKernels(mod), ...reduceKernels(mod), ...layoutKernels(mod), ...fusedReplacementKernels(mod), ...saelabKernels(mod) };
}

/** Names of the kernels that run natively (the rest are the cpu kernels on the same arrays). */
export function nativeKernelNames(): string[] {
  return addon ? Object.keys(nativeKernels(addon)).sort() : [];
}

/**
 * Register the `native` backend with TF.js if its addon loads. Idempotent.
 * Returns ok, or the reason the backend is unavailable (for initBackend's message).
 */
export function tryRegisterNative(): { ok: boolean; reason: string } {
  if (registeredOk) return { ok: true, reason: '' };
  const { addon: mod, reason } = loadNativeAddon();
  if (!mod) return { ok: false, reason };
  const overrides = nativeKernels(mod);
  for (const cfg of tf.getKernelsForBackend('cpu')) {
    if (overrides[cfg.kernelName]) continue;
    tf.registerKernel({ ...cfg, backendName: NATIVE_BACKEND });
  }
  for (const [kernelName, fn] of Object.entries(overrides)) {
    tf.registerKernel({ kernelName, backendName: NATIVE_BACKEND, kernelFunc: fn as unknown as tf.KernelFunc });
  }
  registerFusedGradients();
  tf.registerBackend(NATIVE_BACKEND, () => new NativeBackend(), 0);
  registeredOk = true;
  return { ok: true, reason: '' };
}

/** Threads and BLAS build of the loaded addon (for logs and benchmarks). */
export function nativeInfo(): { threads: number; blasThreads: number; blas: string } | undefined {
  return addon?.info();
}
