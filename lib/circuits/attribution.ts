/**
 * Node attribution of sparse feature circuits (Marks et al., saprmarks/feature-circuits). Metric per
 * example m = logit[last, patch_answer] - logit[last, clean_answer]. At each SAE hook h the state is
 * f = encode(x) and the error e = x - decode(f), taken from unmodified clean and patch runs. Methods:
 *  - atp: gradient of sum(m) on the clean run with every SAE spliced as decode(f) + e (an identity,
 *    so gradients pass straight through to upstream hooks); effect = (f_patch - f_clean) * dm/df per
 *    feature and sum over the activation's width of (e_patch - e_clean) * dm/de per position (error node);
 *  - ig: one hook at a time on the clean input, x_h <- decode(f_a) + e_a with
 *    (f, e)_a = (1 - a) clean + a patch, a = k / steps (k = 0..steps-1); mean gradient times (patch - clean);
 *  - exact: one hook at a time, patch a single feature (example, position, feature) where patch and
 *    clean differ, or a single error node (example, position), into decode(f_clean) + e_clean;
 *    effect = m - m_clean of that example.
 * Effects per hook are [N, T, d_sae + 1] (last channel: the error node).
 */
import * as tf from '@tensorflow/tfjs';
import { interruptible } from '../notebook/interrupt';
import { NO_PROGRESS_FACTORY, ProgressFactory, ProgressReporter } from '../notebook/progress';
import { HookFn } from '../model/types';
import { SAE } from '../sae/sae';
import { featureDirections, residualStartLayer } from './ablation';
import {
  CircuitModel, SAESet, SAEState, answerLogitDiff, checkEqualLengths, disposeStates, orderHooks, saeStates, stopLayerAfter, sumTrailing, tokensTensor,
} from './common';

export type AttributionMethod = 'atp' | 'ig' | 'exact';
export const ATTRIBUTION_METHODS: AttributionMethod[] = ['atp', 'ig', 'exact'];

/** Clean/patch prompt pairs with one-token answers (equal-length prefixes). */
export interface PromptPairs {
  /** [N][T] token ids */
  clean: number[][];
  /** [N][T] token ids, same shape as clean */
  patch: number[][];
  /** [N] */
  cleanAnswers: number[];
  /** [N] */
  patchAnswers: number[];
}

export interface AttributionOptions {
  method: AttributionMethod;
  /** ig: interpolation steps (default 10) */
  steps?: number;
  /** ig: steps batched in one pass (default: as many as keep a pass within IG_SEQUENCES_PER_PASS sequences, at least 1) */
  stepsPerPass?: number;
  /** exact: patched copies of the input run in one pass (default 256) */
  rowsPerPass?: number;
  /** keep the gradients and deltas (needed by circuitEdges; atp and ig only); the caller disposes them */
  keepTensors?: boolean;
  /** progress of the ig and exact passes, one reporter per hook (default none) */
  progress?: ProgressFactory;
  /**
   * prompt pairs attributed together (default attributionPairsPerChunk: the SAE states of a chunk within
   * ATTRIBUTION_CHUNK_BYTES, at most IG_SEQUENCES_PER_PASS pairs). Per-position effects are the same
   * whatever the chunks (each pair's effects depend on that pair only); the tensors held at once are a chunk's.
   */
  pairsPerChunk?: number;
  /**
   * called with each chunk's attribution (its pairs, and with keepTensors its gradients and deltas) before
   * the chunk's tensors are disposed; `first` is the chunk's first pair. With keepTensors and more than one
   * chunk the result holds no tensors: use this to consume them (circuit edges: attributeWithEdges).
   */
  onChunk?: (chunk: AttributionResult, pairs: PromptPairs, first: number) => Promise<void> | void;
}

/** Bytes of the [pairs, T, d_sae] SAE states (all hooks, one tensor each) a chunk of attributeNodes may hold. */
export const ATTRIBUTION_CHUNK_BYTES = 128 * 2 ** 20;

