import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { writeSafetensors } from '../io/safetensors';
import { readOutlierCfg, outlierRuleFromCfg, outlierMask, OutlierRule, OUTLIER_CFG_FILE } from '../analysis/outliers';
import { L0Accumulator, FeatureDensityAccumulator, ReconstructionAccumulator, CeAccumulator, LogActivationHistogramAccumulator, logDensity, CeSummary, ReconstructionSummary } from '../analysis/saeMetrics';
import { histogram } from '../analysis/histogram';
import { histogramSpec } from '../plots/specs';
import { StageContext } from '../notebook/stage';
import { Row } from '../plots/table';
import { Progress } from '../notebook/progress';
import { interruptible } from '../notebook/interrupt';
import { HookedTransformer } from '../model/hookedTransformer';
import { SAE } from '../sae/sae';
import { loadPipelineModels, sampleContexts, saveTokens, tokenBatches } from './common';
import { recordActivity } from '../notebook/activity';
import { outliersInputs, outlierModelName, findOutlierNormsStage } from './outliers';
import { StageOutput, defineStage, requireStage } from './define';
import { batchRangeRows } from './shard/spec';
import { readShardState } from './shard/store';

export const STAGE_SAE_EVAL = '04_sae_eval';

/** One model's SAE evaluation, in results.json's published field names. */
export interface SaeEvalModelResult {
  l0: number;
  clean_loss: number;
  spliced_loss: number;
  delta_loss: number;
  zero_ablation_loss: number | null;
  ce_loss_score: number | null;
  r2: number;
  explained_variance: number;
  dead_fraction: number;
  /** batches whose losses were inf/NaN, left out of the loss means and listed */
  nonfinite_batches: number;
  nonfinite: CeSummary['nonFinite'];
  tokens: number;
  outlier_tokens: number;
  /** non-outlier tokens whose activations or reconstruction held NaN/inf, left out of R2 and explained variance */
  nonfinite_tokens: number;
}

export interface SaeEvalResult {
  reused: boolean;
  base: SaeEvalModelResult;
  finetune: SaeEvalModelResult;
  /** the published table layout: model, L0, clean CE, recon CE, delta, R2, dead */
  table: Row[];
  plots: { activations: Record<string, object>; densities: Record<string, object> };
}

export function saeEvalInputs(c: StageContext['config']): unknown {
  return { outliers: outliersInputs(c), eval: c.eval, seed: c.seed };
}

export interface EvalAccumulators {
  l0: L0Accumulator;
  density: FeatureDensityAccumulator;
  recon: ReconstructionAccumulator;
  ce: CeAccumulator;
  logHist: LogActivationHistogramAccumulator;
  outlierTokens: number;
}

/** The block a residual hook's value enters (resid_pre of L: L; resid_post of L: L + 1), or null for other hooks. */
export function residualStart(hook: string): number | null {
  const m = /^blocks\.(\d+)\.hook_resid_(pre|post)$/.exec(hook);
  return m ? Number(m[1]) + (m[2] === 'post' ? 1 : 0) : null;
}

/**
 * Evaluate an SAE on one model over token batches: L0, feature densities, reconstruction (R2 as
 * published and SAELens's explained variance, non-outlier tokens only), clean / spliced / zero-ablated CE
 * (the SAE output spliced at non-outlier positions only; outlier positions keep the original activation).
 * `firstBatch`: the number of the first batch in the whole sample (a shard's offset), for batch ids in CE reports.
 */
