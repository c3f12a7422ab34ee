import * as tf from '@tensorflow/tfjs';
import {
  ADAM_KERNEL, ATTENTION_KERNEL, GELU_GRAD_KERNEL, GELU_KERNEL, LAYER_NORM_KERNEL, SAE_TRAIN_BACKWARD_KERNEL, SAE_TRAIN_FORWARD_KERNEL, SPARSE_MATMUL_KERNEL, releaseSaeTrainScratch,
} from './nativeKernels/fused';
import { IN_PLACE_BINARY_KERNEL } from './nativeKernels/elementwise';

export { releaseSaeTrainScratch };

/**
 * Fused operations that run as one kernel where the current backend has saelab's kernel for them (the
 * native backend), and return undefined elsewhere so the caller runs its own composition of tfjs ops.
 */

function hasKernel(name: string): boolean {
  return tf.getKernel(name, tf.getBackend()) !== undefined;
}

/** Register the gradients of the fused kernels (once; called when the native backend registers). */
export function registerFusedGradients(): void {
  if (!tf.getGradient(GELU_KERNEL)) {
    tf.registerGradient({
      kernelName: GELU_KERNEL,
      inputsToSave: ['x'],
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[], attrs: tf.NamedAttrMap) => ({
        x: () => tf.engine().runKernel(GELU_GRAD_KERNEL, { dy: dy as tf.Tensor, x: saved[0] }, attrs) as tf.Tensor,
      }),
    });
  }
  if (!tf.getGradient(SPARSE_MATMUL_KERNEL)) {
    // the gradients of a b + bias (dense products: only the forward pass is sparse)
    tf.registerGradient({
      kernelName: SPARSE_MATMUL_KERNEL,
      inputsToSave: ['a', 'b'],
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => ({
        a: () => tf.matMul(dy as tf.Tensor2D, saved[1] as tf.Tensor2D, false, true),
        b: () => tf.matMul(saved[0] as tf.Tensor2D, dy as tf.Tensor2D, true, false),
        bias: () => tf.sum(dy as tf.Tensor, 0),
      }),
    });
  }
}

/**
 * Densities (fraction of nonzero entries of `a`) up to which sparseMatMul builds each output row from the
 * nonzero entries only; above it a dense GEMM is faster. An SAE's features at L0 50 of 24,576 have density 0.002.
 */
export const SPARSE_MATMUL_MAX_DENSITY = 0.03;

/**
 * a [rows, k] b [k, n] (+ bias [n]) computed from a's nonzero entries where the backend has the sparse kernel
 * (native) and a is sparse enough (SAE decoding: feature activations with tens of thousands of columns, tens
 * nonzero per row); a dense GEMM otherwise. Same values as the dense product within float32 rounding;
 * differentiable. Undefined when the backend lacks the kernel (the caller runs its dense matmul).
 */
export function sparseMatMul(a: tf.Tensor2D, b: tf.Tensor2D, bias?: tf.Tensor, maxDensity = SPARSE_MATMUL_MAX_DENSITY): tf.Tensor2D | undefined {
  if (!hasKernel(SPARSE_MATMUL_KERNEL) || a.dtype !== 'float32' || b.dtype !== 'float32' || (bias && (bias.dtype !== 'float32' || bias.size !== b.shape[1]))) return undefined;
  const inputs: tf.NamedTensorMap = bias ? { a, b, bias: bias.rank === 1 ? bias : tf.reshape(bias, [-1]) } : { a, b };
  return tf.engine().runKernel(SPARSE_MATMUL_KERNEL, inputs, { maxDensity } as unknown as tf.NamedAttrMap) as tf.Tensor2D;
}

/**
 * GELU in one pass where the backend has the fused kernel: approximate 'tanh' is gelu_new
 * (0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))), 'none' the exact 0.5 x (1 + erf(x / sqrt 2)).
 * Differentiable. Undefined when the backend lacks the kernel or x is not float32.
 */
export function fusedGelu(x: tf.Tensor, approximate: 'tanh' | 'none'): tf.Tensor | undefined {
  if (x.dtype !== 'float32' || !hasKernel(GELU_KERNEL)) return undefined;
  return tf.engine().runKernel(GELU_KERNEL, { x }, { approximate }) as tf.Tensor;
}

