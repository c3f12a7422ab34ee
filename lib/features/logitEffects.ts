/**
 * What SAE features do to the next-token prediction: the direct effect of a feature's decoder
 * direction on the logits (W_dec[f] @ W_U, the "top promoted / suppressed tokens" of feature
 * dashboards), and the measured effect of zero-ablating a feature where it fires on the
 * next-token probabilities (through the whole model downstream of its hook, with the SAE's error
 * term kept, as SAELens's use_error_term).
 */
import * as tf from '@tensorflow/tfjs';
import { SAE } from '../sae/sae';
import { HookFn } from '../model/types';
import { FeatureExample } from './topExamples';

/** Tokens a feature raises (largest values first) and lowers (most negative first), as [token id, value]. */
export interface TokenEffects {
  promoted: Array<[number, number]>;
  suppressed: Array<[number, number]>;
}

/** The minimum of a model these functions need (HookedTransformer has it). */
export interface UnembeddingModel {
  /** unembedding [d_model, d_vocab_out] */
  readonly W_U: tf.Tensor2D;
  forward(tokens: tf.Tensor, opts?: { fwdHooks?: Array<[string, HookFn]> }): { logits?: tf.Tensor3D };
}

/** The k largest and k smallest entries of each row of `values` [n, V]. */
async function topBottom(values: tf.Tensor2D, k: number): Promise<TokenEffects[]> {
  const kk = Math.min(k, values.shape[1]);
  const [tv, ti, bv, bi] = tf.tidy(() => {
    const top = tf.topk(values, kk);
    const bottom = tf.topk(tf.neg(values), kk);
    return [top.values, top.indices, tf.neg(bottom.values), bottom.indices];
  });
  const [a, b, c, d] = await Promise.all([tv.data(), ti.data(), bv.data(), bi.data()]);
  tf.dispose([tv, ti, bv, bi]);
  const out: TokenEffects[] = [];
  for (let r = 0; r < values.shape[0]; r++) {
    const promoted: Array<[number, number]> = [];
    const suppressed: Array<[number, number]> = [];
    for (let j = 0; j < kk; j++) {
      promoted.push([b[r * kk + j], a[r * kk + j]]);
      suppressed.push([d[r * kk + j], c[r * kk + j]]);
    }
    out.push({ promoted, suppressed });
  }
  return out;
}

/**
 * Direct logit effects of decoder directions: for each feature f, W_dec[f] @ W_U and its k most
 * promoted and suppressed tokens. W_U is the model's (processed, as loaded) unembedding; the SAE must
 * write to a d_model-wide hook (residual stream, attn_out, mlp_out).
 */
export async function decoderLogitEffects(sae: SAE, W_U: tf.Tensor2D, features: number[], k = 10): Promise<TokenEffects[]> {
  const [dModel] = W_U.shape;
  if (sae.cfg.d_in !== dModel) {
    throw new Error(`decoderLogitEffects: the SAE on ${sae.cfg.metadata.hook_name} has d_in=${sae.cfg.d_in}, the unembedding reads d_model=${dModel}; only SAEs on d_model-wide hooks write to the logits directly`);
  }
  for (const f of features) if (!Number.isInteger(f) || f < 0 || f >= sae.cfg.d_sae) throw new Error(`decoderLogitEffects: feature ${f} is out of range for d_sae=${sae.cfg.d_sae}`);
  if (!features.length) return [];
  const effects = tf.tidy(() => tf.matMul(tf.gather(sae.weights.W_dec, tf.tensor1d(features, 'int32')), W_U) as tf.Tensor2D);
  try {
    return await topBottom(effects, k);
  } finally {
    effects.dispose();
  }
}

/** One row of an ablation batch: a sequence prefix ending at the position where `feature` is ablated. */
interface AblationRow {
  feature: number;
  sequence: number;
  position: number;
}

export interface AblationEffectOptions {
  /** examples per feature to ablate at (its strongest first; default 4) */
  examplesPerFeature?: number;
  /** tokens per forward pass (rows are whole prefixes; default 8192) */
  maxBatchTokens?: number;
  /** tokens listed per side (default 10) */
  k?: number;
  /** called after each forward pass with (rows done, rows in all) */
  onProgress?: (done: number, total: number) => void;
}

/** Measured ablation effects of one feature: mean probability change (clean - ablated) over `examples` positions. */
export interface FeatureAblationEffects extends TokenEffects {
  feature: number;
  /** how many example positions the mean is over */
  examples: number;
}

