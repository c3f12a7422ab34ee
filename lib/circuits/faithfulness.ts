/**
 * Circuit evaluation (feature-circuits' run_with_ablations with mean ablation): on the clean input,
 * every SAE hook in model order is replaced by decode(f') + e' where f = encode(x), e = x - decode(f)
 * of the running activation and nodes outside the kept set take their mean over examples from an
 * unmodified patch run ([T, d_sae] and [T, width]). The metric is logit[last, clean_answer] -
 * logit[last, patch_answer], averaged over examples. Faithfulness (F(C) - F(empty)) / (F(M) - F(empty)),
 * completeness the same with the complement of C kept.
 */
import * as tf from '@tensorflow/tfjs';
import { mean } from '../analysis/stats';
import { interruptible } from '../notebook/interrupt';
import { HookFn } from '../model/types';
import { CircuitModel, SAESet, answerLogitDiff, disposeStates, orderHooks, saeStates, tokensTensor } from './common';
import { PromptPairs, attributionPairsPerChunk, checkPromptPairs } from './attribution';

/** Kept nodes per hook: [d_sae + 1] booleans (index d_sae = the error node). A hook left out keeps nothing. */
export type NodeMask = Map<string, Uint8Array>;

/** Mean-ablation values per hook: f [T, d_sae], e [T, width...] averaged over the patch examples. */
export interface AblationMeans {
  f: tf.Tensor;
  e: tf.Tensor;
}

/** Examples per forward pass of the faithfulness passes (as attribution's chunks: attributionPairsPerChunk). */
function examplesPerPass(saes: SAESet, T: number): number {
  return attributionPairsPerChunk(T, [...saes.values()].map((s) => s.cfg.d_sae));
}

/** Means over examples of the patch run's SAE states (caller disposes); examples in chunks of `perPass`. */
export function patchMeans(model: CircuitModel, saes: SAESet, patch: number[][], perPass = examplesPerPass(saes, patch[0].length)): Map<string, AblationMeans> {
  const N = patch.length;
  if (N <= perPass) {
    const tokens = tokensTensor(patch);
    const { states, logits } = saeStates(model, saes, tokens);
    const out = new Map<string, AblationMeans>();
    for (const [h, s] of states) out.set(h, { f: tf.mean(s.f, 0), e: tf.mean(s.e, 0) });
    disposeStates(states);
    tf.dispose([logits, tokens]);
    return out;
  }
  // sums over the chunks' examples, then / N
  const sums = new Map<string, AblationMeans>();
  for (let n0 = 0; n0 < N; n0 += perPass) {
    const tokens = tokensTensor(patch.slice(n0, n0 + perPass));
    const { states, logits } = saeStates(model, saes, tokens);
    for (const [h, s] of states) {
      const prev = sums.get(h);
      const next = tf.tidy(() => ({ f: prev ? tf.add(prev.f, tf.sum(s.f, 0)) : tf.sum(s.f, 0), e: prev ? tf.add(prev.e, tf.sum(s.e, 0)) : tf.sum(s.e, 0) }));
      if (prev) tf.dispose([prev.f, prev.e]);
      sums.set(h, next);
    }
    disposeStates(states);
    tf.dispose([logits, tokens]);
  }
  const out = new Map<string, AblationMeans>();
  for (const [h, s] of sums) {
    out.set(h, { f: tf.div(s.f, N), e: tf.div(s.e, N) });
    tf.dispose([s.f, s.e]);
  }
  return out;
}

/**
 * Per-example metric logit[clean_answer] - logit[patch_answer] on the clean prompts with the nodes
 * outside `keep` mean-ablated at every hook of `saes`; examples in chunks of `perPass` (each example's
 * metric depends on that example and the means only).
 */
