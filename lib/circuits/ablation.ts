/**
 * Feature ablation (seed 003, corrected): zero one SAE feature at hook A, at every position, by
 * adding decode(f with f_j = 0) - decode(f) to the activation (for SAEs without normalisation this
 * removes exactly f_j W_dec[j]; b_dec and the other features stay). Only A is modified; the
 * downstream SAE only reads. Effects are ablated minus clean at the last position, averaged over
 * sequences, on every downstream feature and on log-softmax of the logits.
 */
import * as tf from '@tensorflow/tfjs';
import { interruptible } from '../notebook/interrupt';
import { ForwardOptions, HookFn } from '../model/types';
import { parseBlockHook } from '../model/hookNames';
import { NO_PROGRESS_FACTORY, ProgressFactory } from '../notebook/progress';
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
  /**
   * bounds an ablation pass at featuresPerPass x N sequence rows (N: the sequences; default 8). Passes
   * hold (feature, sequence) rows in feature order, only for sequences where the feature fires
   */
  featuresPerPass?: number;
  /**
   * rows (one sequence with one feature ablated) per forward pass: bounds the pass's [rows, T, d_sae] feature
   * tensor at the ablated hook. Default: as many as fit ABLATION_PASS_BYTES (at least one)
   */
  maxRowsPerPass?: number;
  /** progress of the clean and ablated passes (one reporter per phase; default none) */
  progress?: ProgressFactory;
  /**
   * the clean run of these tokens (recordCleanRun with layerHook among its ablated hooks and downstreamHook
   * among its read hooks), shared by the ablations at several hooks; default: recorded here and disposed
   */
  clean?: CleanRun;
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
  /** [N, T, n_features] row-major: the clean activations of the ablated features at layerHook (every position) */
  featureActs: Float32Array;
  /** (feature, sequence) ablations run: those where the feature fires somewhere in the sequence (the others change nothing) */
  ablatedRows: number;
}

/** Last-position downstream features [rows, d_sae_B] and log-probs [rows, V] of one pass with extra hooks and forward options. */
function lastPositionReadout(model: CircuitModel, down: SAE | undefined, downHook: string | undefined, tokens: tf.Tensor2D, extra: Array<[string, HookFn]>, fwd: Pick<ForwardOptions, 'startAtLayer' | 'residual'> = {}): { feats: tf.Tensor2D; logprobs: tf.Tensor2D } {
  let feats: tf.Tensor2D | undefined;
  const hooks = [...extra];
  if (down && downHook) {
    hooks.push([downHook, (x) => {
      const T = x.shape[1] as number;
      const last = tf.slice(x, [0, T - 1], [-1, 1]);
      feats = tf.keep(tf.tidy(() => tf.reshape(down.encode(last), [x.shape[0] as number, down.cfg.d_sae]) as tf.Tensor2D));
    }]);
  }
  const logits = model.forward(tokens, { ...fwd, fwdHooks: hooks, logitsToKeep: 1 }).logits!;
  const logprobs = tf.tidy(() => {
    const [B, T, V] = logits.shape;
    return tf.logSoftmax(tf.reshape(tf.slice(logits, [0, T - 1, 0], [B, 1, V]), [B, V])) as tf.Tensor2D;
  });
  logits.dispose();
  if (down && downHook && !feats) throw new Error(`hook ${downHook} did not run in the forward pass`);
  return { feats: feats ?? (tf.zeros([tokens.shape[0], 0]) as tf.Tensor2D), logprobs };
}

/**
 * The block an ablated pass can start at, running from the cached residual at `hook` instead of from the
 * tokens: blocks.L.hook_resid_pre -> L, blocks.L.hook_resid_post -> L + 1 (the value entering block L + 1);
 * undefined for other hooks (the pass runs from the embeddings with a hook).
 */
export function residualStartLayer(hook: string): number | undefined {
  const b = parseBlockHook(hook);
  if (b?.point === 'hook_resid_pre') return b.layer;
  if (b?.point === 'hook_resid_post') return b.layer + 1;
  return undefined;
}

