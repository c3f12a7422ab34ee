/**
 * Stage 10: one SAE per model training checkpoint (lib/checkpoints sweep), same hook, trainer config and
 * token windows for every checkpoint; each checkpoint an independent, resumable job under sweep/<label>/.
 * Writes eval_tokens.safetensors (the held-out windows every checkpoint is evaluated on), results.json
 * (per-checkpoint L0, explained variance, CE loss score, dead share; table; plots) and the manifest.
 */
import * as fs from 'fs';
import * as path from 'path';
import { StageContext } from '../notebook/stage';
import { ExperimentConfig, configHash } from './config';
import { Row } from '../plots/table';
import { Progress } from '../notebook/progress';
import { interruptible } from '../notebook/interrupt';
import { Tokenizer, loadTokenizer } from '../tokenizers/tokenizer';
import { textsFromDataset } from '../data/sources';
import { shuffleStream } from '../data/random';
import { checkpointsConfig, sweepSpecFromConfig } from '../checkpoints/config';
import { SweepJobResult, SweepJobSummary, SweepSpec, runSweepJob, sweepSummaries } from '../checkpoints/sweep';
import { modelCheckpointProvider, sampleWindows } from '../checkpoints/modelProvider';
import { sweepTable, sweepSpecs } from '../checkpoints/sweepReport';
import { saveTokens } from './common';
import { StageOutput, defineStage, requireStage } from './define';

export const STAGE_CHECKPOINT_SAES = '10_checkpoint_saes';
export const SWEEP_FOLDER = 'sweep';
export const EVAL_TOKENS_FILE = 'eval_tokens.safetensors';

export interface CheckpointSaesResult {
  reused: boolean;
  hook: string;
  model: string;
  summaries: SweepJobSummary[];
  table: Row[];
  plots: Record<'l0' | 'explainedVariance' | 'ceLossScore' | 'deadShare', object>;
}

/** What stage 10 depends on: the sweep settings of the checkpoints section, the dataset, context and seed. */
export function checkpointSaesInputs(config: ExperimentConfig): unknown {
  const c = checkpointsConfig(config);
  return {
    model: c.model, checkpoints: c.checkpoints, hook: c.hook, training: c.training, trainBatches: c.trainBatches, evalBatches: c.evalBatches,
    batchSize: c.batchSize, streamTokens: c.streamTokens, dataset: config.dataset, contextSize: config.contextSize, seed: config.seed,
  };
}

/** The sweep spec of this config (its job hashes cover everything checkpointSaesInputs lists). */
export function checkpointSweepSpec(config: ExperimentConfig): SweepSpec {
  const c = checkpointsConfig(config);
  return sweepSpecFromConfig(c, { dataset: config.dataset, contextSize: config.contextSize, seed: config.seed });
}

export function sweepDirOf(stageDir: string): string {
  return path.join(stageDir, SWEEP_FOLDER);
}

/**
 * A token stream of `nTokens` from the config's dataset: documents shuffled with a seeded buffer, each
 * tokenized without special tokens and followed by BOS (the document separator).
 */
export async function datasetTokenStream(config: ExperimentConfig, tok: Tokenizer, nTokens: number, seed: number): Promise<Int32Array> {
  if (tok.bosTokenId === undefined) throw new Error('the checkpoints stages need a tokenizer with a BOS token (window start and document separator)');
  const out = new Int32Array(nTokens);
  let n = 0;
  const texts = textsFromDataset(config.dataset.path, { split: config.dataset.split, column: config.dataset.column, revision: config.dataset.revision } as never);
  for await (const text of shuffleStream(texts, { bufferSize: 256, seed })) {
    const ids = [...tok.encodeRaw(text), tok.bosTokenId];
    const take = Math.min(ids.length, nTokens - n);
    out.set(ids.slice(0, take), n);
    n += take;
    if (n === nTokens) break;
  }
  if (n < nTokens) throw new Error(`dataset ${config.dataset.path} (split ${config.dataset.split}) has only ${n} tokens; checkpoints.streamTokens asks for ${nTokens}: lower it`);
  return out;
}

type SweepStreams = { train: Int32Array; eval: Int32Array; bos: number };
const streamCache = new Map<string, Promise<SweepStreams>>();

/** Training and evaluation streams (evaluation: a tenth of streamTokens after the training part) and the BOS id; tokenized once per config. */
function sweepStreams(config: ExperimentConfig): Promise<SweepStreams> {
  const key = configHash(checkpointSaesInputs(config));
  let p = streamCache.get(key);
  if (!p) {
    streamCache.clear();
    p = tokenizeStreams(config);
    p.catch(() => streamCache.delete(key));
    streamCache.set(key, p);
  }
  return p;
}

async function tokenizeStreams(config: ExperimentConfig): Promise<SweepStreams> {
  const c = checkpointsConfig(config);
  const tok = await loadTokenizer(c.model);
  const evalTokens = Math.max(config.contextSize, Math.ceil(c.streamTokens / 10));
  const all = await datasetTokenStream(config, tok, c.streamTokens + evalTokens, config.seed * 1000 + 10);
  return { train: all.subarray(0, c.streamTokens), eval: all.subarray(c.streamTokens), bos: tok.bosTokenId! };
}

