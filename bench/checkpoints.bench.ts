import * as tf from '@tensorflow/tfjs';
import { maxSimilarityAssignment } from '../lib/checkpoints/assignment';
import { rowCosine } from '../lib/checkpoints/similarity';

/**
 * Feature matching cost: decoder cosine (tfjs matmul) and the optimal assignment (munkres) for two SAEs
 * whose decoders are a noisy permutation of each other (the realistic, easy case) and for unrelated
 * random decoders (hard case), at d_in 64.
 */
export async function run(): Promise<void> {
  const dIn = 64;
  for (const dSae of [512, 1024, 2048]) {
    const a = tf.randomNormal([dSae, dIn], 0, 1, 'float32', 1) as tf.Tensor2D;
    const perm = tf.tensor1d(Array.from({ length: dSae }, (_, i) => (i * 37) % dSae), 'int32');
    const b = tf.tidy(() => tf.add(tf.gather(a, perm), tf.randomNormal([dSae, dIn], 0, 0.3, 'float32', 2))) as tf.Tensor2D;
    const c = tf.randomNormal([dSae, dIn], 0, 1, 'float32', 3) as tf.Tensor2D;
    let t = Date.now();
    const s1 = rowCosine(a, b);
    const v1 = s1.dataSync() as Float32Array;
    const cosMs = Date.now() - t;
    t = Date.now();
    const m1 = maxSimilarityAssignment({ values: v1, rows: dSae, cols: dSae });
    const easyMs = Date.now() - t;
    const s2 = rowCosine(a, c);
    const v2 = s2.dataSync() as Float32Array;
    t = Date.now();
    maxSimilarityAssignment({ values: v2, rows: dSae, cols: dSae });
    const hardMs = Date.now() - t;
    // b[i] = a[37 i mod n], so A feature 37 i mod n should map to B feature i
    let correct = 0;
    for (let i = 0; i < dSae; i++) if (m1.rowToCol[(i * 37) % dSae] === i) correct++;
    console.log(`d_sae ${dSae}: decoder cosine ${cosMs} ms; assignment permuted+noise ${easyMs} ms (${correct}/${dSae} recovered), unrelated ${hardMs} ms`);
    tf.dispose([a, b, c, perm, s1, s2]);
  }
}
