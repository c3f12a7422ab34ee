import * as tf from '@tensorflow/tfjs';
import { SAE, SAEArchitecture } from '../lib/sae';

/**
 * SAE encode+decode throughput at GPT-2-small scale: d_in 768, d_sae 24576, batch 4096 tokens.
 * SAELAB_BENCH_SAE_ITERS sets the timed iterations (default 3) and SAELAB_BENCH_SAE_ARCH a
 * comma list of architectures (default standard,topk).
 */
export async function run(): Promise<void> {
  const dIn = 768;
  const dSae = 24576;
  const batch = 4096;
  const iters = Number(process.env.SAELAB_BENCH_SAE_ITERS ?? 3);
  const archs = (process.env.SAELAB_BENCH_SAE_ARCH ?? 'standard,topk').split(',') as SAEArchitecture[];
  for (const arch of archs) {
    const w: Record<string, tf.Tensor> = {
      W_enc: tf.randomNormal([dIn, dSae], 0, 0.02, 'float32', 1),
      W_dec: tf.randomNormal([dSae, dIn], 0, 0.02, 'float32', 2),
      b_enc: tf.randomNormal([dSae], 0, 0.01, 'float32', 3),
      b_dec: tf.zeros([dIn]),
    };
    const sae = SAE.create({ d_in: dIn, d_sae: dSae, architecture: arch, k: arch === 'topk' ? 64 : undefined, metadata: { hook_name: 'blocks.6.hook_resid_pre' } }, w);
    tf.dispose(Object.values(w));
    const x = tf.randomNormal([batch, dIn], 0, 1, 'float32', 4);
    const step = async () => {
      const r = sae.run(x);
      await r.saeOut.data();
      tf.dispose([r.featureActs, r.saeOut]);
    };
    await step(); // warm-up
    const t0 = performance.now();
    for (let i = 0; i < iters; i++) await step();
    const s = (performance.now() - t0) / 1000 / iters;
    const gflop = (2 * 2 * batch * dIn * dSae) / 1e9;
    console.log(`sae ${arch} encode+decode d_in ${dIn} d_sae ${dSae} batch ${batch}: ${(batch / s).toFixed(0)} tokens/s (${(s * 1000).toFixed(0)} ms/batch, ${(gflop / s).toFixed(1)} GFLOP/s, backend ${tf.getBackend()})`);
    x.dispose();
    sae.dispose();
  }
}
