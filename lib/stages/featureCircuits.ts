/**
 * Stage 09: sparse feature circuits (seed 004, Marks et al.) on the config's base model and circuit
 * SAEs. Node effects by atp, ig and exact patching on agreement prompt pairs, their agreement, the
 * circuit of circuits.attribution.method at the node / edge thresholds (with edges), and faithfulness /
 * completeness over thresholds for every method.
 */
import * as fs from 'fs';
import * as path from 'path';
import { writeFileAtomic, writeJsonAtomic } from '../io/atomic';
import { TensorToWrite, writeSafetensors } from '../io/safetensors';
import { AttributionMethod, AttributionResult, attributeNodes, disposeAttribution } from '../circuits/attribution';
import { Circuit, CircuitNode, circuitDot } from '../circuits/circuit';
import { renderDotSvg } from '../circuits/graphviz';
import { FaithfulnessCurve, FaithfulnessPoint, faithfulnessCurve } from '../circuits/faithfulness';
import { CircuitExamples, attributeWithEdges, circuitExamples, circuitFromAttribution, nodeEffects } from '../circuits/featureCircuit';
import { agreementLine, faithfulnessCurvesSpec, methodAgreementSpec } from '../circuits/plots';
import { SvaRecord, SvaTokenizer, generateSvaPairs, readSvaJsonl, svaToJsonl } from '../circuits/svaData';
import { EdgeBlock } from '../circuits/edges';
import { StageContext } from '../notebook/stage';
import { Progress } from '../notebook/progress';
import { StageOutput, defineStage } from './define';
import { Row } from '../plots/table';
import { ExperimentConfig } from './config';
import { SAELAB_ROOT } from '../version';
import { mean } from '../analysis/stats';
import { circuitWorldInputs, loadCircuitWorld, validateCircuitsConfig } from './circuitsCommon';

export const STAGE_FEATURE_CIRCUITS = '09_feature_circuits';

/** The config fields stage 09 depends on. */
export function featureCircuitsInputs(c: ExperimentConfig): unknown {
  return { world: circuitWorldInputs(c), attribution: c.circuits.attribution, prependBos: c.prependBos, seed: c.seed };
}

/** Agreement records from circuits.attribution.dataset (a JSON-lines file; '' = generated for the tokenizer). */
export function circuitRecords(config: ExperimentConfig, tok: SvaTokenizer): { records: SvaRecord[]; source: string } {
  const ds = config.circuits.attribution.dataset;
  if (!ds) return { records: generateSvaPairs(tok, { seed: config.seed }), source: 'generated for the tokenizer (simple, nounpp, rc templates)' };
  const file = path.isAbsolute(ds) ? ds : path.join(SAELAB_ROOT, ds);
  if (!fs.existsSync(file)) throw new Error(`circuits.attribution.dataset: ${file} does not exist (a JSON-lines file of agreement pairs, or "" to generate them; see saelab sva-data)`);
  return { records: readSvaJsonl(file), source: ds };
}

type Methods = Partial<Record<AttributionMethod, AttributionResult>>;

export interface FeatureCircuitsStageResult {
  reused: boolean;
  examples: { n: number; tokens: number; source: string; cases: Record<string, number>; skipped: number; otherLengths: number };
  /** m = logit[last, patch_answer] - logit[last, clean_answer], mean over examples, on the clean and patch runs */
  metric: { clean_mean: number; patch_mean: number; total_effect: number };
  methods: Record<string, { seconds: number }>;
  /** per hook and method: sum of the aggregated node effects (ig's sum approximates total_effect at every hook) */
  effectSums: Row[];
  /** Pearson r, slope and intercept of each method pair, at node and position level */
  agreement: Row[];
  /** the strongest nodes per hook by the circuit's method, with the other methods' effects side by side */
  topNodes: Row[];
  circuit: {
    method: AttributionMethod; nodeThreshold: number; edgeThreshold: number;
    nodes: number; features: number; errorNodes: number; edges: number; faithfulness: number; completeness: number;
  };
  faithfulness: {
    fModel: number; fEmpty: number;
    /** every node kept (= 1 by definition) and no node kept (= 0 by definition), through the same ablation code */
    fullModel: FaithfulnessPoint; empty: FaithfulnessPoint;
    curves: Record<string, FaithfulnessPoint[]>;
  };
  faithfulnessTable: Row[];
  plots: { agreement: Record<string, object>; faithfulness: object };
  /** the circuit graph as SVG (also circuit.svg) */
  svg: string;
  files: string[];
}

