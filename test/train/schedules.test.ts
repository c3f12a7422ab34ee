import { test } from 'node:test';
import * as assert from 'assert';
import { learningRateAt, sparsityCoefficientAt } from '../../lib/train/schedules';
import { checkpointThresholds, resolveTrainConfig, totalSteps } from '../../lib/train/config';

const close = (a: number, b: number, tol = 1e-12) => assert.ok(Math.abs(a - b) <= tol * Math.max(1, Math.abs(b)), `${a} vs ${b}`);

test('constant lr with warm-up and linear decay (torch LinearLR pieces)', () => {
  // 100 steps: warm-up 4 (factor 1/4 -> 1 over steps 0..3), constant until step 80, decay from lr to 0 over 20 steps
  const c = resolveTrainConfig({ dIn: 4, trainingTokens: 1000, trainBatchSizeTokens: 10, lr: 1e-3, lrWarmUpSteps: 4, lrDecaySteps: 20 });
  assert.strictEqual(totalSteps(c), 100);
  close(learningRateAt(c, 0), 1e-3 * 0.25);
  close(learningRateAt(c, 1), 1e-3 * (0.25 + 0.75 / 3));
  close(learningRateAt(c, 3), 1e-3);
  close(learningRateAt(c, 50), 1e-3);
  close(learningRateAt(c, 80), 1e-3);
  close(learningRateAt(c, 85), 1e-3 * (1 - 5 / 20));
  close(learningRateAt(c, 99), 1e-3 * (1 - 19 / 20));
});

test('cosine annealing goes from lr to lrEnd (default lr / 10) over the main phase', () => {
  const c = resolveTrainConfig({ dIn: 4, trainingTokens: 1000, trainBatchSizeTokens: 10, lr: 2e-3, lrScheduler: 'cosineannealing' });
  close(learningRateAt(c, 0), 2e-3);
  close(learningRateAt(c, 50), 2e-4 + (2e-3 - 2e-4) * 0.5);
  close(learningRateAt(c, 25), 2e-4 + ((2e-3 - 2e-4) * (1 + Math.cos(Math.PI / 4))) / 2);
});

test('sparsity coefficient warms up linearly from 0', () => {
  assert.strictEqual(sparsityCoefficientAt(5, 0, 0), 5);
  assert.strictEqual(sparsityCoefficientAt(5, 10, 0), 0);
  close(sparsityCoefficientAt(5, 10, 3), 1.5);
  assert.strictEqual(sparsityCoefficientAt(5, 10, 10), 5);
  assert.strictEqual(sparsityCoefficientAt(5, 10, 1000), 5);
});

test('checkpoint thresholds as SAELens: range(0, total, total // n)[1:]', () => {
  assert.deepStrictEqual(checkpointThresholds({ trainingTokens: 1_500_000, nCheckpoints: 5 }), [300000, 600000, 900000, 1200000]);
  assert.deepStrictEqual(checkpointThresholds({ trainingTokens: 1000, nCheckpoints: 0 }), []);
});

test('config validation names the bad field', () => {
  // SAELens 6 defaults k to 100 (more than these 16 features); SAELens 5 had no default
  assert.throws(() => resolveTrainConfig({ dIn: 4, trainingTokens: 100, trainBatchSizeTokens: 10, architecture: 'topk' }), /k \(100\) must not exceed dSae \(16\)/);
  assert.throws(() => resolveTrainConfig({ dIn: 4, trainingTokens: 100, trainBatchSizeTokens: 10, architecture: 'topk', defaults: 'saelens5' }), /needs k/);
  assert.throws(() => resolveTrainConfig({ dIn: 4, trainingTokens: 1, trainBatchSizeTokens: 8 }), /trainingTokens/);
  assert.throws(() => resolveTrainConfig({ dIn: 4, trainingTokens: 100, trainBatchSizeTokens: 10, lrScheduler: 'linear' as any }), /lrScheduler 'linear'/);
  assert.strictEqual(resolveTrainConfig({ dIn: 12, trainingTokens: 100, trainBatchSizeTokens: 10, expansionFactor: 4 }).dSae, 48);
});
