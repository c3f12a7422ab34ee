import * as tf from '@tensorflow/tfjs';
import { SAETrainer } from '../lib/train/trainer';
import { GeneratorSource } from '../lib/train/sources';
import { TrainSAEConfigInput } from '../lib/train/config';
import { SyntheticSparseData } from '../lib/train/synthetic';

/** Time `steps` training steps after one warm-up step; prints steps/s and tokens/s. */
async function timeTraining(label: string, cfg: Omit<TrainSAEConfigInput, 'trainingTokens'>, source: GeneratorSource, steps: number): Promise<void> {
  const trainer = await SAETrainer.create({ ...cfg, trainingTokens: (steps + 1) * cfg.trainBatchSizeTokens!, logEvery: 1_000_000 }, source, { progress: 'none' });
  try {
    await trainer.trainStep(); // warm-up (kernel setup, allocation)
    const t0 = performance.now();
    for (let i = 0; i < steps; i++) await trainer.trainStep();
    // force completion of queued work before stopping the clock
    trainer.params.W_dec.dataSync();
    const s = (performance.now() - t0) / 1000;
    console.log(`${label}: ${steps} steps in ${s.toFixed(2)} s -> ${(steps / s).toFixed(3)} steps/s, ${Math.round((steps * cfg.trainBatchSizeTokens!) / s)} tokens/s`);
  } finally {
    trainer.dispose();
  }
}

/** Gaussian activations [rows, d] per chunk, seeded by chunk index. */
function gaussianSource(d: number, rows: number): GeneratorSource {
  return new GeneratorSource(d, (i) => tf.randomNormal([rows, d], 0, 1, 'float32', 1000 + i) as tf.Tensor2D, `gaussian d=${d}`);
}

export async function run(): Promise<void> {
  const small = new SyntheticSparseData({ dIn: 64, nFeatures: 256, activePerSample: 5, chunkTokens: 4096, seed: 1 });
  const smallSteps = Number(process.env.SAELAB_BENCH_TRAIN_SMALL_STEPS ?? 50);
  for (const arch of ['standard', 'topk', 'jumprelu'] as const) {
    await timeTraining(`small ${arch} d_in 64 x d_sae 512, batch 1024`, { architecture: arch, k: 8, dIn: 64, dSae: 512, trainBatchSizeTokens: 1024, nBatchesInBuffer: 4, useGhostGrads: arch === 'standard' }, small.source(), smallSteps);
  }
  const bigSteps = Number(process.env.SAELAB_BENCH_TRAIN_BIG_STEPS ?? 3);
  if (bigSteps > 0) {
    try {
      await timeTraining('large standard d_in 768 x d_sae 24576, batch 4096', { dIn: 768, dSae: 24576, trainBatchSizeTokens: 4096, nBatchesInBuffer: 2, bDecInitMethod: 'zeros' }, gaussianSource(768, 4096), bigSteps);
    } catch (e) {
      console.log(`large standard d_in 768 x d_sae 24576, batch 4096: failed on this backend (${(e as Error).message.split('\n')[0]})`);
    }
  }
}