export async function evaluateSae(model: HookedTransformer, sae: SAE, hook: string, tokens: Int32Array, ctx: number, batchSize: number, rule: OutlierRule, progress: Progress, firstBatch = 0): Promise<EvalAccumulators> {
  const acc: EvalAccumulators = {
    l0: new L0Accumulator(), density: new FeatureDensityAccumulator(sae.cfg.d_sae), recon: new ReconstructionAccumulator(sae.cfg.d_in),
    ce: new CeAccumulator(), logHist: new LogActivationHistogramAccumulator([-10.5, 3], 100), outlierTokens: 0,
  };
  const nBatches = Math.ceil(tokens.length / ctx / batchSize);
  const start = residualStart(hook);
  const stopPoint = interruptible('SAE evaluation');
  for (const b of tokenBatches(tokens, ctx, batchSize)) {
    recordActivity(`evaluating the SAE on ${model.cfg.model_name} (${model.dtype}), batch ${b.index + 1} of ${nBatches}`, model.cfg.model_name);
    let x: tf.Tensor | null = null;
    let clean: tf.Tensor | null = null;
    const captured = model.runWithCache(b.tokens, { namesFilter: [hook], returnType: 'loss', lossPerToken: true });
    x = captured.cache.take(hook);
    clean = captured.loss as tf.Tensor;
    captured.cache.dispose();
    const f = sae.encode(x);
    const xHat = sae.decode(f);
    const outliers = outlierMask(x, rule);
    const keep = tf.logicalNot(outliers);
    acc.outlierTokens += tf.tidy(() => outliers.toFloat().sum().dataSync()[0]);
    acc.l0.add(f);
    acc.density.add(f);
    acc.logHist.add(f);
    acc.recon.add(x, xHat, keep);
    const keep3 = tf.expandDims(keep, -1);
    let spliced: tf.Tensor;
    let zero: tf.Tensor;
    if (start !== null) {
      // a residual hook: the spliced and zero-ablated passes start at the hook's block from the replaced
      // residual (the blocks before it are the clean pass's, so this is the hooked forward without redoing them)
      const splicedX = tf.where(tf.broadcastTo(keep3, x.shape), xHat, x);
      const zeroX = tf.zerosLike(x);
      spliced = model.forward(b.tokens, { startAtLayer: start, residual: splicedX, returnType: 'loss', lossPerToken: true }).loss as tf.Tensor;
      zero = model.forward(b.tokens, { startAtLayer: start, residual: zeroX, returnType: 'loss', lossPerToken: true }).loss as tf.Tensor;
      tf.dispose([splicedX, zeroX]);
    } else {
      spliced = model.forward(b.tokens, { fwdHooks: [[hook, (a) => tf.where(tf.broadcastTo(keep3, a.shape), xHat, a)]], returnType: 'loss', lossPerToken: true }).loss as tf.Tensor;
      zero = model.forward(b.tokens, { fwdHooks: [[hook, (a) => tf.zerosLike(a)]], returnType: 'loss', lossPerToken: true }).loss as tf.Tensor;
    }
    acc.ce.addTokenLosses(clean, spliced, zero, b.index + firstBatch);
    tf.dispose([x, clean, f, xHat, outliers, keep, keep3, spliced, zero, b.tokens]);
    progress.tick();
    await stopPoint();
  }
  return acc;
}

function summarize(acc: EvalAccumulators): SaeEvalModelResult {
  const ce = acc.ce.summary();
  const r: ReconstructionSummary = acc.recon.summary();
  return {
    l0: acc.l0.l0(), clean_loss: ce.cleanLoss, spliced_loss: ce.splicedLoss, delta_loss: ce.delta,
    zero_ablation_loss: ce.zeroLoss ?? null, ce_loss_score: ce.ceLossScore ?? null,
    r2: r.r2, explained_variance: r.explainedVariance, dead_fraction: acc.density.deadFraction(),
    nonfinite_batches: ce.nonFiniteBatches, nonfinite: ce.nonFinite, tokens: acc.l0.tokens, outlier_tokens: acc.outlierTokens,
    nonfinite_tokens: r.nonFiniteTokens,
  };
}

/** Serialisable state of stage 04's accumulators for one model. */
export type EvalState = { [K in keyof EvalAccumulators]: EvalAccumulators[K] extends number ? number : ReturnType<Extract<EvalAccumulators[K], { toJSON(): unknown }>['toJSON']> };

