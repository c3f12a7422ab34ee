/**
 * Stage 08: seed 003's feature-ablation graph on the config's base model and circuit SAEs. Picks
 * features at the first hook of circuits.hooks (seeded thinning fraction, or pinned ids), ablates each
 * on circuits.ablation.nSequences contexts of the dataset, keeps the top-k downstream effects as the
 * next hook's picks, and draws the graph (DOT + SVG).
 */
import * as fs from 'fs';
import * as path from 'path';
import { writeFileAtomic, writeJsonAtomic } from '../io/atomic';
import { TensorToWrite, writeSafetensors } from '../io/safetensors';
import { AblationGraph, TokenEffect, ablationGraph, ablationGraphDot, tokenEffectText } from '../circuits/ablationGraph';
import { renderDotSvg } from '../circuits/graphviz';
import { StageContext } from '../notebook/stage';
import { Progress } from '../notebook/progress';
import { StageOutput, defineStage } from './define';
import { Row } from '../plots/table';
import { ExperimentConfig } from './config';
import { sampleContexts, saveTokens } from './common';
import { circuitWorldInputs, loadCircuitWorld } from './circuitsCommon';

export const STAGE_ABLATION_GRAPH = '08_ablation_graph';

/** The config fields stage 08 depends on. */
export function ablationGraphInputs(c: ExperimentConfig): unknown {
  return { world: circuitWorldInputs(c), ablation: c.circuits.ablation, dataset: c.dataset, contextSize: c.contextSize, prependBos: c.prependBos, seed: c.seed };
}

export interface AblationGraphStageResult {
  reused: boolean;
  hooks: string[];
  /** features ablated at each hook */
  picks: Array<{ hook: string; features: number[] }>;
  sequences: number;
  contextSize: number;
  nodes: number;
  edges: number;
  /** the strongest downstream effects (edges), largest |effect| first */
  strongest: Row[];
  /** every node: label, top contexts, most up/down-weighted next tokens */
  nodeTable: Row[];
  /** the graph as SVG (also graph.svg) */
  svg: string;
  files: string[];
}

const FILES = ['graph.json', 'graph.dot', 'graph.svg', 'effects.safetensors', 'tokens.safetensors', 'results.json'];

/** Tensors of effects.safetensors: per hook A, `features.<A>`, `logprob_effects.<A>` and `feature_effects.<A>.<next>`. */
export function ablationEffectTensors(g: AblationGraph): Record<string, TensorToWrite> {
  const out: Record<string, TensorToWrite> = {};
  for (const l of g.levels) {
    const n = l.features.length;
    out[`features.${l.hook}`] = { dtype: 'I32', shape: [n], data: Int32Array.from(l.features) };
    out[`logprob_effects.${l.hook}`] = { dtype: 'F32', shape: [n, l.dVocab], data: l.logprobEffects };
    if (l.next) {
      out[`feature_effects.${l.hook}.${l.next}`] = { dtype: 'F32', shape: [n, l.dSaeDownstream], data: l.featureEffects };
      out[`clean_mean.${l.next}`] = { dtype: 'F32', shape: [l.dSaeDownstream], data: l.cleanDownstreamMean };
    }
  }
  return out;
}

/** The strongest edges as table rows (with the downstream feature's clean mean activation for scale). */
function strongestRows(g: AblationGraph, k: number): Row[] {
  const byId = new Map(g.nodes.map((n) => [n.id, n]));
  const level = new Map(g.levels.map((l) => [l.hook, l]));
  return [...g.edges].sort((a, b) => Math.abs(b.effect) - Math.abs(a.effect)).slice(0, k).map((e) => {
    const from = byId.get(e.from)!;
    const to = byId.get(e.to);
    const l = level.get(from.hook)!;
    const clean = to ? l.cleanDownstreamMean[to.feature] : NaN;
    return {
      ablated: e.from, downstream: e.to, effect: e.effect, 'clean mean': clean,
      direction: e.effect >= 0 ? 'increase' : 'decrease',
      'ablated: top context': from.contexts?.[0]?.text ?? '',
    };
  });
}

function nodeRows(g: AblationGraph): Row[] {
  const toks = (ts: TokenEffect[]) => ts.map((t) => tokenEffectText(t, 4)).join(', ');
  return g.nodes.map((n) => ({
    node: n.id, hook: n.hook, feature: n.feature,
    'top contexts': (n.contexts ?? []).map((c) => c.text).join(' | '),
    'log-prob up when ablated': toks(n.upTokens),
    'log-prob down when ablated': toks(n.downTokens),
  }));
}

/**
 * Stage 08 (see the module comment). Writes graph.json (nodes, edges), graph.dot, graph.svg,
 * effects.safetensors (ablationEffectTensors), tokens.safetensors and results.json; reused when its
 * inputs are unchanged.
 */
export const ablationGraphStage = defineStage<AblationGraphStageResult>({
  name: STAGE_ABLATION_GRAPH,
  inputs: ablationGraphInputs,
  run: ablationGraphRun,
  load: (saved, ctx) => ({ ...(saved as Omit<AblationGraphStageResult, 'svg'>), svg: fs.readFileSync(path.join(ctx.stageDir, 'graph.svg'), 'utf8'), reused: true }),
});

async function ablationGraphRun(ctx: StageContext): Promise<StageOutput<AblationGraphStageResult>> {
  const { config, stageDir } = ctx;
  const a = config.circuits.ablation;
  const w = await loadCircuitWorld(config);
  try {
    const ctxLen = config.contextSize;
    const flat = await sampleContexts(config, w.tokenizer, a.nSequences, 8);
    saveTokens(path.join(stageDir, 'tokens.safetensors'), flat, ctxLen);
    const rows = Array.from({ length: a.nSequences }, (_, i) => Array.from(flat.subarray(i * ctxLen, (i + 1) * ctxLen)));
    const decodeToken = (id: number) => w.tokenizer.decode([id]);
    const g = await ablationGraph(w.model, w.saes, rows, {
      hooks: config.circuits.hooks, thinning: a.thinning, pinned: a.pinned, branching: a.branching, seed: config.seed,
      decodeToken, contexts: rows, contextsPerNode: a.contextsPerNode,
      progress: (label, total) => new Progress(label, total),
    });
    const title = `Feature ablation graph: ${config.base.model}, ${config.circuits.saeRelease} (${a.nSequences} sequences, last position)`;
    const dot = ablationGraphDot(g, title);
    const svg = await renderDotSvg(dot);
    writeJsonAtomic(path.join(stageDir, 'graph.json'), { hooks: g.hooks, nodes: g.nodes, edges: g.edges });
    writeFileAtomic(path.join(stageDir, 'graph.dot'), dot);
    writeFileAtomic(path.join(stageDir, 'graph.svg'), svg);
    writeSafetensors(path.join(stageDir, 'effects.safetensors'), ablationEffectTensors(g), {
      hooks: JSON.stringify(g.hooks), model: config.base.model, sae_release: config.circuits.saeRelease, sequences: String(a.nSequences),
    });
    const result = {
      hooks: g.hooks, picks: g.levels.map((l) => ({ hook: l.hook, features: l.features })),
      sequences: a.nSequences, contextSize: ctxLen, nodes: g.nodes.length, edges: g.edges.length,
      strongest: strongestRows(g, 15), nodeTable: nodeRows(g), svg, files: FILES,
    };
    const { svg: _svg, ...saved } = result;
    return { result, saved, artifacts: FILES, provenance: { revision: w.revision } };
  } finally {
    w.dispose();
  }
}
