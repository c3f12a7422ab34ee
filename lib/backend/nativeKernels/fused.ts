import * as tf from '@tensorflow/tfjs';
import { KernelArgs, NativeAddon, NativeKernel, cpuKernel, f32, nativeKernel, sizeOf } from './common';
import { IN_PLACE_BINARY_KERNEL, inPlaceBinaryKernel, stridesOf } from './elementwise';

/** Names of saelab's own fused kernels (registered for the native backend only; see lib/backend/fusedOps.ts). */
export const GELU_KERNEL = 'SaelabGelu';
export const GELU_GRAD_KERNEL = 'SaelabGeluGrad';
export const ADAM_KERNEL = 'SaelabAdam';
export const SPARSE_MATMUL_KERNEL = 'SaelabSparseMatMul';
export const SAE_TRAIN_FORWARD_KERNEL = 'SaelabSaeTrainForward';
export const LAYER_NORM_KERNEL = 'SaelabLayerNorm';
export const ATTENTION_KERNEL = 'SaelabAttention';
export const SAE_TRAIN_BACKWARD_KERNEL = 'SaelabSaeTrainBackward';

/** Cast codes of the addon (native/src/fused.cc), by `from>to`. */
const CAST: Record<string, number> = {
  'float32>int32': 0, 'int32>float32': 1, 'bool>float32': 2, 'float32>bool': 3, 'int32>bool': 4, 'bool>int32': 5,
};

/** The array type the cpu backend stores each dtype in. */
function arrayOf(dtype: string): typeof Float32Array | typeof Int32Array | typeof Uint8Array | undefined {
  return dtype === 'float32' ? Float32Array : dtype === 'int32' ? Int32Array : dtype === 'bool' ? Uint8Array : undefined;
}

/** Cast between float32, int32 and bool natively (same-dtype casts and others: the cpu kernel, which shares the data). */
function castKernel(addon: NativeAddon): NativeKernel {
  const fallback = cpuKernel('Cast');
  return (args: KernelArgs) => {
    const x = args.inputs.x as tf.TensorInfo;
    const { dtype } = args.attrs as unknown as { dtype: tf.DataType };
    const op = CAST[`${x.dtype}>${dtype}`];
    const xv = args.backend.data.get(x.dataId).values;
    const In = arrayOf(x.dtype);
    const Out = arrayOf(dtype);
    if (op === undefined || !In || !Out || !(xv instanceof In)) return fallback(args);
    const out = new Out(xv.length);
    if (out.length > 0) addon.cast!(op, xv, out);
    return args.backend.makeTensorInfo(x.shape, dtype, out);
  };
}

/** Tile: one strided copy over the interleaved [reps_0, shape_0, reps_1, shape_1, ...] view of the output. */
function tileKernel(addon: NativeAddon): NativeKernel {
  const fallback = cpuKernel('Tile');
  return (args: KernelArgs) => {
    const x = args.inputs.x as tf.TensorInfo;
    const { reps } = args.attrs as unknown as { reps: number[] };
    const xv = args.backend.data.get(x.dataId).values;
    const ok = (x.dtype === 'float32' && xv instanceof Float32Array) || (x.dtype === 'int32' && xv instanceof Int32Array);
    if (!ok || reps.length !== x.shape.length) return fallback(args);
    const outShape = x.shape.map((s, d) => s * reps[d]);
    const out = x.dtype === 'int32' ? new Int32Array(sizeOf(outShape)) : new Float32Array(sizeOf(outShape));
    if (out.length > 0) {
      const xs = stridesOf(x.shape);
      const os = stridesOf(outShape);
      const shape: number[] = [];
      const ss: number[] = [];
      const ds: number[] = [];
      x.shape.forEach((s, d) => {
        shape.push(reps[d], s);
        ss.push(0, xs[d]);
        ds.push(s * os[d], os[d]);
      });
      addon.stridedCopy!(xv as Float32Array | Int32Array, 0, ss, out, 0, ds, shape);
    }
    return args.backend.makeTensorInfo(outShape, x.dtype, out);
  };
}