/**
 * The decoder directions d_j = decode(e_j) - decode(0) of `features` [F, d_in]: changing f_j by delta changes
 * the reconstruction by delta d_j whatever the input, as the decoder is affine (W_dec[j], or W_dec[j] /
 * |W_dec[j]| for topk with rescaled activations). Removing feature j adds -f_j d_j. Undefined when the
 * decoder output depends on the input beyond f (normalize_activations other than none, hook_z reshaping,
 * transcoders): callers then decode per pass.
 */
export function featureDirections(sae: SAE, features: number[]): tf.Tensor2D | undefined {
  if (sae.isTranscoder || sae.readsHookZ || sae.cfg.normalize_activations !== 'none') return undefined;
  return tf.tidy(() => {
    const F = features.length;
    const basis = tf.concat([singleFeatureKeepMask(features, sae.cfg.d_sae), tf.ones([1, sae.cfg.d_sae])], 0);
    // rows of (1 - keep): e_j per feature, then a zero row
    const out = sae.decode(tf.sub(1, basis)) as tf.Tensor2D;
    return tf.sub(tf.slice(out, [0, 0], [F, -1]), tf.slice(out, [F, 0], [1, -1])) as tf.Tensor2D;
  });
}

/**
 * Effects of ablating each feature of `opts.features` at layerHook, on the downstream SAE's
 * features and on next-token log-probabilities (rows in feature order). tokens [N, T].
 *
 * One clean pass per chunk of sequences records the downstream readout, the ablated features' activations
 * at layerHook and (for residual hooks) the residual there. Ablating feature j changes nothing in a
 * sequence where f_j is 0 at every position (decode(f with f_j = 0) = decode(f)), so only (feature,
 * sequence) rows where it fires are run, packed into passes of up to maxRowsPerPass rows; each pass starts
 * at the ablated hook's block from the cached residual (residualStartLayer) with the ablation applied,
 * instead of re-running the blocks before it. The ablated activation is x - f_j d_j for SAEs whose decoder
 * is affine (featureDirections), else x + decode(f with f_j = 0) - decode(f).
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
  const dSae = up.cfg.d_sae;
  for (const j of opts.features) if (!Number.isInteger(j) || j < 0 || j >= dSae) throw new Error(`feature ${j} is out of range for d_sae=${dSae}`);
  const [N, T] = tokens.shape;
  const dB = down ? down.cfg.d_sae : 0;
  const V = model.cfg.d_vocab_out;
  const nF = opts.features.length;
  const maxRows = Math.max(1, opts.maxRowsPerPass ?? ablationRowsPerPass(T, dSae));
  const rowsPerPass = Math.max(1, Math.min(maxRows, (opts.featuresPerPass ?? 8) * N));
  const makeProgress = opts.progress ?? NO_PROGRESS_FACTORY;
  const stopPoint = interruptible('feature ablation');
  const startLayer = residualStartLayer(opts.layerHook);
  const ownClean = opts.clean === undefined;
  const clean = opts.clean ?? await recordCleanRun(model, saes, tokens, [opts.layerHook], opts.downstreamHook ? [opts.downstreamHook] : [], { rowsPerPass: maxRows, progress: makeProgress });
  if (clean.N !== N || clean.T !== T) throw new Error(`ablationEffects: the clean run is of [${clean.N}, ${clean.T}] tokens, these are [${N}, ${T}]`);
  const activations = clean.activations.get(opts.layerHook);
  const cleanFeats = opts.downstreamHook ? clean.lastFeatures.get(opts.downstreamHook) : new Float32Array(0);
  if (!activations || !cleanFeats) throw new Error(`ablationEffects: the clean run did not record ${activations ? opts.downstreamHook : opts.layerHook}`);
  const cleanLogprobs = clean.logprobs;
  const ids = tf.tensor1d(opts.features, 'int32');
  let dirs: tf.Tensor2D | undefined;
  try {
    // 1. the ablated features' clean activations at layerHook [N, T, nF], encoded from the recorded activations
    const featureActs = new Float32Array(N * T * nF);
    for (const c of activations) {
      await stopPoint(`encoding sequence ${c.start} of ${N}`);
      const acts = tf.tidy(() => tf.gather(up.encode(c.x), ids, c.x.rank - 1));
      featureActs.set(acts.dataSync() as Float32Array, c.start * T * nF);
      acts.dispose();
    }
    // 2. the (feature, sequence) rows that change anything: f_j != 0 somewhere in the sequence
    const pairs: Array<[number, number]> = [];
    for (let i = 0; i < nF; i++) {
      for (let m = 0; m < N; m++) {
        for (let t = 0; t < T; t++) if (featureActs[(m * T + t) * nF + i] !== 0) { pairs.push([i, m]); break; }
      }
    }
    dirs = featureDirections(up, opts.features);
    // 3. ablated passes: rows of pairs, minus the clean readout of their sequence, summed per feature in float64
    const feSum = new Float64Array(nF * dB);
    const leSum = new Float64Array(nF * V);
    const nPasses = Math.ceil(pairs.length / rowsPerPass);
    const ablProgress = makeProgress(`ablation ${opts.layerHook}: ${pairs.length} of ${nF * N} (feature, sequence) rows fire`, nPasses);
    for (let p0 = 0; p0 < pairs.length; p0 += rowsPerPass) {
      await stopPoint(`${p0} of ${pairs.length} (feature, sequence) rows ablated`);
      const rows = pairs.slice(p0, p0 + rowsPerPass);
      const R = rows.length;
      const seqIdx = tf.tensor1d(rows.map(([, m]) => m), 'int32');
      const rowTokens = tf.gather(tokens, seqIdx) as tf.Tensor2D;
      const ablate = (x: tf.Tensor): tf.Tensor => tf.tidy(() => {
        if (!dirs) return ablateFeatures(up, x, singleFeatureKeepMask(rows.map(([i]) => opts.features[i]), dSae));
        // x - f_j d_j: coefficients [R, T] from the clean activations, directions [R, d]
        const coef = new Float32Array(R * T);
        rows.forEach(([i, m], r) => { for (let t = 0; t < T; t++) coef[r * T + t] = featureActs[(m * T + t) * nF + i]; });
        const d = tf.gather(dirs, tf.tensor1d(rows.map(([i]) => i), 'int32'));
        const shape = [R, T, ...Array<number>(x.rank - 3).fill(1), 1];
        return tf.sub(x, tf.mul(tf.reshape(tf.tensor2d(coef, [R, T]), shape), tf.reshape(d, [R, ...Array<number>(x.rank - 2).fill(1), -1])));
      });
      let r: { feats: tf.Tensor2D; logprobs: tf.Tensor2D };
      if (startLayer !== undefined) {
        const x = tf.tidy(() => ablate(gatherRows(activations, clean.rowsPerPass, rows.map(([, m]) => m))));
        r = lastPositionReadout(model, down, opts.downstreamHook, rowTokens, [], { startAtLayer: startLayer, residual: x });
        x.dispose();
      } else {
        r = lastPositionReadout(model, down, opts.downstreamHook, rowTokens, [[opts.layerHook, ablate]]);
      }
      const fv = r.feats.dataSync() as Float32Array;
      const lv = r.logprobs.dataSync() as Float32Array;
      rows.forEach(([i, m], k) => {
        for (let c = 0; c < dB; c++) feSum[i * dB + c] += fv[k * dB + c] - cleanFeats[m * dB + c];
        for (let c = 0; c < V; c++) leSum[i * V + c] += lv[k * V + c] - cleanLogprobs[m * V + c];
      });
      tf.dispose([seqIdx, rowTokens, r.feats, r.logprobs]);
      ablProgress.tick(1);
    }
    ablProgress.done();
    return {
      features: [...opts.features], downstreamHook: opts.downstreamHook,
      featureEffects: Float32Array.from(feSum, (v) => v / N), dSaeDownstream: dB,
      logprobEffects: Float32Array.from(leSum, (v) => v / N), dVocab: V,
      cleanDownstream: cleanFeats, cleanLogprobs, featureActs, ablatedRows: pairs.length,
    };
  } finally {
    ids.dispose();
    dirs?.dispose();
    if (ownClean) disposeCleanRun(clean);
  }
}

/** Rows `seqs` of activations recorded per clean chunk (chunk k starts at sequence k * chunkRows), stacked: [rows, ...]. */
function gatherRows(chunks: CleanChunk[], chunkRows: number, seqs: number[]): tf.Tensor {
  return tf.tidy(() => tf.concat(seqs.map((m) => {
    const c = chunks[Math.floor(m / chunkRows)];
    return tf.slice(c.x, m - c.start, 1);
  }), 0));
}