/**
 * Pairs per attribution chunk for prompts of T tokens and SAEs of these widths: as many as keep one
 * float32 [pairs, T, d_sae + 1] tensor per hook within ATTRIBUTION_CHUNK_BYTES, at least 1 and at most
 * IG_SEQUENCES_PER_PASS (GPT-2 small's 3 x 24,576 at T = 6: 64; Pythia-70m's 7 x 32,768: 24).
 */
export function attributionPairsPerChunk(T: number, dSaes: number[]): number {
  const perPair = 4 * T * dSaes.reduce((s, d) => s + d + 1, 0);
  return Math.max(1, Math.min(IG_SEQUENCES_PER_PASS, Math.floor(ATTRIBUTION_CHUNK_BYTES / perPair)));
}

/**
 * Sequences (pairs x interpolation steps) in one ig pass by default: a pass keeps the model's gradient tape and dense
 * [rows, T, d_sae] interpolations for all its rows, so all steps of 100 GPT-2 pairs in one pass would hold gigabytes.
 */
export const IG_SEQUENCES_PER_PASS = 64;

/** Per-hook tensors kept for edges: gradients of m and patch - clean deltas. */
export interface HookTensors {
  /** [N, T, d_sae] dm/df (ig: mean over the interpolation steps) */
  gradF: tf.Tensor;
  /** activation shape, dm/de */
  gradE: tf.Tensor;
  /** [N, T, d_sae] f_patch - f_clean */
  deltaF: tf.Tensor;
  /** activation shape, e_patch - e_clean */
  deltaE: tf.Tensor;
}

export interface HookAttribution {
  hook: string;
  dSae: number;
  /** [N, T, d_sae + 1] row-major; channel d_sae is the error node */
  effects: Float32Array;
  /** [d_sae + 1]: effects summed over positions, then averaged over examples */
  nodes: Float32Array;
}

export interface AttributionResult {
  method: AttributionMethod;
  N: number;
  T: number;
  /** SAE hooks in model order */
  hooks: string[];
  byHook: Map<string, HookAttribution>;
  /** [N] m on the clean run */
  metricClean: Float32Array;
  /** [N] m on the patch run */
  metricPatch: Float32Array;
  /** with keepTensors (atp, ig) */
  tensors?: Map<string, HookTensors>;
}

/** Validate prompt pairs: equal shapes, one answer per example. */
export function checkPromptPairs(p: PromptPairs): { N: number; T: number } {
  checkEqualLengths(p.clean, 'clean prompts');
  checkEqualLengths(p.patch, 'patch prompts');
  const N = p.clean.length;
  const T = p.clean[0].length;
  if (p.patch.length !== N) throw new Error(`${N} clean prompts but ${p.patch.length} patch prompts; give one patch prompt per clean prompt`);
  if (p.patch[0].length !== T) throw new Error(`clean prompts have ${T} tokens but patch prompts have ${p.patch[0].length}; prefixes must have equal length`);
  if (p.cleanAnswers.length !== N || p.patchAnswers.length !== N) {
    throw new Error(`${N} prompts but ${p.cleanAnswers.length} clean answers and ${p.patchAnswers.length} patch answers; give one answer each per prompt`);
  }
  return { N, T };
}

/** [N, T, d_sae + 1] effects from feature effects [N, T, d_sae] and error effects [N, T]. */
function withErrorChannel(featureEffects: tf.Tensor, errorEffects: tf.Tensor2D): tf.Tensor {
  return tf.concat([featureEffects, tf.expandDims(errorEffects, 2)], 2);
}

/** nodes [d_sae + 1] = effects [N, T, d_sae + 1] summed over T, mean over N. */
export function aggregateNodes(effects: tf.Tensor): tf.Tensor1D {
  return tf.tidy(() => tf.mean(tf.sum(effects, 1), 0) as tf.Tensor1D);
}