/** Hyper-parameters of one fused Adam update (see fusedAdamUpdate). */
export interface FusedAdamParams {
  beta1: number;
  beta2: number;
  eps: number;
  /** lr / (1 - beta1^t) */
  stepSize: number;
  /** sqrt(1 - beta2^t) */
  sqrtBc2: number;
  /** multiplier of p before the update (AdamW's 1 - lr * weight_decay; 1 for Adam) */
  decay?: number;
  /** multiplier of the gradient (global-norm clipping; 1 for none) */
  gradScale?: number;
}

/**
 * One Adam update in one pass where the backend has the fused kernel:
 * g' = g gradScale; m' = b1 m + (1 - b1) g'; v' = b2 v + (1 - b2) g'^2; p' = decay p - stepSize m' / (sqrt(v') / sqrtBc2 + eps).
 * Returns the new [p, m, v] (the caller assigns them), or undefined when the backend lacks the kernel.
 */
export function fusedAdamUpdate(p: tf.Tensor, m: tf.Tensor, v: tf.Tensor, g: tf.Tensor, h: FusedAdamParams): [tf.Tensor, tf.Tensor, tf.Tensor] | undefined {
  if (!hasKernel(ADAM_KERNEL) || [p, m, v, g].some((t) => t.dtype !== 'float32' || !tf.util.arraysEqual(t.shape, p.shape))) return undefined;
  const attrs = { beta1: h.beta1, beta2: h.beta2, eps: h.eps, stepSize: h.stepSize, sqrtBc2: h.sqrtBc2, decay: h.decay ?? 1, gradScale: h.gradScale ?? 1 };
  return tf.engine().runKernel(ADAM_KERNEL, { p, m, v, g }, attrs as unknown as tf.NamedAttrMap) as unknown as [tf.Tensor, tf.Tensor, tf.Tensor];
}

/**
 * Euclidean norm of each row of x [rows, cols] -> [rows], with torch's gradient x * dy / norm (0 where the
 * norm is 0): one elementwise pass over x each way, where tf.norm's abs/pow/sqrt chain takes about seven
 * backward. Works on every backend.
 */
export function rowNorm(x: tf.Tensor2D): tf.Tensor1D {
  const op = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const t = args[0] as tf.Tensor2D;
    const save = args[1] as tf.GradSaveFunc;
    const norm = tf.sqrt(tf.sum(tf.square(t), 1)) as tf.Tensor1D; // [rows]
    save([t, norm]);
    const gradFunc = (dy: tf.Tensor, saved: tf.Tensor[]): tf.Tensor => tf.mul(saved[0], tf.expandDims(tf.divNoNan(dy, saved[1]), 1));
    return { value: norm, gradFunc };
  });
  return op(x) as tf.Tensor1D;
}

/** Inputs of fusedSaeTrainingLoss: a standard (ReLU) SAE's parameters, a batch and the loss settings. */
export interface FusedSaeLossInputs {
  /** [T, dIn] activations (a constant: no gradient flows to x) */
  x: tf.Tensor2D;
  W_enc: tf.Tensor2D;
  b_enc: tf.Tensor1D;
  W_dec: tf.Tensor2D;
  b_dec: tf.Tensor1D;
  /** [T, dSae] added to the pre-activations (a constant) */
  noise?: tf.Tensor2D;
  /** L1 coefficient */
  l1Coefficient: number;
  /** encoder input x - b_dec (SAELens apply_b_dec_to_input) */
  applyBDecToInput: boolean;
  /** weight each feature's L1 term by its decoder row norm (SAELens scale_sparsity_penalty_by_decoder_norm) */
  scaleByDecoderNorm: boolean;
}

/**
 * A standard SAE's training loss with its gradient in two native calls (native/src/sae.cc) where the backend has
 * them: acts = relu((x - b_dec) W_enc + b_enc (+ noise)), recon = acts W_dec + b_dec,
 * mse = mean_t sum_c (recon - x)^2, l1 = l1Coefficient mean_t sum_j acts_j (||W_dec[j]|| when scaled).
 * `loss` (mse + l1) is differentiable in W_enc, b_enc, W_dec and b_dec; `mse`, `l1`, `featureActs` and `saeOut` are
 * plain values (the caller disposes all five). Undefined on backends without the kernels.
 */
