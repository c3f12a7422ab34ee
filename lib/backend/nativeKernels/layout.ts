import * as tf from '@tensorflow/tfjs';
import { Backend, KernelArgs, NativeAddon, NativeKernel, cpuKernel, sizeOf } from './common';
import { stridesOf } from './elementwise';

type Word = Float32Array | Int32Array;

/**
 * Values of a float32 or int32 tensor (4-byte elements the addon copies as words), else undefined.
 * The array type must match the dtype: the cpu backend's Cast int32 -> float32 keeps the Int32Array
 * under a float32 dtype, and copying those words would reinterpret the integers' bits.
 */
function words(backend: Backend, t: tf.TensorInfo): Word | undefined {
  const v = backend.data.get(t.dataId).values;
  if (t.dtype === 'float32') return v instanceof Float32Array ? v : undefined;
  if (t.dtype === 'int32') return v instanceof Int32Array ? v : undefined;
  return undefined;
}

function alloc(dtype: tf.DataType, n: number): Word {
  return dtype === 'int32' ? new Int32Array(n) : new Float32Array(n);
}

/** Drop size-1 axes and merge axes that both sides step through as one run (fewer, longer loops). */
function collapse(shape: number[], ss: number[], ds: number[]): { shape: number[]; ss: number[]; ds: number[] } {
  const out = { shape: [] as number[], ss: [] as number[], ds: [] as number[] };
  for (let d = 0; d < shape.length; d++) {
    const n = shape[d];
    if (n === 1) continue;
    const k = out.shape.length - 1;
    if (k >= 0 && out.ss[k] === ss[d] * n && out.ds[k] === ds[d] * n) {
      out.shape[k] *= n;
      out.ss[k] = ss[d];
      out.ds[k] = ds[d];
    } else {
      out.shape.push(n);
      out.ss.push(ss[d]);
      out.ds.push(ds[d]);
    }
  }
  return out;
}

/** dst[dstOffset + i . dstStrides] = src[srcOffset + i . srcStrides] for all i in shape, natively. */
function copy(addon: NativeAddon, src: Word, srcOffset: number, srcStrides: number[], dst: Word, dstOffset: number, dstStrides: number[], shape: number[]): void {
  if (sizeOf(shape) === 0) return;
  const c = collapse(shape, srcStrides, dstStrides);
  addon.stridedCopy!(src, srcOffset, c.ss, dst, dstOffset, c.ds, c.shape);
}

/** The values of x (shape `shape`) with its axes permuted by `perm` (a transpose), as a new array. */
export function permuteValues(addon: NativeAddon, x: Word, shape: number[], perm: number[]): Word {
  const outShape = perm.map((p) => shape[p]);
  const xs = stridesOf(shape);
  const out = x instanceof Int32Array ? new Int32Array(x.length) : new Float32Array(x.length);
  copy(addon, x, 0, perm.map((p) => xs[p]), out, 0, stridesOf(outShape), outShape);
  return out;
}

function transposeKernel(addon: NativeAddon): NativeKernel {
  const fallback = cpuKernel('Transpose');
  return (args: KernelArgs) => {
    const x = args.inputs.x as tf.TensorInfo;
    const xv = words(args.backend, x);
    if (!xv) return fallback(args);
    const { perm } = args.attrs as unknown as { perm: number[] };
    const out = permuteValues(addon, xv, x.shape, perm);
    return args.backend.makeTensorInfo(perm.map((p) => x.shape[p]), x.dtype, out);
  };
}

/** Slice values: a view (no copy) when the slice is one contiguous run, as the cpu kernel; else a native copy. */
function sliceValues(addon: NativeAddon, x: tf.TensorInfo, xv: Word, begin: number[], size: number[]): Word {
  const xs = stridesOf(x.shape);
  const offset = begin.reduce((acc, b, d) => acc + b * xs[d], 0);
  if (tf.slice_util.isSliceContinous(x.shape, begin, size)) return xv.subarray(offset, offset + sizeOf(size));
  const out = alloc(x.dtype, sizeOf(size));
  copy(addon, xv, offset, xs, out, 0, stridesOf(size), size);
  return out;
}

