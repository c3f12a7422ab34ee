import * as fs from 'fs';
import * as path from 'path';
import type { TopLevelSpec } from 'vega-lite';
import { writeJsonAtomic } from '../io/atomic';
import { ArtifactRecord, StageContext, artifactsIntact, recordArtifacts } from '../notebook/stage';
import { StageOutput, defineStage } from './define';
import { CrossLayerSettings, configHash } from './config';
import { Row } from '../plots/table';
import { barSpec, lineSpec, VEGA_LITE_SCHEMA } from '../plots/specs';
import { SparseMatrix, expectedDeadPairs, loadCrossLayerOutputs, pairFileName } from '../analysis/crosslayer/storage';
import { PassThroughRow, FeatureGraph, featureGraph, passThrough } from '../analysis/crosslayer/graph';
import { BrowserContext, NeuronpediaSource, writeFeatureGraphHtml } from '../analysis/crosslayer/browser';
import { communityRanks, laneLayout } from '../analysis/crosslayer/graphLayout';
import { TopActivations } from '../analysis/crosslayer/topk';
import { ModelFeatureCodeSource } from '../analysis/crosslayer/featureCodeSource';
import { CrossLayerCollector } from '../analysis/crosslayer/collector';
import { removeSaelabFolder } from '../io/folders';
import { BatchRange } from './shard/spec';
import { readShardState, shardDir } from './shard/store';
import {
  CrossLayerCollection, CrossLayerModelRun, CrossLayerModels, collectCrossLayerFromModel, crossLayerBatches, datasetContexts, loadCrossLayerModels, runCrossLayerFromModel, writeCrossLayerCollection,
} from './crosslayerRun';

export const STAGE_CROSSLAYER = '07_crosslayer_features';

/** Files stage 07 writes (besides results.json and manifest.json). */
export const CROSSLAYER_STAGE_FILES = ['max_activations.safetensors', 'dead_features.safetensors', 'summary.json', 'collection.json', 'pass_through.json', 'graph.json', 'graph.html'];

/** The settings the statistics files depend on (graph, pass-through and Neuronpedia settings only change the analyses). */
function collectionKey(settings: CrossLayerSettings, hooks: string[]): string {
  const { graph: _g, passThroughThresholds: _p, neuronpedia: _n, saveEveryTokens: _s, ...rest } = settings;
  return configHash({ ...rest, hooks });
}

/**
 * Run the statistics, or keep the files of an earlier run of this stage made with the same collection
 * settings; with `merged` (the row shards' collectors merged), write those instead of collecting.
 */
async function collectOrReuse(stageDir: string, settings: CrossLayerSettings, models: CrossLayerModels, merged?: CrossLayerCollection): Promise<CrossLayerModelRun & { reused: boolean }> {
  const file = path.join(stageDir, 'collection.json');
  const key = collectionKey(settings, models.hooks);
  if (merged) {
    fs.rmSync(file, { force: true });
    const run = await writeCrossLayerCollection(settings, models, merged, stageDir);
    const files = [...Array.from({ length: run.summary.n_layers - 1 }, (_, P) => pairFileName(P)), 'max_activations.safetensors', 'dead_features.safetensors', 'summary.json'];
    writeJsonAtomic(file, { key, run, files: recordArtifacts(stageDir, files, STAGE_CROSSLAYER) });
    return { ...run, reused: false };
  }
  if (fs.existsSync(file)) {
    const prev = JSON.parse(fs.readFileSync(file, 'utf8')) as { key: string; run: CrossLayerModelRun; files?: Record<string, ArtifactRecord> };
    const n = prev.run.summary.n_layers;
    const files = [...Array.from({ length: n - 1 }, (_, P) => pairFileName(P)), 'max_activations.safetensors', 'dead_features.safetensors', 'summary.json'];
    if (prev.key === key && files.every((f) => fs.existsSync(path.join(stageDir, f))) && artifactsIntact(stageDir, prev.files)) return { ...prev.run, reused: true };
  }
  fs.rmSync(file, { force: true });
  const run = await runCrossLayerFromModel(settings, stageDir, { models, stateDir: path.join(stageDir, 'state'), label: STAGE_CROSSLAYER });
  const files = [...Array.from({ length: run.summary.n_layers - 1 }, (_, P) => pairFileName(P)), 'max_activations.safetensors', 'dead_features.safetensors', 'summary.json'];
  writeJsonAtomic(file, { key, run, files: recordArtifacts(stageDir, files, STAGE_CROSSLAYER) });
  return { ...run, reused: false };
}

