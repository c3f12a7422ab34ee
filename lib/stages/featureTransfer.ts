import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { SafetensorsFile, writeSafetensors } from '../io/safetensors';
import { SafetensorsStreamWriter } from '../io/safetensorsStream';
import { recordActivity } from '../notebook/activity';
import { logDensity } from '../analysis/saeMetrics';
import { featureFamilies, selectFeatures, ColumnPearsonAccumulator, ActivationErrorAccumulator, logitSimilarity, unembedComparison, summarizeScores, ScoreSummary, FeatureFamilies } from '../analysis/transfer';
import { linearRegression } from '../analysis/stats';
import { histogram } from '../analysis/histogram';
import { histogramSpec, scatterRegressionSpec } from '../plots/specs';
import { StageContext } from '../notebook/stage';
import { Row } from '../plots/table';
import { Progress } from '../notebook/progress';
import { interruptible } from '../notebook/interrupt';
import { PipelineModels, hookActivations, loadPipelineModels, sampleContexts, saveTokens, tokenBatches } from './common';
import { saeEvalInputs, saeEvalStage } from './saeEval';
import { StageOutput, defineStage, requireStage } from './define';
import { batchRangeRows } from './shard/spec';
import { readShardState } from './shard/store';

export const STAGE_FEATURE_TRANSFER = '05_features_transfer';

export type FamilyName = 'dense' | 'exclusively_dead_base' | 'exclusively_dead_finetune';

export interface FamilyScores {
  total: number;
  sampled: number;
  activation_similarity: ScoreSummary;
  /** dead families: mean |log10(f + 1e-10) - log10(f' + 1e-10)| */
  activation_error: ScoreSummary | null;
  logit_similarity: ScoreSummary;
}

export interface FeatureTransferResult {
  reused: boolean;
  density_pearson_r: number;
  density_regression: { slope: number; intercept: number };
  dead_base: number;
  dead_finetune: number;
  dense_activation_similarity_mean: number;
  dense_logit_similarity_mean: number;
  wu_frobenius_ratio: number;
  wu_frobenius_diff: number;
  families: Record<FamilyName, FamilyScores>;
  table: Row[];
  plots: Record<string, object>;
}

export function featureTransferInputs(c: StageContext['config']): unknown {
  return { saeEval: saeEvalInputs(c), transfer: c.transfer, seed: c.seed };
}

type FamilyGroups = Array<[FamilyName, Int32Array]>;

/** Per-family activation accumulators of stage 05 (the data-parallel part; shards merge exactly). */
export interface TransferAccumulators {
  pearson: Map<FamilyName, ColumnPearsonAccumulator>;
  errors: Map<FamilyName, ActivationErrorAccumulator>;
}

/** Stage 04's densities and the seeded feature families sampled from them (the same in every shard). */
export function transferFamilies(ctx: StageContext): { logBase: Float32Array; logFt: Float32Array; fam: FeatureFamilies; groups: FamilyGroups } {
  const { config } = ctx;
  const evalDir = requireStage(ctx, saeEvalStage);
  const dens = SafetensorsFile.open(path.join(evalDir, 'feature_densities.safetensors'));
  const logBase = logDensity(dens.readFloat32('base'));
  const logFt = logDensity(dens.readFloat32('finetune'));
  dens.close();
  const t = config.transfer;
  const fam: FeatureFamilies = featureFamilies(logBase, logFt, {
    seed: config.seed, deadThreshold: t.deadThreshold, exclusiveDeadThreshold: t.exclusiveDeadThreshold,
    denseRange: [t.denseLogDensityMin, t.denseLogDensityMax], exclusivelyDeadCap: t.maxExclusiveDead, denseCap: t.maxDense,
  });
  const groups: FamilyGroups = [
    ['dense', fam.dense.sampled], ['exclusively_dead_base', fam.exclusivelyDeadBase.sampled], ['exclusively_dead_finetune', fam.exclusivelyDeadFinetune.sampled],
  ];
  return { logBase, logFt, fam, groups };
}

