/**
 * The `checkpoints` section of the experiment config (configs/*.json), typed, with the demo checkpoints
 * as defaults and a Pythia-70m-deduped preset. Validated with the notebook config's merge rules.
 */
import { ExperimentConfig } from '../notebook/config';
import { mergeWithDefaults } from '../notebook/schema';
import { SweepCheckpoint, SweepSpec } from './sweep';

export interface CheckpointsConfig {
  /** model whose training checkpoints are hub revisions */
  model: string;
  /** checkpoints in training order: label (folder), step, revision */
  checkpoints: SweepCheckpoint[];
  hook: string;
  /** SAE trainer fields (SAELens runner names in camelCase) shared by every checkpoint */
  training: { expansionFactor: number; l1Coefficient: number; lr: number; trainingTokens: number; trainBatchSizeTokens: number; seed: number; nCheckpoints: number };
  /** windows of contextSize tokens: batches of batchSize sequences for training activations and for evaluation */
  trainBatches: number;
  evalBatches: number;
  batchSize: number;
  /** feature matching: 'decoder' or 'activation' cosine, and chain thresholds */
  matchMethod: 'decoder' | 'activation';
  matchThreshold: number;
  strongThreshold: number;
}

const stepCheckpoints = (steps: number[]): SweepCheckpoint[] => steps.map((s) => ({ label: `step${s}`, step: s, revision: `step${s}` }));

/** Demo checkpoints of saelab/demo-base (hub revisions step0 .. step300, as shipped in data/hub). */
export const DEFAULT_CHECKPOINTS_CONFIG: CheckpointsConfig = {
  model: 'saelab/demo-base',
  checkpoints: stepCheckpoints([0, 40, 80, 150, 300]),
  hook: 'blocks.1.hook_resid_pre',
  training: { expansionFactor: 8, l1Coefficient: 1.25, lr: 1e-3, trainingTokens: 262_144, trainBatchSizeTokens: 2048, seed: 0, nCheckpoints: 4 },
  trainBatches: 64,
  evalBatches: 8,
  batchSize: 16,
  matchMethod: 'activation',
  matchThreshold: 0.7,
  strongThreshold: 0.5,
};

/**
 * Pythia-70m-deduped (EleutherAI; checkpoints are hub revisions step{N}, 143000 = final), residual stream
 * before layer 3, d_model 512. The sizes are a starting point for a GPU machine, not the demo's CPU budget.
 */
export const PYTHIA_70M_DEDUPED_CHECKPOINTS: CheckpointsConfig = {
  model: 'EleutherAI/pythia-70m-deduped',
  checkpoints: stepCheckpoints([0, 1000, 5000, 10000, 20000, 40000, 80000, 143000]),
  hook: 'blocks.3.hook_resid_pre',
  training: { expansionFactor: 16, l1Coefficient: 5, lr: 3e-4, trainingTokens: 50_000_000, trainBatchSizeTokens: 4096, seed: 0, nCheckpoints: 10 },
  trainBatches: 2048,
  evalBatches: 64,
  batchSize: 32,
  matchMethod: 'activation',
  matchThreshold: 0.7,
  strongThreshold: 0.5,
};

/** The config's `checkpoints` section merged over the defaults (unknown keys are errors). */
export function checkpointsConfig(cfg: Pick<ExperimentConfig, 'checkpoints'>, where = 'config'): CheckpointsConfig {
  const c = mergeWithDefaults(DEFAULT_CHECKPOINTS_CONFIG, cfg.checkpoints ?? {}, `${where} (section checkpoints)`);
  if (c.matchMethod !== 'decoder' && c.matchMethod !== 'activation') throw new Error(`${where}: checkpoints.matchMethod must be "decoder" or "activation", got '${c.matchMethod}'`);
  if (c.checkpoints.length < 1) throw new Error(`${where}: checkpoints.checkpoints is empty; list {label, step, revision} in training order`);
  c.checkpoints.forEach((x, i) => {
    if (typeof x.label !== 'string' || typeof x.step !== 'number') throw new Error(`${where}: checkpoints.checkpoints[${i}] needs a string label and a numeric step, got ${JSON.stringify(x)}`);
    if (i > 0 && x.step <= c.checkpoints[i - 1].step) throw new Error(`${where}: checkpoints.checkpoints must be in increasing step order (${c.checkpoints[i - 1].step} then ${x.step})`);
  });
  return c;
}

/** The sweep spec of a checkpoints config (data description: model, dataset, context size, seeds). */
export function sweepSpecFromConfig(c: CheckpointsConfig, data: Record<string, unknown>): SweepSpec {
  return { hook: c.hook, checkpoints: c.checkpoints, training: { ...c.training }, data: { model: c.model, trainBatches: c.trainBatches, evalBatches: c.evalBatches, batchSize: c.batchSize, ...data } };
}
