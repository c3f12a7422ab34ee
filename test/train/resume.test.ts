import { before, test } from 'node:test';
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { setupBackend, tmpDir } from '../helpers';
import { SAETrainer } from '../../lib/train/trainer';
import { SyntheticSparseData } from '../../lib/train/synthetic';
import { TrainSAEConfigInput } from '../../lib/train/config';
import { readTrainMetrics } from '../../lib/train/plots';

before(setupBackend);

const data = new SyntheticSparseData({ dIn: 8, nFeatures: 12, activePerSample: 2, chunkTokens: 50, seed: 5 });

async function interruptedEqualsUninterrupted(extra: Partial<TrainSAEConfigInput>): Promise<void> {
  const cfg: TrainSAEConfigInput = { dIn: 8, dSae: 16, trainingTokens: 40 * 32, trainBatchSizeTokens: 32, nBatchesInBuffer: 4, nCheckpoints: 2, logEvery: 5, lr: 1e-2, seed: 9, ...extra };
  const root = tmpDir();
  const full = path.join(root, 'full');
  const a = await SAETrainer.create(cfg, data.source(), { outDir: full, progress: 'none' });
  const ra = await a.fit();
  assert.ok(ra.completed);
  a.dispose();
  // checkpoint after the first step whose token count exceeds 640: step 21 -> 672 tokens
  const ckpt = path.join(full, 'checkpoints', '672');
  for (const f of ['cfg.json', 'sae_weights.safetensors', 'sparsity.safetensors', 'trainer_state.json', 'trainer_state.safetensors']) {
    assert.ok(fs.existsSync(path.join(ckpt, f)), `checkpoint has ${f}`);
  }
  // an interrupted run: stops at step 25 (after the checkpoint), then resumes from it in a new trainer
  const part = path.join(root, 'part');
  const b = await SAETrainer.create(cfg, data.source(), { outDir: part, progress: 'none', stopAfterSteps: 25 });
  assert.strictEqual((await b.fit()).completed, false);
  b.dispose();
  assert.ok(!fs.existsSync(path.join(part, 'sae_weights.safetensors')), 'no final SAE after an interruption');
  const c = await SAETrainer.resume(path.join(part, 'checkpoints', '672'), data.source(), { outDir: part, progress: 'none' });
  assert.strictEqual(c.step, 21);
  const rc = await c.fit();
  assert.ok(rc.completed);
  c.dispose();
  const wa = fs.readFileSync(path.join(full, 'sae_weights.safetensors'));
  const wc = fs.readFileSync(path.join(part, 'sae_weights.safetensors'));
  assert.ok(wa.equals(wc), 'resumed final weights are bit-identical to the uninterrupted run');
  assert.ok(fs.readFileSync(path.join(full, 'sparsity.safetensors')).equals(fs.readFileSync(path.join(part, 'sparsity.safetensors'))));
  const strip = (f: string) => readTrainMetrics(f).map(({ elapsed_s, ...m }) => m);
  assert.deepStrictEqual(strip(path.join(part, 'metrics.jsonl')), strip(path.join(full, 'metrics.jsonl')), 'metrics.jsonl has each step once, with the same values');
}

test('resume from a checkpoint gives the same final weights: standard, ghost grads, noise, normalization', async () => {
  await interruptedEqualsUninterrupted({ useGhostGrads: true, deadFeatureWindow: 3, featureSamplingWindow: 10, noiseScale: 0.01, normalizeActivations: 'expected_average_only_in', l1Coefficient: 0.05, l1WarmUpSteps: 10, lrScheduler: 'cosineannealing', lrWarmUpSteps: 5 });
});

test('resume from a checkpoint gives the same final weights: topk with aux loss, and jumprelu', async () => {
  await interruptedEqualsUninterrupted({ architecture: 'topk', k: 3, deadFeatureWindow: 3 });
  await interruptedEqualsUninterrupted({ architecture: 'jumprelu', l0Coefficient: 0.01, jumpreluInitThreshold: 0.01, bDecInitMethod: 'mean' });
});
