/**
 * One call from a model, its SAEs and prompt pairs to a sparse feature circuit (Marks et al.): node
 * effects (atp or ig, gradients kept), edges between consecutive hooks, the circuit at the node and edge
 * thresholds, and its faithfulness / completeness (mean ablation), optionally over a list of thresholds.
 * Notebook 09 calls it through its stage; the checkpoint notebooks call it once per checkpoint.
 */
import { SAESet, CircuitModel } from './common';
import { AttributionResult, PromptPairs, attributeNodes, disposeAttribution } from './attribution';
import { EdgeBlock, circuitEdges, mergeEdgeBlocks } from './edges';
import { ProgressFactory } from '../notebook/progress';
import { Circuit, buildCircuit } from './circuit';
import { FaithfulnessCurve, FaithfulnessPoint, faithfulnessCurve } from './faithfulness';
import { SvaRecord, svaPromptPairs, SvaTokenizer } from './svaData';
import { mulberry32 as rng } from '../data/random';

export interface FeatureCircuitOptions {
  /** node attribution used for the circuit: 'ig' (feature-circuits' default) or 'atp' */
  method?: 'atp' | 'ig';
  /** ig interpolation steps (default 10) */
  igSteps?: number;
  /** nodes with |effect| above this (aggregated: summed over positions, mean over examples) */
  nodeThreshold: number;
  /** edges with |weight| above this */
  edgeThreshold: number;
  /** node thresholds of the faithfulness curve (the nodeThreshold point is always computed) */
  thresholds?: number[];
}

export interface FeatureCircuitResult {
  /** node effects of `method` (plain arrays; the gradients are released) */
  attribution: AttributionResult;
  edges: EdgeBlock[];
  circuit: Circuit;
  /** aggregated node effects per hook, [d_sae + 1] (last: the error node) */
  nodes: Map<string, Float32Array>;
  /** the circuit at nodeThreshold, with the full-model and empty-circuit metrics */
  faithfulness: FaithfulnessPoint & { fModel: number; fEmpty: number };
  /** faithfulness and completeness at every threshold of `thresholds` (and nodeThreshold), ascending */
  curve: FaithfulnessCurve;
}

/** Aggregated node effects per hook of an attribution. */
export function nodeEffects(attr: AttributionResult): Map<string, Float32Array> {
  return new Map(attr.hooks.map((h) => [h, attr.byHook.get(h)!.nodes]));
}

/**
 * Node effects by atp or ig and the circuit's edges, pairs in chunks (AttributionOptions.pairsPerChunk):
 * each chunk's edges are computed from its gradients and deltas, which are then released, so no tensor
 * holds more than a chunk's pairs; the chunks' edge weights add up (mergeEdgeBlocks). The result holds no tensors.
 */
export async function attributeWithEdges(model: CircuitModel, saes: SAESet, pairs: PromptPairs, opts: { method: 'atp' | 'ig'; steps?: number; nodeThreshold: number; pairsPerChunk?: number; progress?: ProgressFactory }): Promise<{ attribution: AttributionResult; edges: EdgeBlock[] }> {
  const chunks: EdgeBlock[][] = [];
  const N = pairs.clean.length;
  const attribution = await attributeNodes(model, saes, pairs, {
    method: opts.method, steps: opts.steps, keepTensors: true, pairsPerChunk: opts.pairsPerChunk, progress: opts.progress,
    onChunk: async (chunk, sub) => { chunks.push(await circuitEdges(model, saes, sub.clean, chunk, { nodeThreshold: opts.nodeThreshold, examples: N })); },
  });
  disposeAttribution(attribution);
  return { attribution, edges: mergeEdgeBlocks(chunks) };
}

/**
 * The circuit of an attribution: edges (from `edges`, e.g. attributeWithEdges's, or else computed from the
 * attribution's tensors: made with keepTensors, atp or ig), the thresholded circuit and its faithfulness
 * curve. The attribution's tensors are left to the caller.
 */
export async function circuitFromAttribution(model: CircuitModel, saes: SAESet, pairs: PromptPairs, attr: AttributionResult, opts: FeatureCircuitOptions, precomputed?: EdgeBlock[]): Promise<Omit<FeatureCircuitResult, 'attribution'>> {
  const edges = precomputed ?? await circuitEdges(model, saes, pairs.clean, attr, { nodeThreshold: opts.nodeThreshold });
  const circuit = buildCircuit(attr, edges, { nodeThreshold: opts.nodeThreshold, edgeThreshold: opts.edgeThreshold });
  const nodes = nodeEffects(attr);
  const thresholds = [...new Set([opts.nodeThreshold, ...(opts.thresholds ?? [])])].sort((a, b) => a - b);
  const curve = await faithfulnessCurve(model, saes, pairs, nodes, thresholds);
  const at = curve.points.find((p) => p.threshold === opts.nodeThreshold)!;
  return { edges, circuit, nodes, faithfulness: { ...at, fModel: curve.fModel, fEmpty: curve.fEmpty }, curve };
}

/** Node effects, edges, circuit and faithfulness of `pairs` on a model with its SAEs (see the module comment). */
export async function featureCircuitForModel(model: CircuitModel, saes: SAESet, pairs: PromptPairs, opts: FeatureCircuitOptions): Promise<FeatureCircuitResult> {
  const method = opts.method ?? 'ig';
  if (method !== 'atp' && method !== 'ig') throw new Error(`circuit method must be 'atp' or 'ig' (edges need gradients), got '${method}'`);
  const { attribution, edges } = await attributeWithEdges(model, saes, pairs, { method, steps: opts.igSteps, nodeThreshold: opts.nodeThreshold });
  return { attribution, ...(await circuitFromAttribution(model, saes, pairs, attribution, opts, edges)) };
}

/** Prompt pairs drawn for a circuit: one prefix length, the records they came from. */
export interface CircuitExamples extends PromptPairs {
  length: number;
  records: SvaRecord[];
  /** records that did not tokenize cleanly, and records of other prefix lengths left out */
  skipped: number;
  otherLengths: number;
}

/**
 * Up to `nExamples` prompt pairs of one prefix length from agreement records: the largest
 * equal-length group (pairs must share a length to be batched), drawn by a seeded shuffle so cases mix.
 */
export function circuitExamples(records: SvaRecord[], tok: SvaTokenizer, opts: { nExamples: number; prependBos?: boolean; seed?: number }): CircuitExamples {
  const { groups, skipped } = svaPromptPairs(records, tok, { prependBos: opts.prependBos });
  if (!groups.length) throw new Error(`none of the ${records.length} agreement records tokenize into one-token answers and equal-length prefixes with this tokenizer; generate a set for it (saelab sva-data)`);
  const g = groups[0];
  const order = g.clean.map((_, i) => i);
  const r = rng(opts.seed ?? 0);
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  const pick = order.slice(0, Math.max(1, opts.nExamples));
  return {
    length: g.length,
    clean: pick.map((i) => g.clean[i]),
    patch: pick.map((i) => g.patch[i]),
    cleanAnswers: pick.map((i) => g.cleanAnswers[i]),
    patchAnswers: pick.map((i) => g.patchAnswers[i]),
    records: pick.map((i) => g.records[i]),
    skipped,
    otherLengths: groups.slice(1).reduce((s, x) => s + x.clean.length, 0),
  };
}
