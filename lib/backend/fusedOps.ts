import * as tf from '@tensorflow/tfjs';
import { ADAM_KERNEL, GELU_GRAD_KERNEL, GELU_KERNEL } from './nativeKernels/fused';

/**
 * Fused operations that run as one kernel where the current backend has saelab's kernel for them (the
 * native backend), and return undefined elsewhere so the caller runs its own composition of tfjs ops.
 */

function hasKernel(name: string): boolean {
  return tf.getKernel(name, tf.getBackend()) !== undefined;
}

/** Register the gradient of the fused GELU (once; called when the native backend registers). */
export function registerFusedGradients(): void {
  if (tf.getGradient(GELU_KERNEL)) return;
  tf.registerGradient({
    kernelName: GELU_KERNEL,
    inputsToSave: ['x'],
    gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[], attrs: tf.NamedAttrMap) => ({
      x: () => tf.engine().runKernel(GELU_GRAD_KERNEL, { dy: dy as tf.Tensor, x: saved[0] }, attrs) as tf.Tensor,
    }),
  });
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
