import * as fs from 'fs';
import * as path from 'path';
import { SafetensorsFile } from '../../io/safetensors';
import { SafetensorsStreamWriter } from '../../io/safetensorsStream';
import { writeJsonAtomic } from '../../io/atomic';
import { readOutlierCfg, outlierRuleFromCfg, OUTLIER_CFG_FILE } from '../../analysis/outliers';
import { SimilarityAccumulator } from '../../analysis/similarity';
import { comparisonRows } from '../../tokenizers/compare';
import { loadTokenizer } from '../../tokenizers/tokenizer';
import { StageContext, reusableStage, writeManifest, invalidateStage } from '../../notebook/stage';
import { ExperimentConfig } from '../../notebook/config';
import { Progress } from '../../notebook/progress';
import { loadPipelineModels, sampleContexts, saveTokens, readTokens } from '../common';
import { STAGE_ACTIVATIONS, activationsInputs, computeActivationsStage, ActivationsResult, writeActivationFiles, writeTokenizerReport } from '../activations';
import { STAGE_SIMILARITIES, computeSimilaritiesStage, similaritiesOverRows } from '../similarities';
import { STAGE_OUTLIERS, findOutlierNormsStage, outliersInputs, outlierModelName } from '../outliers';
import { STAGE_SAE_EVAL, saeEvalStage, saeEvalInputs, evaluateSae } from '../saeEval';
import { STAGE_FEATURE_TRANSFER, featureTransferStage, featureTransferInputs, transferFamilies, transferAccumulators, emptyTransferAccumulators } from '../featureTransfer';
import { STAGE_CROSSLAYER, crossLayerStage } from '../crosslayer';
import { STAGE_CHECKPOINT_SAES, checkpointSaesStage, checkpointSaesInputs, runCheckpointJobs } from '../checkpointSaes';
import { STAGE_FEATURE_MATCHING, featureMatchingStage } from '../featureMatching';
import { STAGE_CIRCUITS_OVER_TIME, circuitsOverTimeStage } from '../circuitsOverTime';
import { checkpointsConfig } from '../../checkpoints/config';
import { ShardSpec, shardBatchRange, batchRangeRows } from './spec';
import { ShardRecord, beginShard, completeShard, finishShard, readShardsForMerge, writeShardState, readShardState, shardDir } from './store';
import { EvalState, evalToJSON, evalFromJSON, mergeEval, TransferState, transferToJSON, transferFromJSON, mergeTransfer } from './accumulators';
import { STAGE_ABLATION_GRAPH, ablationGraphStage } from '../ablationGraph';
import { STAGE_FEATURE_CIRCUITS, featureCircuitsStage } from '../featureCircuits';

/** A data-parallel stage: run one shard of its batches, or merge all shards into the stage's artifacts. */
export interface ShardableStage {
  stage: string;
  /** batches of the stage's token sample (what shards split) */
  totalBatches(config: ExperimentConfig): number;
  /** compute one shard (reused when already complete for the same inputs) */
  shard(ctx: StageContext, s: ShardSpec): Promise<{ record: ShardRecord; reused: boolean }>;
  /** merge `count` shards into the stage folder exactly as a single-machine run writes it */
  merge(ctx: StageContext, count: number): Promise<unknown>;
}

/** The rows of a shard and the shard folder, or the finished record when it need not run again. */
function startShard(ctx: StageContext, stage: string, inputs: unknown, s: ShardSpec, total: number, batchSize: number, rowsTotal: number) {
  const done = completeShard(ctx.stageDir, stage, inputs, s, total);
  if (done) return { done };
  const range = shardBatchRange(total, s);
  return { done: null, dir: beginShard(ctx.stageDir, s), range, rows: batchRangeRows(range, batchSize, rowsTotal) };
}

// ---- 01: activations (a contiguous range of sequences per shard, concatenated at merge) ----

