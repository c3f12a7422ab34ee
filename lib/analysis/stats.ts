/**
 * Small statistics shared by the analysis modules: mergeable moments, NaN-skipping means,
 * Pearson correlation and least-squares regression of two vectors.
 */
import * as tf from '@tensorflow/tfjs';

/** Something that holds numbers: a tensor or a plain/typed array. */
export type NumericInput = tf.Tensor | ArrayLike<number>;

/** A float32 tensor view of `x` (a new tensor for arrays, the same tensor otherwise: do not dispose it twice). */
export function asTensor(x: NumericInput): tf.Tensor {
  if (x instanceof tf.Tensor) return x;
  return tf.tensor1d(Float32Array.from(x as ArrayLike<number>), 'float32');
}

/** Runs `fn` on tensor views of the inputs, disposing the views made here (never the caller's tensors). */
export function withTensors<T>(inputs: NumericInput[], fn: (...ts: tf.Tensor[]) => T): T {
  const made: tf.Tensor[] = [];
  const ts = inputs.map((x) => {
    const t = asTensor(x);
    if (t !== x) made.push(t);
    return t;
  });
  try {
    return fn(...ts);
  } finally {
    for (const t of made) t.dispose();
  }
}

/**
 * Count, sum and centred sum of squares of a set of numbers (or one per column).
 * Two sets combine exactly (Chan, Golub, LeVeque): mean and M2 of the union without revisiting data.
 */
export interface Moments {
  n: number;
  sum: number;
  /** sum of squared deviations from the set's own mean */
  m2: number;
}

/** The moments of the union of two disjoint sets. */
export function combineMoments(a: Moments, b: Moments): Moments {
  if (a.n === 0) return { ...b };
  if (b.n === 0) return { ...a };
  const n = a.n + b.n;
  const delta = b.sum / b.n - a.sum / a.n;
  return { n, sum: a.sum + b.sum, m2: a.m2 + b.m2 + (delta * delta * a.n * b.n) / n };
}

/** Population variance of a moments record (NaN when empty). */
export function momentsVariance(m: Moments): number {
  return m.n > 0 ? m.m2 / m.n : NaN;
}

/** Mean of the values (NaN when empty), summed in order in float64. */
export function mean(values: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < values.length; i++) sum += values[i];
  return sum / values.length;
}

/** Mean of the values that are not NaN (like numpy.nanmean); NaN when none are left. Infinities count. */
export function nanMean(values: ArrayLike<number>): number {
  let sum = 0;
  let n = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (!Number.isNaN(v)) {
      sum += v;
      n++;
    }
  }
  return n > 0 ? sum / n : NaN;
}

/** How many values are NaN. */
export function countNaN(values: ArrayLike<number>): number {
  let n = 0;
  for (let i = 0; i < values.length; i++) if (Number.isNaN(values[i])) n++;
  return n;
}

/** A running mean as a sum and a count (merge adds both, never averages averages). */
export class MeanAccumulator {
  sum = 0;
  count = 0;

  /** Adds `count` observations whose total is `sum`. */
  add(sum: number, count = 1): void {
    this.sum += sum;
    this.count += count;
  }

  merge(other: MeanAccumulator): this {
    this.sum += other.sum;
    this.count += other.count;
    return this;
  }

  /** The mean (NaN when nothing was added). */
  mean(): number {
    return this.count > 0 ? this.sum / this.count : NaN;
  }

  toJSON(): { sum: number; count: number } {
    return { sum: this.sum, count: this.count };
  }

  static fromJSON(s: { sum: number; count: number }): MeanAccumulator {
    const m = new MeanAccumulator();
    m.sum = s.sum;
    m.count = s.count;
    return m;
  }
}

/** Least-squares line y = slope * x + intercept, with the Pearson r of x and y. */
export interface RegressionLine {
  slope: number;
  intercept: number;
  /** Pearson correlation of x and y (NaN when either is constant) */
  r: number;
  n: number;
}

function checkSameLength(x: tf.Tensor, y: tf.Tensor, what: string): void {
  if (x.size !== y.size) throw new Error(`${what}: x has ${x.size} values but y has ${y.size}; pass two vectors of the same length`);
  if (x.size < 2) throw new Error(`${what}: needs at least 2 values, got ${x.size}`);
}

/**
 * Least-squares regression of y on x and their Pearson r (as scipy.stats.linregress), computed on
 * centred values in tfjs. Inputs are flattened. A constant x gives NaN slope and r.
 */