/**
 * Run (or reuse) the sweep jobs of checkpoints `indices` (default all). Jobs are independent: a SLURM
 * shard runs a subset, and a finished job is never recomputed (the data are not even loaded).
 */
export async function runCheckpointJobs(ctx: StageContext, indices?: number[]): Promise<SweepJobResult[]> {
  const { config, stageDir } = ctx;
  const c = checkpointsConfig(config);
  const spec = checkpointSweepSpec(config);
  const which = indices ?? c.checkpoints.map((_, i) => i);
  let streams: Promise<{ train: Int32Array; eval: Int32Array; bos: number }> | null = null;
  const provider = async (cp: SweepSpec['checkpoints'][number], s: SweepSpec) => {
    streams ??= sweepStreams(config);
    const st = await streams;
    return modelCheckpointProvider({
      model: c.model, trainTokens: st.train, evalTokens: st.eval, contextSize: config.contextSize, batchSize: c.batchSize, bosTokenId: st.bos,
      seed: config.seed, trainBatches: c.trainBatches, evalBatches: c.evalBatches, progress: true,
    })(cp, s);
  };
  const progress = new Progress('checkpoint SAEs', which.length);
  const out: SweepJobResult[] = [];
  const stopPoint = interruptible('checkpoint SAEs');
  for (const i of which) {
    await stopPoint(`before checkpoint job ${i}; finished jobs are kept and reused on rerun`);
    out.push(await runSweepJob(sweepDirOf(stageDir), spec, i, provider, { recomputeStale: true, progress: 'bar' }));
    progress.tick();
  }
  progress.done();
  return out;
}

/** The held-out windows [evalBatches * batchSize, contextSize] every checkpoint was evaluated on (the provider's seed + 1). */
async function writeEvalTokens(ctx: StageContext): Promise<void> {
  const { config } = ctx;
  const c = checkpointsConfig(config);
  const st = await sweepStreams(config);
  const w = sampleWindows(st.eval, config.contextSize, c.batchSize, st.bos, config.seed + 1, c.evalBatches);
  const all = new Int32Array(w.reduce((n, x) => n + x.length, 0));
  let o = 0;
  for (const x of w) {
    all.set(x, o);
    o += x.length;
  }
  saveTokens(path.join(ctx.stageDir, EVAL_TOKENS_FILE), all, config.contextSize);
}

/**
 * Stage 10 (see the module comment). Data-parallel over checkpoints: each shard runs the jobs of a
 * contiguous range of checkpoints into the shared sweep folder; the merge then finds every job finished
 * and writes the summary.
 */
export const checkpointSaesStage = defineStage<CheckpointSaesResult>({
  name: STAGE_CHECKPOINT_SAES,
  inputs: checkpointSaesInputs,
  run: checkpointSaesRun,
  shard: {
    totalBatches: (c) => checkpointsConfig(c).checkpoints.length,
    async run(ctx, { range }) {
      const jobs = await runCheckpointJobs(ctx, Array.from({ length: range.count }, (_, k) => range.first + k));
      return { files: [], state: { checkpoints: jobs.map((j) => j.label) } };
    },
  },
});

async function checkpointSaesRun(ctx: StageContext): Promise<StageOutput<CheckpointSaesResult>> {
  const { config, stageDir } = ctx;
  const c = checkpointsConfig(config);
  await runCheckpointJobs(ctx);
  await writeEvalTokens(ctx);
  const summaries = sweepSummaries(sweepDirOf(stageDir), checkpointSweepSpec(config));
  if (summaries.length !== c.checkpoints.length) throw new Error(`stage ${STAGE_CHECKPOINT_SAES}: ${summaries.length} of ${c.checkpoints.length} checkpoints finished`);
  const opts = { width: 360, height: 200 };
  const result = { hook: c.hook, model: c.model, summaries, table: sweepTable(summaries), plots: sweepSpecs(summaries, opts) };
  const artifacts = ['results.json', EVAL_TOKENS_FILE, ...c.checkpoints.flatMap((x) => [`${SWEEP_FOLDER}/${x.label}/summary.json`, `${SWEEP_FOLDER}/${x.label}/sae/cfg.json`])];
  return { result, artifacts, provenance: { revisions: Object.fromEntries(c.checkpoints.map((x) => [x.label, x.revision])) } };
}

/** Reusable stage 10 results, or an Error saying to run notebook 10 first. */
export function requireCheckpointSaes(ctx: StageContext): { dir: string; spec: SweepSpec; result: CheckpointSaesResult } {
  const dir = requireStage(ctx, checkpointSaesStage);
  return { dir, spec: checkpointSweepSpec(ctx.config), result: JSON.parse(fs.readFileSync(path.join(dir, 'results.json'), 'utf8')) };
}