export interface CrossLayerStageResult {
  reused: boolean;
  /** the statistics files were kept from an earlier run with the same collection settings (only the analyses were redone) */
  statistics_reused: boolean;
  hooks: string[];
  n_layers: number;
  d_sae: number;
  tokens: number;
  steps: number;
  /** tokens already in a saved state when the run started (0: fresh) */
  resumed_from: number;
  seconds: { max: number; collect: number; write: number; contexts: number };
  /** collection throughput (pass 2, model included) */
  tokens_per_second: number;
  peak_pairs_in_memory: number;
  spills: number;
  /** stored (nonzero) entries per statistic per layer pair */
  nnz: Record<string, number[]>;
  pass_through: PassThroughRow[];
  graph: { nodes: number; edges: number; communities: number; modularity: number; html: string };
  tables: { summary: Row[]; dead: Row[]; stats: Row[]; pass_through: Row[] };
  plots: Record<string, object>;
  files: string[];
  revisions: Record<string, string | undefined>;
}

/** The config fields stage 07 depends on. */
export function crossLayerInputs(c: StageContext['config']): unknown {
  return { crosslayer: c.crosslayer };
}

/** A Neuronpedia source from the config's `{model, saeId}` ({layer} replaced by the layer). */
export function neuronpediaFromSettings(np: CrossLayerSettings['neuronpedia']): NeuronpediaSource | null {
  return np ? { model: np.model, sae_id: (layer: number) => np.saeId.replace(/\{layer\}/g, String(layer)) } : null;
}

/**
 * Top-activating contexts of the graph's nodes over the first `contextTokens` tokens: for each node, up to
 * `k` windows (10 tokens before the firing one, 5 after, inside its context) as decoded token strings.
 */
export async function graphContexts(models: CrossLayerModels, settings: CrossLayerSettings, graph: FeatureGraph): Promise<Record<string, BrowserContext[]>> {
  const k = settings.graph.contexts;
  if (k === 0 || graph.nodes.length === 0 || settings.graph.contextTokens === 0) return {};
  const bt = settings.batchSize * settings.contextSize;
  const maxBatches = Math.min(crossLayerBatches(settings), Math.max(1, Math.ceil(settings.graph.contextTokens / bt)));
  const byLayer: number[][] = models.saes.map(() => []);
  for (const n of graph.nodes) byLayer[n.layer].push(n.feature);
  const top = new TopActivations(byLayer, k);
  const ids = new Int32Array(maxBatches * bt);
  const source = new ModelFeatureCodeSource({
    model: models.model, saes: models.saes, contexts: datasetContexts(settings, models.tokenizer), contextSize: settings.contextSize, batchSize: settings.batchSize, maxBatches,
    onTokens: (start, x) => ids.set(x, start),
  });
  for await (const b of source.batches(0)) top.add(b);
  const str = new Map<number, string>();
  const tok = (id: number): string => {
    let s = str.get(id);
    if (s === undefined) { s = models.tokenizer.decode([id]); str.set(id, s); }
    return s;
  };
  const ctx = settings.contextSize;
  const out: Record<string, BrowserContext[]> = {};
  for (const n of graph.nodes) {
    out[n.id] = top.top(n.layer, n.feature).map(({ activation, token }) => {
      const c0 = Math.floor(token / ctx) * ctx;
      const a = Math.max(c0, token - 10), b = Math.min(c0 + ctx, token + 6);
      return { tokens: Array.from(ids.subarray(a, b), tok), position: token - a, activation };
    });
  }
  return out;
}

/** Stored values of one statistic per layer pair, as log-count histogram lines over `bins` equal bins. */
function statHistogramSpec(stat: string, mats: SparseMatrix[], bins = 40): TopLevelSpec {
  let lo = Infinity, hi = -Infinity;
  for (const m of mats) for (const v of m.values) { if (v < lo) lo = v; if (v > hi) hi = v; }
  if (!(lo < hi)) { lo = Number.isFinite(lo) ? lo - 0.5 : 0; hi = lo + 1; }
  const w = (hi - lo) / bins;
  const series = mats.map((m, P) => {
    const counts = new Float64Array(bins);
    for (const v of m.values) counts[Math.min(bins - 1, Math.floor((v - lo) / w))]++;
    return { name: `${P}->${P + 1}`, x: Array.from({ length: bins }, (_, i) => lo + (i + 0.5) * w), y: Array.from(counts, (c) => (c > 0 ? c : NaN)) };
  });
  const spec = lineSpec(series, { title: `${stat}: stored values (|x| >= clamp) per layer pair`, xTitle: stat, yTitle: 'pairs (log)', logY: true, seriesTitle: 'layers', width: 420, height: 220 }) as unknown as Record<string, unknown>;
  return { ...spec, mark: { type: 'line', interpolate: 'step', point: true, tooltip: true } } as TopLevelSpec;
}