/** x -> decode(encode(x) + dF) + (x - decode(encode(x))) + dE, the spliced activation with perturbations. */
function splicedWithPerturbation(sae: SAE, x: tf.Tensor, dF: tf.Tensor, dE: tf.Tensor): tf.Tensor {
  const f = sae.encode(x);
  const e = tf.sub(x, sae.decode(f));
  return tf.add(tf.add(sae.decode(tf.add(f, dF)), e), dE);
}

/**
 * Hooks splicing every SAE as decode(f + dF) + e + dE with f = encode(x), e = x - decode(f): the identity
 * when the perturbations are zero (or omitted), so gradients at dF / dE are the straight-through
 * gradients of the unmodified model (atp).
 */
export function identitySpliceHooks(saes: SAESet, hooks: string[] = [...saes.keys()], dF?: tf.Tensor[], dE?: tf.Tensor[]): Array<[string, HookFn]> {
  return hooks.map((h, i) => [h, (x) => {
    const sae = saes.get(h)!;
    if (!dF || !dE) return tf.tidy(() => splicedWithPerturbation(sae, x, tf.scalar(0), tf.scalar(0)));
    return splicedWithPerturbation(sae, x, dF[i], dE[i]);
  }]);
}

/** x -> decode(f) + e, with encode(x) called first so normalising SAEs have this input's norm. */
function replacedBy(sae: SAE, x: tf.Tensor, f: tf.Tensor, e: tf.Tensor): tf.Tensor {
  tf.dispose(sae.encode(x));
  return tf.add(sae.decode(f), e);
}

/** atp gradients of sum(m) at every hook (straight-through splicing). */
function atpGrads(model: CircuitModel, saes: SAESet, hooks: string[], clean: tf.Tensor2D, states: Map<string, SAEState>, plus: number[], minus: number[]): Map<string, { gradF: tf.Tensor; gradE: tf.Tensor }> {
  const zeros = [...hooks.map((h) => tf.zerosLike(states.get(h)!.f)), ...hooks.map((h) => tf.zerosLike(states.get(h)!.e))];
  const H = hooks.length;
  const fn = (...d: tf.Tensor[]): tf.Scalar => {
    const fwdHooks = identitySpliceHooks(saes, hooks, d.slice(0, H), d.slice(H));
    const logits = model.forward(clean, { fwdHooks, logitsToKeep: 1 }).logits!;
    return tf.sum(answerLogitDiff(logits, plus, minus));
  };
  const g = tf.grads(fn)(zeros);
  tf.dispose(zeros);
  const out = new Map<string, { gradF: tf.Tensor; gradE: tf.Tensor }>();
  hooks.forEach((h, i) => out.set(h, { gradF: g[i], gradE: g[H + i] }));
  return out;
}

