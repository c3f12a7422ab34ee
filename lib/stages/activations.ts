import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { SafetensorsStreamWriter } from '../io/safetensorsStream';
import { writeJsonAtomic } from '../io/atomic';
import { compareTokenizers, comparisonRows, writeTokenizerComparison, TokenizerComparison } from '../tokenizers/compare';
import { StageContext, reusableStage, writeManifest, invalidateStage } from '../notebook/stage';
import { Progress } from '../notebook/progress';
import { interruptible } from '../notebook/interrupt';
import { Row } from '../notebook/table';
import { PipelineModels, hookActivations, loadPipelineModels, sampleContexts, saveTokens, tokenBatches } from './common';
import { collectAlignedActivations } from './alignment';
import { ExperimentConfig } from '../notebook/config';
import { Tokenizer } from '../tokenizers/tokenizer';

export const STAGE_ACTIVATIONS = '01_compute_activations';

export interface ActivationsResult {
  reused: boolean;
  hook: string;
  sequences: number;
  contextSize: number;
  dModel: number;
  comparison: TokenizerComparison;
  /** rows for the tokenizer comparison table */
  comparisonTable: Row[];
  /** set when the vocabularies differ: token-id replay then compares different strings */
  warning: string | null;
  /** tokenAlignment "text": how many tokens had an identical-text partner */
  alignment: { aligned: number; total: number } | null;
  files: string[];
  revisions: Record<string, string | undefined>;
}

/** The config fields stage 01 depends on. */
export function activationsInputs(c: StageContext['config']): unknown {
  return { base: c.base, finetune: c.finetune, sae: c.sae, dataset: c.dataset, contextSize: c.contextSize, prependBos: c.prependBos, activations: c.activations, seed: c.seed, tokenAlignment: c.tokenAlignment };
}

/**
 * Stage 01: compare the tokenizers, then run base and finetune on the same token ids (the finetune is
 * fed the base tokenizer's ids, as published) and save the SAE hook's activations of both.
 * Artifacts: tokens.safetensors, base_acts.safetensors, finetune_acts.safetensors, tokenizer_comparison.csv.
 */

/**
 * Compare the base and finetune tokenizers, write the comparison under `<stageDir>/tokenizer_comparison`,
 * and say in a warning when they differ (and what the config's tokenAlignment then means).
 */
export function writeTokenizerReport(config: ExperimentConfig, baseTok: Tokenizer, ftTok: Tokenizer, stageDir: string) {
  const comparison = compareTokenizers(baseTok, ftTok);
  const names = { base: config.base.label, finetune: config.finetune.label };
  const files = writeTokenizerComparison(path.join(stageDir, 'tokenizer_comparison'), comparison, names).map((f) => path.basename(f));
  const differ = comparison.only_in_base > 0 || comparison.only_in_ft > 0 || comparison.mismatched > 0;
  const warning = differ
    ? `The tokenizers differ: ${comparison.only_in_base} strings only in ${names.base}, ${comparison.only_in_ft} only in ${names.finetune}, ${comparison.mismatched} shared strings with different ids. ` +
      (config.tokenAlignment === 'ids' ? 'Feeding the finetune the base token ids then compares different strings; consider "tokenAlignment": "text".' : 'Activations are compared on spans with identical text ("tokenAlignment": "text").')
    : null;
  return { comparison, names, files, warning };
}

/**
 * Run base and finetune over `tokens` [N, ctx] and write base_acts.safetensors and
 * finetune_acts.safetensors (tensor `acts`, float32 [N, ctx, d_model]) into `dir`, streamed batch by
 * batch; on failure nothing is left behind. Returns the text-alignment counts when that mode is on.
 */
export async function writeActivationFiles(m: PipelineModels, config: StageContext['config'], tokens: Int32Array, dir: string, batchSize: number, label: string): Promise<ActivationsResult['alignment']> {
  const ctxLen = config.contextSize;
  const n = tokens.length / ctxLen;
  const d = m.base.cfg.d_model;
  let alignment: ActivationsResult['alignment'] = null;
  const writers = ['base', 'finetune'].map((which) => new SafetensorsStreamWriter(path.join(dir, `${which}_acts.safetensors`), [{ name: 'acts', dtype: 'F32', shape: [n, ctxLen, d] }], { hook: m.hook, model: which === 'base' ? config.base.model : config.finetune.model }));
  try {
    const progress = new Progress(label, Math.ceil(n / batchSize) * 2);
    if (config.tokenAlignment === 'text') {
      alignment = await collectAlignedActivations(m, tokens, ctxLen, batchSize, writers, progress);
    } else {
      const stopPoint = interruptible(label);
      for (const [i, model] of [m.base, m.finetune!].entries()) {
        for (const b of tokenBatches(tokens, ctxLen, batchSize)) {
          const act = hookActivations(model, b.tokens, m.hook, m.layer);
          writers[i].append(act.dataSync() as Float32Array);
          tf.dispose([act, b.tokens]);
          progress.tick();
          await stopPoint();
        }
      }
    }
    progress.done();
    writers.forEach((w) => w.close());
  } catch (e) {
    writers.forEach((w) => w.abort());
    throw e;
  }
  return alignment;
}

export async function computeActivationsStage(ctx: StageContext): Promise<ActivationsResult> {
  const { config, stageDir } = ctx;
  const inputs = activationsInputs(config);
  const resultFile = path.join(stageDir, 'results.json');
  const reused = reusableStage(stageDir, inputs);
  if (reused && fs.existsSync(resultFile)) return { ...(JSON.parse(fs.readFileSync(resultFile, 'utf8')) as ActivationsResult), reused: true };
  invalidateStage(stageDir);
  const m = await loadPipelineModels(config);
  try {
    const { comparison, names, files, warning } = writeTokenizerReport(config, m.tokenizer, m.finetuneTokenizer!, stageDir);
    const nSeq = config.activations.nBatches * config.activations.batchSize;
    const ctxLen = config.contextSize;
    const d = m.base.cfg.d_model;
    const tokens = await sampleContexts(config, m.tokenizer, nSeq, 1);
    saveTokens(path.join(stageDir, 'tokens.safetensors'), tokens, ctxLen);
    const alignment = await writeActivationFiles(m, config, tokens, stageDir, config.activations.batchSize, 'activations');
    const result: ActivationsResult = {
      reused: false, hook: m.hook, sequences: nSeq, contextSize: ctxLen, dModel: d, comparison, comparisonTable: comparisonRows(comparison, names), warning, alignment,
      files: ['tokens.safetensors', 'base_acts.safetensors', 'finetune_acts.safetensors', ...files], revisions: m.revisions,
    };
    writeJsonAtomic(resultFile, result);
    writeManifest(stageDir, STAGE_ACTIVATIONS, inputs, [...result.files, 'results.json'], { revisions: m.revisions });
    return result;
  } finally {
    m.dispose();
  }
}
