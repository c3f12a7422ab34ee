/**
 * Feature ablation (seed 003, corrected): zero one SAE feature at hook A, at every position, by
 * adding decode(f with f_j = 0) - decode(f) to the activation (for SAEs without normalisation this
 * removes exactly f_j W_dec[j]; b_dec and the other features stay). Only A is modified; the
 * downstream SAE only reads. Effects are ablated minus clean at the last position, averaged over
 * sequences, on every downstream feature and on log-softmax of the logits.
 */
import * as tf from '@tensorflow/tfjs';
import { interruptible } from '../notebook/interrupt';
import { HookFn } from '../model/types';
import { SAE } from '../sae/sae';
import { CircuitModel, SAESet, orderHooks, saeAt } from './common';

/**
 * Activation with features removed, for `groups` feature sets stacked along the batch:
 * x [G * n, ..., d] -> x + decode(f * keep) - decode(f), keep [G, d_sae] (1 keeps, 0 zeroes).
 */
export function ablateFeatures(sae: SAE, x: tf.Tensor, keep: tf.Tensor2D): tf.Tensor {
  return tf.tidy(() => {
    const G = keep.shape[0];
    const f = sae.encode(x);
    const rows = f.shape[0] as number;
    if (rows % G !== 0) throw new Error(`ablateFeatures: batch ${rows} is not a multiple of ${G} feature groups`);
    const grouped = tf.reshape(f, [G, -1, sae.cfg.d_sae]);
    const edited = tf.reshape(tf.mul(grouped, tf.expandDims(keep, 1)), f.shape);
    return tf.add(x, tf.sub(sae.decode(edited), sae.decode(f)));
  });
}

/** [G, d_sae] keep mask with 0 at feature ids[g] in row g. */
export function singleFeatureKeepMask(ids: number[], dSae: number): tf.Tensor2D {
  const m = new Float32Array(ids.length * dSae).fill(1);
  ids.forEach((j, g) => {
    if (!Number.isInteger(j) || j < 0 || j >= dSae) throw new Error(`feature ${j} is out of range for d_sae=${dSae}`);
    m[g * dSae + j] = 0;
  });
  return tf.tensor2d(m, [ids.length, dSae]);
}

export interface AblationOptions {
  /** hook whose SAE feature is ablated */
  layerHook: string;
  /** hook whose SAE features are read (after layerHook); omit for log-prob effects only */
  downstreamHook?: string;
  /** feature ids at layerHook, one ablation each */
  features: number[];
  /** features ablated per forward pass (the batch is tiled this many times; default 8) */
  featuresPerPass?: number;
  /**
   * sequence copies (features x sequences) per forward pass: bounds the pass's [rows, T, d_sae] feature
   * tensor at the ablated hook. Default: as many as fit ABLATION_PASS_BYTES (at least one)
   */
  maxRowsPerPass?: number;
}

/** Bytes of the [rows, T, d_sae] feature tensor one ablation pass may hold by default (256 MiB). */
export const ABLATION_PASS_BYTES = 256 * 2 ** 20;

/** Rows per ablation pass so that rows x T x d_sae float32 values stay within `bytes` (at least 1). */
export function ablationRowsPerPass(T: number, dSae: number, bytes = ABLATION_PASS_BYTES): number {
  return Math.max(1, Math.floor(bytes / (4 * T * Math.max(1, dSae))));
}

export interface AblationEffects {
  features: number[];
  downstreamHook?: string;
  /** [n_features, d_sae_B] (empty without a downstream hook) row-major: mean over sequences of ablated - clean downstream feature acts at the last position */
  featureEffects: Float32Array;
  dSaeDownstream: number;
  /** [n_features, d_vocab] row-major: mean over sequences of ablated - clean log-softmax at the last position */
  logprobEffects: Float32Array;
  dVocab: number;
  /** [N, d_sae_B] clean downstream feature acts at the last position */
  cleanDownstream: Float32Array;
  /** [N, d_vocab] clean log-softmax at the last position */
  cleanLogprobs: Float32Array;
}

/** Last-position downstream features [rows, d_sae_B] and log-probs [rows, V] of one pass with extra hooks. */
function lastPositionReadout(model: CircuitModel, down: SAE | undefined, downHook: string | undefined, tokens: tf.Tensor2D, extra: Array<[string, HookFn]>): { feats: tf.Tensor2D; logprobs: tf.Tensor2D } {
  let feats: tf.Tensor2D | undefined;
  if (!down || !downHook) {
    const logits = model.forward(tokens, { fwdHooks: extra, logitsToKeep: 1 }).logits!;
    const logprobs = tf.tidy(() => {
      const [B, T, V] = logits.shape;
      return tf.logSoftmax(tf.reshape(tf.slice(logits, [0, T - 1, 0], [B, 1, V]), [B, V])) as tf.Tensor2D;
    });
    logits.dispose();
    return { feats: tf.zeros([tokens.shape[0], 0]) as tf.Tensor2D, logprobs };
  }
  const read: HookFn = (x) => {
    const T = x.shape[1] as number;
    const last = tf.slice(x, [0, T - 1], [-1, 1]);
    feats = tf.keep(tf.tidy(() => tf.reshape(down.encode(last), [x.shape[0] as number, down.cfg.d_sae]) as tf.Tensor2D));
  };
  const logits = model.forward(tokens, { fwdHooks: [...extra, [downHook, read]], logitsToKeep: 1 }).logits!;
  const logprobs = tf.tidy(() => {
    const [B, T, V] = logits.shape;
    return tf.logSoftmax(tf.reshape(tf.slice(logits, [0, T - 1, 0], [B, 1, V]), [B, V])) as tf.Tensor2D;
  });
  logits.dispose();
  if (!feats) throw new Error(`hook ${downHook} did not run in the forward pass`);
  return { feats, logprobs };
}