function sliceKernel(addon: NativeAddon): NativeKernel {
  const fallback = cpuKernel('Slice');
  return (args: KernelArgs) => {
    const x = args.inputs.x as tf.TensorInfo;
    const xv = words(args.backend, x);
    if (!xv) return fallback(args);
    const { begin, size } = args.attrs as unknown as { begin: number | number[]; size: number | number[] };
    const [b, s] = tf.slice_util.parseSliceParams(x as tf.Tensor, begin, size);
    tf.slice_util.assertParamsValid(x as tf.Tensor, b, s);
    return args.backend.makeTensorInfo(s, x.dtype, sliceValues(addon, x, xv, b, s));
  };
}

/** Split x along `axis` into pieces of the given sizes (SplitV, Unpack). */
function splitValues(addon: NativeAddon, backend: Backend, x: tf.TensorInfo, xv: Word, axis: number, sizes: number[], dropAxis: boolean): tf.TensorInfo[] {
  const begin = new Array<number>(x.shape.length).fill(0);
  return sizes.map((s) => {
    const size = [...x.shape];
    size[axis] = s;
    const vals = sliceValues(addon, x, xv, begin, size);
    begin[axis] += s;
    const shape = dropAxis ? size.filter((_, d) => d !== axis) : size;
    return backend.makeTensorInfo(shape, x.dtype, vals);
  });
}

function splitVKernel(addon: NativeAddon): NativeKernel {
  const fallback = cpuKernel('SplitV');
  return (args: KernelArgs) => {
    const x = args.inputs.x as tf.TensorInfo;
    const xv = words(args.backend, x);
    if (!xv) return fallback(args);
    const { numOrSizeSplits, axis } = args.attrs as unknown as { numOrSizeSplits: number | number[]; axis: number };
    const ax = tf.util.parseAxisParam(axis, x.shape)[0];
    const sizes = tf.backend_util.prepareSplitSize(x as tf.Tensor, numOrSizeSplits, ax);
    return splitValues(addon, args.backend, x, xv, ax, sizes, false);
  };
}

function unpackKernel(addon: NativeAddon): NativeKernel {
  const fallback = cpuKernel('Unpack');
  return (args: KernelArgs) => {
    const x = args.inputs.value as tf.TensorInfo;
    const xv = words(args.backend, x);
    if (!xv) return fallback(args);
    let { axis } = args.attrs as unknown as { axis: number };
    if (axis < 0) axis += x.shape.length;
    return splitValues(addon, args.backend, x, xv, axis, new Array<number>(x.shape[axis]).fill(1), true);
  };
}

/** Concatenate same-dtype tensors along `axis` (each viewed as [outer, inner_i] into [outer, sum inner]). */
function concatValues(addon: NativeAddon, backend: Backend, ts: tf.TensorInfo[], axis: number): tf.TensorInfo | undefined {
  const vals = ts.map((t) => words(backend, t));
  if (vals.some((v) => !v) || ts.some((t) => t.dtype !== ts[0].dtype)) return undefined;
  const outShape = tf.backend_util.computeOutShape(ts.map((t) => t.shape), axis);
  const outer = sizeOf(outShape.slice(0, axis));
  const total = sizeOf(outShape.slice(axis));
  const out = alloc(ts[0].dtype, sizeOf(outShape));
  let col = 0;
  ts.forEach((t, i) => {
    const inner = sizeOf(t.shape.slice(axis));
    if (inner > 0 && outer > 0) copy(addon, vals[i]!, 0, [inner, 1], out, col, [total, 1], [outer, inner]);
    col += inner;
  });
  return backend.makeTensorInfo(outShape, ts[0].dtype, out);
}

function concatKernel(addon: NativeAddon): NativeKernel {
  const fallback = cpuKernel('Concat');
  return (args: KernelArgs) => {
    const ts = Object.values(args.inputs) as tf.TensorInfo[];
    const { axis } = args.attrs as unknown as { axis: number };
    if (ts.length === 0) return fallback(args);
    const ax = tf.util.parseAxisParam(axis, ts[0].shape)[0];
    tf.backend_util.assertParamsConsistent(ts.map((t) => t.shape), ax);
    return concatValues(addon, args.backend, ts, ax) ?? fallback(args);
  };
}

function packKernel(addon: NativeAddon): NativeKernel {
  const fallback = cpuKernel('Pack');
  return (args: KernelArgs) => {
    const ts = Object.values(args.inputs) as tf.TensorInfo[];
    const { axis } = args.attrs as unknown as { axis: number };
    if (ts.length < 2) return fallback(args);
    ts.forEach((t) => tf.util.assertShapesMatch(ts[0].shape, t.shape, 'All tensors passed to stack must have matching shapes'));
    const ax = axis < 0 ? axis + ts[0].shape.length + 1 : axis;
    const expanded = ts.map((t) => ({ ...t, shape: [...t.shape.slice(0, ax), 1, ...t.shape.slice(ax)] }));
    return concatValues(addon, args.backend, expanded, ax) ?? fallback(args);
  };
}