async function activationsShard(ctx: StageContext, s: ShardSpec) {
  const { config } = ctx;
  const inputs = activationsInputs(config);
  const bs = config.activations.batchSize;
  const nSeq = config.activations.nBatches * bs;
  const st = startShard(ctx, STAGE_ACTIVATIONS, inputs, s, config.activations.nBatches, bs, nSeq);
  if (st.done) return { record: st.done, reused: true };
  const { dir, range, rows } = st as Required<typeof st>;
  const m = await loadPipelineModels(config);
  try {
    const ctxLen = config.contextSize;
    const d = m.base.cfg.d_model;
    const tokens = (await sampleContexts(config, m.tokenizer, nSeq, 1)).slice(rows.start * ctxLen, rows.end * ctxLen);
    const n = rows.end - rows.start;
    saveTokens(path.join(dir, 'tokens.safetensors'), tokens, ctxLen);
    const alignment = await writeActivationFiles(m, config, tokens, dir, bs, `activations shard ${s.index}/${s.count}`);
    const state = writeShardState(dir, { alignment, sequences: n });
    const record = finishShard(ctx.stageDir, {
      stage: STAGE_ACTIVATIONS, index: s.index, count: s.count, range, totalBatches: config.activations.nBatches, batchSize: bs,
      provenance: { revisions: m.revisions, hook: m.hook, dModel: d }, files: ['tokens.safetensors', 'base_acts.safetensors', 'finetune_acts.safetensors', state],
    }, inputs);
    return { record, reused: false };
  } finally {
    m.dispose();
  }
}

async function mergeActivations(ctx: StageContext, count: number): Promise<ActivationsResult> {
  const { config, stageDir } = ctx;
  const inputs = activationsInputs(config);
  const resultFile = path.join(stageDir, 'results.json');
  if (reusableStage(stageDir, inputs) && fs.existsSync(resultFile)) return { ...(JSON.parse(fs.readFileSync(resultFile, 'utf8')) as ActivationsResult), reused: true };
  invalidateStage(stageDir);
  const recs = readShardsForMerge(stageDir, STAGE_ACTIVATIONS, inputs, count, config.activations.nBatches);
  const prov = recs[0].provenance as { revisions: Record<string, string | undefined>; hook: string; dModel: number };
  const ctxLen = config.contextSize;
  const nSeq = config.activations.nBatches * config.activations.batchSize;
  const dirs = recs.map((r) => shardDir(stageDir, r));
  // tokens: concatenated in shard order
  const tokens = new Int32Array(nSeq * ctxLen);
  let at = 0;
  for (const dir of dirs) {
    const t = readTokens(path.join(dir, 'tokens.safetensors')).tokens;
    tokens.set(t, at);
    at += t.length;
  }
  if (at !== tokens.length) throw new Error(`${STAGE_ACTIVATIONS} merge: the shards hold ${at / ctxLen} sequences, the config asks for ${nSeq}`);
  saveTokens(path.join(stageDir, 'tokens.safetensors'), tokens, ctxLen);
  for (const which of ['base', 'finetune'] as const) {
    const w = new SafetensorsStreamWriter(path.join(stageDir, `${which}_acts.safetensors`), [{ name: 'acts', dtype: 'F32', shape: [nSeq, ctxLen, prov.dModel] }], { hook: prov.hook, model: which === 'base' ? config.base.model : config.finetune.model });
    try {
      for (const dir of dirs) {
        const f = SafetensorsFile.open(path.join(dir, `${which}_acts.safetensors`));
        try {
          const n = f.info('acts').shape[0];
          for (let s = 0; s < n; s += config.activations.batchSize) w.append(f.readRows('acts', s, Math.min(config.activations.batchSize, n - s)).data as Float32Array);
        } finally {
          f.close();
        }
      }
      w.close();
    } catch (e) {
      w.abort();
      throw e;
    }
  }
  const parts = Array.from({ length: count }, (_, i) => readShardState<{ alignment: { aligned: number; total: number } | null }>(stageDir, { index: i, count }).alignment);
  const alignment: ActivationsResult['alignment'] = parts.some((a) => a !== null)
    ? { aligned: parts.reduce((s, a) => s + (a?.aligned ?? 0), 0), total: parts.reduce((s, a) => s + (a?.total ?? 0), 0) }
    : null;
  const baseTok = await loadTokenizer(config.base.tokenizer ?? config.base.model, { revision: config.base.revision });
  const ftTok = await loadTokenizer(config.finetune.tokenizer ?? config.finetune.model, { revision: config.finetune.revision });
  const { comparison, names, files, warning } = writeTokenizerReport(config, baseTok, ftTok, stageDir);
  const result: ActivationsResult = {
    reused: false, hook: prov.hook, sequences: nSeq, contextSize: ctxLen, dModel: prov.dModel, comparison, comparisonTable: comparisonRows(comparison, names), warning, alignment,
    files: ['tokens.safetensors', 'base_acts.safetensors', 'finetune_acts.safetensors', ...files], revisions: prov.revisions,
  };
  writeJsonAtomic(resultFile, result);
  writeManifest(stageDir, STAGE_ACTIVATIONS, inputs, [...result.files, 'results.json'], { revisions: prov.revisions });
  return result;
}