/**
 * The feature graph as a layered node-link diagram that stays readable at thousands of features: the
 * `maxCommunities` largest communities (Louvain), one horizontal band each, largest on top, one column per
 * layer, features ordered inside a band to cross few links (laneLayout, the graph browser's layout); links
 * shaded by weight. The subtitle says what is left out; graph.html browses everything.
 */
export function featureGraphSpec(graph: FeatureGraph, title = 'cross-layer feature graph', maxCommunities = 12): TopLevelSpec {
  const rank = communityRanks(graph.nodes, graph.edges);
  const shown = graph.nodes.filter((n) => rank[n.community] < maxCommunities);
  const ids = new Set(shown.map((n) => n.id));
  const links = graph.edges.filter((e) => ids.has(e.source) && ids.has(e.target));
  const L = laneLayout(shown, links, rank);
  const nodes = shown.map((n) => ({ id: n.id, layer: n.layer, row: L.pos[n.id].row, community: `#${rank[n.community] + 1} (community ${n.community})`, feature: n.feature }));
  const edges = links.map((e) => ({ x: L.layers[L.pos[e.source].col], y: L.pos[e.source].row, x2: L.layers[L.pos[e.target].col], y2: L.pos[e.target].row, weight: Math.abs(e.weight), link: `${e.source} -> ${e.target}` }));
  const lanes = L.lanes.map((ln) => ({ y: ln.start - 0.5, y2: ln.start + ln.height - 0.5, label: `#${rank[ln.community] + 1}: ${ln.size}` }));
  const first = L.layers[0] ?? 0;
  const last = L.layers[L.layers.length - 1] ?? 0;
  const communities = Object.keys(rank).length;
  const what = communities > maxCommunities
    ? `the ${maxCommunities} largest of ${graph.communities} communities: ${shown.length} of ${graph.nodes.length} features, ${links.length} of ${graph.edges.length} links`
    : `${graph.nodes.length} features, ${graph.edges.length} links, ${graph.communities} communities`;
  const height = Math.min(1400, Math.max(160, 7 * (L.rows + 1)));
  const y = { type: 'quantitative', scale: { domain: [-1, L.rows + 1], reverse: true, nice: false, zero: false }, axis: null };
  return {
    $schema: VEGA_LITE_SCHEMA,
    title: { text: title, subtitle: [what, `${graph.stat} links, modularity ${graph.modularity.toFixed(3)}; one band per community (#rank: features); graph.html browses all`] },
    width: 170 * Math.max(1, last - first) + 60, height,
    layer: [
      {
        data: { values: lanes },
        mark: { type: 'rect', opacity: 0.08, color: '#4c78a8' },
        encoding: { x: { value: 0 }, x2: { value: 170 * Math.max(1, last - first) + 60 }, y: { field: 'y', ...y }, y2: { field: 'y2' } },
      },
      {
        data: { values: lanes },
        mark: { type: 'text', align: 'left', baseline: 'middle', fontSize: 9, color: '#555', dx: 2 },
        encoding: { x: { value: 0 }, y: { field: 'y', ...y }, text: { field: 'label' } },
        transform: [{ calculate: 'datum.y + (datum.y2 - datum.y) / 2', as: 'y' }],
      },
      {
        data: { values: edges },
        mark: { type: 'rule', tooltip: true },
        encoding: {
          x: { field: 'x', type: 'quantitative', title: 'layer', scale: { domain: [first - 0.35, last + 0.35] }, axis: { values: L.layers, format: 'd' } },
          y: { field: 'y', ...y }, x2: { field: 'x2' }, y2: { field: 'y2' },
          opacity: { field: 'weight', type: 'quantitative', scale: { domain: [0, 1], range: [0.15, 0.9] }, legend: null },
          strokeWidth: { value: 1 }, color: { value: '#2458a8' }, tooltip: [{ field: 'link' }, { field: 'weight', format: '.3f' }],
        },
      },
      {
        data: { values: nodes },
        mark: { type: 'circle', size: 22, opacity: 1, tooltip: true },
        encoding: {
          x: { field: 'layer', type: 'quantitative' }, y: { field: 'row', ...y },
          color: { field: 'community', type: 'nominal', legend: null, scale: { scheme: 'category20' } }, tooltip: [{ field: 'id' }, { field: 'community' }],
        },
      },
    ],
  } as unknown as TopLevelSpec;
}