/** ig mean gradients at one hook (the others untouched), steps batched along the batch axis. */
async function igGrads(model: CircuitModel, sae: SAE, hook: string, clean: tf.Tensor2D, c: SAEState, p: SAEState, plus: number[], minus: number[], steps: number, perPass: number, progress: ProgressReporter): Promise<{ gradF: tf.Tensor; gradE: tf.Tensor }> {
  const N = clean.shape[0];
  let gradF = tf.zerosLike(c.f);
  let gradE = tf.zerosLike(c.e);
  const stopPoint = interruptible('ig attribution');
  for (let s0 = 0; s0 < steps; s0 += perPass) {
    try {
      await stopPoint(`${hook}, step ${s0} of ${steps}`);
    } catch (e) {
      tf.dispose([gradF, gradE]);
      throw e;
    }
    const S = Math.min(perPass, steps - s0);
    const alphas = Array.from({ length: S }, (_, k) => (s0 + k) / steps);
    const [fA, eA, tokens] = tf.tidy(() => {
      const interp = (a: tf.Tensor, b: tf.Tensor) => {
        const al = tf.reshape(tf.tensor1d(alphas), [S, ...new Array(a.rank).fill(1)]);
        const mixed = tf.add(tf.expandDims(a, 0), tf.mul(al, tf.expandDims(tf.sub(b, a), 0))); // [S, N, ...]
        return tf.reshape(mixed, [S * N, ...a.shape.slice(1)]);
      };
      return [interp(c.f, p.f), interp(c.e, p.e), tf.tile(clean, [S, 1])];
    });
    const plusT = Array.from({ length: S }, () => plus).flat();
    const minusT = Array.from({ length: S }, () => minus).flat();
    const fn = (f: tf.Tensor, e: tf.Tensor): tf.Scalar => {
      const logits = model.forward(tokens, { fwdHooks: [[hook, (x) => replacedBy(sae, x, f, e)]], logitsToKeep: 1 }).logits!;
      return tf.sum(answerLogitDiff(logits, plusT, minusT));
    };
    const [gF, gE] = tf.grads(fn)([fA, eA]);
    const next = tf.tidy(() => {
      const sumSteps = (g: tf.Tensor) => tf.sum(tf.reshape(g, [S, N, ...g.shape.slice(1)]), 0);
      return [tf.add(gradF, sumSteps(gF)), tf.add(gradE, sumSteps(gE))];
    });
    tf.dispose([fA, eA, tokens, gF, gE, gradF, gradE]);
    [gradF, gradE] = next;
    progress.tick(S);
  }
  progress.done();
  const out = { gradF: tf.div(gradF, steps), gradE: tf.div(gradE, steps) };
  tf.dispose([gradF, gradE]);
  return out;
}

/**
 * exact effects at one hook: [N, T, d_sae + 1] (zero where a feature does not differ). A patch changes the
 * activation at one position only: by (f_patch - f_clean)_j d_j for feature j (featureDirections; the
 * decoder is affine) or by e_patch - e_clean for the error node. For residual hooks and such SAEs the
 * patched rows are the clean activation plus that change, run from the hook's block (residualStartLayer);
 * otherwise the hook splices decode(f with the one entry patched) + e.
 */
