import * as tf from '@tensorflow/tfjs';
import { KernelArgs, NativeAddon, NativeKernel, cpuKernel, f32, sizeOf } from './common';

/** Binary op codes of the addon (native/src/elementwise.cc). */
const BINARY: Record<string, number> = {
  Add: 0, Sub: 1, Multiply: 2, RealDiv: 3, Maximum: 4, Minimum: 5, Pow: 6, SquaredDifference: 7, Prelu: 8,
  Equal: 9, NotEqual: 10, Greater: 11, GreaterEqual: 12, Less: 13, LessEqual: 14,
};
/** Pow by a scalar exponent with a cheaper exact form: x*x, x*x*x, sqrt, x (pow's gradient of x^2 is 2 x^1). */
const POW_SPECIAL: Record<number, number> = { 2: 15, 3: 16, 0.5: 17, 1: 18 };
const COMPARISONS = new Set(['Equal', 'NotEqual', 'Greater', 'GreaterEqual', 'Less', 'LessEqual']);

/** Unary op codes of the addon, by tfjs kernel name. */
const UNARY: Record<string, number> = {
  Exp: 0, Log: 1, Tanh: 2, Sqrt: 3, Rsqrt: 4, Neg: 5, Square: 6, Abs: 7, Relu: 8, Sigmoid: 9, Erf: 10,
  Reciprocal: 11, Step: 12, Elu: 13, Relu6: 14, LeakyRelu: 15, Log1p: 16, Expm1: 17, Sin: 18, Cos: 19,
  Sign: 20, ClipByValue: 21, Floor: 22, Ceil: 23, Round: 24,
};

/** Row-major strides of `shape`. */
export function stridesOf(shape: number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let d = shape.length - 1; d >= 0; d--) { s[d] = acc; acc *= shape[d]; }
  return s;
}

/**
 * Broadcast two shapes and collapse the result to the fewest axes: adjacent output axes merge when both
 * inputs are contiguous (or both broadcast) across them. Strides are 0 on broadcast axes.
 */
export function broadcastPlan(aShape: number[], bShape: number[]): { outShape: number[]; shape: number[]; as: number[]; bs: number[] } {
  const outShape = tf.backend_util.assertAndGetBroadcastShape(aShape, bShape);
  const r = outShape.length;
  const pad = (s: number[]): number[] => [...new Array(r - s.length).fill(1), ...s];
  const ap = pad(aShape);
  const bp = pad(bShape);
  const aStr = stridesOf(ap);
  const bStr = stridesOf(bp);
  const shape: number[] = [];
  const as: number[] = [];
  const bs: number[] = [];
  for (let d = 0; d < r; d++) {
    const n = outShape[d];
    if (n === 1) continue; // size-1 axes contribute nothing
    const sa = ap[d] === 1 ? 0 : aStr[d];
    const sb = bp[d] === 1 ? 0 : bStr[d];
    const k = shape.length - 1;
    // Merge into the previous kept axis when each input steps through both as one run.
    if (k >= 0 && as[k] === sa * n && bs[k] === sb * n) {
      shape[k] *= n;
      as[k] = sa;
      bs[k] = sb;
    } else {
      shape.push(n);
      as.push(sa);
      bs.push(sb);
    }
  }
  return { outShape, shape, as, bs };
}

/** A broadcasting binary kernel on float32 inputs (comparisons give bool); other dtypes use the cpu kernel. */
function binaryKernel(addon: NativeAddon, name: string, inputNames: [string, string]): NativeKernel {
  const fallback = cpuKernel(name);
  const compare = COMPARISONS.has(name);
  return (args: KernelArgs) => {
    const a = args.inputs[inputNames[0]] as tf.TensorInfo;
    const b = args.inputs[inputNames[1]] as tf.TensorInfo;
    const av = f32(args.backend, a);
    const bv = f32(args.backend, b);
    if (!av || !bv) return fallback(args);
    const p = broadcastPlan(a.shape, b.shape);
    let op = BINARY[name];
    if (name === 'Pow' && bv.length === 1 && POW_SPECIAL[bv[0]] !== undefined) op = POW_SPECIAL[bv[0]];
    const n = sizeOf(p.outShape);
    const out = compare ? new Uint8Array(n) : new Float32Array(n);
    if (n > 0) addon.binary!(op, av, p.as, bv, p.bs, out, p.shape);
    return args.backend.makeTensorInfo(p.outShape, compare ? 'bool' : 'float32', out);
  };
}