function padKernel(addon: NativeAddon): NativeKernel {
  const fallback = cpuKernel('PadV2');
  return (args: KernelArgs) => {
    const x = args.inputs.x as tf.TensorInfo;
    const xv = words(args.backend, x);
    if (!xv) return fallback(args);
    const { paddings, constantValue } = args.attrs as unknown as { paddings: Array<[number, number]>; constantValue: number };
    const outShape = paddings.map((p, i) => p[0] + x.shape[i] + p[1]);
    const out = alloc(x.dtype, sizeOf(outShape));
    if (constantValue !== 0) out.fill(constantValue);
    const os = stridesOf(outShape);
    const offset = paddings.reduce((acc, p, d) => acc + p[0] * os[d], 0);
    copy(addon, xv, 0, stridesOf(x.shape), out, offset, os, x.shape);
    return args.backend.makeTensorInfo(outShape, x.dtype, out);
  };
}

/** GatherV2 with batchDims 0 and int32 indices (embedding lookups, index_select); others use the cpu kernel. */
function gatherKernel(addon: NativeAddon): NativeKernel {
  const fallback = cpuKernel('GatherV2');
  return (args: KernelArgs) => {
    const { x, indices } = args.inputs as { x: tf.TensorInfo; indices: tf.TensorInfo };
    const { axis, batchDims } = args.attrs as unknown as { axis: number; batchDims?: number };
    const xv = words(args.backend, x);
    const iv = args.backend.data.get(indices.dataId).values;
    if (!xv || (batchDims ?? 0) !== 0 || indices.dtype !== 'int32' || !(iv instanceof Int32Array)) return fallback(args);
    const ax = tf.util.parseAxisParam(axis, x.shape)[0];
    const axisDim = x.shape[ax];
    const outer = sizeOf(x.shape.slice(0, ax));
    const inner = sizeOf(x.shape.slice(ax + 1));
    const outShape = [...x.shape.slice(0, ax), ...indices.shape, ...x.shape.slice(ax + 1)];
    const out = alloc(x.dtype, sizeOf(outShape));
    if (out.length > 0) {
      const bad = addon.gather!(xv, iv, out, outer, axisDim, inner);
      if (bad) {
        const index = iv.find((i) => i < 0 || i >= axisDim);
        throw new Error(`GatherV2: the index value ${index} is not in [0, ${axisDim - 1}]`);
      }
    }
    return args.backend.makeTensorInfo(outShape, x.dtype, out);
  };
}

/** UnsortedSegmentSum of float32 x by int32 ids (the gradient of gather); ids out of range are dropped. */
function segmentSumKernel(addon: NativeAddon): NativeKernel {
  const fallback = cpuKernel('UnsortedSegmentSum');
  return (args: KernelArgs) => {
    const { x, segmentIds } = args.inputs as { x: tf.TensorInfo; segmentIds: tf.TensorInfo };
    const { numSegments } = args.attrs as unknown as { numSegments: number };
    const xv = args.backend.data.get(x.dataId).values;
    const ids = args.backend.data.get(segmentIds.dataId).values;
    if (x.dtype !== 'float32' || !(xv instanceof Float32Array) || !(ids instanceof Int32Array)) return fallback(args);
    const k = segmentIds.shape.length;
    const outShape = [numSegments, ...x.shape.slice(k)];
    const inner = sizeOf(x.shape.slice(k));
    const out = new Float32Array(sizeOf(outShape));
    if (out.length > 0 && ids.length > 0) addon.segmentSum!(xv, ids, out, numSegments, inner);
    return args.backend.makeTensorInfo(outShape, 'float32', out);
  };
}

export function layoutKernels(addon: NativeAddon): Record<string, NativeKernel> {
  return {
    Transpose: transposeKernel(addon), Slice: sliceKernel(addon), SplitV: splitVKernel(addon), Unpack: unpackKernel(addon),
    Concat: concatKernel(addon), Pack: packKernel(addon), PadV2: padKernel(addon),
    GatherV2: gatherKernel(addon), UnsortedSegmentSum: segmentSumKernel(addon),
  };
}
