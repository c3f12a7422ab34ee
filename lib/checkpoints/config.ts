/**
 * The `checkpoints` section of the experiment config (configs/*.json): typed in lib/notebook/config.ts
 * (demo defaults), with a Pythia-70m-deduped preset (configs/pythia-70m-checkpoints.json) and the sweep
 * spec derived from it.
 */
import { CheckpointsConfig, DEFAULT_CHECKPOINTS_CONFIG, ExperimentConfig, checkCheckpointsConfig } from '../notebook/config';
import { mergeWithDefaults } from '../notebook/schema';
import { SweepSpec } from './sweep';

export { CheckpointsConfig, DEFAULT_CHECKPOINTS_CONFIG };

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
export function checkpointsConfig(cfg: { checkpoints?: unknown } | Pick<ExperimentConfig, 'checkpoints'>, where = 'config'): CheckpointsConfig {
  const c = mergeWithDefaults(DEFAULT_CHECKPOINTS_CONFIG, cfg.checkpoints ?? {}, `${where} (section checkpoints)`);
  return checkCheckpointsConfig(c, where);
}

/** The sweep spec of a checkpoints config (data description: model, dataset, context size, seeds). */
export function sweepSpecFromConfig(c: CheckpointsConfig, data: Record<string, unknown>): SweepSpec {
  return { hook: c.hook, checkpoints: c.checkpoints, training: { ...c.training }, data: { model: c.model, trainBatches: c.trainBatches, evalBatches: c.evalBatches, batchSize: c.batchSize, streamTokens: c.streamTokens, ...data } };
}
