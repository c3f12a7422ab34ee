import * as tf from '@tensorflow/tfjs';
import { KernelArgs, NativeAddon, NativeKernel, cpuKernel, f32, sizeOf } from './common';
import { permuteValues } from './layout';

/** Reduce op codes of the addon (native/src/reduce.cc). */
const REDUCE: Record<string, number> = { Sum: 0, Max: 1, Min: 2, Prod: 3, Mean: 4, ArgMax: 5, ArgMin: 6 };

/**
 * x viewed as [outer, r, inner] over the sorted reduction axes when they are adjacent; otherwise undefined
 * (the caller transposes them to the end first).
 */
function contiguousView(shape: number[], axes: number[]): { outer: number; r: number; inner: number } | undefined {
  for (let i = 1; i < axes.length; i++) if (axes[i] !== axes[i - 1] + 1) return undefined;
  const a0 = axes[0];
  const a1 = axes[axes.length - 1];
  return { outer: sizeOf(shape.slice(0, a0)), r: sizeOf(shape.slice(a0, a1 + 1)), inner: sizeOf(shape.slice(a1 + 1)) };
}

/** Sum / Max / Min / Prod / Mean over any axes of a float32 tensor, keepDims as tfjs. */
function reduceKernel(addon: NativeAddon, name: string): NativeKernel {
  const fallback = cpuKernel(name);
  const op = REDUCE[name];
  return (args: KernelArgs) => {
    const x = args.inputs.x as tf.TensorInfo;
    let xv = f32(args.backend, x);
    if (!xv || xv.length === 0) return fallback(args);
    const attrs = args.attrs as unknown as { axis?: number | number[]; reductionIndices?: number | number[]; keepDims: boolean };
    const axis = name === 'Max' ? attrs.reductionIndices! : attrs.axis!;
    const keepDims = attrs.keepDims;
    const axes = tf.util.parseAxisParam(axis, x.shape).sort((p, q) => p - q);
    const outShapeNoKeep = x.shape.filter((_, d) => !axes.includes(d));
    const outShape = keepDims ? x.shape.map((n, d) => (axes.includes(d) ? 1 : n)) : outShapeNoKeep;
    if (axes.length === 0) {
      return args.backend.makeTensorInfo(outShape, 'float32', Float32Array.from(xv));
    }
    let view = contiguousView(x.shape, axes);
    if (!view) {
      // Move the reduced axes last, then reduce rows.
      const kept = x.shape.map((_, d) => d).filter((d) => !axes.includes(d));
      xv = permuteValues(addon, xv, x.shape, [...kept, ...axes]) as Float32Array;
      view = { outer: sizeOf(outShapeNoKeep), r: sizeOf(axes.map((d) => x.shape[d])), inner: 1 };
    }
    const out = new Float32Array(view.outer * view.inner);
    addon.reduce!(op, xv, out, view.outer, view.r, view.inner);
    return args.backend.makeTensorInfo(outShape, 'float32', out);
  };
}

/** ArgMax / ArgMin along one axis (int32 output, first index on ties as the cpu kernel). */
function argKernel(addon: NativeAddon, name: string): NativeKernel {
  const fallback = cpuKernel(name);
  const op = REDUCE[name];
  return (args: KernelArgs) => {
    const x = args.inputs.x as tf.TensorInfo;
    const xv = f32(args.backend, x);
    if (!xv || xv.length === 0) return fallback(args);
    const { axis } = args.attrs as unknown as { axis: number | number[] };
    const axes = tf.util.parseAxisParam(axis, x.shape);
    if (axes.length !== 1) return fallback(args);
    const view = contiguousView(x.shape, axes)!;
    const out = new Int32Array(view.outer * view.inner);
    addon.reduce!(op, xv, out, view.outer, view.r, view.inner);
    return args.backend.makeTensorInfo(x.shape.filter((_, d) => d !== axes[0]), 'int32', out);
  };
}

/** Softmax over the last axis (the only axis tf.softmax accepts). */
function softmaxKernel(addon: NativeAddon): NativeKernel {
  const fallback = cpuKernel('Softmax');
  return (args: KernelArgs) => {
    const x = args.inputs.logits as tf.TensorInfo;
    const xv = f32(args.backend, x);
    const dim = (args.attrs as unknown as { dim: number }).dim;
    const rank = x.shape.length;
    if (!xv || xv.length === 0 || rank === 0 || (dim !== -1 && dim !== rank - 1)) return fallback(args);
    const cols = x.shape[rank - 1];
    const out = new Float32Array(xv.length);
    addon.softmax!(xv, out, xv.length / cols, cols, 0);
    return args.backend.makeTensorInfo(x.shape, 'float32', out);
  };
}

export function reduceKernels(addon: NativeAddon): Record<string, NativeKernel> {
  return {
    Sum: reduceKernel(addon, 'Sum'), Max: reduceKernel(addon, 'Max'), Min: reduceKernel(addon, 'Min'),
    Prod: reduceKernel(addon, 'Prod'), Mean: reduceKernel(addon, 'Mean'),
    ArgMax: argKernel(addon, 'ArgMax'), ArgMin: argKernel(addon, 'ArgMin'),
    Softmax: softmaxKernel(addon),
  };
}
