/**
 * Top activating examples of SAE features: for every feature, the k (sequence, position) pairs
 * where it fires most, with the token there, plus a histogram of its positive activations.
 */
import * as tf from '@tensorflow/tfjs';

/** One activating example of a feature. */
export interface FeatureExample {
  feature: number;
  /** 1 = strongest */
  rank: number;
  sequence: number;
  position: number;
  token: number;
  activation: number;
}

/** Positive activations of one feature, binned into equal-width bins over [0, max]. */
export interface FeatureHistogram {
  feature: number;
  edges: number[];
  counts: number[];
  /** how many (sequence, position) pairs it fires on (activation > 0) */
  firing: number;
}

export interface TopExamples {
  k: number;
  dSae: number;
  /** [batch, pos] of the activations */
  shape: [number, number];
  /** features with at least one positive activation, in index order */
  live: number[];
  /** per live feature: its examples with activation > 0, strongest first (at most k) */
  examples: Map<number, FeatureExample[]>;
  /** per live feature: histogram of its positive activations */
  histograms: Map<number, FeatureHistogram>;
}

/**
 * Top-k activating (sequence, position) pairs per feature. acts: [batch, pos, d_sae] feature
 * activations (e.g. sae.encode of a cached hook); tokens: [batch, pos] token ids. Examples with
 * activation <= 0 are left out, so a feature firing on fewer than k positions lists fewer.
 * Ties keep tf.topk's order. `bins` sets the histograms' bin count (default 20).
 */
export async function topActivatingExamples(acts: tf.Tensor3D, tokens: readonly (readonly number[])[] | tf.Tensor2D, k = 20, bins = 20): Promise<TopExamples> {
  const [B, P, dSae] = acts.shape;
  const ids = tokens instanceof tf.Tensor ? (await tokens.array()) as number[][] : tokens;
  if (ids.length !== B || ids.some((r) => r.length !== P)) throw new Error(`topActivatingExamples: tokens must be [${B}, ${P}] like the activations`);
  if (!(Number.isInteger(k) && k > 0)) throw new Error(`topActivatingExamples: k must be a positive integer, got ${k}`);
  const N = B * P;
  const kk = Math.min(k, N);
  const [valuesT, indicesT, flatT] = tf.tidy(() => {
    const byFeature = tf.transpose(tf.reshape(acts, [N, dSae])); // [d_sae, N]
    const { values, indices } = tf.topk(byFeature, kk);
    return [values, indices, byFeature];
  });
  const values = await valuesT.data();
  const indices = await indicesT.data();
  tf.dispose([valuesT, indicesT]);
  const live: number[] = [];
  const examples = new Map<number, FeatureExample[]>();
  const histograms = new Map<number, FeatureHistogram>();
  try {
    for (let f = 0; f < dSae; f++) {
      if (!(values[f * kk] > 0)) continue;
      live.push(f);
      const list: FeatureExample[] = [];
      for (let r = 0; r < kk; r++) {
        const a = values[f * kk + r];
        if (!(a > 0)) break;
        const idx = indices[f * kk + r];
        const sequence = Math.floor(idx / P);
        const position = idx % P;
        list.push({ feature: f, rank: r + 1, sequence, position, token: ids[sequence][position], activation: a });
      }
      examples.set(f, list);
      // histogram of this feature's positive activations over [0, max]
      const col = tf.tidy(() => tf.slice(flatT, [f, 0], [1, N]));
      const v = await col.data();
      col.dispose();
      const max = values[f * kk];
      const counts = new Array<number>(bins).fill(0);
      let firing = 0;
      for (let i = 0; i < v.length; i++) {
        if (!(v[i] > 0)) continue;
        firing++;
        counts[Math.min(bins - 1, Math.floor((v[i] / max) * bins))]++;
      }
      const edges = Array.from({ length: bins + 1 }, (_, i) => (max * i) / bins);
      histograms.set(f, { feature: f, edges, counts, firing });
    }
  } finally {
    flatT.dispose();
  }
  return { k, dSae, shape: [B, P], live, examples, histograms };
}