export function evalToJSON(a: EvalAccumulators): EvalState {
  return { l0: a.l0.toJSON(), density: a.density.toJSON(), recon: a.recon.toJSON(), ce: a.ce.toJSON(), logHist: a.logHist.toJSON(), outlierTokens: a.outlierTokens };
}

export function evalFromJSON(s: EvalState): EvalAccumulators {
  return {
    l0: L0Accumulator.fromJSON(s.l0), density: FeatureDensityAccumulator.fromJSON(s.density), recon: ReconstructionAccumulator.fromJSON(s.recon),
    ce: CeAccumulator.fromJSON(s.ce), logHist: LogActivationHistogramAccumulator.fromJSON(s.logHist), outlierTokens: s.outlierTokens,
  };
}

/** Merge `b` into `a` (sums and counts combined; `a` is returned). */
export function mergeEval(a: EvalAccumulators, b: EvalAccumulators): EvalAccumulators {
  a.l0.merge(b.l0);
  a.density.merge(b.density);
  a.recon.merge(b.recon);
  a.ce.merge(b.ce);
  a.logHist.merge(b.logHist);
  a.outlierTokens += b.outlierTokens;
  return a;
}

type ModelPair<T> = { base: T; finetune: T };

/**
 * Stage 04: evaluate the SAE on base and finetune activations (a fresh token sample, the same ids for
 * both), with stage 03's outlier rule of the base applied to both. Writes results.json,
 * feature_densities.safetensors (tensors `base`, `finetune`: fraction of tokens with f > 1e-10) and tokens.safetensors.
 * Data-parallel: each shard evaluates a range of the token batches; the merge combines the accumulators.
 */
export const saeEvalStage = defineStage<SaeEvalResult, { merged: ModelPair<EvalAccumulators> }>({
  name: STAGE_SAE_EVAL,
  inputs: saeEvalInputs,
  run: evaluateStage,
  shard: {
    totalBatches: (c) => c.eval.nBatches,
    batchSize: (c) => c.eval.batchSize,
    async run(ctx, { spec, range }) {
      const { config } = ctx;
      const bs = config.eval.batchSize;
      const nSeq = config.eval.nBatches * bs;
      const rows = batchRangeRows(range, bs, nSeq);
      const rule = outlierRule(ctx);
      const m = await loadPipelineModels(config);
      try {
        const ctxLen = config.contextSize;
        const tokens = (await sampleContexts(config, m.tokenizer, nSeq, 4)).slice(rows.start * ctxLen, rows.end * ctxLen);
        const progress = new Progress(`SAE eval shard ${spec.index}/${spec.count}`, 2 * range.count);
        // one model at a time (loading the finetune releases the base)
        const base = evalToJSON(await evaluateSae(await m.model('base'), m.sae, m.hook, tokens, ctxLen, bs, rule, progress, range.first));
        const finetune = evalToJSON(await evaluateSae(await m.model('finetune'), m.sae, m.hook, tokens, ctxLen, bs, rule, progress, range.first));
        const state = { base, finetune };
        progress.done();
        return { files: [], state, provenance: { revisions: m.revisions, hook: m.hook } };
      } finally {
        m.dispose();
      }
    },
  },
  merge(ctx, shards) {
    let merged: ModelPair<EvalAccumulators> | null = null;
    for (const r of shards) {
      const st = readShardState<ModelPair<EvalState>>(ctx.stageDir, r);
      const a = { base: evalFromJSON(st.base), finetune: evalFromJSON(st.finetune) };
      merged = merged ? { base: mergeEval(merged.base, a.base), finetune: mergeEval(merged.finetune, a.finetune) } : a;
    }
    return { merged: merged! };
  },
});

