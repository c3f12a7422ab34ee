import { test, before } from 'node:test';
import * as assert from 'assert';
import * as tf from '@tensorflow/tfjs';
import { Adam } from '../../lib/optim/adam';
import { clipFactor } from '../../lib/optim/clip';
import { trainLanguageModel, decays, cosineWithWarmup, TrainableLM } from '../../lib/lm/trainer';
import { TokenWindowSampler, concatWithSeparator } from '../../lib/lm/batches';
import { setupBackend } from '../helpers';

before(setupBackend);

test('AdamW step matches the hand-computed update, with decoupled decay and clipping', () => {
  const p = tf.variable(tf.scalar(1));
  const opt = new Adam({ W_x: p }, 0.9, 0.95, 0, { rate: 0.1, applies: () => true });
  // g = 2: m = 0.2, v = 0.2; m^ = 2, v^ = 4; update = 1; p = 1 * (1 - 0.1 * 0.1) - 0.1 * 1 = 0.89
  opt.apply({ W_x: tf.scalar(2) }, 0.1);
  assert.ok(Math.abs(p.dataSync()[0] - 0.89) < 1e-6);
  // clipping to norm 1 scales g = 2 to 1 / (1 + 1e-6) x 2: the first Adam step is still lr * sign -> same update, no decay here
  assert.strictEqual(clipFactor(2, 1), 1 / (2 + 1e-6));
  assert.strictEqual(clipFactor(0.5, 1), 1, 'a norm below the limit is not scaled');
  const q = tf.variable(tf.scalar(1));
  const o2 = new Adam({ b: q }, 0.9, 0.95, 0, { rate: 0.1, applies: () => false });
  o2.apply({ b: tf.scalar(2) }, 0.1, clipFactor(2, 1));
  assert.ok(Math.abs(q.dataSync()[0] - 0.9) < 1e-6);
  assert.throws(() => o2.apply({ c: tf.scalar(1) }, 0.1), /gradient for unknown parameter 'c'/);
  opt.dispose(); o2.dispose();
});

test('schedule: linear warm-up then cosine to the floor', () => {
  assert.strictEqual(cosineWithWarmup(5, 100, 1, 10), 0.5);
  assert.strictEqual(cosineWithWarmup(10, 100, 1, 10), 1);
  assert.ok(Math.abs(cosineWithWarmup(100, 100, 1, 10, 0.1) - 0.1) < 1e-12);
  assert.ok(Math.abs(cosineWithWarmup(55, 100, 1, 10, 0) - 0.5) < 1e-12, 'half way through decay');
  assert.ok(decays('blocks.0.attn.W_Q') && decays('embed.W_E') && !decays('blocks.0.ln1.w') && !decays('blocks.0.mlp.b_in'));
});

test('the trainer learns a deterministic bigram sequence (loss -> ~0) and checkpoints at the asked steps', async () => {
  const V = 5; // tokens 0-3 and BOS = 4
  const W = tf.variable(tf.zeros([V, V]), true, 'bigram_W_test');
  const model: TrainableLM = {
    params: new Map([['W_bigram', W]]),
    lossOf: (tokens) => tf.tidy(() => {
      const [b, p] = tokens.shape;
      const inputs = tokens.slice([0, 0], [b, p - 1]).reshape([-1]);
      const targets = tokens.slice([0, 1], [b, p - 1]).reshape([-1]);
      const logits = tf.matMul(tf.oneHot(inputs, V), W);
      return tf.losses.softmaxCrossEntropy(tf.oneHot(targets, V), logits) as tf.Scalar;
    }),
  };
  const stream = concatWithSeparator([[1, 2, 3], [1, 2, 3], [1, 2, 3]], 0); // 1 2 3 0 1 2 3 0 ...
  const sampler = new TokenWindowSampler(Int32Array.from({ length: 400 }, (_, i) => stream[i % stream.length]), 8, 4, 4, 7);
  const seen: number[] = [];
  const r = await trainLanguageModel(model, () => ({ ids: sampler.next(), shape: [4, 8] }), {
    steps: 200, lr: 0.3, warmupSteps: 10, weightDecay: 0, checkpointSteps: [0, 100, 200], onCheckpoint: (s) => { seen.push(s); }, logEvery: 50,
  });
  assert.deepStrictEqual(seen, [0, 100, 200]);
  // BOS is followed by one of 4 tokens at random and the rest is deterministic: the floor is ln(4)/7 ~= 0.198
  assert.ok(r.losses[r.losses.length - 1].loss < 0.3, `final loss ${r.losses[r.losses.length - 1].loss}`);
  assert.deepStrictEqual(r.losses.map((l) => l.step), [50, 100, 150, 200]); // from ln(5) ~= 1.609 at W = 0
  W.dispose();
});