/** Empty accumulators for the families (activation error only for the dead families). */
export function emptyTransferAccumulators(groups: FamilyGroups): TransferAccumulators {
  return {
    pearson: new Map(groups.map(([g, ids]) => [g, new ColumnPearsonAccumulator(ids.length)])),
    errors: new Map(groups.filter(([g]) => g !== 'dense').map(([g, ids]) => [g, new ActivationErrorAccumulator(ids.length)])),
  };
}

/** A scratch file in `dir` (removed by the caller; a crash leaves only a `.tmp` name that no stage reads). */
function scratchFile(dir: string, what: string): string {
  return path.join(dir, `.${what}.${process.pid}.tmp.safetensors`);
}

/**
 * Run base and finetune over token rows [N, ctx] batch by batch, accumulating the families' SAE
 * activations, one model at a time: the base's activations of the sampled features ([tokens, sampled]
 * floats, 1,200 columns at most) go to a scratch file in `scratchDir`, read back batch by batch while
 * the finetune runs.
 */
export async function transferAccumulators(m: PipelineModels, groups: FamilyGroups, tokens: Int32Array, ctxLen: number, batchSize: number, scratchDir: string): Promise<TransferAccumulators> {
  const acc = emptyTransferAccumulators(groups);
  const active = groups.filter(([, ids]) => ids.length > 0);
  const all = Int32Array.from(active.flatMap(([, ids]) => Array.from(ids)));
  const nBatches = Math.ceil(tokens.length / ctxLen / batchSize);
  const progress = new Progress('feature transfer', 2 * nBatches);
  if (!all.length) { progress.done(); return acc; }
  const file = scratchFile(scratchDir, 'base_features');
  const w = new SafetensorsStreamWriter(file, [{ name: 'features', dtype: 'F32', shape: [tokens.length, all.length] }]);
  const stopPoint = interruptible('feature transfer');
  try {
    try {
      const base = await m.model('base');
      for (const b of tokenBatches(tokens, ctxLen, batchSize)) {
        recordActivity(`feature activations of the base, batch ${b.index + 1} of ${nBatches}`, 'base');
        const f = tf.tidy(() => selectFeatures(m.sae.encode(hookActivations(base, b.tokens, m.hook, m.layer)), all));
        w.append(f.dataSync() as Float32Array);
        tf.dispose([f, b.tokens]);
        progress.tick();
        await stopPoint();
      }
      w.close();
    } catch (e) {
      w.abort();
      throw e;
    }
    const saved = SafetensorsFile.open(file);
    try {
      const ft = await m.model('finetune');
      for (const b of tokenBatches(tokens, ctxLen, batchSize)) {
        recordActivity(`feature activations of the finetune, batch ${b.index + 1} of ${nBatches}`, 'finetune');
        const rows = b.tokens.shape[0] * ctxLen;
        const raw = saved.readRows('features', b.start * ctxLen, rows);
        tf.tidy(() => {
          const fb = tf.tensor2d(raw.data as Float32Array, [rows, all.length]);
          const ff = selectFeatures(m.sae.encode(hookActivations(ft, b.tokens, m.hook, m.layer)), all);
          let at = 0;
          for (const [g, ids] of active) {
            const xb = tf.slice(fb, [0, at], [rows, ids.length]) as tf.Tensor2D;
            const xf = tf.slice(ff, [0, at], [rows, ids.length]) as tf.Tensor2D;
            acc.pearson.get(g)!.add(xb, xf);
            acc.errors.get(g)?.add(xb, xf);
            at += ids.length;
          }
        });
        b.tokens.dispose();
        progress.tick();
        await stopPoint();
      }
    } finally {
      saved.close();
    }
  } finally {
    fs.rmSync(file, { force: true });
  }
  progress.done();
  return acc;
}

/** Above this many float32 bytes per W_U, the unembedding scores are computed one vocabulary block at a time. */
const WHOLE_UNEMBED_BYTES = 256 * 2 ** 20;