/** Select (tf.where): a bool condition of the inputs' shape, or a vector over their first axis. */
function selectKernel(addon: NativeAddon): NativeKernel {
  const fallback = cpuKernel('Select');
  return (args: KernelArgs) => {
    const { condition, t, e } = args.inputs as { condition: tf.TensorInfo; t: tf.TensorInfo; e: tf.TensorInfo };
    const cv = args.backend.data.get(condition.dataId).values;
    const tv = args.backend.data.get(t.dataId).values;
    const ev = args.backend.data.get(e.dataId).values;
    const words = (v: unknown, dtype: string): boolean => (dtype === 'float32' && v instanceof Float32Array) || (dtype === 'int32' && v instanceof Int32Array);
    if (condition.dtype !== 'bool' || !(cv instanceof Uint8Array) || t.dtype !== e.dtype || !words(tv, t.dtype) || !words(ev, e.dtype)) return fallback(args);
    tf.util.assertShapesMatch(t.shape, e.shape, 'Error in where: ');
    const n = sizeOf(t.shape);
    const sameShape = condition.shape.length === t.shape.length && tf.util.arraysEqual(condition.shape, t.shape);
    const rowVector = condition.shape.length === 1 && t.shape.length > 1 && condition.shape[0] === t.shape[0];
    if (!sameShape && !rowVector) return fallback(args);
    const out = t.dtype === 'int32' ? new Int32Array(n) : new Float32Array(n);
    if (n > 0) addon.select!(cv, tv as Float32Array, ev as Float32Array, out, sameShape ? 1 : n / t.shape[0]);
    return args.backend.makeTensorInfo(t.shape, t.dtype, out);
  };
}

/** TopK (sorted) of float32 rows natively; unsorted requests and rows holding NaN use the cpu kernel. */
function topkKernel(addon: NativeAddon): NativeKernel {
  const fallback = cpuKernel('TopK');
  return (args: KernelArgs) => {
    const x = args.inputs.x as tf.TensorInfo;
    const { k, sorted } = args.attrs as unknown as { k: number; sorted: boolean };
    const xv = f32(args.backend, x);
    const cols = x.shape[x.shape.length - 1];
    if (!xv || !sorted || x.shape.length === 0 || !(k >= 0 && k <= cols)) return fallback(args);
    const rows = cols === 0 ? 0 : xv.length / cols;
    const outShape = [...x.shape.slice(0, -1), k];
    const values = new Float32Array(rows * k);
    const indices = new Int32Array(rows * k);
    if (values.length > 0 && addon.topk!(xv, rows, cols, k, values, indices)) return fallback(args);
    return [args.backend.makeTensorInfo(outShape, 'float32', values), args.backend.makeTensorInfo(outShape, 'int32', indices)];
  };
}

/** SaelabGelu(x; approximate 'tanh' | 'none'): GELU in one pass. */
function geluKernel(addon: NativeAddon): NativeKernel {
  return (args: KernelArgs) => {
    const x = args.inputs.x as tf.TensorInfo;
    const xv = f32(args.backend, x);
    if (!xv) throw new Error(`${GELU_KERNEL} needs a float32 tensor held as a Float32Array (got ${x.dtype})`);
    const { approximate } = args.attrs as unknown as { approximate: string };
    const out = new Float32Array(xv.length);
    if (out.length > 0) addon.gelu!(xv, out, approximate === 'tanh' ? 1 : 0);
    return args.backend.makeTensorInfo(x.shape, 'float32', out);
  };
}

/** SaelabGeluGrad(dy, x; approximate): dy * gelu'(x). */
function geluGradKernel(addon: NativeAddon): NativeKernel {
  return (args: KernelArgs) => {
    const { dy, x } = args.inputs as { dy: tf.TensorInfo; x: tf.TensorInfo };
    const dv = f32(args.backend, dy);
    const xv = f32(args.backend, x);
    if (!dv || !xv || dv.length !== xv.length) throw new Error(`${GELU_GRAD_KERNEL} needs float32 dy and x of one shape (got ${dy.shape} and ${x.shape})`);
    const { approximate } = args.attrs as unknown as { approximate: string };
    const out = new Float32Array(xv.length);
    if (out.length > 0) addon.geluGrad!(dv, xv, out, approximate === 'tanh' ? 1 : 0);
    return args.backend.makeTensorInfo(x.shape, 'float32', out);
  };
}

/**
 * SaelabAdam(p, m, v, g; beta1, beta2, eps, stepSize, sqrtBc2, decay, gradScale) -> [p', m', v'] in one pass
 * (the formula is in native/src/fused.cc).
 */