// ---- 02: similarities (accumulator state per shard) ----

function requireStage(ctx: StageContext, stage: string, inputs: unknown, notebook: string): string {
  const dir = ctx.stageDirOf(stage);
  if (!reusableStage(dir, inputs)) throw new Error(`stage ${stage} has no results for this config in ${dir}: run (or merge) stage ${notebook} first`);
  return dir;
}

async function similaritiesShard(ctx: StageContext, s: ShardSpec) {
  const { config } = ctx;
  const inputs = { activations: activationsInputs(config) };
  const bs = config.activations.batchSize;
  const st = startShard(ctx, STAGE_SIMILARITIES, inputs, s, config.activations.nBatches, bs, config.activations.nBatches * bs);
  if (st.done) return { record: st.done, reused: true };
  const { dir, range, rows } = st as Required<typeof st>;
  const actDir = requireStage(ctx, STAGE_ACTIVATIONS, activationsInputs(config), '01');
  const baseFile = SafetensorsFile.open(path.join(actDir, 'base_acts.safetensors'));
  const ftFile = SafetensorsFile.open(path.join(actDir, 'finetune_acts.safetensors'));
  try {
    const acc = await similaritiesOverRows(baseFile, ftFile, rows.start, rows.end, bs);
    const state = writeShardState(dir, acc.toJSON());
    const record = finishShard(ctx.stageDir, { stage: STAGE_SIMILARITIES, index: s.index, count: s.count, range, totalBatches: config.activations.nBatches, batchSize: bs, provenance: {}, files: [state] }, inputs);
    return { record, reused: false };
  } finally {
    baseFile.close();
    ftFile.close();
  }
}

async function mergeSimilarities(ctx: StageContext, count: number) {
  const { config } = ctx;
  const inputs = { activations: activationsInputs(config) };
  if (reusableStage(ctx.stageDir, inputs)) return computeSimilaritiesStage(ctx);
  readShardsForMerge(ctx.stageDir, STAGE_SIMILARITIES, inputs, count, config.activations.nBatches);
  let acc: SimilarityAccumulator | null = null;
  for (let i = 0; i < count; i++) {
    const a = SimilarityAccumulator.fromJSON(readShardState(ctx.stageDir, { index: i, count }));
    acc = acc ? acc.merge(a) : a;
  }
  return computeSimilaritiesStage(ctx, { merged: acc! });
}

// ---- 04: SAE evaluation ----

async function saeEvalShard(ctx: StageContext, s: ShardSpec) {
  const { config } = ctx;
  const inputs = saeEvalInputs(config);
  const bs = config.eval.batchSize;
  const nSeq = config.eval.nBatches * bs;
  const st = startShard(ctx, STAGE_SAE_EVAL, inputs, s, config.eval.nBatches, bs, nSeq);
  if (st.done) return { record: st.done, reused: true };
  const { dir, range, rows } = st as Required<typeof st>;
  const outDir = requireStage(ctx, STAGE_OUTLIERS, outliersInputs(config), '03');
  const rule = outlierRuleFromCfg(readOutlierCfg(path.join(outDir, OUTLIER_CFG_FILE)), outlierModelName(config), path.join(outDir, OUTLIER_CFG_FILE));
  const m = await loadPipelineModels(config);
  try {
    const ctxLen = config.contextSize;
    const tokens = (await sampleContexts(config, m.tokenizer, nSeq, 4)).slice(rows.start * ctxLen, rows.end * ctxLen);
    const progress = new Progress(`SAE eval shard ${s.index}/${s.count}`, 2 * range.count);
    const state = {
      base: evalToJSON(await evaluateSae(m.base, m.sae, m.hook, tokens, ctxLen, bs, rule, progress, range.first)),
      finetune: evalToJSON(await evaluateSae(m.finetune!, m.sae, m.hook, tokens, ctxLen, bs, rule, progress, range.first)),
    };
    progress.done();
    const file = writeShardState(dir, state);
    const record = finishShard(ctx.stageDir, { stage: STAGE_SAE_EVAL, index: s.index, count: s.count, range, totalBatches: config.eval.nBatches, batchSize: bs, provenance: { revisions: m.revisions, hook: m.hook }, files: [file] }, inputs);
    return { record, reused: false };
  } finally {
    m.dispose();
  }
}