async function exactEffects(model: CircuitModel, sae: SAE, hook: string, clean: tf.Tensor2D, c: SAEState, p: SAEState, mClean: Float32Array, plus: number[], minus: number[], rowsPerPass: number, makeProgress: ProgressFactory): Promise<tf.Tensor> {
  const [N, T, D] = c.f.shape as number[];
  const diffF = tf.sub(p.f, c.f);
  const diff = diffF.dataSync() as Float32Array;
  const out = new Float32Array(N * T * (D + 1));
  // candidates: [n, t, j] with j = D meaning the error node at (n, t)
  const cand: Array<[number, number, number]> = [];
  for (let i = 0; i < diff.length; i++) if (diff[i] !== 0) cand.push([Math.floor(i / (T * D)), Math.floor(i / D) % T, i % D]);
  for (let n = 0; n < N; n++) for (let t = 0; t < T; t++) cand.push([n, t, D]);
  const diffE = tf.sub(p.e, c.e);
  const startLayer = residualStartLayer(hook);
  const affine = startLayer !== undefined && c.e.rank === 3 && !sae.isTranscoder && !sae.readsHookZ && sae.cfg.normalize_activations === 'none';
  // the clean activation at the hook (fast path): what the patches are added to
  let xClean: tf.Tensor | undefined;
  if (affine) {
    model.forward(clean, { fwdHooks: [[hook, (x) => { xClean = tf.keep(x.clone()); }]], stopAtLayer: stopLayerAfter(model, hook), returnType: 'none' });
    if (!xClean) throw new Error(`hook ${hook} did not run in the forward pass`);
  }
  const stopPoint = interruptible('exact attribution');
  const progress = makeProgress(`exact ${hook}: ${cand.length} patches`, Math.ceil(cand.length / rowsPerPass));
  try {
  for (let s = 0; s < cand.length; s += rowsPerPass) {
    await stopPoint(`${hook}, ${s} of ${cand.length} patches`);
    const chunk = cand.slice(s, s + rowsPerPass);
    const C = chunk.length;
    const nIdx = chunk.map((x) => x[0]);
    let logits: tf.Tensor;
    if (affine) {
      const [tokens, patched] = tf.tidy(() => {
        const ni = tf.tensor1d(nIdx, 'int32');
        const d = xClean!.shape[2] as number;
        // per row: the change at its position [C, d] (feature: delta d_j; error: e_patch - e_clean there), placed by a one-hot over T
        const feats = chunk.map(([, , j], r) => [r, j]).filter(([, j]) => j < D);
        const errs = chunk.map(([n, t, j], r) => [r, n * T + t, j]).filter(([, , j]) => j === D);
        let change = tf.zeros([C, d]);
        if (feats.length) {
          const dirs = featureDirections(sae, feats.map(([, j]) => j))!;
          const scale = tf.tensor2d(feats.map(([r, j]) => diff[(chunk[r][0] * T + chunk[r][1]) * D + j]), [feats.length, 1]);
          change = tf.add(change, tf.scatterND(tf.tensor2d(feats.map(([r]) => [r]), [feats.length, 1], 'int32'), tf.mul(dirs, scale), [C, d]));
        }
        if (errs.length) {
          const e = tf.gather(tf.reshape(diffE, [N * T, d]), tf.tensor1d(errs.map(([, i]) => i), 'int32'));
          change = tf.add(change, tf.scatterND(tf.tensor2d(errs.map(([r]) => [r]), [errs.length, 1], 'int32'), e, [C, d]));
        }
        const at = tf.oneHot(tf.tensor1d(chunk.map(([, t]) => t), 'int32'), T); // [C, T]
        const x = tf.add(tf.gather(xClean!, ni), tf.mul(tf.expandDims(at, 2), tf.expandDims(change, 1)));
        return [tf.gather(clean, ni), x];
      });
      logits = model.forward(tokens, { startAtLayer: startLayer, residual: patched, logitsToKeep: 1 }).logits!;
      tf.dispose([tokens, patched]);
    } else {
      const [tokens, fRows, eRows] = tf.tidy(() => {
        const ni = tf.tensor1d(nIdx, 'int32');
        // feature candidates: one entry of (f_patch - f_clean) added at (row, t, j)
        const featIdx: number[][] = [];
        const featVal: number[] = [];
        const errMask = new Float32Array(C * T);
        chunk.forEach(([n, t, j], r) => {
          if (j < D) { featIdx.push([r, t, j]); featVal.push(diff[(n * T + t) * D + j]); } else errMask[r * T + t] = 1;
        });
        let f = tf.gather(c.f, ni);
        if (featIdx.length) f = tf.add(f, tf.scatterND(tf.tensor2d(featIdx, [featIdx.length, 3], 'int32'), tf.tensor1d(featVal), [C, T, D]));
        const eShape = c.e.shape.slice(1);
        const m = tf.reshape(tf.tensor2d(errMask, [C, T]), [C, T, ...new Array(eShape.length - 1).fill(1)]);
        const e = tf.add(tf.gather(c.e, ni), tf.mul(m, tf.gather(diffE, ni)));
        return [tf.gather(clean, ni), f, e];
      });
      logits = model.forward(tokens, { fwdHooks: [[hook, (x) => replacedBy(sae, x, fRows, eRows)]], logitsToKeep: 1 }).logits!;
      tf.dispose([tokens, fRows, eRows]);
    }
    const m = answerLogitDiff(logits as tf.Tensor3D, nIdx.map((n) => plus[n]), nIdx.map((n) => minus[n]));
    const mv = m.dataSync();
    chunk.forEach(([n, t, j], r) => { out[(n * T + t) * (D + 1) + j] = mv[r] - mClean[n]; });
    tf.dispose([logits, m]);
    progress.tick(1);
  }
  progress.done();
  } finally {
    tf.dispose([diffF, diffE]);
    xClean?.dispose();
  }
  return tf.tensor3d(out, [N, T, D + 1]);
}