/** The clean tokens at each position [T]: the token when all examples share it, else the most common ones joined by '/'. */
function positionTokens(ex: CircuitExamples, decode: (id: number) => string): string[] {
  return Array.from({ length: ex.length }, (_, t) => {
    const counts = new Map<number, number>();
    for (const row of ex.clean) counts.set(row[t], (counts.get(row[t]) ?? 0) + 1);
    const ids = [...counts.entries()].sort((a, b) => b[1] - a[1]).map(([id]) => id);
    return ids.slice(0, 3).map(decode).join('/') + (ids.length > 3 ? '/…' : '');
  });
}

/** The position where a node's summed effect is largest in |.|: "pos t 'tok'". */
function dominantPosition(a: AttributionResult, hook: string, j: number, labels: string[]): string {
  const h = a.byHook.get(hook)!;
  const D1 = h.dSae + 1;
  let best = 0;
  let bestV = -1;
  for (let t = 0; t < a.T; t++) {
    let s = 0;
    for (let n = 0; n < a.N; n++) s += h.effects[(n * a.T + t) * D1 + j];
    if (Math.abs(s) > bestV) { bestV = Math.abs(s); best = t; }
  }
  return `pos ${best} ${JSON.stringify(labels[best])}`;
}

function agreementRows(m: Methods): { rows: Row[]; specs: Record<string, object> } {
  const rows: Row[] = [];
  const specs: Record<string, object> = {};
  const pairs: Array<[AttributionMethod, AttributionMethod]> = [['atp', 'exact'], ['ig', 'exact'], ['atp', 'ig']];
  for (const [x, y] of pairs) {
    const a = m[x];
    const b = m[y];
    if (!a || !b) continue;
    for (const level of ['nodes', 'positions'] as const) {
      const line = agreementLine(a, b, level);
      rows.push({ x, y, level, r: line.r, slope: line.slope, intercept: line.intercept, points: line.n });
    }
    specs[`${y}_vs_${x}`] = methodAgreementSpec(a, b, 'nodes');
  }
  return { rows, specs };
}

function topNodeRows(m: Methods, main: AttributionMethod, labels: string[], perHook: number): Row[] {
  const a = m[main]!;
  const rows: Row[] = [];
  for (const h of a.hooks) {
    const nodes = a.byHook.get(h)!.nodes;
    const dSae = a.byHook.get(h)!.dSae;
    const order = Array.from(nodes.keys()).sort((i, j) => Math.abs(nodes[j]) - Math.abs(nodes[i])).slice(0, perHook);
    for (const j of order) {
      const row: Row = { hook: h, node: j === dSae ? 'error' : j };
      for (const k of ['atp', 'ig', 'exact'] as const) if (m[k]) row[k] = m[k]!.byHook.get(h)!.nodes[j];
      row.where = dominantPosition(a, h, j, labels);
      rows.push(row);
    }
  }
  return rows;
}

function nodeTensors(m: Methods, maxFloats: number): { tensors: Record<string, TensorToWrite>; perPosition: boolean } {
  const tensors: Record<string, TensorToWrite> = {};
  let floats = 0;
  for (const a of Object.values(m)) for (const h of a!.hooks) floats += a!.byHook.get(h)!.effects.length;
  const perPosition = floats <= maxFloats;
  for (const [k, a] of Object.entries(m)) {
    for (const h of a!.hooks) {
      const x = a!.byHook.get(h)!;
      tensors[`nodes.${k}.${h}`] = { dtype: 'F32', shape: [x.dSae + 1], data: x.nodes };
      if (perPosition) tensors[`effects.${k}.${h}`] = { dtype: 'F32', shape: [a!.N, a!.T, x.dSae + 1], data: x.effects };
    }
  }
  const any = Object.values(m)[0]!;
  tensors.metric_clean = { dtype: 'F32', shape: [any.N], data: any.metricClean };
  tensors.metric_patch = { dtype: 'F32', shape: [any.N], data: any.metricPatch };
  return { tensors, perPosition };
}

function edgeTensors(edges: EdgeBlock[]): Record<string, TensorToWrite> {
  const out: Record<string, TensorToWrite> = {};
  for (const b of edges) {
    out[`edges.${b.up}.${b.down}`] = { dtype: 'F32', shape: [b.downNodes.length, b.dUp + 1], data: b.weights };
    out[`edge_down_nodes.${b.up}.${b.down}`] = { dtype: 'I32', shape: [b.downNodes.length], data: Int32Array.from(b.downNodes) };
  }
  return out;
}