export function fusedSaeTrainingLoss(inp: FusedSaeLossInputs): { loss: tf.Scalar; mse: tf.Scalar; l1: tf.Scalar; featureActs: tf.Tensor2D; saeOut: tf.Tensor2D } | undefined {
  if (!hasKernel(SAE_TRAIN_FORWARD_KERNEL)) return undefined;
  const { x, noise } = inp;
  if ([x, inp.W_enc, inp.b_enc, inp.W_dec, inp.b_dec, noise].some((t) => t && t.dtype !== 'float32')) return undefined;
  const T = x.shape[0];
  let side: { featureActs: tf.Tensor2D; saeOut: tf.Tensor2D; mse: number; l1: number } | undefined;
  const op = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const [wEnc, bEnc, wDec, bDec] = args as tf.Tensor[];
    const save = args[4] as tf.GradSaveFunc;
    const norms = inp.scaleByDecoderNorm ? tf.sqrt(tf.sum(tf.square(wDec), 1)) : undefined;
    const inputs: tf.NamedTensorMap = { x, W_enc: wEnc, b_enc: bEnc, W_dec: wDec, b_dec: bDec };
    if (noise) inputs.noise = noise;
    if (norms) inputs.norms = norms;
    const attrs = { applyBDec: inp.applyBDecToInput, maxDensity: SPARSE_MATMUL_MAX_DENSITY };
    const [acts, recon, saeIn, colSums, stats] = tf.engine().runKernel(SAE_TRAIN_FORWARD_KERNEL, inputs, attrs as unknown as tf.NamedAttrMap) as tf.Tensor[];
    const [sumSq, l1Sum] = stats.dataSync();
    side = { featureActs: tf.keep(acts) as tf.Tensor2D, saeOut: tf.keep(recon) as tf.Tensor2D, mse: sumSq / T, l1: (inp.l1Coefficient * l1Sum) / T };
    // kept for the backward pass by the tape (and dropped with it); nothing is kept when no gradient is recorded
    save(norms ? [x, saeIn, acts, recon, colSums, norms] : [x, saeIn, acts, recon, colSums]);
    const value = tf.scalar(side.mse + side.l1);
    const gradFunc = (dy: tf.Tensor, saved: tf.Tensor[]): tf.Tensor[] => {
      const [sx, sIn, sActs, sRecon, sCol, sNorms] = saved;
      const bw: tf.NamedTensorMap = { x: sx, saeIn: sIn, acts: sActs, recon: sRecon, W_enc: wEnc, W_dec: wDec, colSums: sCol };
      if (sNorms) bw.norms = sNorms;
      const battrs = { g: dy.dataSync()[0], l1Coef: inp.l1Coefficient, applyBDec: inp.applyBDecToInput };
      return tf.engine().runKernel(SAE_TRAIN_BACKWARD_KERNEL, bw, battrs as unknown as tf.NamedAttrMap) as tf.Tensor[];
    };
    return { value, gradFunc };
  });
  const loss = op(inp.W_enc, inp.b_enc, inp.W_dec, inp.b_dec) as tf.Scalar;
  const s = side!;
  return { loss, mse: tf.scalar(s.mse), l1: tf.scalar(s.l1), featureActs: s.featureActs, saeOut: s.saeOut };
}

/**
 * Inference-only fused kernels: used where the backend has them and no gradient is being recorded (then they
 * return undefined and the caller runs its differentiable tfjs composition, so training is unchanged).
 */
function inferenceKernel(name: string): boolean {
  return hasKernel(name) && !tf.engine().isTapeOn();
}

/**
 * LayerNorm (center) or RMSNorm (no center) of x [..., d] over its last axis in one pass:
 * scale = sqrt(mean((x - mean)^2) + eps) [..., 1] and out = (x - mean) / scale (* w + b when given).
 * Undefined when the backend lacks the kernel or a gradient is recorded.
 */
