import { before, test } from 'node:test';
import * as assert from 'assert';
import * as tf from '@tensorflow/tfjs';
import { setupBackend, assertClose } from '../helpers';
import { Adam } from '../../lib/optim/adam';
import { clipGradNorm } from '../../lib/optim/clip';
import { removeParallelComponent } from '../../lib/train/params';
import { geometricMedian } from '../../lib/train/geometric-median';
import { explainedVariance } from '../../lib/train/losses';

before(setupBackend);

test('Adam matches the torch update written out by hand', () => {
  const p = tf.variable(tf.tensor1d([1, -2]), true, 'adam_test_p');
  const adam = new Adam({ p }, 0.9, 0.999, 1e-8);
  // hand: m1 = 0.1 g, v1 = 0.001 g^2, mhat = g, vhat = g^2 -> p -= lr * g / (|g| + eps)
  adam.apply({ p: tf.tensor1d([0.5, -4]) }, 0.1);
  const p1 = [1 - (0.1 * 0.5) / (0.5 + 1e-8), -2 - (0.1 * -4) / (4 + 1e-8)];
  assertClose(p.dataSync(), p1, 1e-6);
  // second step with g2: m2 = 0.9 m1 + 0.1 g2, v2 = 0.999 v1 + 0.001 g2^2, bias corrections 1-0.9^2, 1-0.999^2
  const g1 = [0.5, -4];
  const g2 = [1, 2];
  adam.apply({ p: tf.tensor1d(g2) }, 0.1);
  const expected = p1.map((x, i) => {
    const m = 0.9 * 0.1 * g1[i] + 0.1 * g2[i];
    const v = 0.999 * 0.001 * g1[i] ** 2 + 0.001 * g2[i] ** 2;
    const mhat = m / (1 - 0.81);
    const denom = Math.sqrt(v) / Math.sqrt(1 - 0.999 ** 2) + 1e-8;
    return x - (0.1 * mhat) / denom / 1 * 1;
  });
  // torch: p -= (lr / bc1) * m / (sqrt(v)/sqrt(bc2) + eps)
  assertClose(p.dataSync(), expected, 1e-6);
  assert.strictEqual(adam.step, 2);
});

test('global-norm gradient clipping scales all grads by 1 / (norm + 1e-6) when norm > 1', () => {
  const { grads, norm } = clipGradNorm({ a: tf.tensor1d([3, 0]), b: tf.tensor1d([4]) }, 1);
  assertClose(norm.dataSync(), [5], 1e-6);
  assertClose(grads.a.dataSync(), [3 / (5 + 1e-6), 0], 1e-6);
  assertClose(grads.b.dataSync(), [4 / (5 + 1e-6)], 1e-6);
  const small = clipGradNorm({ a: tf.tensor1d([0.3, 0.4]) }, 1);
  assertClose(small.grads.a.dataSync(), [0.3, 0.4], 1e-7);
});

test('removing the decoder-parallel gradient leaves a gradient orthogonal to each row', () => {
  const W = tf.tensor2d([[1, 0, 0], [0, 0.6, 0.8]]);
  const g = tf.tensor2d([[2, 3, 4], [1, 1, 1]]);
  const out = removeParallelComponent(g, W);
  // row 0: remove 2 * e0 -> [0, 3, 4]; row 1: (g.w) = 1.4 -> [1, 1 - 0.84, 1 - 1.12]
  assertClose(out.dataSync(), [0, 3, 4, 1, 0.16, -0.12], 1e-6);
});

test('geometric median (Weiszfeld): equilateral triangle -> centroid; majority point -> that point', () => {
  const tri = tf.tensor2d([[0, 0], [2, 0], [1, Math.sqrt(3)]]);
  const r = geometricMedian(tri);
  assertClose(r.median.dataSync(), [1, Math.sqrt(3) / 3], 1e-4);
  const maj = tf.tensor2d([[0, 0], [0, 0], [0, 0], [1, 0], [0, 1]]);
  const r2 = geometricMedian(maj, { maxIter: 1000 });
  assertClose(r2.median.dataSync(), [0, 0], 1e-3);
  // collinear 1-D points: the median is the middle point
  const line = tf.tensor2d([[0, 0], [1, 0], [5, 0], [6, 0], [100, 0]]);
  assertClose(geometricMedian(line, { maxIter: 1000 }).median.dataSync(), [5, 0], 1e-3);
});

test('explained variance = 1 - mean |x - x^|^2 / mean |x - mean x|^2', () => {
  const x = tf.tensor2d([[1, 2], [3, 4], [5, 0]]);
  const xh = tf.tensor2d([[1, 1], [3, 4], [4, 0]]);
  // mean x = [3, 2]; total = (4+0 + 0+4 + 4+4)/3 = 16/3; resid = (1 + 0 + 1)/3
  assertClose(explainedVariance(x, xh).dataSync(), [1 - 2 / 16], 1e-6);
});
