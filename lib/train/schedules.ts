import { TrainSAEConfig, totalSteps } from './config';

/**
 * Learning rate used at training step `step` (0-based), in closed form, matching SAELens's
 * get_lr_scheduler (torch SequentialLR of: LinearLR warm-up from lr/W to lr over W steps; the main
 * scheduler (constant, cosine annealing to lrEnd, or cosine with warm restarts); LinearLR decay from
 * lrEnd to 0 over lrDecaySteps; a constant main scheduler decays from lr instead of lrEnd).
 */
export function learningRateAt(c: Pick<TrainSAEConfig, 'lr' | 'lrScheduler' | 'lrWarmUpSteps' | 'lrDecaySteps' | 'lrEnd' | 'nRestartCycles' | 'trainingTokens' | 'trainBatchSizeTokens'>, step: number): number {
  const W = c.lrWarmUpSteps;
  const D = c.lrDecaySteps;
  const B = totalSteps(c) - W - D;
  if (step < W) {
    const start = 1 / W;
    const frac = W > 1 ? Math.min(step, W - 1) / (W - 1) : 1;
    return c.lr * (start + (1 - start) * frac);
  }
  const t = step - W;
  if (t < B || D === 0) {
    switch (c.lrScheduler) {
      case 'constant':
        return c.lr;
      case 'cosineannealing': {
        if (B <= 0) return c.lr;
        const tt = Math.min(t, B);
        return c.lrEnd + ((c.lr - c.lrEnd) * (1 + Math.cos((Math.PI * tt) / B))) / 2;
      }
      case 'cosineannealingwarmrestarts': {
        const T0 = Math.max(1, Math.floor(B / Math.max(1, c.nRestartCycles)));
        return c.lrEnd + ((c.lr - c.lrEnd) * (1 + Math.cos((Math.PI * (t % T0)) / T0))) / 2;
      }
    }
  }
  const td = Math.min(t - B, D);
  const from = c.lrScheduler === 'constant' ? c.lr : c.lrEnd;
  return from * (1 - td / D);
}

/**
 * Sparsity coefficient at training step `step` (SAELens L1Scheduler): linear warm-up from 0,
 * `final * min(1, step / warmUpSteps)`; the full value when there is no warm-up.
 */
export function sparsityCoefficientAt(final: number, warmUpSteps: number, step: number): number {
  if (warmUpSteps <= 0) return final;
  return final * Math.min(1, step / warmUpSteps);
}