export function fusedLayerNorm(x: tf.Tensor, opts: { eps: number; center: boolean; w?: tf.Tensor; b?: tf.Tensor }): { out: tf.Tensor; scale: tf.Tensor } | undefined {
  if (!inferenceKernel(LAYER_NORM_KERNEL) || x.dtype !== 'float32' || (opts.b && !opts.w)) return undefined;
  const d = x.shape[x.rank - 1];
  if ([opts.w, opts.b].some((t) => t !== undefined && (t.dtype !== 'float32' || t.size !== d))) return undefined;
  const inputs: tf.NamedTensorMap = { x };
  if (opts.w) inputs.w = opts.w;
  if (opts.b) inputs.b = opts.b;
  const [out, scale] = tf.engine().runKernel(LAYER_NORM_KERNEL, inputs, { eps: opts.eps, center: opts.center } as unknown as tf.NamedAttrMap) as tf.Tensor[];
  return { out, scale };
}

/**
 * Attention from q [B, P, H, dh], k, v [B, P, Hk, dh] (H a multiple of Hk: grouped-query heads) in their projection
 * layout: pattern = softmax(scale q k^T + mask) (times `visible`), z = pattern v as [B, P, H, dh]; mask and visible
 * [Bm, 1, P, P] with Bm 1 or B. Returns the pattern [B, H, P, P] too when asked. Undefined when the backend lacks
 * the kernel or a gradient is recorded.
 */
export function fusedAttention(q: tf.Tensor, k: tf.Tensor, v: tf.Tensor, opts: { scale: number; mask?: tf.Tensor; visible?: tf.Tensor; pattern?: boolean }): { z: tf.Tensor; pattern?: tf.Tensor } | undefined {
  if (!inferenceKernel(ATTENTION_KERNEL) || q.rank !== 4 || k.rank !== 4 || [q, k, v, opts.mask, opts.visible].some((t) => t && t.dtype !== 'float32')) return undefined;
  const [B, P, H, dh] = q.shape as number[];
  const [kB, kP, Hk, kDh] = k.shape as number[];
  if (kB !== B || kP !== P || kDh !== dh || H % Hk !== 0 || !tf.util.arraysEqual(k.shape, v.shape)) return undefined;
  const maskOk = (m: tf.Tensor | undefined) => !m || (m.rank === 4 && (m.shape[0] === 1 || m.shape[0] === B) && m.shape[1] === 1 && m.shape[2] === P && m.shape[3] === P);
  if (!maskOk(opts.mask) || !maskOk(opts.visible) || (opts.mask && opts.visible && opts.mask.shape[0] !== opts.visible.shape[0])) return undefined;
  const inputs: tf.NamedTensorMap = { q, k, v };
  if (opts.mask) inputs.mask = opts.mask;
  if (opts.visible) inputs.visible = opts.visible;
  const outs = tf.engine().runKernel(ATTENTION_KERNEL, inputs, { scale: opts.scale, pattern: !!opts.pattern } as unknown as tf.NamedAttrMap) as tf.Tensor[];
  return { z: outs[0], pattern: outs[1] };
}

/**
 * a op b (b broadcast to a's shape; op Sub, Multiply, Add or RealDiv) for code that owns `a` and replaces it with the
 * result (weight processing): written into a's own buffer where the backend can and nothing else shares it, so no
 * second copy of a large matrix is made; the same values as tf.sub / tf.mul / ... Returns undefined on other
 * backends or while a gradient is recorded (then run the tfjs op). The caller must not use `a` afterwards.
 */
export function inPlaceBinary(a: tf.Tensor, b: tf.Tensor, op: 'Sub' | 'Multiply' | 'Add' | 'RealDiv'): tf.Tensor | undefined {
  if (!inferenceKernel(IN_PLACE_BINARY_KERNEL) || a.dtype !== 'float32' || b.dtype !== 'float32') return undefined;
  return tf.engine().runKernel(IN_PLACE_BINARY_KERNEL, { a, b }, { op } as unknown as tf.NamedAttrMap) as tf.Tensor;
}