/** Plots and tables of a finished output folder (stage 07 and the CLI's callers). */
export function crossLayerReport(outDir: string, settings: CrossLayerSettings, passRows: PassThroughRow[], graph: FeatureGraph): Pick<CrossLayerStageResult, 'plots' | 'tables' | 'nnz'> {
  const res = loadCrossLayerOutputs(outDir);
  const { dead, summary } = res;
  const d = summary.d_sae;
  const nL = summary.n_layers;
  const plots: Record<string, object> = {};
  const x = dead.tokens;
  if (x.length) {
    plots.deadFeatures = lineSpec(Array.from({ length: nL }, (_, L) => ({ name: `layer ${L}`, x, y: dead.dead_features.map((s) => s[0][L]) })), {
      title: 'dead features (never active) vs tokens', xTitle: 'tokens', yTitle: `features with count 0 (of ${d})`, seriesTitle: 'layer',
    });
    const expected = expectedDeadPairs(dead.dead_features, d, 0);
    const rowsCounted = dead.rows[1] - dead.rows[0];
    const total = rowsCounted * d;
    const pairSeries = [];
    for (let P = 0; P < nL - 1; P++) {
      pairSeries.push({ name: `${P}->${P + 1} dead pairs`, x, y: dead.dead_feature_pairs[0][P].map((v) => v / total) });
      if (rowsCounted === d) pairSeries.push({ name: `${P}->${P + 1} from dead features`, x, y: expected.map((s) => s[P] / total) });
    }
    const pairSpec = lineSpec(pairSeries, {
      title: 'dead feature pairs (never co-active) vs tokens', xTitle: 'tokens', yTitle: `fraction of ${rowsCounted} x ${d} pairs`, seriesTitle: 'layer pair',
    }) as unknown as Record<string, any>;
    // colour by layer pair, dashed for the part explained by single dead features
    plots.deadPairs = {
      ...pairSpec,
      // plain lines: with points the legend shows dots and loses the dashed / solid key
      mark: { type: 'line', tooltip: true },
      transform: [{ calculate: "split(datum.series, ' ')[0]", as: 'pair' }, { calculate: "indexof(datum.series, 'from') >= 0 ? 'from dead features' : 'dead pairs'", as: 'kind' }],
      encoding: { ...pairSpec.encoding, color: { field: 'pair', type: 'nominal', title: 'layer pair' }, strokeDash: { field: 'kind', type: 'nominal', title: '' }, detail: { field: 'series' } },
    };
  }
  const statNames = Object.keys(res.pairs[0] ?? {});
  for (const s of statNames) plots[`hist_${s}`] = statHistogramSpec(s, res.pairs.map((p) => p[s]));
  plots.passThrough = barSpec(passRows.map((r) => ({ label: `${r.layer}->${r.layer + 1}`, value: r.share, group: `max Pearson >= ${r.threshold}` })), {
    title: 'pass-through: layer-L features with a max Pearson >= threshold in layer L+1', xTitle: 'layer pair', yTitle: `share of ${d} features`, groupTitle: 'threshold',
  });
  plots.graph = featureGraphSpec(graph);
  const last = dead.dead_features.length - 1;
  const deadRows: Row[] = Array.from({ length: nL }, (_, L) => {
    const row: Row = { layer: L, hook: settings.hooks[L] ?? `layer ${L}`, 'never active (all tokens)': res.max_activations[L].reduce((a, v) => a + (v > 0 ? 0 : 1), 0) };
    if (last >= 0) dead.feature_thresholds.forEach((t, k) => { row[`count <= ${t} @ ${dead.tokens[last]}`] = dead.dead_features[last][k][L]; });
    return row;
  });
  const statRows: Row[] = statNames.map((s) => {
    const row: Row = { statistic: s };
    res.pairs.forEach((p, P) => { row[`${P}->${P + 1} stored`] = p[s].nnz; row[`${P}->${P + 1} max`] = p[s].values.reduce((a, v) => Math.max(a, v), p[s].nnz ? -Infinity : 0); });
    return row;
  });
  const passRowsTable: Row[] = passRows.map((r) => ({ pair: `${r.layer}->${r.layer + 1}`, threshold: r.threshold, features: r.count, share: r.share, 'share of alive': r.share_of_alive ?? null }));
  const summaryRows: Row[] = [
    { what: 'tokens', value: summary.tokens }, { what: 'layers x d_sae', value: `${nL} x ${d}` },
    { what: 'dead-feature checkpoints', value: `${summary.steps} (every ${summary.checkpoint_tokens} tokens)` },
    { what: 'graph', value: `${graph.nodes.length} features, ${graph.edges.length} links, ${graph.communities} communities` },
  ];
  return { plots, tables: { summary: summaryRows, dead: deadRows, stats: statRows, pass_through: passRowsTable }, nnz: summary.nnz };
}

