/**
 * The `checkpoints` section of the experiment config (configs/*.json): its type and demo defaults, a
 * Pythia-70m-deduped preset (configs/pythia-70m-checkpoints.json) and the sweep spec derived from it.
 */
import { mergeWithDefaults } from '../config/schema';
import { ConfigError, describeValue } from '../io/errors';
import { validatePathName } from '../io/folders';
import { SweepSpec } from './sweep';

/** Notebooks 10-12 (seed 004): one SAE per model training checkpoint, feature matching, circuits over training. */
export interface CheckpointsConfig {
  /** model whose training checkpoints are hub revisions (Pythia: step{N}) */
  model: string;
  /** checkpoints in training order: label (folder name), training step, hub revision */
  checkpoints: Array<{ label: string; step: number; revision: string }>;
  /** the hook every checkpoint's SAE reads */
  hook: string;
  /** SAE trainer fields (SAELens runner names in camelCase) shared by every checkpoint */
  training: { expansionFactor: number; l1Coefficient: number; lr: number; trainingTokens: number; trainBatchSizeTokens: number; seed: number; nCheckpoints: number };
  /** windows of contextSize tokens drawn from the dataset: batches of batchSize for training activations and for evaluation */
  trainBatches: number;
  evalBatches: number;
  batchSize: number;
  /** tokens of the dataset stream the windows are drawn from (training part; evaluation gets a tenth more) */
  streamTokens: number;
  /** feature matching: 'decoder' or 'activation' cosine; chain thresholds; rows of the feature tables */
  matchMethod: 'decoder' | 'activation';
  matchThreshold: number;
  strongThreshold: number;
  topFeatures: number;
  /** the circuit (prompt pairs in the agreement-data layout; demo: next-token contrast pairs, as the demo model never learns agreement) at every checkpoint over the sweep hook (features + error node); appears when faithfulness > appearThreshold */
  circuit: { dataset: string; nExamples: number; method: 'atp' | 'ig'; igSteps: number; nodeThreshold: number; edgeThreshold: number; thresholds: number[]; appearThreshold: number; minModelEffect: number };
}

export const DEFAULT_CHECKPOINTS_CONFIG: CheckpointsConfig = {
  model: 'saelab/demo-base',
  checkpoints: [0, 40, 80, 150, 300].map((s) => ({ label: `step${s}`, step: s, revision: `step${s}` })),
  hook: 'blocks.1.hook_resid_pre',
  training: { expansionFactor: 4, l1Coefficient: 3, lr: 3e-3, trainingTokens: 32_768, trainBatchSizeTokens: 512, seed: 0, nCheckpoints: 2 },
  trainBatches: 16,
  evalBatches: 2,
  batchSize: 16,
  streamTokens: 100_000,
  matchMethod: 'activation',
  matchThreshold: 0.7,
  strongThreshold: 0.5,
  topFeatures: 10,
  circuit: { dataset: 'data/circuits/bigram_demo.jsonl', nExamples: 32, method: 'atp', igSteps: 10, nodeThreshold: 0.01, edgeThreshold: 0.01, thresholds: [0.003, 0.01, 0.03, 0.1, 0.3], appearThreshold: 0.5, minModelEffect: 0.5 },
};

/** Semantic checks of a merged checkpoints section (types are checked by the merge). */
export function checkCheckpointsConfig(c: CheckpointsConfig, where: string): CheckpointsConfig {
  if (c.matchMethod !== 'decoder' && c.matchMethod !== 'activation') throw new ConfigError(`${where}: checkpoints.matchMethod must be "decoder" or "activation", got '${c.matchMethod}'`);
  if (c.circuit.method !== 'atp' && c.circuit.method !== 'ig') throw new ConfigError(`${where}: checkpoints.circuit.method must be "atp" or "ig" (edges need gradients), got '${c.circuit.method}'`);
  if (c.checkpoints.length < 1) throw new ConfigError(`${where}: checkpoints.checkpoints is empty; list {label, step, revision} in training order`);
  c.checkpoints.forEach((x, i) => {
    if (typeof x.label !== 'string' || typeof x.step !== 'number') throw new ConfigError(`${where}: checkpoints.checkpoints[${i}] needs a string label and a numeric step, got ${describeValue(x)}`);
    try {
      validatePathName(x.label, `checkpoints.checkpoints[${i}].label`);
    } catch (e) {
      throw new ConfigError(`${where}: ${(e as Error).message}`);
    }
    if (i > 0 && x.step <= c.checkpoints[i - 1].step) throw new ConfigError(`${where}: checkpoints.checkpoints must be in increasing step order (${c.checkpoints[i - 1].step} then ${x.step})`);
  });
  return c;
}

const stepCheckpoints = (steps: number[]) => steps.map((s) => ({ label: `step${s}`, step: s, revision: `step${s}` }));

/**
 * Pythia-70m-deduped (EleutherAI; checkpoints are hub revisions step{N}, 143000 = final), residual stream
 * after layer 3 (d_model 512; the hook of the published pythia-70m-deduped-res-sm SAE). Sizes are a starting
 * point for a GPU machine, not the demo's CPU budget. configs/pythia-70m-checkpoints.json holds the same.
 */
export const PYTHIA_70M_DEDUPED_CHECKPOINTS: CheckpointsConfig = {
  ...DEFAULT_CHECKPOINTS_CONFIG,
  model: 'EleutherAI/pythia-70m-deduped',
  checkpoints: stepCheckpoints([0, 1000, 5000, 10000, 33000, 66000, 143000]),
  hook: 'blocks.3.hook_resid_post',
  training: { expansionFactor: 16, l1Coefficient: 5, lr: 3e-4, trainingTokens: 50_000_000, trainBatchSizeTokens: 4096, seed: 0, nCheckpoints: 10 },
  trainBatches: 2048,
  evalBatches: 64,
  batchSize: 32,
  streamTokens: 10_000_000,
  topFeatures: 20,
  circuit: { ...DEFAULT_CHECKPOINTS_CONFIG.circuit, dataset: '', nExamples: 64, nodeThreshold: 0.1 },
};

/** The config's `checkpoints` section merged over the defaults (unknown keys are errors) and checked. */
export function checkpointsConfig(cfg: { checkpoints?: unknown }, where = 'config'): CheckpointsConfig {
  const c = mergeWithDefaults(DEFAULT_CHECKPOINTS_CONFIG, cfg.checkpoints ?? {}, `${where} (section checkpoints)`);
  return checkCheckpointsConfig(c, where);
}

/** The sweep spec of a checkpoints config (data description: model, dataset, context size, seeds). */
export function sweepSpecFromConfig(c: CheckpointsConfig, data: Record<string, unknown>): SweepSpec {
  return { hook: c.hook, checkpoints: c.checkpoints, training: { ...c.training }, data: { model: c.model, trainBatches: c.trainBatches, evalBatches: c.evalBatches, batchSize: c.batchSize, streamTokens: c.streamTokens, ...data } };
}
