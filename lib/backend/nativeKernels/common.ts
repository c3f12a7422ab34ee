import * as tf from '@tensorflow/tfjs';
import type { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';

/** The functions of the compiled addon (native/src/*.cc); every one works in place on TypedArrays. */
export interface NativeAddon {
  info(): { threads: number; blasThreads: number; blas: string };
  setThreads(n: number): void;
  /** out[bi] = op(a[bi % batchA]) @ op(b[bi % batchB]); out is [batch, M, N]. */
  matmul(a: Float32Array, b: Float32Array, out: Float32Array, batch: number, batchA: number, batchB: number,
    M: number, N: number, K: number, transA: number, transB: number): void;
  /** out[r, c] = act(x[r, c] + bias[c]); out may be x. */
  biasActivation(x: Float32Array, out: Float32Array, rows: number, cols: number, bias: Float32Array | null, act: number, alpha: number): void;
  /** Broadcasting binary op over collapsed shapes (see elementwise.cc). */
  binary?(op: number, a: Float32Array, aStrides: number[], b: Float32Array, bStrides: number[], out: Float32Array | Uint8Array, outShape: number[]): void;
  unary?(op: number, x: Float32Array, out: Float32Array, alpha: number, beta: number): void;
  /** Reduce x viewed as [outer, r, inner] over r into out [outer, inner]. */
  reduce?(op: number, x: Float32Array, out: Float32Array | Int32Array, outer: number, r: number, inner: number): void;
  softmax?(x: Float32Array, out: Float32Array, rows: number, cols: number, log: number): void;
  gather?(x: Float32Array | Int32Array, indices: Int32Array, out: Float32Array | Int32Array, outer: number, axisDim: number, inner: number): number;
  /** out[ids[i]] += x[i] (rows of `inner`); out zero-filled by the caller. */
  segmentSum?(x: Float32Array, ids: Int32Array, out: Float32Array, numSegments: number, inner: number): void;
  /** dst[dstOffset + i . dstStrides] = src[srcOffset + i . srcStrides] for every index i of shape (4-byte elements). */
  stridedCopy?(src: Float32Array | Int32Array, srcOffset: number, srcStrides: number[], dst: Float32Array | Int32Array, dstOffset: number, dstStrides: number[], shape: number[]): void;
  /** out = gelu(x); approximate 1: tanh (gelu_new), 0: exact erf. */
  gelu?(x: Float32Array, out: Float32Array, approximate: number): void;
  /** out = dy * gelu'(x). */
  geluGrad?(dy: Float32Array, x: Float32Array, out: Float32Array, approximate: number): void;
  /** One Adam/AdamW update of p and its moments m, v from gradient g (formula in native/src/fused.cc). */
  adam?(p: Float32Array, m: Float32Array, v: Float32Array, g: Float32Array, outP: Float32Array, outM: Float32Array, outV: Float32Array,
    beta1: number, beta2: number, eps: number, stepSize: number, sqrtBc2: number, decay: number, gradScale: number): void;
  /** Elementwise cast (codes in lib/backend/nativeKernels/fused.ts). */
  cast?(op: number, x: Float32Array | Int32Array | Uint8Array, out: Float32Array | Int32Array | Uint8Array): void;
  /** Top k of each row of x [rows, cols], descending, ties by lower index; true (nothing written) when a row holds NaN. */
  topk?(x: Float32Array, rows: number, cols: number, k: number, values: Float32Array, indices: Int32Array): boolean;
  /**
   * out [rows, n] = a [rows, k] b [k, n] (+ bias [n]) from a's nonzero entries only; false (nothing written) when
   * more than maxDensity of a's entries are nonzero.
   */
  sparseMatmul?(a: Float32Array, rows: number, k: number, b: Float32Array, n: number, bias: Float32Array | null, out: Float32Array, maxDensity: number): boolean;
  /** A standard SAE's fused training forward pass (native/src/sae.cc). */
  saeTrainForward?(x: Float32Array, T: number, dIn: number, dSae: number, wEnc: Float32Array, bEnc: Float32Array, wDec: Float32Array, bDec: Float32Array,
    noise: Float32Array | null, norms: Float32Array | null, applyBDec: number, saeIn: Float32Array, acts: Float32Array, recon: Float32Array,
    colSums: Float32Array, stats: Float64Array, maxDensity: number): void;
  /** Its backward pass: the four parameter gradients (native/src/sae.cc). */
  saeTrainBackward?(g: number, T: number, dIn: number, dSae: number, x: Float32Array, saeIn: Float32Array | null, acts: Float32Array, recon: Float32Array,
    wEnc: Float32Array, wDec: Float32Array, norms: Float32Array | null, colSums: Float32Array, l1Coef: number, applyBDec: number,
    dWEnc: Float32Array, dBEnc: Float32Array, dWDec: Float32Array, dBDec: Float32Array, scratch: Float32Array): void;
  /** Per row of x [rows, cols]: scale = sqrt(mean((x - mean)^2) + eps) (mean 0 without center), out = (x - mean) / scale * w + b. */
  layerNorm?(x: Float32Array, rows: number, cols: number, w: Float32Array | null, b: Float32Array | null, eps: number, center: number, out: Float32Array, scale: Float32Array): void;
  /** Attention per (sequence, head) from q [B, P, H, dh], k, v [B, P, Hk, dh] into z [B, P, H, dh] (native/src/transformer.cc). */
  attention?(q: Float32Array, k: Float32Array, v: Float32Array, B: number, P: number, H: number, Hk: number, dh: number, scale: number,
    mask: Float32Array | null, maskBatch: number, visible: Float32Array | null, z: Float32Array, pattern: Float32Array | null): void;
  /** Cross-layer pair tables (native/src/pairs.cc): insert grouped records block by block; blocks that must grow stop early. */
  pairInsert?(tablesI32: Int32Array[], tablesF64: Float64Array[], caps: Int32Array, sizes: Int32Array, pos: Int32Array, ends: Int32Array,
    recI: Int32Array, recJ: Int32Array, recXY: Float64Array, recFlags: Uint8Array, cross: Int8Array | null, alive: Float64Array | null): number;
  /**
   * Cross-layer co-occurrence records of one layer pair generated and added in one call (native/src/pairs.cc):
   * params = [t0, t1, r0, r1, rowsPerBlock, recordCapacity, budget]; returns with params[0] = the token reached
   * (after the first chunk that leaves more than budget entries) and grown[b] = the new slots of each block that grew.
   */
  pairAccumulate?(tablesI32: Int32Array[], tablesF64: Float64Array[], caps: Int32Array, sizes: Int32Array, aIndptr: Int32Array, aIndices: Int32Array,
    aValues: Float32Array, bIndptr: Int32Array, bIndices: Int32Array, bValues: Float32Array, lbA: Float32Array | null, lbB: Float32Array | null,
    cross: Int8Array | null, alive: Float64Array | null, params: Float64Array, grown: (ArrayBuffer | undefined)[]): void;
  /** Row-major merge of sorted pair run files into `output` (same keys summed from 0 in input order); returns the records written. */
  pairMergeRuns?(inputs: string[], output: string, sync: boolean): number;
  /** Re-add each pair table's entries into a larger empty one (in parallel); sizes[k] = its entry count. */
  pairRehash?(oldI32: Int32Array[], oldF64: Float64Array[], newI32: Int32Array[], newF64: Float64Array[], sizes: Int32Array): void;
  /** Entries of several pair tables in row-major order into shared out arrays at start[b]. */
  pairSortBlocks?(tablesI32: Int32Array[], tablesF64: Float64Array[], rowOffsets: Int32Array, dCols: number, outI: Int32Array, outJ: Int32Array,
    outC: Int32Array, outCR: Int32Array, outS: Float64Array, start: Int32Array): void;
  /** Whether the oneDNN bfloat16 matmul is compiled in and usable here, and why not (native/src/bf16.cc). */
  bf16Info?(): { compiled: boolean; available: boolean; reason: string; version: string };
  /** out [M, N] = bf16(x [M, K]) W (+ bias [N]) from W's bfloat16 bits; returns oneDNN's implementation name (see lib/backend/bf16.ts). */
  bf16Matmul?(x: Float32Array, w: Uint16Array, bias: Float32Array | null, out: Float32Array, M: number, N: number, K: number,
    heads: number, wRowStride: number, wOffset: number): string;
  /** out = [count, first index or -1] of the NaN/inf values of data (kind 0 float32, 1 float64, 2 float16 bits, 3 bfloat16 bits). */
  nonFinite?(data: ArrayBufferView, kind: number, out: Float64Array): void;
  /** glibc's mmap and trim thresholds (mallopt); false where the allocator is not glibc's (native/src/allocator.cc). */
  allocatorTune?(mmapThreshold: number, trimThreshold: number): boolean;
  /** Free heap pages back to the system (malloc_trim). */
  allocatorTrim?(): void;
  /** A private memory mapping of `length` bytes of an open file from `offset` (native/src/mapfile.cc), or null. */
  mapFile?(fd: number, offset: number, length: number): ArrayBuffer | null;
  /** out[i] = cond[i / inner] ? a[i] : b[i] (4-byte elements). */
  select?(cond: Uint8Array, a: Float32Array | Int32Array, b: Float32Array | Int32Array, out: Float32Array | Int32Array, inner: number): void;
}

export type Backend = MathBackendCPU;
export type KernelArgs = { inputs: tf.NamedTensorInfoMap; backend: Backend; attrs?: tf.NamedAttrMap };
export type NativeKernel = (args: KernelArgs) => tf.TensorInfo | tf.TensorInfo[];

/** The values array of a tensor held by the cpu-style backend. */
export function valuesOf(backend: Backend, t: tf.TensorInfo): tf.backend_util.BackendValues {
  return backend.data.get(t.dataId).values as tf.backend_util.BackendValues;
}

/** Float32 values of `t`, or undefined when the tensor is not a plain float32 tensor (then use the cpu kernel). */
export function f32(backend: Backend, t: tf.TensorInfo | undefined): Float32Array | undefined {
  if (!t || t.dtype !== 'float32') return undefined;
  const v = backend.data.get(t.dataId).values;
  return v instanceof Float32Array ? v : undefined;
}

/** Int32 values of `t`, or undefined. */
export function i32(backend: Backend, t: tf.TensorInfo | undefined): Int32Array | undefined {
  if (!t || t.dtype !== 'int32') return undefined;
  const v = backend.data.get(t.dataId).values;
  return v instanceof Int32Array ? v : undefined;
}

/** The pure-JS cpu kernel registered under `name` (the fallback for cases the native code does not take). */
export function cpuKernel(name: string): NativeKernel {
  const cfg = tf.getKernel(name, 'cpu');
  if (!cfg) throw new Error(`the cpu backend has no kernel ${name}; load @tensorflow/tfjs before saelab's native backend`);
  return cfg.kernelFunc as unknown as NativeKernel;
}

/** A kernel registered for the native backend (native or its cpu fallback), for kernels calling kernels. */
export function nativeKernel(name: string): NativeKernel {
  const cfg = tf.getKernel(name, 'native') ?? tf.getKernel(name, 'cpu');
  return cfg.kernelFunc as unknown as NativeKernel;
}

export const sizeOf = (shape: number[]): number => shape.reduce((a, b) => a * b, 1);