/**
 * Row blocks of a sharded stage 07: shard i of n takes a contiguous range of these blocks (the framework's
 * "batches"), i.e. a contiguous range of layer L's features (the rows of every layer pair L -> L+1).
 */
export const CROSSLAYER_ROW_BLOCKS = 1024;

/** The rows [r0, r1) of layer L a shard's range of row blocks covers (empty when r0 === r1: more shards than features). */
export function crossLayerShardRows(range: BatchRange, d_sae: number): [number, number] {
  const at = (block: number) => Math.floor((block * d_sae) / CROSSLAYER_ROW_BLOCKS);
  return [at(range.first), at(range.first + range.count)];
}

/** What a stage-07 shard saves besides its collector (shards/<i>-of-<n>/collector/). */
interface CrossLayerShardState {
  /** rows of layer L paired with layer L+1; null for a shard with no rows */
  rows: [number, number] | null;
  resumedFrom: number;
  seconds: { max: number; collect: number };
}

/**
 * Stage 07: cross-layer feature evolution (seed 000) on the config's `crosslayer` section. Streams the
 * model and its SAEs over the token budget (resumable: state in <stage>/state, removed after success),
 * writes the seed's files (pair_<L>_<L+1>.safetensors, max_activations, dead_features), pass-through
 * shares, the feature graph with Louvain communities (graph.json) and its static browser (graph.html,
 * top contexts per node, Neuronpedia links when configured), and returns plots and tables.
 *
 * Data-parallel by ROW shards, not token shards: shard i of n reads every token (both passes: pass 1's
 * global max activations need them all, so every shard computes the run's own maxima) but pairs only its
 * contiguous range of layer L's features with layer L+1, saving its collector; the merge is
 * `CrossLayerCollector.merge` of row shards (pair tables are disjoint unions, dead-pair counts add,
 * per-feature data and the dead-feature series are the same in every shard), so the merged files equal a
 * single run's bit for bit (each pair is summed over the same tokens in the same order; when spills occur
 * at different points, within float64 rounding). Token shards cannot do this: the dead-pair series at a
 * checkpoint inside shard s counts pairs whose running co-activation count, including every earlier
 * shard's, is below a threshold, which no shard can know without the earlier shards' per-pair counts.
 * The pair accounting and its memory split n ways; the model forward is repeated by every shard.
 */
