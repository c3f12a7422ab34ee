import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { SafetensorsFile } from '../io/safetensors';
import { writeJsonAtomic } from '../io/atomic';
import { SimilarityAccumulator, MetricSummary } from '../analysis/similarity';
import { histogram } from '../analysis/histogram';
import { heatmapSpec, histogramSpec, lineSpec } from '../plots/specs';
import { StageContext, reusableStage, writeManifest, invalidateStage } from '../notebook/stage';
import { Progress } from '../notebook/progress';
import { interruptible } from '../notebook/interrupt';
import { readActRows } from './common';
import { STAGE_ACTIVATIONS, activationsInputs } from './activations';

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
 * (stage 01's files), their global means, and the four published plots for each.
 * `opts.merged`: the accumulator merged from shards (lib/stages/shard), used instead of reading stage 01.
 */
export async function computeSimilaritiesStage(ctx: StageContext, opts: { merged?: SimilarityAccumulator } = {}): Promise<SimilaritiesResult> {
  const { config, stageDir } = ctx;
  const inputs = { activations: activationsInputs(config) };
  const resultFile = path.join(stageDir, 'results.json');
  if (reusableStage(stageDir, inputs) && fs.existsSync(resultFile)) return { ...(JSON.parse(fs.readFileSync(resultFile, 'utf8')) as SimilaritiesResult), reused: true };
  invalidateStage(stageDir);
  const actDir = ctx.stageDirOf(STAGE_ACTIVATIONS);
  if (!reusableStage(actDir, activationsInputs(config))) throw new Error(`stage ${STAGE_ACTIVATIONS} has no results for this config in ${actDir}: run notebook 01 first (npm run pipeline -- --from 01)`);
  const baseFile = SafetensorsFile.open(path.join(actDir, 'base_acts.safetensors'));
  const ftFile = SafetensorsFile.open(path.join(actDir, 'finetune_acts.safetensors'));
  try {
    const [n, ctxLen] = baseFile.info('acts').shape;
    const acc = opts.merged ?? (await similaritiesOverRows(baseFile, ftFile, 0, n, config.activations.batchSize));
    if (acc.cosine.sequences !== n) throw new Error(`similarities: the merged shards hold ${acc.cosine.sequences} sequences but stage ${STAGE_ACTIVATIONS} has ${n}`);
    const cos = acc.cosine.tokenValues();
    const euc = acc.euclidean.tokenValues();
    const shape: [number, number] = [n, ctxLen];
    const aligned = config.tokenAlignment === 'text';
    const sc = aligned ? nanSummary(cos, shape) : acc.summary().cosine;
    const se = aligned ? nanSummary(euc, shape) : acc.summary().euclidean;
    const tokens = aligned ? cos.filter((v) => !Number.isNaN(v)).length : n * ctxLen;
    const result: SimilaritiesResult = {
      reused: false, cosine_mean: sc.mean, euclidean_mean: se.mean, tokens,
      cosine: metricReport('cosine similarity', 'cosine', sc, cos, shape),
      euclidean: metricReport('euclidean distance', 'distance', se, euc, shape),
    };
    writeJsonAtomic(resultFile, result);
    writeManifest(stageDir, STAGE_SIMILARITIES, inputs, ['results.json']);
    return result;
  } finally {
    baseFile.close();
    ftFile.close();
  }
}