/** One chunk of recorded activations: sequences start.. of the tokens. */
export interface CleanChunk { start: number; x: tf.Tensor }

/**
 * What the unmodified model does on a token set, recorded once for the ablations at several hooks: the
 * activation at each ablated hook (every position; in chunks of rowsPerPass sequences), the SAE features at
 * the last position of each read hook, and the last-position log-probabilities. Dispose with disposeCleanRun.
 */
export interface CleanRun {
  N: number;
  T: number;
  rowsPerPass: number;
  activations: Map<string, CleanChunk[]>;
  /** [N, d_sae] per read hook */
  lastFeatures: Map<string, Float32Array>;
  /** [N, d_vocab] */
  logprobs: Float32Array;
}

/** Record a CleanRun (one forward per chunk of rowsPerPass sequences; default: the [rows, T, d_sae] budget of the widest SAE). */
export async function recordCleanRun(model: CircuitModel, saes: SAESet, tokens: tf.Tensor2D, ablatedHooks: string[], readHooks: string[], opts: { rowsPerPass?: number; progress?: ProgressFactory } = {}): Promise<CleanRun> {
  const [N, T] = tokens.shape;
  const widest = Math.max(1, ...ablatedHooks.map((h) => saeAt(saes, h).cfg.d_sae));
  const rowsPerPass = Math.max(1, opts.rowsPerPass ?? ablationRowsPerPass(T, widest));
  const V = model.cfg.d_vocab_out;
  const run: CleanRun = { N, T, rowsPerPass, activations: new Map(ablatedHooks.map((h) => [h, []])), lastFeatures: new Map(), logprobs: new Float32Array(N * V) };
  for (const h of readHooks) run.lastFeatures.set(h, new Float32Array(N * saeAt(saes, h).cfg.d_sae));
  const stopPoint = interruptible('clean passes');
  const progress = (opts.progress ?? NO_PROGRESS_FACTORY)(`clean passes (${[...new Set([...ablatedHooks, ...readHooks])].join(', ')})`, Math.ceil(N / rowsPerPass));
  try {
    for (let a = 0; a < N; a += rowsPerPass) {
      await stopPoint(`clean pass at sequence ${a} of ${N}`);
      const n = Math.min(rowsPerPass, N - a);
      const chunk = tf.slice(tokens, [a, 0], [n, T]) as tf.Tensor2D;
      const feats = new Map<string, tf.Tensor>();
      const hooks: Array<[string, HookFn]> = [];
      for (const h of new Set([...ablatedHooks, ...readHooks])) {
        hooks.push([h, (x) => {
          if (run.activations.has(h)) run.activations.get(h)!.push({ start: a, x: tf.keep(x.clone()) });
          if (run.lastFeatures.has(h)) {
            const sae = saeAt(saes, h);
            feats.set(h, tf.keep(tf.tidy(() => tf.reshape(sae.encode(tf.slice(x, [0, T - 1], [-1, 1])), [n, sae.cfg.d_sae]))));
          }
        }]);
      }
      const logits = model.forward(chunk, { fwdHooks: hooks, logitsToKeep: 1 }).logits!;
      const lp = tf.tidy(() => tf.logSoftmax(tf.reshape(logits, [n, V])));
      run.logprobs.set(lp.dataSync() as Float32Array, a * V);
      for (const [h, f] of feats) run.lastFeatures.get(h)!.set(f.dataSync() as Float32Array, a * f.shape[1]!);
      for (const h of ablatedHooks) if (run.activations.get(h)!.length * rowsPerPass <= a) throw new Error(`hook ${h} did not run in the forward pass`);
      if (feats.size !== run.lastFeatures.size) throw new Error(`hooks ${readHooks.filter((h) => !feats.has(h)).join(', ')} did not run in the forward pass`);
      tf.dispose([chunk, logits, lp, ...feats.values()]);
      progress.tick(1);
    }
    progress.done();
    return run;
  } catch (e) {
    disposeCleanRun(run);
    throw e;
  }
}

/** Dispose the activations a CleanRun holds. */
export function disposeCleanRun(run: CleanRun): void {
  for (const chunks of run.activations.values()) for (const c of chunks) c.x.dispose();
  run.activations.clear();
}