/** The pairs n0 .. n1 - 1. */
function slicePairs(p: PromptPairs, n0: number, n1: number): PromptPairs {
  return { clean: p.clean.slice(n0, n1), patch: p.patch.slice(n0, n1), cleanAnswers: p.cleanAnswers.slice(n0, n1), patchAnswers: p.patchAnswers.slice(n0, n1) };
}

/**
 * Node effects by atp, ig or exact patching at every SAE hook (see the module comment), pairs in chunks
 * (opts.pairsPerChunk). Returns plain arrays; with keepTensors also the gradients and deltas circuitEdges
 * needs (when the pairs are one chunk; otherwise each chunk's go to opts.onChunk).
 */
export async function attributeNodes(model: CircuitModel, saes: SAESet, pairs: PromptPairs, opts: AttributionOptions): Promise<AttributionResult> {
  const { N, T } = checkPromptPairs(pairs);
  if (!ATTRIBUTION_METHODS.includes(opts.method)) throw new Error(`method '${opts.method}' must be one of ${ATTRIBUTION_METHODS.join(', ')}`);
  if (opts.keepTensors && opts.method === 'exact') throw new Error('keepTensors needs gradients: use method atp or ig');
  const steps = opts.steps ?? 10;
  if (!Number.isInteger(steps) || steps < 1) throw new Error(`ig steps must be a positive integer, got ${steps}`);
  const hooks = orderHooks(model, saes.keys());
  const per = opts.pairsPerChunk ?? attributionPairsPerChunk(T, hooks.map((h) => saes.get(h)!.cfg.d_sae));
  if (!Number.isInteger(per) || per < 1) throw new Error(`pairsPerChunk must be a positive integer, got ${per}`);
  if (N <= per) {
    const r = await attributeChunk(model, saes, hooks, pairs, opts, steps, opts.progress ?? NO_PROGRESS_FACTORY);
    await opts.onChunk?.(r, pairs, 0);
    return r;
  }
  if (opts.keepTensors && !opts.onChunk) throw new Error(`keepTensors over ${N} pairs in chunks of ${per}: pass onChunk to consume each chunk's tensors (or pairsPerChunk >= ${N})`);
  const byHook = new Map<string, HookAttribution>(hooks.map((h) => {
    const dSae = saes.get(h)!.cfg.d_sae;
    return [h, { hook: h, dSae, effects: new Float32Array(N * T * (dSae + 1)), nodes: new Float32Array(dSae + 1) }];
  }));
  const metricClean = new Float32Array(N);
  const metricPatch = new Float32Array(N);
  const makeProgress = opts.progress ?? NO_PROGRESS_FACTORY;
  for (let n0 = 0; n0 < N; n0 += per) {
    const n1 = Math.min(N, n0 + per);
    const sub = slicePairs(pairs, n0, n1);
    const r = await attributeChunk(model, saes, hooks, sub, opts, steps, (label, total) => makeProgress(`pairs ${n0}-${n1 - 1} of ${N}, ${label}`, total));
    try {
      for (const h of hooks) byHook.get(h)!.effects.set(r.byHook.get(h)!.effects, n0 * T * (saes.get(h)!.cfg.d_sae + 1));
      metricClean.set(r.metricClean, n0);
      metricPatch.set(r.metricPatch, n0);
      await opts.onChunk?.(r, sub, n0);
    } finally {
      disposeAttribution(r);
    }
  }
  // nodes as for one chunk: effects summed over positions, then averaged over all examples
  for (const x of byHook.values()) {
    const nodes = tf.tidy(() => aggregateNodes(tf.tensor3d(x.effects, [N, T, x.dSae + 1])));
    x.nodes = Float32Array.from(nodes.dataSync() as Float32Array);
    nodes.dispose();
  }
  return { method: opts.method, N, T, hooks, byHook, metricClean, metricPatch };
}