/** Kernel name of the in-place binary op (lib/backend/fusedOps.ts inPlaceBinary). */
export const IN_PLACE_BINARY_KERNEL = 'SaelabInPlaceBinary';

/**
 * SaelabInPlaceBinary(a, b; op 'Sub' | 'Multiply' | 'Add' | 'RealDiv'): a op b (b broadcast to a's shape) written into
 * a's own buffer when nothing else shares it (the output is a's data id), else into a new array as the op's kernel.
 */
export function inPlaceBinaryKernel(addon: NativeAddon): NativeKernel {
  return (args: KernelArgs) => {
    const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
    const { op } = args.attrs as unknown as { op: string };
    const av = f32(args.backend, a);
    const bv = f32(args.backend, b);
    const code = BINARY[op];
    if (code === undefined || COMPARISONS.has(op)) throw new Error(`${IN_PLACE_BINARY_KERNEL}: unsupported op ${op}`);
    const p = av && bv ? broadcastPlan(a.shape, b.shape) : undefined;
    if (!p || !tf.util.arraysEqual(p.outShape, a.shape) || args.backend.refCount(a.dataId) !== 1 || av!.length !== sizeOf(a.shape)) {
      return (tf.getKernel(op, 'native') ?? tf.getKernel(op, 'cpu'))!.kernelFunc({ inputs: { a, b }, backend: args.backend as never, attrs: {} }) as tf.TensorInfo;
    }
    if (av!.length > 0) addon.binary!(code, av!, p.as, bv!, p.bs, av!, p.shape);
    args.backend.incRef(a.dataId);
    return { dataId: a.dataId, shape: a.shape, dtype: a.dtype };
  };
}

/** A float32 unary kernel; `alpha`/`beta` read from attrs where the op has them. */
function unaryKernel(addon: NativeAddon, name: string): NativeKernel {
  const fallback = cpuKernel(name);
  const op = UNARY[name];
  return (args: KernelArgs) => {
    const x = args.inputs.x as tf.TensorInfo;
    const xv = f32(args.backend, x);
    if (!xv) return fallback(args);
    const attrs = (args.attrs ?? {}) as Record<string, number>;
    let alpha = 0;
    let beta = 0;
    if (name === 'Step') alpha = attrs.alpha ?? 0;
    else if (name === 'LeakyRelu') alpha = attrs.alpha ?? 0.2;
    else if (name === 'ClipByValue') { alpha = attrs.clipValueMin; beta = attrs.clipValueMax; }
    const out = new Float32Array(xv.length);
    if (out.length > 0) addon.unary!(op, xv, out, alpha, beta);
    return args.backend.makeTensorInfo(x.shape, 'float32', out);
  };
}

/** AddN: a chain of native adds of same-shape float32 tensors. */
function addNKernel(addon: NativeAddon): NativeKernel {
  const fallback = cpuKernel('AddN');
  return (args: KernelArgs) => {
    const ts = args.inputs as unknown as tf.TensorInfo[];
    const list = Array.isArray(ts) ? ts : Object.values(args.inputs as Record<string, tf.TensorInfo>);
    const vals = list.map((t) => f32(args.backend, t));
    if (list.length === 0 || vals.some((v) => !v) || list.some((t) => sizeOf(t.shape) !== sizeOf(list[0].shape))) return fallback(args);
    const out = Float32Array.from(vals[0]!);
    const shape = [out.length];
    const strides = [1];
    for (let i = 1; i < vals.length; i++) addon.binary!(BINARY.Add, out, strides, vals[i]!, strides, out, shape);
    return args.backend.makeTensorInfo(list[0].shape, 'float32', out);
  };
}

export function elementwiseKernels(addon: NativeAddon): Record<string, NativeKernel> {
  const k: Record<string, NativeKernel> = {};
  for (const name of Object.keys(BINARY)) k[name] = binaryKernel(addon, name, name === 'Prelu' ? ['x', 'alpha'] : ['a', 'b']);
  for (const name of Object.keys(UNARY)) k[name] = unaryKernel(addon, name);
  k.AddN = addNKernel(addon);
  return k;
}
