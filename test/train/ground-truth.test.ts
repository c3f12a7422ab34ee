import { before, test } from 'node:test';
import * as assert from 'assert';
import * as tf from '@tensorflow/tfjs';
import { setupBackend } from '../helpers';
import { SAETrainer } from '../../lib/train/trainer';
import { SyntheticSparseData, bestCosineRecovery } from '../../lib/train/synthetic';
import { TrainSAEConfigInput } from '../../lib/train/config';

before(setupBackend);

/**
 * Ground truth (d_in 128): activations are sparse non-negative combinations of 256 known unit directions
 * (coefficients U(0.5, 1.5), each feature active with p = ACTIVE / 256) plus gaussian noise (std 0.01).
 * The trained SAE must recover the directions (mean over true features of the best cosine with any
 * decoder row >= 0.9) and reconstruct held-out data (explained variance >= 0.9), measured through
 * the exported lib/sae SAE, not the trainer's own forward pass.
 */
const D_IN = 128;
const ACTIVE = 5;
const data = new SyntheticSparseData({ dIn: D_IN, nFeatures: 256, activePerSample: ACTIVE, noiseStd: 0.01, chunkTokens: 2048, seed: 1 });

async function trainAndScore(cfg: Partial<TrainSAEConfigInput>): Promise<{ cos: number; ev: number; l0: number }> {
  const steps = 1000;
  const batch = 128;
  const trainer = await SAETrainer.create({ dIn: D_IN, dSae: 512, trainingTokens: steps * batch, trainBatchSizeTokens: batch, nBatchesInBuffer: 8, lr: 5e-3, lrDecaySteps: 200, seed: 0, initEncoderAsDecoderTranspose: true, logEvery: 250, ...cfg }, data.source(), { progress: 'none' });
  await trainer.fit();
  const sae = trainer.toSAE();
  trainer.dispose();
  try {
    const held = data.chunk(1_000_000); // never served in training
    const { featureActs, saeOut } = sae.run(held);
    const [ev, l0] = tf.tidy(() => {
      const resid = tf.mean(tf.sum(tf.square(tf.sub(held, saeOut)), 1));
      const total = tf.mean(tf.sum(tf.square(tf.sub(held, tf.mean(held, 0, true))), 1));
      return [tf.sub(1, tf.div(resid, total)).dataSync()[0], tf.mean(tf.sum(tf.cast(tf.greater(featureActs, 0), 'float32'), 1)).dataSync()[0]];
    });
    const rec = bestCosineRecovery(tf.tensor2d(data.directions, [256, D_IN]), sae.weights.W_dec as tf.Tensor2D);
    tf.dispose([held, featureActs, saeOut]);
    return { cos: rec.mean, ev, l0 };
  } finally {
    sae.dispose();
  }
}

test('standard SAE (L1) recovers the true features', async () => {
  const r = await trainAndScore({ architecture: 'standard', l1Coefficient: 0.15 });
  console.log(`standard: mean best cosine ${r.cos.toFixed(3)}, explained variance ${r.ev.toFixed(3)}, L0 ${r.l0.toFixed(2)}`);
  assert.ok(r.cos >= 0.9, `mean best cosine ${r.cos}`);
  assert.ok(r.ev >= 0.9, `explained variance ${r.ev}`);
});

test('topk SAE recovers the true features', async () => {
  const r = await trainAndScore({ architecture: 'topk', k: 6 });
  console.log(`topk: mean best cosine ${r.cos.toFixed(3)}, explained variance ${r.ev.toFixed(3)}, L0 ${r.l0.toFixed(2)}`);
  assert.ok(r.cos >= 0.9, `mean best cosine ${r.cos}`);
  assert.ok(r.ev >= 0.9, `explained variance ${r.ev}`);
});

/**
 * BatchTopK and Matryoshka BatchTopK (SAELens 6.18 defaults; saved as jumprelu SAEs) on a small ground truth
 * (32 directions in 32 dims, ~2 active): BatchTopK recovers the directions; Matryoshka's first level of 16
 * features alone reconstructs far more than the first 16 features of the BatchTopK SAE (the nested losses).
 */
const small = new SyntheticSparseData({ dIn: 32, nFeatures: 32, activePerSample: 2, noiseStd: 0.01, chunkTokens: 2048, seed: 2 });

async function trainSmall(cfg: Partial<TrainSAEConfigInput>): Promise<{ cos: number; ev: number; prefixEv: number }> {
  const trainer = await SAETrainer.create({ dIn: 32, dSae: 64, trainingTokens: 600 * 128, trainBatchSizeTokens: 128, nBatchesInBuffer: 8, lr: 5e-3, seed: 0, logEvery: 600, k: 3, ...cfg }, small.source(), { progress: 'none' });
  await trainer.fit();
  const sae = trainer.toSAE();
  trainer.dispose();
  const held = small.chunk(1_000_000);
  const ev = (f?: (a: tf.Tensor2D) => tf.Tensor2D) => {
    const r = sae.run(held, { editFeatures: f });
    const v = tf.tidy(() => tf.sub(1, tf.div(tf.mean(tf.sum(tf.square(tf.sub(held, r.saeOut)), 1)), tf.mean(tf.sum(tf.square(tf.sub(held, tf.mean(held, 0, true))), 1)))).dataSync()[0]);
    tf.dispose([r.featureActs, r.saeOut]);
    return v;
  };
  const prefix = tf.tensor1d(Array.from({ length: 64 }, (_, i) => (i < 16 ? 1 : 0)));
  const out = { cos: bestCosineRecovery(tf.tensor2d(small.directions, [32, 32]), sae.weights.W_dec as tf.Tensor2D).mean, ev: ev(), prefixEv: ev((a) => tf.mul(a, prefix)) };
  assert.strictEqual(sae.cfg.architecture, 'jumprelu');
  tf.dispose([held, prefix]);
  sae.dispose();
  return out;
}

test('batchtopk recovers the true features; matryoshka_batchtopk packs the most into its first level', async () => {
  const b = await trainSmall({ architecture: 'batchtopk' });
  const m = await trainSmall({ architecture: 'matryoshka_batchtopk', matryoshkaWidths: [16, 32] });
  console.log(`batchtopk: mean best cosine ${b.cos.toFixed(3)}, explained variance ${b.ev.toFixed(3)}, first 16 features ${b.prefixEv.toFixed(3)}`);
  console.log(`matryoshka_batchtopk: mean best cosine ${m.cos.toFixed(3)}, explained variance ${m.ev.toFixed(3)}, first 16 features ${m.prefixEv.toFixed(3)}`);
  assert.ok(b.cos >= 0.95, `batchtopk mean best cosine ${b.cos}`);
  assert.ok(b.ev >= 0.95, `batchtopk explained variance ${b.ev}`);
  assert.ok(m.ev >= 0.9, `matryoshka explained variance ${m.ev}`);
  assert.ok(m.prefixEv >= b.prefixEv + 0.2, `matryoshka's first 16 features explain ${m.prefixEv}, batchtopk's ${b.prefixEv}`);
});