/** attributeNodes for pairs attributed together (checked by the caller). */
async function attributeChunk(model: CircuitModel, saes: SAESet, hooks: string[], pairs: PromptPairs, opts: AttributionOptions, steps: number, makeProgress: ProgressFactory): Promise<AttributionResult> {
  const { N, T } = checkPromptPairs(pairs);
  const clean = tokensTensor(pairs.clean);
  const patch = tokensTensor(pairs.patch);
  const plus = pairs.patchAnswers;
  const minus = pairs.cleanAnswers;
  const c = saeStates(model, saes, clean);
  const p = saeStates(model, saes, patch);
  const [mc, mp] = [answerLogitDiff(c.logits, plus, minus), answerLogitDiff(p.logits, plus, minus)];
  const metricClean = Float32Array.from(mc.dataSync() as Float32Array);
  const metricPatch = Float32Array.from(mp.dataSync() as Float32Array);
  tf.dispose([mc, mp, c.logits, p.logits]);
  const byHook = new Map<string, HookAttribution>();
  const tensors = new Map<string, HookTensors>();
  let grads: Map<string, { gradF: tf.Tensor; gradE: tf.Tensor }> | undefined;
  const stopPoint = interruptible(`${opts.method} attribution`);
  try {
    if (opts.method === 'atp') grads = atpGrads(model, saes, hooks, clean, c.states, plus, minus);
    for (const h of hooks) {
      await stopPoint(`before ${h}`);
      const sae = saes.get(h)!;
      const cs = c.states.get(h)!;
      const ps = p.states.get(h)!;
      let effects: tf.Tensor;
      if (opts.method === 'exact') {
        effects = await exactEffects(model, sae, h, clean, cs, ps, metricClean, plus, minus, Math.max(1, opts.rowsPerPass ?? 256), makeProgress);
      } else {
        const perPass = opts.stepsPerPass ?? Math.floor(IG_SEQUENCES_PER_PASS / clean.shape[0]);
        const g = opts.method === 'atp' ? grads!.get(h)! : await igGrads(model, sae, h, clean, cs, ps, plus, minus, steps, Math.max(1, Math.min(steps, perPass)), makeProgress(`ig ${h}: steps`, steps));
        const deltaF = tf.sub(ps.f, cs.f);
        const deltaE = tf.sub(ps.e, cs.e);
        effects = tf.tidy(() => withErrorChannel(tf.mul(deltaF, g.gradF), sumTrailing(tf.mul(deltaE, g.gradE))));
        if (opts.keepTensors) tensors.set(h, { gradF: g.gradF, gradE: g.gradE, deltaF, deltaE });
        else tf.dispose([g.gradF, g.gradE, deltaF, deltaE]);
      }
      const nodes = aggregateNodes(effects);
      byHook.set(h, { hook: h, dSae: sae.cfg.d_sae, effects: Float32Array.from(effects.dataSync() as Float32Array), nodes: Float32Array.from(nodes.dataSync() as Float32Array) });
      tf.dispose([effects, nodes]);
    }
  } catch (e) {
    for (const t of tensors.values()) tf.dispose([t.gradF, t.gradE, t.deltaF, t.deltaE]);
    if (grads) for (const g of grads.values()) tf.dispose([g.gradF, g.gradE]); // hooks not reached (interrupted)
    throw e;
  } finally {
    disposeStates(c.states);
    disposeStates(p.states);
    tf.dispose([clean, patch]);
  }
  return { method: opts.method, N, T, hooks, byHook, metricClean, metricPatch, tensors: opts.keepTensors ? tensors : undefined };
}

/** Dispose the tensors an attribution kept (keepTensors). */
export function disposeAttribution(r: AttributionResult): void {
  if (r.tensors) for (const t of r.tensors.values()) tf.dispose([t.gradF, t.gradE, t.deltaF, t.deltaE]);
  r.tensors = undefined;
}
