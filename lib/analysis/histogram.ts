/**
 * Equal-width histograms with numpy.histogram's bin rules, one-shot or streamed over batches.
 *
 * Rules (as numpy.histogram with an integer `bins`): `bins` equal-width bins over [min, max] of the
 * data (or the given range); every bin is half-open [e_i, e_{i+1}) except the last, which is closed
 * [e_{n-1}, e_n]; values outside the range (and NaN) are not counted; when min == max the range
 * becomes [min - 0.5, max + 0.5]. Binning runs in tfjs (float32), counts come back as numbers.
 */
import * as tf from '@tensorflow/tfjs';
import { NumericInput, withTensors } from './stats';

/** Bin edges (length bins + 1) and counts (length bins). */
export interface Histogram {
  edges: Float64Array;
  counts: Float64Array;
}

export interface HistogramOptions {
  /** number of equal-width bins (default 10, as numpy) */
  bins?: number;
  /** [lo, hi]; default: the data's [min, max] */
  range?: [number, number];
}

/** numpy's handling of the range: a degenerate one widens by 0.5 on each side. */
export function histogramRange(lo: number, hi: number): [number, number] {
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) {
    throw new Error(`histogram: range [${lo}, ${hi}] is not finite; remove NaN/inf values or pass an explicit finite range`);
  }
  if (lo > hi) throw new Error(`histogram: range start ${lo} is greater than its end ${hi}`);
  return lo === hi ? [lo - 0.5, hi + 0.5] : [lo, hi];
}

/** `bins + 1` equal-width edges over [lo, hi] (numpy.linspace: the last edge is exactly hi). */
export function histogramEdges(lo: number, hi: number, bins: number): Float64Array {
  const edges = new Float64Array(bins + 1);
  const step = (hi - lo) / bins;
  for (let i = 0; i <= bins; i++) edges[i] = lo + i * step;
  edges[bins] = hi;
  return edges;
}

function checkBins(bins: number): void {
  if (!Number.isInteger(bins) || bins < 1) throw new Error(`histogram: bins must be a positive integer, got ${bins}`);
}

/**
 * Counts of `values` (any shape, flattened) per bin for fixed edges; a tensor of shape [bins].
 * Bin index = floor((x - lo) * bins / (hi - lo)), then corrected against the edges as numpy does.
 */
export function histogramCountsTensor(values: tf.Tensor, edges: Float64Array): tf.Tensor1D {
  const bins = edges.length - 1;
  const lo = edges[0];
  const hi = edges[bins];
  return tf.tidy(() => {
    const x = values.flatten().toFloat();
    const inRange = tf.logicalAnd(x.greaterEqual(lo), x.lessEqual(hi)); // NaN compares false
    const xs = tf.where(inRange, x, tf.fill(x.shape, lo)); // out-of-range values go to bin 0 with weight 0
    let idx = xs.sub(lo).mul(bins / (hi - lo)).floor().clipByValue(0, bins - 1).toInt();
    const edgesT = tf.tensor1d(Float32Array.from(edges));
    // Correct floating-point slips: a value below its bin's left edge moves down, one at or above the right edge up.
    idx = idx.sub(xs.less(tf.gather(edgesT, idx)).toInt());
    const up = tf.logicalAnd(xs.greaterEqual(tf.gather(edgesT, idx.add(tf.scalar(1, 'int32')))), idx.notEqual(bins - 1));
    idx = idx.add(up.toInt());
    const weights = inRange.toFloat();
    return tf.bincount(idx as tf.Tensor1D, weights as tf.Tensor1D, bins);
  });
}

/** The data's min and max (NaN when it holds NaN), computed in tfjs. */
export function minMax(values: NumericInput): [number, number] {
  return withTensors([values], (t) => {
    if (t.size === 0) throw new Error('histogram: no values to bin; pass a non-empty array or an explicit range');
    const [mn, mx] = tf.tidy(() => {
      const f = t.flatten();
      const bad = tf.logicalNot(tf.isFinite(f)).any();
      return [tf.where(bad, tf.scalar(NaN), f.min()), tf.where(bad, tf.scalar(NaN), f.max())];
    });
    const r: [number, number] = [mn.dataSync()[0], mx.dataSync()[0]];
    mn.dispose();
    mx.dispose();
    return r;
  });
}

