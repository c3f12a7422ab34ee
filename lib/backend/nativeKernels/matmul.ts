import * as tf from '@tensorflow/tfjs';
import { Backend, KernelArgs, NativeAddon, NativeKernel, cpuKernel, f32, nativeKernel, sizeOf } from './common';

/** Activation codes understood by the addon's biasActivation (native/src/parallel.h). */
const ACTIVATIONS: Record<string, number> = { linear: 0, relu: 1, relu6: 2, elu: 3, leakyrelu: 4, sigmoid: 5 };

interface MatmulPlan {
  batch: number; batchA: number; batchB: number; M: number; N: number; K: number; outShape: number[];
}

/** Shapes of a (broadcast-)batched matmul, with the cpu kernel's batch pairing (bi % batchA, bi % batchB). */
function plan(a: tf.TensorInfo, b: tf.TensorInfo, transA: boolean, transB: boolean): MatmulPlan {
  const ra = a.shape.length;
  const rb = b.shape.length;
  const K = transA ? a.shape[ra - 2] : a.shape[ra - 1];
  const kB = transB ? b.shape[rb - 1] : b.shape[rb - 2];
  const M = transA ? a.shape[ra - 1] : a.shape[ra - 2];
  const N = transB ? b.shape[rb - 2] : b.shape[rb - 1];
  if (K !== kB) {
    throw new Error(`Error in matMul: inner shapes (${K}) and (${kB}) of Tensors with shapes ${a.shape} and ${b.shape} and transposeA=${transA} and transposeB=${transB} must match.`);
  }
  const outer = tf.broadcast_util.assertAndGetBroadcastShape(a.shape.slice(0, -2), b.shape.slice(0, -2));
  const batchA = sizeOf(a.shape.slice(0, -2));
  const batchB = sizeOf(b.shape.slice(0, -2));
  return { batch: Math.max(batchA, batchB), batchA, batchB, M, N, K, outShape: [...outer, M, N] };
}

/** Run the product natively; undefined when an input is not float32 (caller falls back). */
function matmulValues(backend: Backend, addon: NativeAddon, a: tf.TensorInfo, b: tf.TensorInfo, transA: boolean, transB: boolean): { out: Float32Array; p: MatmulPlan } | undefined {
  const av = f32(backend, a);
  const bv = f32(backend, b);
  if (!av || !bv) return undefined;
  const p = plan(a, b, transA, transB);
  const out = new Float32Array(p.batch * p.M * p.N);
  if (out.length > 0) addon.matmul(av, bv, out, p.batch, p.batchA, p.batchB, p.M, p.N, p.K, transA ? 1 : 0, transB ? 1 : 0);
  return { out, p };
}

export function matmulKernels(addon: NativeAddon): Record<string, NativeKernel> {
  const cpuBatchMatMul = cpuKernel('BatchMatMul');
  const cpuFused = cpuKernel('_FusedMatMul');

  const batchMatMul: NativeKernel = (args) => {
    const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
    const { transposeA, transposeB } = args.attrs as unknown as { transposeA: boolean; transposeB: boolean };
    const r = matmulValues(args.backend, addon, a, b, transposeA, transposeB);
    if (!r) return cpuBatchMatMul(args);
    return args.backend.makeTensorInfo(r.p.outShape, 'float32', r.out);
  };

  const fusedMatMul: NativeKernel = (args: KernelArgs) => {
    const { a, b, bias, preluActivationWeights } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo; bias?: tf.TensorInfo; preluActivationWeights?: tf.TensorInfo };
    const { transposeA, transposeB, activation, leakyreluAlpha } = args.attrs as unknown as { transposeA: boolean; transposeB: boolean; activation?: string; leakyreluAlpha?: number };
    const backend = args.backend;
    const biasVals = bias ? f32(backend, bias) : undefined;
    if (bias && !biasVals) return cpuFused(args);
    const r = matmulValues(backend, addon, a, b, transposeA, transposeB);
    if (!r) return cpuFused(args);
    const { out, p } = r;
    const act = ACTIVATIONS[activation ?? 'linear'];
    const rowBias = bias && sizeOf(bias.shape) === p.N && bias.shape.length <= p.outShape.length && (bias.shape.length === 0 || bias.shape[bias.shape.length - 1] === p.N);
    if ((!bias || rowBias) && act !== undefined) {
      // Common case: bias along the last axis and a simple activation, fused into one pass.
      if (bias || act !== 0) addon.biasActivation(out, out, p.batch * p.M, p.N, biasVals ?? null, act, leakyreluAlpha ?? 0.2);
      return backend.makeTensorInfo(p.outShape, 'float32', out);
    }
    // Rare cases (bias broadcast along other axes, prelu): the registered Add and activation kernels.
    let cur = backend.makeTensorInfo(p.outShape, 'float32', out);
    if (bias) {
      const next = nativeKernel('Add')({ inputs: { a: cur, b: bias }, backend }) as tf.TensorInfo;
      backend.disposeIntermediateTensorInfo(cur);
      cur = next;
    }
    if (activation && activation !== 'linear') {
      let next: tf.TensorInfo;
      switch (activation) {
        case 'prelu': next = nativeKernel('Prelu')({ inputs: { x: cur, alpha: preluActivationWeights! }, backend }) as tf.TensorInfo; break;
        case 'relu': next = nativeKernel('Relu')({ inputs: { x: cur }, backend }) as tf.TensorInfo; break;
        case 'relu6': next = nativeKernel('Relu6')({ inputs: { x: cur }, backend }) as tf.TensorInfo; break;
        case 'elu': next = nativeKernel('Elu')({ inputs: { x: cur }, backend }) as tf.TensorInfo; break;
        case 'sigmoid': next = nativeKernel('Sigmoid')({ inputs: { x: cur }, backend }) as tf.TensorInfo; break;
        case 'leakyrelu': next = nativeKernel('LeakyRelu')({ inputs: { x: cur }, backend, attrs: { alpha: leakyreluAlpha ?? 0.2 } }) as tf.TensorInfo; break;
        default: throw new Error(`Activation ${activation} has not been implemented for the native backend.`);
      }
      backend.disposeIntermediateTensorInfo(cur);
      cur = next;
    }
    return cur;
  };

  return { BatchMatMul: batchMatMul, _FusedMatMul: fusedMatMul };
}
