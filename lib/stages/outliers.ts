import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { SafetensorsFile } from '../io/safetensors';
import {
  NormScalarAccumulator, OutlierCounter, OutlierRule, OutlierSummary, absoluteOutlierRule, relativeOutlierRule, ruleThreshold,
  emptyOutlierCfg, setOutlierCfgEntry, writeOutlierCfg, tokenNormValues, OUTLIER_CFG_FILE,
} from '../analysis/outliers';
import { histogram } from '../analysis/histogram';
import { StageContext } from '../notebook/stage';
import { Row } from '../plots/table';
import { Progress } from '../notebook/progress';
import { interruptible } from '../notebook/interrupt';
import { readActRows, readTokens } from './common';
import { activationsInputs, computeActivationsStage } from './activations';
import { StageOutput, defineStage, requireStage } from './define';
import { loadTokenizer } from '../tokenizers/tokenizer';

export const STAGE_OUTLIERS = '03_find_outlier_norms';

export interface OutliersResult {
  reused: boolean;
  norm_scalar: number;
  rule: OutlierRule;
  /** the norm |x| above which a token is an outlier */
  norm_threshold: number;
  base: Omit<OutlierSummary, 'outlierNorms'>;
  finetune: Omit<OutlierSummary, 'outlierNorms'>;
  table: Row[];
  plots: { norms: object };
}

/** The config fields stage 03 depends on. */
export function outliersInputs(c: StageContext['config']): unknown {
  return { activations: activationsInputs(c), outliers: c.outliers };
}

/** The model name outlier_cfg.json files the base model under (the config's base label). */
export function outlierModelName(c: StageContext['config']): string {
  return c.base.label;
}

/**
 * Stage 03: the base model's norm scalar S = sqrt(d_model) / E|x| over stage 01's activations, the
 * outlier rule (relative: |S x| > multiplier * sqrt(d_model); or an absolute threshold on |x|), outlier
 * fractions of base and finetune under the base's rule, the BOS check, and outlier_cfg.json.
 */
export const findOutlierNormsStage = defineStage<OutliersResult>({
  name: STAGE_OUTLIERS,
  inputs: outliersInputs,
  run: findOutlierNorms,
});


async function findOutlierNorms(ctx: StageContext): Promise<StageOutput<OutliersResult>> {
  const { config, stageDir } = ctx;
  const actDir = requireStage(ctx, computeActivationsStage);
  const tok = await loadTokenizer(config.base.tokenizer ?? config.base.model, { revision: config.base.revision });
  const { tokens } = readTokens(path.join(actDir, 'tokens.safetensors'));
  const files = { base: SafetensorsFile.open(path.join(actDir, 'base_acts.safetensors')), finetune: SafetensorsFile.open(path.join(actDir, 'finetune_acts.safetensors')) };
  try {
    const [n, ctxLen, d] = files.base.info('acts').shape;
    const batch = config.activations.batchSize;
    const progress = new Progress('outlier norms', 3 * Math.ceil(n / batch));
    const scalar = new NormScalarAccumulator();
    const stopPoint = interruptible('outlier norms');
    for (let s = 0; s < n; s += batch) {
      await stopPoint();
      const a = readActRows(files.base, s, Math.min(batch, n - s));
      scalar.add(a);
      a.dispose();
      progress.tick();
    }
    const S = scalar.normScalar(d);
    const rule = config.outliers.absoluteThreshold !== null
      ? absoluteOutlierRule(config.outliers.absoluteThreshold, S)
      : relativeOutlierRule(S, d, config.outliers.multiplier ?? 2);
    const { scale, threshold } = ruleThreshold(rule);
    const normThreshold = threshold / scale;
    const summaries: Record<string, OutlierSummary> = {};
    const norms: Record<string, Float32Array> = {};
    for (const which of ['base', 'finetune'] as const) {
      const counter = new OutlierCounter(rule);
      const all = new Float32Array(n * ctxLen);
      for (let s = 0; s < n; s += batch) {
        await stopPoint();
        const count = Math.min(batch, n - s);
        const a = readActRows(files[which], s, count);
        const t = tokens.subarray(s * ctxLen, (s + count) * ctxLen);
        counter.add(a, t, tok.bosTokenId);
        all.set(tokenNormValues(a), s * ctxLen);
        tf.dispose(a);
        progress.tick();
      }
      summaries[which] = counter.summary();
      norms[which] = all;
    }
    progress.done();
    writeOutlierCfg(path.join(stageDir, OUTLIER_CFG_FILE), setOutlierCfgEntry(emptyOutlierCfg(), outlierModelName(config), S, rule));
    const strip = (s: OutlierSummary) => { const { outlierNorms: _drop, ...rest } = s; return rest; };
    const allNorms = [...norms.base, ...norms.finetune].filter((v) => Number.isFinite(v));
    const lo = Math.min(...allNorms);
    const hi = Math.max(normThreshold, ...allNorms);
    const hb = histogram(norms.base.filter(Number.isFinite), { bins: 100, range: [lo, hi] });
    const hf = histogram(norms.finetune.filter(Number.isFinite), { bins: 100, range: [lo, hi] });
    const spec = {
      title: `token norms |x| (outlier threshold ${normThreshold.toFixed(2)})`,
      width: 480, height: 260,
      layer: [
        {
          data: { values: [...Array.from(hb.counts, (c, i) => ({ model: config.base.label, start: hb.edges[i], end: hb.edges[i + 1], count: c })), ...Array.from(hf.counts, (c, i) => ({ model: config.finetune.label, start: hf.edges[i], end: hf.edges[i + 1], count: c }))] },
          mark: { type: 'bar', opacity: 0.6 },
          encoding: {
            x: { field: 'start', type: 'quantitative', title: '|x|' }, x2: { field: 'end' },
            y: { field: 'count', type: 'quantitative', title: 'tokens', stack: null },
            color: { field: 'model', type: 'nominal' },
          },
        },
        { data: { values: [{ threshold: normThreshold }] }, mark: { type: 'rule', color: 'red', strokeDash: [4, 3] }, encoding: { x: { field: 'threshold', type: 'quantitative' } } },
      ],
    };
    const table: Row[] = (['base', 'finetune'] as const).map((w) => ({
      model: w === 'base' ? config.base.label : config.finetune.label, tokens: summaries[w].tokens, outliers: summaries[w].outliers,
      'outlier %': 100 * summaries[w].fraction, 'BOS outliers': summaries[w].bosOutliers,
    }));
    const result = { norm_scalar: S, rule, norm_threshold: normThreshold, base: strip(summaries.base), finetune: strip(summaries.finetune), table, plots: { norms: spec } };
    return { result, artifacts: [OUTLIER_CFG_FILE, 'results.json'] };
  } finally {
    files.base.close();
    files.finetune.close();
  }
}