/** A histogram of `values` (flattened) with numpy.histogram's rules. */
export function histogram(values: NumericInput, options: HistogramOptions = {}): Histogram {
  const bins = options.bins ?? 10;
  checkBins(bins);
  return withTensors([values], (t) => {
    const [lo, hi] = histogramRange(...(options.range ?? minMax(t)));
    const edges = histogramEdges(lo, hi, bins);
    const c = histogramCountsTensor(t, edges);
    const counts = Float64Array.from(c.dataSync() as Float32Array);
    c.dispose();
    return { edges, counts };
  });
}

/** Serialised state of a StreamingHistogram. */
export interface StreamingHistogramState {
  edges: number[];
  counts: number[];
}

/**
 * A histogram over fixed edges, filled batch by batch; shards with the same edges merge by adding
 * counts. (For numpy's data-dependent range, find [min, max] first, e.g. with MinMaxAccumulator.)
 */
export class StreamingHistogram {
  readonly edges: Float64Array;
  readonly counts: Float64Array;

  constructor(range: [number, number], bins: number) {
    checkBins(bins);
    const [lo, hi] = histogramRange(range[0], range[1]);
    this.edges = histogramEdges(lo, hi, bins);
    this.counts = new Float64Array(bins);
  }

  /** Adds a batch of values (any shape). */
  add(values: NumericInput): void {
    withTensors([values], (t) => {
      const c = histogramCountsTensor(t, this.edges);
      const v = c.dataSync();
      for (let i = 0; i < v.length; i++) this.counts[i] += v[i];
      c.dispose();
    });
  }

  merge(other: StreamingHistogram): this {
    if (other.edges.length !== this.edges.length || other.edges.some((e, i) => e !== this.edges[i])) {
      throw new Error('StreamingHistogram.merge: the two histograms have different edges; build every shard with the same range and bins');
    }
    for (let i = 0; i < this.counts.length; i++) this.counts[i] += other.counts[i];
    return this;
  }

  result(): Histogram {
    return { edges: Float64Array.from(this.edges), counts: Float64Array.from(this.counts) };
  }

  toJSON(): StreamingHistogramState {
    return { edges: Array.from(this.edges), counts: Array.from(this.counts) };
  }

  static fromJSON(s: StreamingHistogramState): StreamingHistogram {
    const h = new StreamingHistogram([s.edges[0], s.edges[s.edges.length - 1]], s.edges.length - 1);
    h.edges.set(s.edges);
    h.counts.set(s.counts);
    return h;
  }
}

/** Running min and max over batches (mergeable); NaN values are ignored. */
export class MinMaxAccumulator {
  min = Infinity;
  max = -Infinity;

  add(values: NumericInput): void {
    withTensors([values], (t) => {
      if (t.size === 0) return;
      const [mn, mx] = tf.tidy(() => {
        const f = t.flatten().toFloat();
        const ok = tf.logicalNot(tf.isNaN(f));
        return [tf.where(ok, f, tf.fill(f.shape, Infinity)).min(), tf.where(ok, f, tf.fill(f.shape, -Infinity)).max()];
      });
      this.min = Math.min(this.min, mn.dataSync()[0]);
      this.max = Math.max(this.max, mx.dataSync()[0]);
      mn.dispose();
      mx.dispose();
    });
  }

  merge(other: MinMaxAccumulator): this {
    this.min = Math.min(this.min, other.min);
    this.max = Math.max(this.max, other.max);
    return this;
  }

  toJSON(): { min: number; max: number } {
    return { min: this.min, max: this.max };
  }

  static fromJSON(s: { min: number | null; max: number | null }): MinMaxAccumulator {
    const m = new MinMaxAccumulator();
    m.min = s.min ?? Infinity; // JSON writes ±Infinity as null
    m.max = s.max ?? -Infinity;
    return m;
  }
}
