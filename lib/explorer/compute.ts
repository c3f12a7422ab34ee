/**
 * What the explorer page computes, as plain functions over lib (no DOM, no Node: they run in the
 * page and in tests): a text's tokens with their top SAE features, the next-token prediction, and
 * the prediction with one feature scaled or ablated (the SAE spliced in with its error term, so
 * only the intervention changes the output).
 */
import * as tf from '@tensorflow/tfjs';
import { HookedTransformer } from '../model/hookedTransformer';
import { SAE } from '../sae/sae';
import { runWithSAE } from '../sae/splice';

/** [feature, activation] pairs. */
export type FeatureActs = Array<[number, number]>;

/**
 * The k strongest features of each row of `acts` ([rows, d] row-major): only positive activations,
 * largest first, ties by lower feature id.
 */
export function topFeaturesPerRow(acts: ArrayLike<number>, d: number, k = 5): FeatureActs[] {
  const rows = acts.length / d;
  const out: FeatureActs[] = [];
  for (let r = 0; r < rows; r++) {
    const best: FeatureActs = [];
    for (let f = 0; f < d; f++) {
      const a = acts[r * d + f];
      if (!(a > 0)) continue;
      if (best.length === k && a <= best[k - 1][1]) continue;
      let i = best.length;
      while (i > 0 && best[i - 1][1] < a) i--;
      best.splice(i, 0, [f, a]);
      if (best.length > k) best.pop();
    }
    out.push(best);
  }
  return out;
}

/** softmax of one row of logits. */
export function softmax(logits: ArrayLike<number>): Float64Array {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) if (logits[i] > max) max = logits[i];
  const p = new Float64Array(logits.length);
  let z = 0;
  for (let i = 0; i < logits.length; i++) z += (p[i] = Math.exp(logits[i] - max));
  for (let i = 0; i < p.length; i++) p[i] /= z;
  return p;
}

/** The k most likely next tokens from one row of logits: [token id, logit, probability], most likely first (ties by lower id). */
export function topNextTokens(logits: Float32Array, k = 10): Array<[number, number, number]> {
  const p = softmax(logits);
  const order = Array.from(logits.keys()).sort((a, b) => logits[b] - logits[a] || a - b).slice(0, k);
  return order.map((i) => [i, logits[i], p[i]]);
}

/** A text run through the model and an SAE. */
export interface TextAnalysis {
  /** token ids the model read */
  tokens: number[];
  /** feature activations [tokens, d_sae] */
  acts: Float32Array;
  dSae: number;
  /** each token's top 5 features */
  top: FeatureActs[];
  /** logits after the last token [d_vocab] */
  lastLogits: Float32Array;
}

/** Run `tokens` ([pos] ids) through the model, caching the SAE's hook; encode it with the SAE. */
export async function analyseTokens(model: HookedTransformer, sae: SAE, tokens: number[], k = 5): Promise<TextAnalysis> {
  if (!tokens.length) throw new Error('analyseTokens: no tokens');
  const hook = sae.cfg.metadata.hook_name;
  const tokT = tf.tensor2d([tokens], [1, tokens.length], 'int32');
  const { logits, cache } = model.runWithCache(tokT, { namesFilter: [hook] });
  try {
    const f = sae.encode(cache.get(hook));
    const last = tf.tidy(() => tf.reshape(tf.slice(logits!, [0, tokens.length - 1, 0], [1, 1, -1]), [-1]));
    const [acts, lastLogits] = await Promise.all([f.data() as Promise<Float32Array>, last.data() as Promise<Float32Array>]);
    tf.dispose([f, last]);
    const d = sae.cfg.d_sae;
    return { tokens, acts, dSae: d, top: topFeaturesPerRow(acts, d, k), lastLogits };
  } finally {
    tf.dispose([tokT, logits!]);
    cache.dispose();
  }
}

/**
 * Logits after the last token with `feature` scaled by `scale` at every position (0 ablates it):
 * the SAE is spliced in at its hook with its error term, so with scale 1 the logits are the clean ones.
 */
export async function intervenedLastLogits(model: HookedTransformer, sae: SAE, tokens: number[], feature: number, scale: number): Promise<Float32Array> {
  if (!Number.isFinite(scale)) throw new Error(`intervention scale must be a finite number, got ${scale}`);
  const tokT = tf.tensor2d([tokens], [1, tokens.length], 'int32');
  try {
    const { logits } = runWithSAE(model, sae, tokT, { includeError: true, interventions: [{ feature, op: 'scale', value: scale }] });
    const last = tf.tidy(() => tf.reshape(tf.slice(logits!, [0, tokens.length - 1, 0], [1, 1, -1]), [-1]));
    logits!.dispose();
    const out = await last.data() as Float32Array;
    last.dispose();
    return out;
  } finally {
    tokT.dispose();
  }
}