/**
 * Effects of ablating each feature of `opts.features` at layerHook, on the downstream SAE's
 * features and on next-token log-probabilities (rows in feature order). tokens [N, T].
 */
export async function ablationEffects(model: CircuitModel, saes: SAESet, tokens: tf.Tensor2D, opts: AblationOptions): Promise<AblationEffects> {
  const up = saeAt(saes, opts.layerHook);
  const down = opts.downstreamHook === undefined ? undefined : saeAt(saes, opts.downstreamHook);
  if (opts.downstreamHook !== undefined) {
    const [first] = orderHooks(model, [opts.layerHook, opts.downstreamHook]);
    if (opts.layerHook === opts.downstreamHook || first !== opts.layerHook) {
      throw new Error(`--downstream-hook ${opts.downstreamHook} must come after --layer-hook ${opts.layerHook} in the model`);
    }
  }
  const [N, T] = tokens.shape;
  const dB = down ? down.cfg.d_sae : 0;
  const V = model.cfg.d_vocab_out;
  const nF = opts.features.length;
  const maxRows = Math.max(1, opts.maxRowsPerPass ?? ablationRowsPerPass(T, up.cfg.d_sae));
  const per = Math.max(1, Math.min(opts.featuresPerPass ?? 8, maxRows));
  // sequences per pass: `per` copies of each must fit maxRows; the clean readout uses the same chunks
  const seqChunk = Math.max(1, Math.floor(maxRows / per));
  const chunks: Array<[number, number]> = [];
  for (let a = 0; a < N; a += seqChunk) chunks.push([a, Math.min(seqChunk, N - a)]);
  const cleanFeats = new Float32Array(N * dB);
  const cleanLogprobs = new Float32Array(N * V);
  const chunkTokens = chunks.map(([a, n]) => (chunks.length === 1 ? tokens : (tf.slice(tokens, [a, 0], [n, T]) as tf.Tensor2D)));
  const cleans: Array<{ feats: tf.Tensor2D; logprobs: tf.Tensor2D }> = [];
  try {
    chunks.forEach(([a], c) => {
      const r = lastPositionReadout(model, down, opts.downstreamHook, chunkTokens[c], []);
      cleans.push(r);
      cleanFeats.set(r.feats.dataSync() as Float32Array, a * dB);
      cleanLogprobs.set(r.logprobs.dataSync() as Float32Array, a * V);
    });
    // sums over sequences of ablated - clean, in float64, then / N
    const feSum = new Float64Array(nF * dB);
    const leSum = new Float64Array(nF * V);
    const stopPoint = interruptible('feature ablation');
    for (let s = 0; s < nF; s += per) {
      await stopPoint(`${s} of ${nF} features ablated`);
      const ids = opts.features.slice(s, s + per);
      const G = ids.length;
      const keep = singleFeatureKeepMask(ids, up.cfg.d_sae);
      const ablate: HookFn = (x) => ablateFeatures(up, x, keep);
      try {
        for (let c = 0; c < chunks.length; c++) {
          const n = chunks[c][1];
          const tiled = tf.tile(chunkTokens[c], [G, 1]) as tf.Tensor2D;
          const r = lastPositionReadout(model, down, opts.downstreamHook, tiled, [[opts.layerHook, ablate]]);
          const [fe, le] = tf.tidy(() => {
            // [G * n, .] -> [G, n, .] minus clean [1, n, .], summed over n
            const eff = (abl: tf.Tensor2D, cl: tf.Tensor2D) => tf.sum(tf.sub(tf.reshape(abl, [G, n, -1]), tf.expandDims(cl, 0)), 1);
            return [eff(r.feats, cleans[c].feats), eff(r.logprobs, cleans[c].logprobs)];
          });
          const fv = fe.dataSync() as Float32Array;
          const lv = le.dataSync() as Float32Array;
          for (let k = 0; k < fv.length; k++) feSum[s * dB + k] += fv[k];
          for (let k = 0; k < lv.length; k++) leSum[s * V + k] += lv[k];
          tf.dispose([tiled, r.feats, r.logprobs, fe, le]);
        }
      } finally {
        keep.dispose();
      }
    }
    const featureEffects = Float32Array.from(feSum, (v) => v / N);
    const logprobEffects = Float32Array.from(leSum, (v) => v / N);
    return {
      features: [...opts.features], downstreamHook: opts.downstreamHook,
      featureEffects, dSaeDownstream: dB, logprobEffects, dVocab: V,
      cleanDownstream: cleanFeats, cleanLogprobs,
    };
  } finally {
    for (const c of cleans) tf.dispose([c.feats, c.logprobs]);
    if (chunks.length > 1) tf.dispose(chunkTokens);
  }
}