function adamKernel(addon: NativeAddon): NativeKernel {
  return (args: KernelArgs) => {
    const { p, m, v, g } = args.inputs as { p: tf.TensorInfo; m: tf.TensorInfo; v: tf.TensorInfo; g: tf.TensorInfo };
    const vals = [p, m, v, g].map((t) => f32(args.backend, t));
    const n = sizeOf(p.shape);
    if (vals.some((x) => !x || x.length !== n)) throw new Error(`${ADAM_KERNEL} needs float32 p, m, v, g of one shape (got ${[p, m, v, g].map((t) => `${t.dtype}[${t.shape}]`).join(', ')})`);
    const a = args.attrs as unknown as { beta1: number; beta2: number; eps: number; stepSize: number; sqrtBc2: number; decay: number; gradScale: number };
    const backend = args.backend;
    // In place when p, m and v are distinct buffers that nothing else shares (a variable's own data, the usual
    // case after its first update): the outputs are the same data ids, so the caller's assign() is a no-op
    // swap and three parameter-sized arrays are neither allocated nor faulted in. A clone() shares its
    // buffer (refCount > 1), and then new arrays are written as usual.
    const ids = new Set([p.dataId, m.dataId, v.dataId, g.dataId]);
    if (ids.size === 4 && [p, m, v].every((t) => backend.refCount(t.dataId) === 1)) {
      if (n > 0) addon.adam!(vals[0]!, vals[1]!, vals[2]!, vals[3]!, vals[0]!, vals[1]!, vals[2]!, a.beta1, a.beta2, a.eps, a.stepSize, a.sqrtBc2, a.decay, a.gradScale);
      return [p, m, v].map((t) => {
        backend.incRef(t.dataId);
        return { dataId: t.dataId, shape: t.shape, dtype: t.dtype };
      });
    }
    const outs = [new Float32Array(n), new Float32Array(n), new Float32Array(n)];
    if (n > 0) addon.adam!(vals[0]!, vals[1]!, vals[2]!, vals[3]!, outs[0], outs[1], outs[2], a.beta1, a.beta2, a.eps, a.stepSize, a.sqrtBc2, a.decay, a.gradScale);
    return outs.map((o) => backend.makeTensorInfo(p.shape, 'float32', o));
  };
}

/**
 * SaelabSparseMatMul(a [rows, k], b [k, n], bias? [n]; maxDensity) -> a b + bias: from a's nonzero entries when
 * at most maxDensity of them are nonzero (SAE decoding), else the dense fused matmul.
 */
function sparseMatMulKernel(addon: NativeAddon): NativeKernel {
  return (args: KernelArgs) => {
    const { a, b, bias } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo; bias?: tf.TensorInfo };
    const { maxDensity } = args.attrs as unknown as { maxDensity: number };
    const av = f32(args.backend, a);
    const bv = f32(args.backend, b);
    const biasV = bias ? f32(args.backend, bias) : null;
    const [rows, k] = a.shape;
    const n = b.shape[1];
    if (!av || !bv || (bias && !biasV) || a.shape.length !== 2 || b.shape.length !== 2 || b.shape[0] !== k || (bias && sizeOf(bias.shape) !== n)) {
      throw new Error(`${SPARSE_MATMUL_KERNEL} needs float32 a [rows, k], b [k, n] and bias [n] (got ${[a, b, bias].filter(Boolean).map((t) => `${t!.dtype}[${t!.shape}]`).join(', ')})`);
    }
    const out = new Float32Array(rows * n);
    if (out.length === 0 || addon.sparseMatmul!(av, rows, k, bv, n, biasV ?? null, out, maxDensity)) {
      return args.backend.makeTensorInfo([rows, n], 'float32', out);
    }
    const inputs: tf.NamedTensorInfoMap = bias ? { a, b, bias } : { a, b };
    return nativeKernel('_FusedMatMul')({ inputs, backend: args.backend, attrs: { transposeA: false, transposeB: false, activation: 'linear' } as unknown as tf.NamedAttrMap }) as tf.TensorInfo;
  };
}

/** Float32 values of a kernel input, or an error naming the kernel and the input. */
function need(args: KernelArgs, kernel: string, name: string, size: number): Float32Array {
  const t = args.inputs[name] as tf.TensorInfo | undefined;
  const v = f32(args.backend, t);
  if (!t || !v || v.length !== size) throw new Error(`${kernel}: input ${name} must be float32 with ${size} values (got ${t ? `${t.dtype}[${t.shape}]` : 'none'})`);
  return v;
}