/**
 * Per-family logit similarity (Pearson over the vocabulary of W_dec[i] @ W_U, base vs finetune) and the
 * W_U Frobenius comparison, holding one model at a time: the base's W_U is copied to a scratch file
 * (vocabulary-major) while the base is loaded, then compared with the finetune's block by block. Small
 * unembeddings are compared whole (logitSimilarity, unembedComparison); large ones stream vocabulary
 * blocks through column accumulators (the same Pearson and sums, in another summation order).
 */
export async function unembedScores(m: PipelineModels, groups: FamilyGroups, scratchDir: string): Promise<{ logit: Map<FamilyName, Float64Array>; wu: { frobeniusRatio: number; frobeniusDiff: number } }> {
  const wDec = m.sae.weights.W_dec as tf.Tensor2D;
  const base = await m.model('base');
  const d = base.cfg.d_model;
  const V = base.cfg.d_vocab_out;
  const block = Math.max(1, Math.min(V, Math.floor(WHOLE_UNEMBED_BYTES / (4 * d))));
  const file = scratchFile(scratchDir, 'base_unembed');
  const w = new SafetensorsStreamWriter(file, [{ name: 'W_U_T', dtype: 'F32', shape: [V, d] }]);
  try {
    try {
      recordActivity(`copying the base's unembedding (${d} x ${V}) to a scratch file`, 'base');
      for (let s = 0; s < V; s += block) {
        const t = tf.tidy(() => tf.transpose(base.weightColumns('unembed.W_U', s, Math.min(block, V - s))));
        w.append(t.dataSync() as Float32Array);
        t.dispose();
      }
      w.close();
    } catch (e) {
      w.abort();
      throw e;
    }
    const ft = await m.model('finetune');
    if (ft.cfg.d_vocab_out !== V || ft.cfg.d_model !== d) {
      throw new Error(`feature transfer: base W_U is [${d}, ${V}] but the finetune's is [${ft.cfg.d_model}, ${ft.cfg.d_vocab_out}]; drop added vocabulary rows first (finetune "dVocab", as published for MetaMath's PAD token)`);
    }
    const saved = SafetensorsFile.open(file);
    try {
      const readBlock = (s: number, n: number) => tf.tidy(() => tf.transpose(tf.tensor2d(saved.readRows('W_U_T', s, n).data as Float32Array, [n, d]))) as tf.Tensor2D;
      const logit = new Map<FamilyName, Float64Array>();
      if (d * V * 4 <= WHOLE_UNEMBED_BYTES) {
        const wUBase = readBlock(0, V);
        const wUFt = ft.weight('unembed.W_U') as tf.Tensor2D;
        try {
          for (const [g, ids] of groups) logit.set(g, ids.length ? logitSimilarity(wDec, wUBase, wUFt, ids) : new Float64Array(0));
          return { logit, wu: unembedComparison(wUBase, wUFt) };
        } finally {
          tf.dispose([wUBase, wUFt]);
        }
      }
      const accs = new Map(groups.filter(([, ids]) => ids.length).map(([g, ids]) => [g, new ColumnPearsonAccumulator(ids.length)]));
      const rowsOf = new Map(groups.filter(([, ids]) => ids.length).map(([g, ids]) => [g, tf.keep(tf.gather(wDec, tf.tensor1d(Int32Array.from(ids), 'int32')))]));
      let sb = 0;
      let sf = 0;
      let sd = 0;
      try {
        for (let s = 0; s < V; s += block) {
          recordActivity(`comparing unembeddings, vocabulary ${s} of ${V}`, 'finetune');
          const n = Math.min(block, V - s);
          const parts = tf.tidy(() => {
            const wb = readBlock(s, n);
            const wf = ft.weightColumns('unembed.W_U', s, n);
            for (const [g, rows] of rowsOf) accs.get(g)!.add(tf.transpose(tf.matMul(rows, wb)) as tf.Tensor2D, tf.transpose(tf.matMul(rows, wf)) as tf.Tensor2D);
            return [tf.sum(tf.square(wb)), tf.sum(tf.square(wf)), tf.sum(tf.square(tf.sub(wb, wf)))];
          });
          const [b2, f2, d2] = parts.map((t) => t.dataSync()[0]);
          tf.dispose(parts);
          sb += b2; sf += f2; sd += d2;
        }
      } finally {
        tf.dispose([...rowsOf.values()]);
      }
      for (const [g] of groups) logit.set(g, accs.get(g)?.correlations() ?? new Float64Array(0));
      return { logit, wu: { frobeniusRatio: Math.sqrt(sb) / Math.sqrt(sf), frobeniusDiff: Math.sqrt(sd) } };
    } finally {
      saved.close();
    }
  } finally {
    fs.rmSync(file, { force: true });
    m.release();
  }
}

