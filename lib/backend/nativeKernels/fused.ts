import * as tf from '@tensorflow/tfjs';
import { KernelArgs, NativeAddon, NativeKernel, cpuKernel, f32, sizeOf } from './common';
import { stridesOf } from './elementwise';

/** Names of saelab's own fused kernels (registered for the native backend only; see lib/backend/fusedOps.ts). */
export const GELU_KERNEL = 'SaelabGelu';
export const GELU_GRAD_KERNEL = 'SaelabGeluGrad';
export const ADAM_KERNEL = 'SaelabAdam';

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

/** The tfjs kernels replaced natively (Cast, Tile, Select). */
export function fusedReplacementKernels(addon: NativeAddon): Record<string, NativeKernel> {
  if (!addon.cast) return {};
  return { Cast: castKernel(addon), Tile: tileKernel(addon), Select: selectKernel(addon), TopK: topkKernel(addon) };
}

/** saelab's own kernels (no cpu equivalent; lib/backend/fusedOps.ts uses them when the backend has them). */
export function saelabKernels(addon: NativeAddon): Record<string, NativeKernel> {
  if (!addon.gelu) return {};
  return { [GELU_KERNEL]: geluKernel(addon), [GELU_GRAD_KERNEL]: geluGradKernel(addon), [ADAM_KERNEL]: adamKernel(addon) };
}