/** Stage 03's outlier rule of the base model (outlier_cfg.json). */
function outlierRule(ctx: StageContext): OutlierRule {
  const outDir = requireStage(ctx, findOutlierNormsStage);
  const file = path.join(outDir, OUTLIER_CFG_FILE);
  return outlierRuleFromCfg(readOutlierCfg(file), outlierModelName(ctx.config), file);
}

async function evaluateStage(ctx: StageContext, opts?: { merged: ModelPair<EvalAccumulators> }): Promise<StageOutput<SaeEvalResult>> {
  const { config, stageDir } = ctx;
  const rule = outlierRule(ctx);
  const m = await loadPipelineModels(config);
  try {
    const nSeq = config.eval.nBatches * config.eval.batchSize;
    const tokens = await sampleContexts(config, m.tokenizer, nSeq, 4);
    saveTokens(path.join(stageDir, 'tokens.safetensors'), tokens, config.contextSize);
    const accs = opts?.merged ?? (await (async () => {
      const progress = new Progress('SAE eval', 2 * config.eval.nBatches);
      // one model at a time (loading the finetune releases the base)
      const base = await evaluateSae(await m.model('base'), m.sae, m.hook, tokens, config.contextSize, config.eval.batchSize, rule, progress);
      const finetune = await evaluateSae(await m.model('finetune'), m.sae, m.hook, tokens, config.contextSize, config.eval.batchSize, rule, progress);
      m.release();
      progress.done();
      return { base, finetune };
    })());
    const res = { base: summarize(accs.base), finetune: summarize(accs.finetune) };
    writeSafetensors(path.join(stageDir, 'feature_densities.safetensors'), {
      base: { dtype: 'F32', shape: [m.sae.cfg.d_sae], data: accs.base.density.densities() },
      finetune: { dtype: 'F32', shape: [m.sae.cfg.d_sae], data: accs.finetune.density.densities() },
    }, { hook: m.hook, sae: `${config.sae.release}/${config.sae.id}` });
    const label = { base: config.base.label, finetune: config.finetune.label };
    const table: Row[] = (['base', 'finetune'] as const).map((w) => ({
      model: label[w], L0: res[w].l0, 'clean CE': res[w].clean_loss, 'recon CE': res[w].spliced_loss, delta: res[w].delta_loss,
      R2: res[w].r2, 'explained var': res[w].explained_variance, 'CE loss score': res[w].ce_loss_score, 'dead %': 100 * res[w].dead_fraction,
      'inf/NaN batches': res[w].nonfinite_batches,
    }));
    const plots: SaeEvalResult['plots'] = { activations: {}, densities: {} };
    for (const w of ['base', 'finetune'] as const) {
      const h = accs[w].logHist.result();
      // inactive features (a = 0) sit at log10(1e-10) = -10: the bin holding -10, not necessarily the first
      const zeroBin = Math.max(0, Array.from(h.edges).findIndex((e, i) => i + 1 < h.edges.length && e <= -10 && -10 < h.edges[i + 1]));
      plots.activations[w] = histogramSpec(h, { title: `${label[w]}: feature activations log10(|a| + 1e-10)`, xTitle: 'log10 activation', yTitle: 'count', annotate: { index: zeroBin, label: `inactive (a = 0) of ${h.total.toLocaleString('en-US')} feature activations` }, clipToSecondLargest: 2 });
      const ld = logDensity(accs[w].density.densities());
      const hd = histogram(ld, { bins: 100 });
      plots.densities[w] = histogramSpec(hd, { title: `${label[w]}: feature density log10(d + 1e-10)`, xTitle: 'log10 density', yTitle: 'features', annotate: { index: 0, label: `dead (density 0), ${(100 * res[w].dead_fraction).toFixed(1)}% of features` } });
    }
    return { result: { ...res, table, plots }, artifacts: ['results.json', 'feature_densities.safetensors', 'tokens.safetensors'], provenance: { revisions: m.revisions } };
  } finally {
    m.dispose();
  }
}