/**
 * SaelabSaeTrainForward(x [T, dIn], W_enc, b_enc, W_dec, b_dec, noise? [T, dSae], norms? [dSae]; applyBDec, maxDensity)
 *   -> [acts [T, dSae], recon [T, dIn], saeIn [T, dIn] (x itself without applyBDec), colSums [dSae], stats [2]]:
 * a standard SAE's training forward pass in one call (native/src/sae.cc); stats = [sum (recon - x)^2, sum acts w].
 */
function saeTrainForwardKernel(addon: NativeAddon): NativeKernel {
  const K = SAE_TRAIN_FORWARD_KERNEL;
  return (args: KernelArgs) => {
    const { x, W_enc: wEnc, noise, norms } = args.inputs as Record<string, tf.TensorInfo>;
    const { applyBDec, maxDensity } = args.attrs as unknown as { applyBDec: boolean; maxDensity: number };
    const [T, dIn] = x.shape;
    const dSae = wEnc.shape[1];
    const xv = need(args, K, 'x', T * dIn);
    const backend = args.backend;
    const acts = new Float32Array(T * dSae);
    const recon = new Float32Array(T * dIn);
    const saeIn = applyBDec ? new Float32Array(T * dIn) : new Float32Array(0);
    const colSums = new Float32Array(dSae);
    const stats = new Float64Array(2);
    addon.saeTrainForward!(xv, T, dIn, dSae, need(args, K, 'W_enc', dIn * dSae), need(args, K, 'b_enc', dSae), need(args, K, 'W_dec', dIn * dSae),
      need(args, K, 'b_dec', dIn), noise ? need(args, K, 'noise', T * dSae) : null, norms ? need(args, K, 'norms', dSae) : null, applyBDec ? 1 : 0,
      saeIn, acts, recon, colSums, stats, maxDensity);
    let saeInInfo: tf.TensorInfo;
    if (applyBDec) saeInInfo = backend.makeTensorInfo([T, dIn], 'float32', saeIn);
    else {
      backend.incRef(x.dataId);
      saeInInfo = { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
    }
    return [
      backend.makeTensorInfo([T, dSae], 'float32', acts), backend.makeTensorInfo([T, dIn], 'float32', recon), saeInInfo,
      backend.makeTensorInfo([dSae], 'float32', colSums), backend.makeTensorInfo([2], 'float32', Float32Array.from(stats)),
    ];
  };
}

/** dpre scratch [T, dSae] of the SAE backward pass, kept between training steps (see releaseSaeTrainScratch). */
let saeScratch: Float32Array | null = null;

/** Drop the SAE training scratch buffer (it is otherwise kept for the next step of the same size). */
export function releaseSaeTrainScratch(): void {
  saeScratch = null;
}

/**
 * SaelabSaeTrainBackward(x, saeIn, acts, recon, W_enc, W_dec, norms?, colSums; g, l1Coef, applyBDec)
 *   -> [dW_enc, db_enc, dW_dec, db_dec] for the pass SaelabSaeTrainForward made (loss gradient g).
 */
function saeTrainBackwardKernel(addon: NativeAddon): NativeKernel {
  const K = SAE_TRAIN_BACKWARD_KERNEL;
  return (args: KernelArgs) => {
    const { x, W_enc: wEnc, norms } = args.inputs as Record<string, tf.TensorInfo>;
    const { g, l1Coef, applyBDec } = args.attrs as unknown as { g: number; l1Coef: number; applyBDec: boolean };
    const [T, dIn] = x.shape;
    const dSae = wEnc.shape[1];
    if (!saeScratch || saeScratch.length < T * dSae || saeScratch.length > 2 * T * dSae) saeScratch = new Float32Array(T * dSae);
    const out = [new Float32Array(dIn * dSae), new Float32Array(dSae), new Float32Array(dIn * dSae), new Float32Array(dIn)];
    addon.saeTrainBackward!(g, T, dIn, dSae, need(args, K, 'x', T * dIn), applyBDec ? need(args, K, 'saeIn', T * dIn) : null, need(args, K, 'acts', T * dSae),
      need(args, K, 'recon', T * dIn), need(args, K, 'W_enc', dIn * dSae), need(args, K, 'W_dec', dIn * dSae), norms ? need(args, K, 'norms', dSae) : null,
      need(args, K, 'colSums', dSae), l1Coef, applyBDec ? 1 : 0, out[0], out[1], out[2], out[3], saeScratch);
    const b = args.backend;
    return [b.makeTensorInfo([dIn, dSae], 'float32', out[0]), b.makeTensorInfo([dSae], 'float32', out[1]), b.makeTensorInfo([dSae, dIn], 'float32', out[2]), b.makeTensorInfo([dIn], 'float32', out[3])];
  };
}

/** SaelabLayerNorm(x [..., d], w? [d], b? [d]; eps, center) -> [out [..., d], scale [..., 1]] in one pass per row. */
function layerNormKernel(addon: NativeAddon): NativeKernel {
  const K = LAYER_NORM_KERNEL;
  return (args: KernelArgs) => {
    const { x, w, b } = args.inputs as Record<string, tf.TensorInfo | undefined>;
    const { eps, center } = args.attrs as unknown as { eps: number; center: boolean };
    const cols = x!.shape[x!.shape.length - 1];
    const rows = cols === 0 ? 0 : sizeOf(x!.shape) / cols;
    const xv = need(args, K, 'x', rows * cols);
    const out = new Float32Array(rows * cols);
    const scale = new Float32Array(rows);
    if (out.length > 0) addon.layerNorm!(xv, rows, cols, w ? need(args, K, 'w', cols) : null, b ? need(args, K, 'b', cols) : null, eps, center ? 1 : 0, out, scale);
    return [args.backend.makeTensorInfo(x!.shape, 'float32', out), args.backend.makeTensorInfo([...x!.shape.slice(0, -1), 1], 'float32', scale)];
  };
}

/**
 * SaelabAttention(q [B, P, H, dh], k, v [B, P, Hk, dh], mask? [Bm, 1, P, P], visible? [Bm, 1, P, P]; scale, pattern)
 *   -> [z [B, P, H, dh]] (+ pattern [B, H, P, P] when asked): softmax(scale q k^T + mask) (* visible) v per head.
 */
function attentionKernel(addon: NativeAddon): NativeKernel {
  const K = ATTENTION_KERNEL;
  return (args: KernelArgs) => {
    const { q, k, mask, visible } = args.inputs as Record<string, tf.TensorInfo | undefined>;
    const { scale, pattern } = args.attrs as unknown as { scale: number; pattern: boolean };
    const [B, P, H, dh] = q!.shape;
    const Hk = k!.shape[2];
    const maskBatch = mask ? mask.shape[0] : visible ? visible.shape[0] : 1;
    const z = new Float32Array(B * P * H * dh);
    const pat = pattern ? new Float32Array(B * H * P * P) : null;
    if (z.length > 0) {
      addon.attention!(need(args, K, 'q', B * P * H * dh), need(args, K, 'k', B * P * Hk * dh), need(args, K, 'v', B * P * Hk * dh), B, P, H, Hk, dh, scale,
        mask ? need(args, K, 'mask', maskBatch * P * P) : null, maskBatch, visible ? need(args, K, 'visible', maskBatch * P * P) : null, z, pat);
    }
    const out = [args.backend.makeTensorInfo([B, P, H, dh], 'float32', z)];
    if (pat) out.push(args.backend.makeTensorInfo([B, H, P, P], 'float32', pat));
    return out;
  };
}

/** The tfjs kernels replaced natively (Cast, Tile, Select). */
export function fusedReplacementKernels(addon: NativeAddon): Record<string, NativeKernel> {
  if (!addon.cast) return {};
  return { Cast: castKernel(addon), Tile: tileKernel(addon), Select: selectKernel(addon), TopK: topkKernel(addon) };
}

/** saelab's own kernels (no cpu equivalent; lib/backend/fusedOps.ts uses them when the backend has them). */
export function saelabKernels(addon: NativeAddon): Record<string, NativeKernel> {
  if (!addon.gelu) return {};
  const out: Record<string, NativeKernel> = { [GELU_KERNEL]: geluKernel(addon), [GELU_GRAD_KERNEL]: geluGradKernel(addon), [ADAM_KERNEL]: adamKernel(addon) };
  if (addon.sparseMatmul) out[SPARSE_MATMUL_KERNEL] = sparseMatMulKernel(addon);
  if (addon.binary) out[IN_PLACE_BINARY_KERNEL] = inPlaceBinaryKernel(addon);
  if (addon.layerNorm) out[LAYER_NORM_KERNEL] = layerNormKernel(addon);
  if (addon.attention) out[ATTENTION_KERNEL] = attentionKernel(addon);
  if (addon.saeTrainForward && addon.saeTrainBackward) {
    out[SAE_TRAIN_FORWARD_KERNEL] = saeTrainForwardKernel(addon);
    out[SAE_TRAIN_BACKWARD_KERNEL] = saeTrainBackwardKernel(addon);
  }
  return out;
}