async function mergeSaeEval(ctx: StageContext, count: number) {
  const { config } = ctx;
  const inputs = saeEvalInputs(config);
  if (reusableStage(ctx.stageDir, inputs)) return saeEvalStage(ctx);
  readShardsForMerge(ctx.stageDir, STAGE_SAE_EVAL, inputs, count, config.eval.nBatches);
  let merged: { base: ReturnType<typeof evalFromJSON>; finetune: ReturnType<typeof evalFromJSON> } | null = null;
  for (let i = 0; i < count; i++) {
    const st = readShardState<{ base: EvalState; finetune: EvalState }>(ctx.stageDir, { index: i, count });
    const a = { base: evalFromJSON(st.base), finetune: evalFromJSON(st.finetune) };
    merged = merged ? { base: mergeEval(merged.base, a.base), finetune: mergeEval(merged.finetune, a.finetune) } : a;
  }
  return saeEvalStage(ctx, { merged: merged! });
}

// ---- 05: feature transfer statistics ----

async function featureTransferShard(ctx: StageContext, s: ShardSpec) {
  const { config } = ctx;
  const inputs = featureTransferInputs(config);
  const t = config.transfer;
  const nSeq = t.nBatches * t.batchSize;
  const st = startShard(ctx, STAGE_FEATURE_TRANSFER, inputs, s, t.nBatches, t.batchSize, nSeq);
  if (st.done) return { record: st.done, reused: true };
  const { dir, range, rows } = st as Required<typeof st>;
  const { groups } = transferFamilies(ctx);
  const m = await loadPipelineModels(config);
  try {
    const ctxLen = config.contextSize;
    const tokens = (await sampleContexts(config, m.tokenizer, nSeq, 5)).slice(rows.start * ctxLen, rows.end * ctxLen);
    const file = writeShardState(dir, transferToJSON(await transferAccumulators(m, groups, tokens, ctxLen, t.batchSize)));
    const record = finishShard(ctx.stageDir, { stage: STAGE_FEATURE_TRANSFER, index: s.index, count: s.count, range, totalBatches: t.nBatches, batchSize: t.batchSize, provenance: { revisions: m.revisions, hook: m.hook }, files: [file] }, inputs);
    return { record, reused: false };
  } finally {
    m.dispose();
  }
}

async function mergeFeatureTransfer(ctx: StageContext, count: number) {
  const { config } = ctx;
  const inputs = featureTransferInputs(config);
  if (reusableStage(ctx.stageDir, inputs)) return featureTransferStage(ctx);
  readShardsForMerge(ctx.stageDir, STAGE_FEATURE_TRANSFER, inputs, count, config.transfer.nBatches);
  const merged = emptyTransferAccumulators(transferFamilies(ctx).groups);
  for (let i = 0; i < count; i++) mergeTransfer(merged, transferFromJSON(readShardState<TransferState>(ctx.stageDir, { index: i, count })));
  return featureTransferStage(ctx, { merged });
}

// ---- 10: checkpoint SAEs (a contiguous range of checkpoints per shard; each job writes its own sweep folder) ----

