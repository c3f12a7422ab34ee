import * as tf from '@tensorflow/tfjs';

export interface GeometricMedianOptions {
  /** lower clamp on distances (avoids division by zero at a data point) */
  eps?: number;
  maxIter?: number;
  /** stop when the objective changes by at most ftol * objective */
  ftol?: number;
}

/**
 * Geometric median of points [n, d] by Weiszfeld iteration (as SAELens's compute_geometric_median):
 * start at the mean; repeat median = sum_i w_i x_i / sum_i w_i with w_i = 1 / max(|x_i - median|, eps)
 * until the objective sum_i |x_i - median| stops changing. Returns [d].
 */
export function geometricMedian(points: tf.Tensor2D, opts: GeometricMedianOptions = {}): { median: tf.Tensor1D; iterations: number; objective: number } {
  const eps = opts.eps ?? 1e-6;
  const maxIter = opts.maxIter ?? 100;
  const ftol = opts.ftol ?? 1e-20;
  const objectiveOf = (m: tf.Tensor1D): number => tf.tidy(() => tf.sum(tf.norm(tf.sub(points, m), 'euclidean', 1)).dataSync()[0]);
  let median = tf.tidy(() => tf.mean(points, 0)) as tf.Tensor1D;
  let objective = objectiveOf(median);
  let iterations = 0;
  for (let it = 0; it < maxIter; it++) {
    iterations = it + 1;
    const prev = objective;
    const next = tf.tidy(() => {
      const dist = tf.maximum(tf.norm(tf.sub(points, median), 'euclidean', 1), eps); // [n]
      const w = tf.div(1, dist);
      return tf.div(tf.sum(tf.mul(points, tf.expandDims(w, 1)), 0), tf.sum(w)) as tf.Tensor1D;
    });
    median.dispose();
    median = next;
    objective = objectiveOf(median);
    if (Math.abs(prev - objective) <= ftol * objective) break;
  }
  return { median, iterations, objective };
}