export const crossLayerStage = defineStage<CrossLayerStageResult, { merged: CrossLayerCollection }>({
  name: STAGE_CROSSLAYER,
  inputs: crossLayerInputs,
  run: crossLayer,
  shard: {
    totalBatches: () => CROSSLAYER_ROW_BLOCKS,
    async run(ctx, { spec, range, dir }) {
      const settings = ctx.config.crosslayer;
      const models = await loadCrossLayerModels(settings);
      try {
        const provenance = { revisions: models.revisions, hooks: models.hooks };
        const rows = crossLayerShardRows(range, models.saes[0].cfg.d_sae);
        if (rows[0] >= rows[1]) return { files: [], state: { rows: null, resumedFrom: 0, seconds: { max: 0, collect: 0 } } satisfies CrossLayerShardState, provenance };
        // next to the shard folder (which a restarted shard empties), so a killed shard resumes from its last save
        const stateDir = `${dir}.state`;
        const c = await collectCrossLayerFromModel(settings, models, { stateDir, rows, label: `${STAGE_CROSSLAYER} shard ${spec.index}/${spec.count} (rows ${rows[0]}..${rows[1]})` });
        try {
          await c.col.save(path.join(dir, 'collector'));
        } finally {
          c.col.dispose();
        }
        if (fs.existsSync(stateDir)) removeSaelabFolder(stateDir);
        return { files: ['collector'], state: { rows, resumedFrom: c.resumedFrom, seconds: c.seconds } satisfies CrossLayerShardState, provenance };
      } finally {
        models.dispose();
      }
    },
  },
  merge(ctx, shards) {
    const parts = shards.map((r) => ({ r, st: readShardState<CrossLayerShardState>(ctx.stageDir, r) })).filter((p) => p.st.rows !== null);
    const cols = parts.map((p) => CrossLayerCollector.load(path.join(shardDir(ctx.stageDir, p.r), 'collector'), { max_pairs_in_memory: ctx.config.crosslayer.maxPairsInMemory }));
    const col = CrossLayerCollector.merge(cols);
    const d = col.cfg.d_sae;
    if (col.cfg.rows[0] !== 0 || col.cfg.rows[1] !== d) throw new Error(`${STAGE_CROSSLAYER}: the ${shards.length} shards cover rows ${col.cfg.rows[0]}..${col.cfg.rows[1]} of ${d}: rerun the shards`);
    const hooks = (shards[0].provenance as { hooks: string[] }).hooks;
    const seconds = { max: Math.max(...parts.map((p) => p.st.seconds.max)), collect: Math.max(...parts.map((p) => p.st.seconds.collect)) };
    return { merged: { col, hooks, resumedFrom: Math.max(...parts.map((p) => p.st.resumedFrom)), seconds } };
  },
});

async function crossLayer(ctx: StageContext, opts?: { merged: CrossLayerCollection }): Promise<StageOutput<CrossLayerStageResult>> {
  const { config, stageDir } = ctx;
  const settings = config.crosslayer;
  const models = await loadCrossLayerModels(settings);
  try {
    const run = await collectOrReuse(stageDir, settings, models, opts?.merged);
    const { summary } = run;
    const res = loadCrossLayerOutputs(stageDir);
    const passRows = passThrough(res.pairs.map((p) => p.pearson_correlation), settings.passThroughThresholds, res.max_activations);
    writeJsonAtomic(path.join(stageDir, 'pass_through.json'), passRows);
    const g = settings.graph;
    const graph = featureGraph(res.pairs, { stat: g.stat, min_weight: g.minWeight, top_k: g.topK, seed: g.seed, resolution: g.resolution });
    writeJsonAtomic(path.join(stageDir, 'graph.json'), graph);
    const t0 = Date.now();
    const contexts = await graphContexts(models, settings, graph);
    const contextSeconds = (Date.now() - t0) / 1000;
    writeFeatureGraphHtml(path.join(stageDir, 'graph.html'), graph, { title: `${config.name}: cross-layer feature graph (${g.stat})`, neuronpedia: neuronpediaFromSettings(settings.neuronpedia), contexts });
    const report = crossLayerReport(stageDir, settings, passRows, graph);
    const pairFiles = Array.from({ length: summary.n_layers - 1 }, (_, P) => pairFileName(P));
    const files = [...pairFiles, ...CROSSLAYER_STAGE_FILES];
    const result = {
      statistics_reused: run.reused, hooks: run.hooks, n_layers: summary.n_layers, d_sae: summary.d_sae, tokens: summary.tokens, steps: summary.steps, resumed_from: run.resumedFrom,
      seconds: { ...run.seconds, contexts: contextSeconds }, tokens_per_second: run.seconds.collect > 0 ? (summary.tokens - run.resumedFrom) / run.seconds.collect : 0,
      peak_pairs_in_memory: summary.peak_pairs_in_memory, spills: summary.spills, nnz: report.nnz, pass_through: passRows,
      graph: { nodes: graph.nodes.length, edges: graph.edges.length, communities: graph.communities, modularity: graph.modularity, html: 'graph.html' },
      tables: report.tables, plots: report.plots, files, revisions: models.revisions,
    };
    return { result, artifacts: [...files, 'results.json'], provenance: { revisions: models.revisions, hooks: run.hooks } };
  } finally {
    models.dispose();
  }
}