export function metricWithAblations(model: CircuitModel, saes: SAESet, pairs: PromptPairs, keep: NodeMask, means: Map<string, AblationMeans>, perPass = examplesPerPass(saes, pairs.clean[0].length)): Float32Array {
  const { N } = checkPromptPairs(pairs);
  const hooks = orderHooks(model, saes.keys());
  const masks = new Map<string, Float32Array>();
  for (const h of hooks) {
    const D = saes.get(h)!.cfg.d_sae;
    const k = keep.get(h) ?? new Uint8Array(D + 1);
    if (k.length !== D + 1) throw new Error(`node mask for ${h} has ${k.length} entries, expected d_sae + 1 = ${D + 1}`);
    masks.set(h, Float32Array.from(k));
  }
  const fwdHooks: Array<[string, HookFn]> = hooks.map((h) => [h, (x) => {
    const sae = saes.get(h)!;
    const D = sae.cfg.d_sae;
    const k = masks.get(h)!;
    const mu = means.get(h)!;
    const f = sae.encode(x);
    const e = tf.sub(x, sae.decode(f));
    const kf = tf.tensor1d(k.subarray(0, D));
    const fOut = tf.add(tf.mul(f, kf), tf.mul(tf.expandDims(mu.f, 0), tf.sub(1, kf)));
    const eOut = k[D] ? e : tf.add(tf.zerosLike(e), tf.expandDims(mu.e, 0));
    return tf.add(sae.decode(fOut), eOut);
  }]);
  const out = new Float32Array(N);
  for (let n0 = 0; n0 < N; n0 += perPass) {
    const n1 = Math.min(N, n0 + perPass);
    const tokens = tokensTensor(pairs.clean.slice(n0, n1));
    const logits = model.forward(tokens, { fwdHooks, logitsToKeep: 1 }).logits!;
    const m = answerLogitDiff(logits, pairs.cleanAnswers.slice(n0, n1), pairs.patchAnswers.slice(n0, n1));
    out.set(m.dataSync() as Float32Array, n0);
    tf.dispose([tokens, logits, m]);
  }
  return out;
}

/** Nodes with |aggregated effect| > threshold, per hook (nodes: [d_sae + 1] per hook). */
export function nodesAbove(nodes: Map<string, Float32Array>, threshold: number): NodeMask {
  const out: NodeMask = new Map();
  for (const [h, v] of nodes) out.set(h, Uint8Array.from(v, (x) => (Math.abs(x) > threshold ? 1 : 0)));
  return out;
}

export function complementMask(m: NodeMask): NodeMask {
  const out: NodeMask = new Map();
  for (const [h, v] of m) out.set(h, Uint8Array.from(v, (x) => 1 - x));
  return out;
}

function fullMask(saes: SAESet, value: 0 | 1): NodeMask {
  const out: NodeMask = new Map();
  for (const [h, s] of saes) out.set(h, new Uint8Array(s.cfg.d_sae + 1).fill(value));
  return out;
}

export interface FaithfulnessPoint {
  threshold: number;
  /** circuit size (features + error nodes, all hooks) */
  nNodes: number;
  /** mean metric with only the circuit kept */
  fCircuit: number;
  /** mean metric with the circuit ablated (its complement kept) */
  fComplement: number;
  faithfulness: number;
  completeness: number;
}

export interface FaithfulnessCurve {
  /** mean metric, nothing ablated */
  fModel: number;
  /** mean metric, every node ablated */
  fEmpty: number;
  points: FaithfulnessPoint[];
}

/**
 * Faithfulness and completeness of the circuits {|node| > threshold} for each threshold.
 * nodes: aggregated node effects per hook ([d_sae + 1], e.g. AttributionResult.byHook.get(h).nodes).
 */
export async function faithfulnessCurve(model: CircuitModel, saes: SAESet, pairs: PromptPairs, nodes: Map<string, Float32Array>, thresholds: number[]): Promise<FaithfulnessCurve> {
  const means = patchMeans(model, saes, pairs.patch);
  try {
    const F = (keep: NodeMask) => mean(metricWithAblations(model, saes, pairs, keep, means));
    const fModel = F(fullMask(saes, 1));
    const fEmpty = F(fullMask(saes, 0));
    const stopPoint = interruptible('faithfulness curve');
    const points: FaithfulnessCurve['points'] = [];
    for (const threshold of thresholds) {
      await stopPoint(`at threshold ${threshold}`);
      const c = nodesAbove(nodes, threshold);
      for (const h of saes.keys()) if (!c.has(h)) c.set(h, new Uint8Array(saes.get(h)!.cfg.d_sae + 1));
      const nNodes = [...c.values()].reduce((s, v) => s + v.reduce((a, b) => a + b, 0), 0);
      const fCircuit = F(c);
      const fComplement = F(complementMask(c));
      const denom = fModel - fEmpty;
      points.push({ threshold, nNodes, fCircuit, fComplement, faithfulness: (fCircuit - fEmpty) / denom, completeness: (fComplement - fEmpty) / denom });
    }
    return { fModel, fEmpty, points };
  } finally {
    for (const m of means.values()) tf.dispose([m.f, m.e]);
  }
}
