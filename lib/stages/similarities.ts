import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { SafetensorsFile } from '../io/safetensors';
import { SimilarityAccumulator, MetricSummary } from '../analysis/similarity';
import { histogram } from '../analysis/histogram';
import { heatmapSpec, histogramSpec, lineSpec } from '../plots/specs';
import { Progress } from '../notebook/progress';
import { interruptible } from '../notebook/interrupt';
import { readActRows } from './common';
import { STAGE_ACTIVATIONS, activationsInputs, computeActivationsStage } from './activations';
import { defineStage, requireStage } from './define';
import { batchRangeRows } from './shard/spec';
import { readShardState } from './shard/store';

export const STAGE_SIMILARITIES = '02_compute_similarities';

export interface MetricReport {
  mean: number;
  /** plots: heatmap (x position, y sequence), histogram of per-sequence means (30 bins), of all tokens (100 bins), per-position mean line */
  plots: { heatmap: object; perSequence: object; allTokens: object; perPosition: object };
}

export interface SimilaritiesResult {
  reused: boolean;
  cosine_mean: number;
  euclidean_mean: number;
  /** tokens compared (text alignment: only aligned tokens) */
  tokens: number;
  cosine: MetricReport;
  euclidean: MetricReport;
}

function metricReport(name: string, unit: string, s: MetricSummary, tokenValues: Float32Array, shape: [number, number]): MetricReport {
  const finite = tokenValues.filter((v) => Number.isFinite(v));
  const perSeq = Array.from(s.perSequence).filter((v) => Number.isFinite(v));
  return {
    mean: s.mean,
    plots: {
      heatmap: heatmapSpec(tokenValues, shape, { title: `${name} per token`, xTitle: 'position', yTitle: 'sequence', colorTitle: unit }),
      perSequence: histogramSpec(histogram(perSeq, { bins: 30 }), { title: `${name}: per-sequence means`, xTitle: `mean ${unit}`, yTitle: 'sequences' }),
      allTokens: histogramSpec(histogram(finite, { bins: 100 }), { title: `${name}: all tokens`, xTitle: unit, yTitle: 'tokens' }),
      perPosition: lineSpec({ x: Array.from(s.perPosition, (_, i) => i), y: s.perPosition }, { title: `${name}: mean per position`, xTitle: 'position', yTitle: `mean ${unit}` }),
    },
  };
}

/** Means that skip NaN (text alignment leaves unaligned tokens as NaN). */
function nanSummary(values: Float32Array, shape: [number, number]): MetricSummary {
  const [n, ctx] = shape;
  const perSequence = new Float64Array(n);
  const perPosition = new Float64Array(ctx);
  const posCount = new Float64Array(ctx);
  let sum = 0;
  let count = 0;
  for (let i = 0; i < n; i++) {
    let s = 0;
    let c = 0;
    for (let j = 0; j < ctx; j++) {
      const v = values[i * ctx + j];
      if (Number.isNaN(v)) continue;
      s += v; c++; perPosition[j] += v; posCount[j]++;
    }
    perSequence[i] = c ? s / c : NaN;
    sum += s; count += c;
  }
  for (let j = 0; j < ctx; j++) perPosition[j] = posCount[j] ? perPosition[j] / posCount[j] : NaN;
  return { mean: count ? sum / count : NaN, perSequence, perPosition };
}

/** Cosine / euclidean accumulator over activation rows [start, end) of stage 01's files, batch by batch. */
export async function similaritiesOverRows(baseFile: SafetensorsFile, ftFile: SafetensorsFile, start: number, end: number, batch: number): Promise<SimilarityAccumulator> {
  const ctxLen = baseFile.info('acts').shape[1];
  const acc = new SimilarityAccumulator(ctxLen, true);
  const progress = new Progress('similarities', Math.ceil((end - start) / batch));
  const stopPoint = interruptible('similarities');
  for (let s = start; s < end; s += batch) {
    await stopPoint();
    const count = Math.min(batch, end - s);
    const a = readActRows(baseFile, s, count);
    const b = readActRows(ftFile, s, count);
    acc.add(a, b);
    tf.dispose([a, b]);
    progress.tick();
  }
  progress.done();
  return acc;
}

/**
 * Stage 02: per-token cosine similarity and euclidean distance between base and finetune activations
 * (stage 01's files), their global means, and the four published plots for each. Data-parallel: each
 * shard accumulates a range of stage 01's rows; the merge combines the accumulators exactly.
 */
export const computeSimilaritiesStage = defineStage<SimilaritiesResult, { merged: SimilarityAccumulator }>({
  name: STAGE_SIMILARITIES,
  inputs: (c) => ({ activations: activationsInputs(c) }),
  async run(ctx, opts) {
    const { config } = ctx;
    const actDir = requireStage(ctx, computeActivationsStage);
    const baseFile = SafetensorsFile.open(path.join(actDir, 'base_acts.safetensors'));
    const ftFile = SafetensorsFile.open(path.join(actDir, 'finetune_acts.safetensors'));
    try {
      const [n, ctxLen] = baseFile.info('acts').shape;
      const acc = opts?.merged ?? (await similaritiesOverRows(baseFile, ftFile, 0, n, config.activations.batchSize));
      if (acc.cosine.sequences !== n) throw new Error(`similarities: the merged shards hold ${acc.cosine.sequences} sequences but stage ${STAGE_ACTIVATIONS} has ${n}`);
      const cos = acc.cosine.tokenValues();
      const euc = acc.euclidean.tokenValues();
      const shape: [number, number] = [n, ctxLen];
      const aligned = config.tokenAlignment === 'text';
      const sc = aligned ? nanSummary(cos, shape) : acc.summary().cosine;
      const se = aligned ? nanSummary(euc, shape) : acc.summary().euclidean;
      const tokens = aligned ? cos.filter((v) => !Number.isNaN(v)).length : n * ctxLen;
      const result = {
        cosine_mean: sc.mean, euclidean_mean: se.mean, tokens,
        cosine: metricReport('cosine similarity', 'cosine', sc, cos, shape),
        euclidean: metricReport('euclidean distance', 'distance', se, euc, shape),
      };
      return { result, artifacts: ['results.json'] };
    } finally {
      baseFile.close();
      ftFile.close();
    }
  },
  shard: {
    totalBatches: (c) => c.activations.nBatches,
    batchSize: (c) => c.activations.batchSize,
    async run(ctx, { range }) {
      const bs = ctx.config.activations.batchSize;
      const actDir = requireStage(ctx, computeActivationsStage);
      const rows = batchRangeRows(range, bs, ctx.config.activations.nBatches * bs);
      const baseFile = SafetensorsFile.open(path.join(actDir, 'base_acts.safetensors'));
      const ftFile = SafetensorsFile.open(path.join(actDir, 'finetune_acts.safetensors'));
      try {
        return { files: [], state: (await similaritiesOverRows(baseFile, ftFile, rows.start, rows.end, bs)).toJSON() };
      } finally {
        baseFile.close();
        ftFile.close();
      }
    },
  },
  merge(ctx, shards) {
    let acc: SimilarityAccumulator | null = null;
    for (const r of shards) {
      const a = SimilarityAccumulator.fromJSON(readShardState(ctx.stageDir, r));
      acc = acc ? acc.merge(a) : a;
    }
    return { merged: acc! };
  },
});

