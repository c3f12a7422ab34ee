import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { SafetensorsFile } from '../io/safetensors';
import { SafetensorsStreamWriter } from '../io/safetensorsStream';
import { compareTokenizers, comparisonRows, writeTokenizerComparison, TokenizerComparison } from '../tokenizers/compare';
import { StageContext } from '../notebook/stage';
import { Progress } from '../notebook/progress';
import { interruptible } from '../notebook/interrupt';
import { Row } from '../plots/table';
import { PipelineModels, hookActivations, loadPipelineModels, readTokens, sampleContexts, saveTokens, tokenBatches } from './common';
import { collectAlignedActivations } from './alignment';
import { recordActivity } from '../notebook/activity';
import { ExperimentConfig } from './config';
import { Tokenizer, loadTokenizer } from '../tokenizers/tokenizer';
import { StageOutput, defineStage } from './define';
import { batchRangeRows } from './shard/spec';
import { ShardRecord, readShardState, shardDir } from './shard/store';

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
  const d = m.dModel;
  let alignment: ActivationsResult['alignment'] = null;
  const writers = ['base', 'finetune'].map((which) => new SafetensorsStreamWriter(path.join(dir, `${which}_acts.safetensors`), [{ name: 'acts', dtype: 'F32', shape: [n, ctxLen, d] }], { hook: m.hook, model: which === 'base' ? config.base.model : config.finetune.model }));
  try {
    const progress = new Progress(label, Math.ceil(n / batchSize) * 2);
    // one model at a time: all of the base's batches, then the finetune's
    const stopPoint = interruptible(label);
    for (const [i, which] of (['base', 'finetune'] as const).entries()) {
      const model = await m.model(which);
      if (which === 'finetune' && config.tokenAlignment === 'text') {
        alignment = await collectAlignedActivations(m, model, tokens, ctxLen, batchSize, writers[1], progress);
        continue;
      }
      for (const b of tokenBatches(tokens, ctxLen, batchSize)) {
        recordActivity(`running the ${which} ${config[which].model} on batch ${b.index + 1} of ${Math.ceil(n / batchSize)}`, `${which} ${config[which].model}`);
        const act = hookActivations(model, b.tokens, m.hook, m.layer);
        writers[i].append(act.dataSync() as Float32Array);
        tf.dispose([act, b.tokens]);
        progress.tick();
        await stopPoint();
      }
    }
    m.release();
    progress.done();
    writers.forEach((w) => w.close());
  } catch (e) {
    writers.forEach((w) => w.abort());
    throw e;
  }
  return alignment;
}

/** Stage 01's merge: the finished shards, concatenated in shard order instead of running the models. */
interface ActivationsFromShards {
  shards: ShardRecord[];
}

/** Run both models over stage 01's token sample into the stage folder. */
async function computeActivations(ctx: StageContext): Promise<StageOutput<ActivationsResult>> {
  const { config, stageDir } = ctx;
  const m = await loadPipelineModels(config);
  try {
    const { comparison, names, files, warning } = writeTokenizerReport(config, m.tokenizer, m.finetuneTokenizer!, stageDir);
    const nSeq = config.activations.nBatches * config.activations.batchSize;
    const ctxLen = config.contextSize;
    const d = m.dModel;
    const tokens = await sampleContexts(config, m.tokenizer, nSeq, 1);
    saveTokens(path.join(stageDir, 'tokens.safetensors'), tokens, ctxLen);
    const alignment = await writeActivationFiles(m, config, tokens, stageDir, config.activations.batchSize, 'activations');
    const result = {
      hook: m.hook, sequences: nSeq, contextSize: ctxLen, dModel: d, comparison, comparisonTable: comparisonRows(comparison, names), warning, alignment,
      files: ['tokens.safetensors', 'base_acts.safetensors', 'finetune_acts.safetensors', ...files], revisions: m.revisions,
    };
    return { result, artifacts: [...result.files, 'results.json'], provenance: { revisions: m.revisions } };
  } finally {
    m.dispose();
  }
}

/** Concatenate the shards' tokens and activations (in shard order) and sum their alignment counts. */
async function mergeActivations(ctx: StageContext, recs: ShardRecord[]): Promise<StageOutput<ActivationsResult>> {
  const { config, stageDir } = ctx;
  const count = recs.length;
  const prov = recs[0].provenance as { revisions: Record<string, string | undefined>; hook: string; dModel: number };
  const ctxLen = config.contextSize;
  const nSeq = config.activations.nBatches * config.activations.batchSize;
  const dirs = recs.map((r) => shardDir(stageDir, r));
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
  const result = {
    hook: prov.hook, sequences: nSeq, contextSize: ctxLen, dModel: prov.dModel, comparison, comparisonTable: comparisonRows(comparison, names), warning, alignment,
    files: ['tokens.safetensors', 'base_acts.safetensors', 'finetune_acts.safetensors', ...files], revisions: prov.revisions,
  };
  return { result, artifacts: [...result.files, 'results.json'], provenance: { revisions: prov.revisions } };
}

/**
 * Stage 01: compare the tokenizers, then run base and finetune on the same token ids (the finetune is
 * fed the base tokenizer's ids, as published) and save the SAE hook's activations of both.
 * Artifacts: tokens.safetensors, base_acts.safetensors, finetune_acts.safetensors, tokenizer_comparison.csv.
 * Data-parallel: each shard runs a contiguous range of sequences; the merge concatenates them.
 */
export const computeActivationsStage = defineStage<ActivationsResult, ActivationsFromShards>({
  name: STAGE_ACTIVATIONS,
  inputs: activationsInputs,
  run: (ctx, opts) => (opts ? mergeActivations(ctx, opts.shards) : computeActivations(ctx)),
  shard: {
    totalBatches: (c) => c.activations.nBatches,
    batchSize: (c) => c.activations.batchSize,
    async run(ctx, { spec, range, dir }) {
      const { config } = ctx;
      const bs = config.activations.batchSize;
      const nSeq = config.activations.nBatches * bs;
      const rows = batchRangeRows(range, bs, nSeq);
      const m = await loadPipelineModels(config);
      try {
        const ctxLen = config.contextSize;
        const tokens = (await sampleContexts(config, m.tokenizer, nSeq, 1)).slice(rows.start * ctxLen, rows.end * ctxLen);
        saveTokens(path.join(dir, 'tokens.safetensors'), tokens, ctxLen);
        const alignment = await writeActivationFiles(m, config, tokens, dir, bs, `activations shard ${spec.index}/${spec.count}`);
        return {
          files: ['tokens.safetensors', 'base_acts.safetensors', 'finetune_acts.safetensors'], state: { alignment, sequences: rows.end - rows.start },
          provenance: { revisions: m.revisions, hook: m.hook, dModel: m.dModel },
        };
      } finally {
        m.dispose();
      }
    },
  },
  merge: (_ctx, shards) => ({ shards }),
});

