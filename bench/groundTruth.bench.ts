import * as tf from '@tensorflow/tfjs';
import { SAETrainer } from '../lib/train/trainer';
import { TrainSAEConfigInput } from '../lib/train/config';
import { SyntheticSparseData, bestCosineRecovery } from '../lib/train/synthetic';

/**
 * Feature recovery on ground truth per architecture and training-defaults preset: activations are sparse
 * combinations of 192 known unit directions in 48 dims (each active with p = 2 / 192, coefficients
 * U(0.5, 1.5), noise 0.01); an SAE with 384 latents trains on them and the bench prints the mean over true
 * directions of the best cosine with any decoder row (and held-out explained variance, L0, seconds).
 * SAELAB_BENCH_GT_STEPS (default 4000) sets the steps at lr 3e-3, SAELAB_BENCH_GT_SLOW_STEPS (default
 * 10000) those at lr 3e-4; SAELAB_BENCH_GT_CASES a comma list of case names to run.
 */
const D_IN = 48;
const N_FEATURES = 192;

interface Case {
  name: string;
  lr: number;
  slow: boolean;
  cfg: Partial<TrainSAEConfigInput>;
}

const CASES: Case[] = [
  { name: 'topk-saelens5-lr3e-4', lr: 3e-4, slow: true, cfg: { architecture: 'topk', k: 3, defaults: 'saelens5' } },
  { name: 'topk-saelens6-lr3e-4', lr: 3e-4, slow: true, cfg: { architecture: 'topk', k: 3 } },
  { name: 'topk-saelens5-lr3e-3', lr: 3e-3, slow: false, cfg: { architecture: 'topk', k: 3, defaults: 'saelens5' } },
  { name: 'topk-saelens6-lr3e-3', lr: 3e-3, slow: false, cfg: { architecture: 'topk', k: 3 } },
  { name: 'batchtopk-lr3e-3', lr: 3e-3, slow: false, cfg: { architecture: 'batchtopk', k: 3 } },
  // inner levels narrower than the 192 true features must hold mixtures of them (the nested losses' point)
  { name: 'matryoshka-lr3e-3', lr: 3e-3, slow: false, cfg: { architecture: 'matryoshka_batchtopk', k: 3, matryoshkaWidths: [48, 192] } },
  // a first level as wide as the ground truth
  { name: 'matryoshka-w192-lr3e-3', lr: 3e-3, slow: false, cfg: { architecture: 'matryoshka_batchtopk', k: 3, matryoshkaWidths: [192] } },
];

export async function run(): Promise<void> {
  const data = new SyntheticSparseData({ dIn: D_IN, nFeatures: N_FEATURES, activePerSample: 2, noiseStd: 0.01, chunkTokens: 4096, seed: 1 });
  const steps = Number(process.env.SAELAB_BENCH_GT_STEPS ?? 4000);
  const slowSteps = Number(process.env.SAELAB_BENCH_GT_SLOW_STEPS ?? 10000);
  const only = process.env.SAELAB_BENCH_GT_CASES?.split(',');
  const batch = 256;
  const truth = tf.tensor2d(data.directions, [N_FEATURES, D_IN]);
  for (const c of CASES) {
    if (only && !only.includes(c.name)) continue;
    const n = c.slow ? slowSteps : steps;
    const t0 = performance.now();
    const trainer = await SAETrainer.create({ dIn: D_IN, dSae: 2 * N_FEATURES, trainingTokens: n * batch, trainBatchSizeTokens: batch, lr: c.lr, seed: 0, logEvery: 1_000_000, ...c.cfg }, data.source(), { progress: 'none' });
    await trainer.fit();
    const s = (performance.now() - t0) / 1000;
    const sae = trainer.toSAE();
    trainer.dispose();
    const held = data.chunk(1_000_000);
    const { featureActs, saeOut } = sae.run(held);
    const [ev, l0] = tf.tidy(() => {
      const resid = tf.mean(tf.sum(tf.square(tf.sub(held, saeOut)), 1));
      const total = tf.mean(tf.sum(tf.square(tf.sub(held, tf.mean(held, 0, true))), 1));
      return [tf.sub(1, tf.div(resid, total)).dataSync()[0], tf.mean(tf.sum(tf.cast(tf.greater(featureActs, 0), 'float32'), 1)).dataSync()[0]];
    });
    const rec = bestCosineRecovery(truth, sae.weights.W_dec as tf.Tensor2D);
    console.log(`ground truth ${c.name} (${sae.cfg.architecture} saved, ${n} steps x ${batch}): mean max cosine ${rec.mean.toFixed(4)}, explained variance ${ev.toFixed(4)}, L0 ${l0.toFixed(2)}, ${s.toFixed(1)} s`);
    tf.dispose([held, featureActs, saeOut]);
    sae.dispose();
  }
  truth.dispose();
}