/**
 * Measured effects of features on the next token at their top activating examples. For each feature
 * f and each of its first `examplesPerFeature` examples (sequence s, position p), the model runs on
 * s's tokens up to p with f zero-ablated at p only (x_p <- x_p + decode(f with f_j = 0) - decode(f),
 * the SAE's error term kept); the effect is the clean minus the ablated next-token probability at
 * p, averaged over the examples: positive for tokens the feature makes more likely. Probabilities
 * (not log-probs) keep the lists on tokens that matter rather than on the improbable tail.
 * `cleanLogProbs(sequence, position)` gives the unablated log-probs there (e.g. from one pass over
 * the whole sample; causal attention makes them equal to the prefix's).
 */
export async function ablationNextTokenEffects(
  model: UnembeddingModel, sae: SAE, tokens: ArrayLike<number>[], examples: Map<number, FeatureExample[]>,
  cleanLogProbs: (sequence: number, position: number) => Float32Array, opts: AblationEffectOptions = {},
): Promise<FeatureAblationEffects[]> {
  const per = opts.examplesPerFeature ?? 4;
  const budget = opts.maxBatchTokens ?? 8192;
  const hook = sae.cfg.metadata.hook_name;
  const rows: AblationRow[] = [];
  for (const [feature, list] of examples) for (const ex of list.slice(0, per)) rows.push({ feature, sequence: ex.sequence, position: ex.position });
  rows.sort((a, b) => a.position - b.position || a.feature - b.feature);
  const dVocab = model.W_U.shape[1];
  const sums = new Map<number, { sum: Float64Array; n: number }>();
  for (let start = 0; start < rows.length;) {
    // a chunk of rows whose padded prefixes fit the token budget
    let end = start + 1;
    while (end < rows.length && (end - start + 1) * (rows[end].position + 1) <= budget) end++;
    const chunk = rows.slice(start, end);
    const len = chunk[chunk.length - 1].position + 1;
    const ids = new Int32Array(chunk.length * len);
    chunk.forEach((r, b) => { for (let p = 0; p <= r.position; p++) ids[b * len + p] = tokens[r.sequence][p]; });
    const where = chunk.map((r, b) => [b, r.position]);
    const keep = new Float32Array(chunk.length * sae.cfg.d_sae).fill(1);
    chunk.forEach((r, b) => { keep[b * sae.cfg.d_sae + r.feature] = 0; });
    const ablate: HookFn = (act) => tf.tidy(() => {
      const idx = tf.tensor2d(where, [chunk.length, 2], 'int32');
      const x = tf.gatherND(act, idx) as tf.Tensor2D;
      const mask = tf.tensor2d(keep, [chunk.length, sae.cfg.d_sae]);
      const r = sae.run(x, { editFeatures: (f) => tf.mul(f, mask) as tf.Tensor2D, withError: true });
      const delta = tf.sub(tf.add(r.saeOut, r.error!), x);
      return tf.add(act, tf.scatterND(idx, delta, act.shape));
    });
    const tokT = tf.tensor2d(ids, [chunk.length, len], 'int32');
    let logProbs: Float32Array;
    try {
      const { logits } = model.forward(tokT, { fwdHooks: [[hook, ablate]] });
      const lp = tf.tidy(() => tf.logSoftmax(tf.gatherND(logits!, tf.tensor2d(where, [chunk.length, 2], 'int32')) as tf.Tensor2D));
      logits!.dispose();
      logProbs = (await lp.data()) as Float32Array;
      lp.dispose();
    } finally {
      tokT.dispose();
    }
    chunk.forEach((r, b) => {
      const clean = cleanLogProbs(r.sequence, r.position);
      if (clean.length !== dVocab) throw new Error(`ablationNextTokenEffects: cleanLogProbs(${r.sequence}, ${r.position}) has ${clean.length} values, the model has ${dVocab} tokens`);
      let s = sums.get(r.feature);
      if (!s) sums.set(r.feature, (s = { sum: new Float64Array(dVocab), n: 0 }));
      for (let v = 0; v < dVocab; v++) s.sum[v] += Math.exp(clean[v]) - Math.exp(logProbs[b * dVocab + v]);
      s.n++;
    });
    start = end;
    opts.onProgress?.(start, rows.length);
  }
  const features = [...sums.keys()].sort((a, b) => a - b);
  if (!features.length) return [];
  const means = new Float32Array(features.length * dVocab);
  features.forEach((f, i) => { const s = sums.get(f)!; for (let v = 0; v < dVocab; v++) means[i * dVocab + v] = s.sum[v] / s.n; });
  const meanT = tf.tensor2d(means, [features.length, dVocab]);
  try {
    const tb = await topBottom(meanT, opts.k ?? 10);
    return features.map((feature, i) => ({ feature, examples: sums.get(feature)!.n, ...tb[i] }));
  } finally {
    meanT.dispose();
  }
}
