import * as tf from '@tensorflow/tfjs';
import {
  ColumnPearsonAccumulator, FeatureDensityAccumulator, L0Accumulator, ReconstructionAccumulator, SimilarityAccumulator,
  logitSimilarity, relativeOutlierRule, OutlierCounter,
} from '../lib/analysis';

function time(label: string, units: number, unitName: string, fn: () => void, reps = 3): void {
  fn(); // warm-up
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < reps; i++) fn();
  const ms = Number(process.hrtime.bigint() - t0) / 1e6 / reps;
  console.log(`${label}: ${ms.toFixed(1)} ms/batch, ${((units / ms) * 1000).toExponential(2)} ${unitName}/s`);
}

/** Per-batch cost of the stage accumulators at GPT-2-small sizes (batch 4 x ctx 128, d_model 768, d_sae 24576). */
export async function run(): Promise<void> {
  const [b, ctx, d, dSae] = [4, 128, 768, 24576];
  const tokens = b * ctx;
  const a = tf.randomNormal([b, ctx, d]) as tf.Tensor3D;
  const a2 = tf.randomNormal([b, ctx, d]) as tf.Tensor3D;
  const f = tf.relu(tf.randomNormal([tokens, dSae]).sub(2));
  time(`similarity [${b},${ctx},${d}]`, tokens, 'tokens', () => new SimilarityAccumulator(ctx).add(a, a2));
  time(`outliers [${b},${ctx},${d}]`, tokens, 'tokens', () => new OutlierCounter(relativeOutlierRule(1, d, 2)).add(a));
  time(`reconstruction R2/EV [${tokens},${d}]`, tokens, 'tokens', () => new ReconstructionAccumulator(d).add(a, a2));
  time(`L0 [${tokens},${dSae}]`, tokens, 'tokens', () => new L0Accumulator().add(f));
  time(`feature density [${tokens},${dSae}]`, tokens, 'tokens', () => new FeatureDensityAccumulator(dSae).add(f));
  const sel = f.slice([0, 0], [tokens, 1000]) as tf.Tensor2D;
  time(`activation Pearson [${tokens},1000]`, tokens, 'tokens', () => new ColumnPearsonAccumulator(1000).add(sel, sel));
  const wDec = tf.randomNormal([1000, d]) as tf.Tensor2D;
  const wU = tf.randomNormal([d, 8192]) as tf.Tensor2D;
  time('logit similarity 1000 features x 8192 vocab', 1000, 'features', () => logitSimilarity(wDec, wU, wU, Array.from({ length: 1000 }, (_, i) => i)), 1);
  tf.dispose([a, a2, f, sel, wDec, wU]);
}
