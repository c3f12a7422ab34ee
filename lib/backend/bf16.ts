/**
 * bfloat16 compute for models whose weights are kept in bfloat16 (`computeDtype: 'bfloat16'`): a weight matmul
 * takes the activations rounded to bfloat16 (nearest even) and the stored bfloat16 bits of the weight as they are
 * (no float32 copy of the weight), multiplies with float32 accumulation and returns float32 — oneDNN's bf16 matmul
 * (src bf16 x weights bf16 -> dst f32) in saelab's native addon, on CPUs with AVX512-BF16.
 *
 * Where that kernel is missing (the wasm or cpu backend, an addon built without oneDNN, libdnnl absent at run time,
 * a CPU without AVX512-BF16) `bf16MatmulSupport()` says why and models compute in float32.
 * This module holds no Node-only imports (the browser bundle includes it); the native backend hands it the addon.
 */
import * as tf from '@tensorflow/tfjs';
import type { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import { emitWarning } from '../warnings';

/** What a matmul of a model's block computes in (weights stay as stored either way). */
export type ComputeDtype = 'float32' | 'bfloat16';
export const COMPUTE_DTYPES: readonly ComputeDtype[] = ['float32', 'bfloat16'];

/** The addon's two bfloat16 entry points (native/src/bf16.cc). */
export interface Bf16Addon {
  bf16Info(): { compiled: boolean; available: boolean; reason: string; version: string };
  /** out [M, N] = bf16(x [M, K]) W (+ bias); W from w's bits ([K, N] at wOffset with row stride wRowStride, or [heads, K, N/heads]). */
  bf16Matmul(x: Float32Array, w: Uint16Array, bias: Float32Array | null, out: Float32Array, M: number, N: number, K: number,
    heads: number, wRowStride: number, wOffset: number): string;
}

/** A weight held as bfloat16 bits (lib/model/weights.ts's PackedWeight). */
export interface Bf16Weight {
  shape: number[];
  dtype: string;
  bits: Uint16Array;
}

let addon: Bf16Addon | null = null;
const stats = { calls: 0, impl: '' };

/** Called by the native backend when its addon loads. */
export function setBf16Addon(a: Partial<Bf16Addon> | undefined): void {
  addon = a && a.bf16Info && a.bf16Matmul ? (a as Bf16Addon) : null;
}

/** Whether bfloat16 matmuls can run now (the current tfjs backend is native and its addon has a usable oneDNN), and why not. */
export function bf16MatmulSupport(): { ok: boolean; reason: string; version?: string } {
  const backend = tf.getBackend();
  if (backend !== 'native') return { ok: false, reason: `the ${backend} backend has no bfloat16 matmul (saelab's native backend with oneDNN has)` };
  if (!addon) return { ok: false, reason: 'the native addon predates the bfloat16 matmul (rebuild it: npm run build:native)' };
  const info = addon.bf16Info();
  return info.available ? { ok: true, reason: '', version: info.version } : { ok: false, reason: info.reason };
}

/** Calls of the bfloat16 matmul so far and oneDNN's implementation name for the last one (for tests and benchmarks). */
export function bf16MatmulStats(): { calls: number; impl: string } {
  return { ...stats };
}

const noted = new Set<string>();
/** Print once per reason that bfloat16 compute falls back to float32. */
export function noteBf16Fallback(reason: string): void {
  if (noted.has(reason)) return;
  noted.add(reason);
  emitWarning(`computeDtype 'bfloat16' computes in float32 here: ${reason}`, 'SaelabComputeDtype');
}

function values(t: tf.Tensor): Float32Array {
  const v = (tf.backend() as MathBackendCPU).data.get(t.dataId).values;
  if (!(v instanceof Float32Array)) throw new Error(`bf16Linear needs float32 tensors (got ${t.dtype})`);
  return v;
}

/**
 * x [..., K] times a bfloat16 weight (+ bias [N]) -> float32 [..., N], the activations rounded to bfloat16.
 * The weight is [K, N] (any leading dims flattened into K: W_in, W_out, W_O as [h*dh, d], W_U) or, with
 * `heads`, TransformerLens's per-head [h, K, dh] (W_Q, W_K, W_V) used as [K, h*dh]; `columns` takes a block
 * [start, start + count) of a [K, N] weight's columns. Not differentiable (for inference; callers fall back to
 * float32 while a gradient is recorded). Throws when bf16MatmulSupport() is not ok.
 */
export function bf16Linear(x: tf.Tensor, w: Bf16Weight, opts: { heads?: boolean; columns?: { start: number; count: number } } = {}, bias?: tf.Tensor): tf.Tensor {
  if (!addon || tf.getBackend() !== 'native') throw new Error(`bf16Linear: ${bf16MatmulSupport().reason}`);
  if (w.dtype !== 'bfloat16') throw new Error(`bf16Linear needs bfloat16 weights (got ${w.dtype})`);
  const K = x.shape[x.rank - 1];
  const lead = x.shape.slice(0, -1);
  const M = lead.reduce((a, b) => a * b, 1);
  let N: number, heads = 0, ldw: number, offset = 0;
  if (opts.heads) {
    const [h, k, dh] = w.shape;
    if (w.shape.length !== 3 || k !== K) throw new Error(`bf16Linear: per-head weight [${w.shape}] does not take inputs of width ${K}`);
    heads = h; N = h * dh; ldw = N;
  } else {
    const cols = w.shape[w.shape.length - 1];
    const rows = w.bits.length / cols;
    if (rows !== K) throw new Error(`bf16Linear: weight [${w.shape}] does not take inputs of width ${K}`);
    ldw = cols;
    N = cols;
    if (opts.columns) {
      const { start, count } = opts.columns;
      if (!(start >= 0 && count > 0 && start + count <= cols)) throw new Error(`bf16Linear: columns [${start}, ${start + count}) outside [0, ${cols})`);
      N = count; offset = start;
    }
  }
  let biasV: Float32Array | null = null;
  if (bias) {
    if (bias.size !== N) throw new Error(`bf16Linear: bias has ${bias.size} values, the product ${N} columns`);
    biasV = values(bias);
  }
  const out = new Float32Array(M * N);
  if (M > 0) {
    stats.impl = addon.bf16Matmul(values(x), w.bits, biasV, out, M, N, K, heads, ldw, offset);
    stats.calls++;
  }
  return tf.tensor(out, [...lead, N], 'float32');
}