/** Serialisable state of stage 05's per-family accumulators. */
export interface TransferState {
  pearson: Array<[FamilyName, ReturnType<ColumnPearsonAccumulator['toJSON']>]>;
  errors: Array<[FamilyName, ReturnType<ActivationErrorAccumulator['toJSON']>]>;
}

export function transferToJSON(a: TransferAccumulators): TransferState {
  return { pearson: [...a.pearson].map(([g, v]) => [g, v.toJSON()]), errors: [...a.errors].map(([g, v]) => [g, v.toJSON()]) };
}

export function transferFromJSON(s: TransferState): TransferAccumulators {
  return {
    pearson: new Map(s.pearson.map(([g, v]) => [g, ColumnPearsonAccumulator.fromJSON(v)])),
    errors: new Map(s.errors.map(([g, v]) => [g, ActivationErrorAccumulator.fromJSON(v)])),
  };
}

/** Merge `b` into `a` family by family; the families must be the same (same seeded sample). */
export function mergeTransfer(a: TransferAccumulators, b: TransferAccumulators): TransferAccumulators {
  for (const [g, acc] of b.pearson) {
    const mine = a.pearson.get(g);
    if (!mine) throw new Error(`feature transfer merge: family '${g}' is missing from the first shard`);
    mine.merge(acc);
  }
  for (const [g, acc] of b.errors) {
    const mine = a.errors.get(g);
    if (!mine) throw new Error(`feature transfer merge: family '${g}' is missing from the first shard`);
    mine.merge(acc);
  }
  return a;
}

/**
 * Stage 05: do features transfer? Log-density scatter of base vs finetune (stage 04's densities) with its
 * regression line and Pearson r; seeded samples of exclusively-dead and dense features; on fresh tokens
 * (the same ids for both models), per-feature activation Pearson, log-activation error for the dead
 * families, logit-vector (W_dec W_U) correlation between the models' unembeddings, and W_U norms.
 * Data-parallel: each shard accumulates a range of the token batches; the merge combines the accumulators.
 */
export const featureTransferStage = defineStage<FeatureTransferResult, { merged: TransferAccumulators }>({
  name: STAGE_FEATURE_TRANSFER,
  inputs: featureTransferInputs,
  run: transferStage,
  shard: {
    totalBatches: (c) => c.transfer.nBatches,
    batchSize: (c) => c.transfer.batchSize,
    async run(ctx, { range, dir }) {
      const { config } = ctx;
      const t = config.transfer;
      const nSeq = t.nBatches * t.batchSize;
      const rows = batchRangeRows(range, t.batchSize, nSeq);
      const { groups } = transferFamilies(ctx);
      const m = await loadPipelineModels(config);
      try {
        const ctxLen = config.contextSize;
        const tokens = (await sampleContexts(config, m.tokenizer, nSeq, 5)).slice(rows.start * ctxLen, rows.end * ctxLen);
        return { files: [], state: transferToJSON(await transferAccumulators(m, groups, tokens, ctxLen, t.batchSize, dir)), provenance: { revisions: m.revisions, hook: m.hook } };
      } finally {
        m.dispose();
      }
    },
  },
  merge(ctx, shards) {
    const merged = emptyTransferAccumulators(transferFamilies(ctx).groups);
    for (const r of shards) mergeTransfer(merged, transferFromJSON(readShardState<TransferState>(ctx.stageDir, r)));
    return { merged };
  },
});