const FILES = ['results.json', 'node_effects.safetensors', 'edges.safetensors', 'circuit.json', 'circuit.dot', 'circuit.svg', 'examples.jsonl'];

/**
 * Stage 09 (see the module comment). Writes node_effects.safetensors (`nodes.<method>.<hook>` [d_sae + 1],
 * `effects.<method>.<hook>` [N, T, d_sae + 1] when small enough, `metric_clean`, `metric_patch`),
 * edges.safetensors (`edges.<up>.<down>` [K, d_sae_up + 1], `edge_down_nodes.<up>.<down>` [K]), circuit.json,
 * circuit.dot, circuit.svg, examples.jsonl and results.json; reused when its inputs are unchanged.
 */
export const featureCircuitsStage = defineStage<FeatureCircuitsStageResult>({
  name: STAGE_FEATURE_CIRCUITS,
  inputs: featureCircuitsInputs,
  run: featureCircuitsRun,
  load: (saved, ctx) => ({ ...(saved as Omit<FeatureCircuitsStageResult, 'svg'>), svg: fs.readFileSync(path.join(ctx.stageDir, 'circuit.svg'), 'utf8'), reused: true }),
});

async function featureCircuitsRun(ctx: StageContext): Promise<StageOutput<FeatureCircuitsStageResult>> {
  const { config, stageDir } = ctx;
  const at = config.circuits.attribution;
  validateCircuitsConfig(config, ctx.configFile);
  const main = at.method as AttributionMethod;
  const methods = [...new Set([...at.methods, main])] as AttributionMethod[];
  const w = await loadCircuitWorld(config);
  const m: Methods = {};
  try {
    const { records, source } = circuitRecords(config, w.tokenizer);
    const ex = circuitExamples(records, w.tokenizer, { nExamples: at.nExamples, prependBos: config.prependBos, seed: config.seed });
    const seconds: Record<string, { seconds: number }> = {};
    // phases: each method's node effects (the circuit's method with its edges), the circuit's faithfulness curve, the other methods' curves, the two ends
    const phases = new Progress('feature circuits: phases', methods.length + 1 + methods.filter((k) => k !== main).length + 1);
    const progress = (label: string, total: number) => new Progress(label, total);
    // the circuit's method also gives the edges, chunk by chunk of pairs (its gradients are not kept for all pairs)
    let edges: EdgeBlock[] = [];
    for (const k of methods) {
      const t0 = performance.now();
      if (k === main) {
        const r = await attributeWithEdges(w.model, w.saes, ex, { method: main as 'atp' | 'ig', steps: at.igSteps, nodeThreshold: at.nodeThreshold, progress });
        m[k] = r.attribution;
        edges = r.edges;
      } else {
        m[k] = await attributeNodes(w.model, w.saes, ex, { method: k, steps: at.igSteps, progress });
      }
      seconds[k] = { seconds: (performance.now() - t0) / 1000 };
      phases.tick(1, { '': `${k} node effects${k === main ? ' and edges' : ''} ${seconds[k].seconds.toFixed(1)} s` });
    }
    const opts = { method: main as "atp" | "ig", igSteps: at.igSteps, nodeThreshold: at.nodeThreshold, edgeThreshold: at.edgeThreshold, thresholds: at.thresholds };
    const t0 = performance.now();
    const fc = await circuitFromAttribution(w.model, w.saes, ex, m[main]!, opts, edges);
    seconds.circuit = { seconds: (performance.now() - t0) / 1000 };
    phases.tick(1, { '': `circuit (faithfulness) ${seconds.circuit.seconds.toFixed(1)} s` });
    disposeAttribution(m[main]!);
    // faithfulness over the thresholds for every method, and the two ends (all nodes / none), through the same code
    const curves: Record<string, FaithfulnessCurve> = { [main]: { ...fc.curve, points: fc.curve.points.filter((p) => at.thresholds.includes(p.threshold)) } };
    for (const k of methods) {
      if (k === main) continue;
      curves[k] = await faithfulnessCurve(w.model, w.saes, ex, nodeEffects(m[k]!), at.thresholds);
      phases.tick(1, { '': `${k} faithfulness curve` });
    }
    const ends = await faithfulnessCurve(w.model, w.saes, ex, fc.nodes, [-1, Number.MAX_VALUE]);
    phases.tick(1, { '': 'faithfulness of all nodes / no nodes' });
    phases.done();
    const labels = positionTokens(ex, (id) => w.tokenizer.decode([id]));
    const describe = (n: CircuitNode) => (n.id === 'y' ? ['total effect m_patch - m_clean', 'm = logit(patch answer) - logit(clean answer)'] : [dominantPosition(m[main]!, n.hook, n.feature, labels)]);
    const title = `Feature circuit (${main}, |node| > ${at.nodeThreshold}, |edge| > ${at.edgeThreshold}): ${config.base.model}, ${ex.clean.length} agreement pairs`;
    const dot = circuitDot(fc.circuit, { title, describe });
    const svg = await renderDotSvg(dot);
    const metricClean = mean(m[main]!.metricClean);
    const metricPatch = mean(m[main]!.metricPatch);
    const effectSums: Row[] = m[main]!.hooks.map((h) => {
      const row: Row = { hook: h };
      for (const k of methods) row[k] = m[k]!.byHook.get(h)!.nodes.reduce((s, v) => s + v, 0);
      row['m_patch - m_clean'] = metricPatch - metricClean;
      return row;
    });
    const ag = agreementRows(m);
    const c = fc.circuit;
    const circuitSummary = {
      method: main, nodeThreshold: at.nodeThreshold, edgeThreshold: at.edgeThreshold,
      nodes: c.nodes.filter((n) => n.id !== 'y').length, features: c.nodes.filter((n) => n.id !== 'y' && !n.isError).length,
      errorNodes: c.nodes.filter((n) => n.isError).length, edges: c.edges.length,
      faithfulness: fc.faithfulness.faithfulness, completeness: fc.faithfulness.completeness,
    };
    const faithfulnessTable: Row[] = [
      { method: 'all nodes (full model)', threshold: null, nodes: ends.points[0].nNodes, faithfulness: ends.points[0].faithfulness, completeness: ends.points[0].completeness },
      ...Object.entries(curves).flatMap(([k, cv]) => cv.points.map((p) => ({ method: k, threshold: p.threshold, nodes: p.nNodes, faithfulness: p.faithfulness, completeness: p.completeness }))),
      { method: 'no nodes (empty circuit)', threshold: null, nodes: ends.points[1].nNodes, faithfulness: ends.points[1].faithfulness, completeness: ends.points[1].completeness },
    ];
    const cases: Record<string, number> = {};
    for (const r of ex.records) cases[r.case] = (cases[r.case] ?? 0) + 1;
    const nt = nodeTensors(m, 1 << 25);
    writeSafetensors(path.join(stageDir, 'node_effects.safetensors'), nt.tensors, {
      hooks: JSON.stringify(m[main]!.hooks), methods: JSON.stringify(methods), per_position: String(nt.perPosition),
      metric: 'logit[last, patch_answer] - logit[last, clean_answer]',
    });
    writeSafetensors(path.join(stageDir, 'edges.safetensors'), edgeTensors(fc.edges), { method: main, hooks: JSON.stringify(m[main]!.hooks) });
    writeJsonAtomic(path.join(stageDir, "circuit.json"), c as Circuit);
    writeFileAtomic(path.join(stageDir, 'circuit.dot'), dot);
    writeFileAtomic(path.join(stageDir, 'circuit.svg'), svg);
    writeFileAtomic(path.join(stageDir, 'examples.jsonl'), svaToJsonl(ex.records));
    const result = {
      examples: { n: ex.clean.length, tokens: ex.length, source, cases, skipped: ex.skipped, otherLengths: ex.otherLengths },
      metric: { clean_mean: metricClean, patch_mean: metricPatch, total_effect: metricPatch - metricClean },
      methods: seconds, effectSums, agreement: ag.rows, topNodes: topNodeRows(m, main, labels, 5),
      circuit: circuitSummary,
      faithfulness: {
        fModel: fc.curve.fModel, fEmpty: fc.curve.fEmpty, fullModel: ends.points[0], empty: ends.points[1],
        curves: Object.fromEntries(Object.entries(curves).map(([k, cv]) => [k, cv.points])),
      },
      faithfulnessTable,
      plots: { agreement: ag.specs, faithfulness: faithfulnessCurvesSpec(curves) },
      svg, files: FILES,
    };
    const { svg: _svg, ...saved } = result;
    return { result, saved, artifacts: FILES, provenance: { revision: w.revision, per_position_effects: nt.perPosition } };
  } finally {
    for (const a of Object.values(m)) disposeAttribution(a!);
    w.dispose();
  }
}