export function linearRegression(x: NumericInput, y: NumericInput): RegressionLine {
  return withTensors([x, y], (xt, yt) => {
    checkSameLength(xt, yt, 'linearRegression');
    const [mx, my, sxx, syy, sxy, rangeX, rangeY] = tf.tidy(() => {
      const xf = xt.flatten().toFloat();
      const yf = yt.flatten().toFloat();
      const mxT = xf.mean();
      const myT = yf.mean();
      const dx = xf.sub(mxT);
      const dy = yf.sub(myT);
      return [mxT, myT, dx.square().sum(), dy.square().sum(), dx.mul(dy).sum(), xf.max().sub(xf.min()), yf.max().sub(yf.min())];
    }).map((t) => {
      const v = t.dataSync()[0];
      t.dispose();
      return v;
    });
    // A constant vector is detected exactly (max == min): its float32 centred sum of squares need not be 0.
    const constantX = !(rangeX > 0);
    const slope = constantX ? NaN : sxy / sxx;
    const r = constantX || !(rangeY > 0) ? NaN : Math.max(-1, Math.min(1, sxy / Math.sqrt(sxx * syy)));
    return { slope, intercept: constantX ? NaN : my - slope * mx, r, n: xt.size };
  });
}

/**
 * linearRegression of x and y given as aligned parts (x = concat of xs[i], y = concat of ys[i]), in float64 with
 * two passes (means, then centred sums) and no copy: for inputs too large to hold as one array or tensor
 * (a JavaScript array stops growing near 112M entries). Agrees with linearRegression to float32 rounding.
 */
export function linearRegressionParts(xs: ArrayLike<number>[], ys: ArrayLike<number>[]): RegressionLine {
  if (xs.length !== ys.length) throw new Error(`linearRegressionParts: ${xs.length} x parts but ${ys.length} y parts`);
  let n = 0;
  let sx = 0;
  let sy = 0;
  let minX = Infinity, maxX = -Infinity, minY = Infinity, maxY = -Infinity;
  xs.forEach((x, i) => {
    const y = ys[i];
    if (x.length !== y.length) throw new Error(`linearRegressionParts: part ${i} has ${x.length} x values but ${y.length} y values`);
    for (let k = 0; k < x.length; k++) {
      const a = x[k];
      const b = y[k];
      sx += a; sy += b;
      if (a < minX) minX = a;
      if (a > maxX) maxX = a;
      if (b < minY) minY = b;
      if (b > maxY) maxY = b;
    }
    n += x.length;
  });
  const mx = sx / n;
  const my = sy / n;
  let sxx = 0, syy = 0, sxy = 0;
  xs.forEach((x, i) => {
    const y = ys[i];
    for (let k = 0; k < x.length; k++) {
      const dx = x[k] - mx;
      const dy = y[k] - my;
      sxx += dx * dx; syy += dy * dy; sxy += dx * dy;
    }
  });
  const constantX = !(maxX - minX > 0);
  const slope = constantX ? NaN : sxy / sxx;
  const r = constantX || !(maxY - minY > 0) ? NaN : Math.max(-1, Math.min(1, sxy / Math.sqrt(sxx * syy)));
  return { slope, intercept: constantX ? NaN : my - slope * mx, r, n };
}

/** Pearson correlation of two vectors (NaN when either is constant). */
export function pearson(x: NumericInput, y: NumericInput): number {
  return linearRegression(x, y).r;
}

/**
 * Sums over the rows of x [rows, cols] -> [cols], as a ones-vector matmul: on the wasm backend this is
 * ~15x faster than `x.sum(0)` (a reduction over a non-last axis transposes first). Call inside tf.tidy.
 */
export function columnSums(x: tf.Tensor): tf.Tensor1D {
  if (x.rank !== 2) throw new Error(`columnSums: expected a [rows, cols] tensor, got shape [${x.shape}]`);
  const [rows, cols] = x.shape;
  return tf.matMul(tf.ones([1, rows]), x.toFloat() as tf.Tensor2D).reshape([cols]) as tf.Tensor1D;
}

/**
 * v [cols] repeated over `rows` rows -> [rows, cols], as an outer product with ones (exact). Broadcasting
 * binary ops are slow on tfjs's cpu/native backends (per-element index arithmetic) and comparisons with
 * broadcasting on wasm; same-shape operands take the fast paths. Call inside tf.tidy.
 */
export function tileRows(v: tf.Tensor, rows: number): tf.Tensor2D {
  return tf.matMul(tf.ones([rows, 1]), v.toFloat().reshape([1, v.size])) as tf.Tensor2D;
}

/** v [rows] repeated over `cols` columns -> [rows, cols] (outer product with ones, exact). Call inside tf.tidy. */
export function tileColumns(v: tf.Tensor, cols: number): tf.Tensor2D {
  return tf.matMul(v.toFloat().reshape([v.size, 1]), tf.ones([1, cols])) as tf.Tensor2D;
}

/** Reads a scalar tensor and disposes it. */
export function takeScalar(t: tf.Tensor): number {
  const v = t.dataSync()[0];
  t.dispose();
  return v;
}

/** Reads a tensor's values as a Float64Array (for accumulation) and disposes it. */
export function takeFloat64(t: tf.Tensor): Float64Array {
  const v = Float64Array.from(t.dataSync() as Float32Array);
  t.dispose();
  return v;
}