async function transferStage(ctx: StageContext, opts?: { merged: TransferAccumulators }): Promise<StageOutput<FeatureTransferResult>> {
  const { config, stageDir } = ctx;
  const { logBase, logFt, fam, groups } = transferFamilies(ctx);
  const t = config.transfer;
  const reg = linearRegression(logBase, logFt);
  const m = await loadPipelineModels(config);
  try {
    const nSeq = t.nBatches * t.batchSize;
    const tokens = await sampleContexts(config, m.tokenizer, nSeq, 5);
    saveTokens(path.join(stageDir, 'tokens.safetensors'), tokens, config.contextSize);
    const { pearson, errors } = opts?.merged ?? await transferAccumulators(m, groups, tokens, config.contextSize, t.batchSize, stageDir);
    const unembed = await unembedScores(m, groups, stageDir);
    const families = {} as Record<FamilyName, FamilyScores>;
    const scores: Record<string, Float64Array> = {};
    for (const [g, ids] of groups) {
      const act = ids.length ? pearson.get(g)!.correlations() : new Float64Array(0);
      const err = errors.get(g) && ids.length ? errors.get(g)!.errors() : null;
      const logit = unembed.logit.get(g)!;
      scores[`${g}.activation_similarity`] = act;
      scores[`${g}.logit_similarity`] = logit;
      if (err) scores[`${g}.activation_error`] = err;
      const total = g === 'dense' ? fam.dense.total : g === 'exclusively_dead_base' ? fam.exclusivelyDeadBase.total : fam.exclusivelyDeadFinetune.total;
      families[g] = { total, sampled: ids.length, activation_similarity: summarizeScores(act), activation_error: err ? summarizeScores(err) : null, logit_similarity: summarizeScores(logit) };
    }
    const wu = unembed.wu;
    const files: Record<string, { dtype: 'I32' | 'F32'; shape: number[]; data: Int32Array | Float32Array }> = {};
    for (const [g, ids] of groups) files[`${g}.feature_ids`] = { dtype: 'I32', shape: [ids.length], data: ids };
    for (const [k, v] of Object.entries(scores)) files[k] = { dtype: 'F32', shape: [v.length], data: Float32Array.from(v) };
    writeSafetensors(path.join(stageDir, 'feature_scores.safetensors'), files);
    const plots: Record<string, object> = {
      densityScatter: scatterRegressionSpec(logBase, logFt, reg, { title: `feature log10 density: ${config.base.label} vs ${config.finetune.label}`, xTitle: `${config.base.label} log10(d + 1e-10)`, yTitle: `${config.finetune.label} log10(d + 1e-10)` }),
    };
    for (const [k, v] of Object.entries(scores)) {
      const finite = Array.from(v).filter(Number.isFinite);
      if (finite.length) plots[k] = histogramSpec(histogram(finite, { bins: 30 }), { title: k.replace(/_/g, ' ').replace('.', ': '), xTitle: k.split('.')[1].replace(/_/g, ' '), yTitle: 'features' });
    }
    const table: Row[] = groups.map(([g]) => ({
      family: g.replace(/_/g, ' '), features: families[g].total, sampled: families[g].sampled,
      'activation similarity': families[g].activation_similarity.mean, 'share > 0.8': families[g].activation_similarity.fractionAbove,
      'NaN (constant)': families[g].activation_similarity.nanCount,
      'activation error': families[g].activation_error?.mean ?? null, 'logit similarity': families[g].logit_similarity.mean,
    }));
    const result = {
      density_pearson_r: reg.r, density_regression: { slope: reg.slope, intercept: reg.intercept },
      dead_base: fam.deadBase, dead_finetune: fam.deadFinetune,
      dense_activation_similarity_mean: families.dense.activation_similarity.mean, dense_logit_similarity_mean: families.dense.logit_similarity.mean,
      wu_frobenius_ratio: wu.frobeniusRatio, wu_frobenius_diff: wu.frobeniusDiff, families, table, plots,
    };
    return { result, artifacts: ['results.json', 'feature_scores.safetensors', 'tokens.safetensors'], provenance: { revisions: m.revisions } };
  } finally {
    m.dispose();
  }
}