async function checkpointSaesShard(ctx: StageContext, s: ShardSpec) {
  const { config } = ctx;
  const inputs = checkpointSaesInputs(config);
  const T = checkpointsConfig(config).checkpoints.length;
  const done = completeShard(ctx.stageDir, STAGE_CHECKPOINT_SAES, inputs, s, T);
  if (done) return { record: done, reused: true };
  const range = shardBatchRange(T, s);
  beginShard(ctx.stageDir, s);
  const jobs = await runCheckpointJobs(ctx, Array.from({ length: range.count }, (_, k) => range.first + k));
  const state = writeShardState(shardDir(ctx.stageDir, s), { checkpoints: jobs.map((j) => j.label) });
  const record = finishShard(ctx.stageDir, { stage: STAGE_CHECKPOINT_SAES, index: s.index, count: s.count, range, totalBatches: T, batchSize: 1, provenance: {}, files: [state] }, inputs);
  return { record, reused: false };
}

/** Every checkpoint's job finished in some shard: the stage function then reuses them all and writes the summary. */
async function mergeCheckpointSaes(ctx: StageContext, count: number) {
  const inputs = checkpointSaesInputs(ctx.config);
  if (!reusableStage(ctx.stageDir, inputs)) readShardsForMerge(ctx.stageDir, STAGE_CHECKPOINT_SAES, inputs, count, checkpointsConfig(ctx.config).checkpoints.length);
  return checkpointSaesStage(ctx);
}

/** The data-parallel stages, by stage folder name. */
export const SHARDABLE_STAGES: Record<string, ShardableStage> = {
  [STAGE_ACTIVATIONS]: { stage: STAGE_ACTIVATIONS, totalBatches: (c) => c.activations.nBatches, shard: activationsShard, merge: mergeActivations },
  [STAGE_SIMILARITIES]: { stage: STAGE_SIMILARITIES, totalBatches: (c) => c.activations.nBatches, shard: similaritiesShard, merge: mergeSimilarities },
  [STAGE_SAE_EVAL]: { stage: STAGE_SAE_EVAL, totalBatches: (c) => c.eval.nBatches, shard: saeEvalShard, merge: mergeSaeEval },
  [STAGE_FEATURE_TRANSFER]: { stage: STAGE_FEATURE_TRANSFER, totalBatches: (c) => c.transfer.nBatches, shard: featureTransferShard, merge: mergeFeatureTransfer },
  [STAGE_CHECKPOINT_SAES]: { stage: STAGE_CHECKPOINT_SAES, totalBatches: (c) => checkpointsConfig(c).checkpoints.length, shard: checkpointSaesShard, merge: mergeCheckpointSaes },
};

/** Every stage with a headless function (what `saelab stage NAME` runs without --shard). */
export const STAGE_FUNCTIONS: Record<string, (ctx: StageContext) => Promise<unknown>> = {
  [STAGE_ACTIVATIONS]: computeActivationsStage,
  [STAGE_SIMILARITIES]: (ctx) => computeSimilaritiesStage(ctx),
  [STAGE_OUTLIERS]: findOutlierNormsStage,
  [STAGE_SAE_EVAL]: (ctx) => saeEvalStage(ctx),
  [STAGE_FEATURE_TRANSFER]: (ctx) => featureTransferStage(ctx),
  [STAGE_CROSSLAYER]: crossLayerStage,
  [STAGE_ABLATION_GRAPH]: ablationGraphStage,
  [STAGE_FEATURE_CIRCUITS]: featureCircuitsStage,
  [STAGE_CHECKPOINT_SAES]: checkpointSaesStage,
  [STAGE_FEATURE_MATCHING]: featureMatchingStage,
  [STAGE_CIRCUITS_OVER_TIME]: circuitsOverTimeStage,
};

/** Resolve a stage given as its folder name (02_compute_similarities), its number (02) or a word of it (similarities). */
export function resolveStageName(name: string): string {
  const all = Object.keys(STAGE_FUNCTIONS);
  const hit = all.filter((s) => s === name || s.split('_')[0] === name || s.split('_').slice(1).includes(name) || s.endsWith(`_${name}`));
  if (hit.length === 1) return hit[0];
  throw new Error(`unknown stage '${name}'${hit.length > 1 ? ` (ambiguous: ${hit.join(', ')})` : ''}; stages with a headless function: ${all.join(', ')}`);
}
