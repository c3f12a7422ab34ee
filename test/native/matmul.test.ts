import { before, test } from 'node:test';
import * as assert from 'assert';
import * as tf from '@tensorflow/tfjs';
import { setupBackend } from '../helpers';
import { compareWithCpu, rand, requireNative } from './compare';

before(async () => {
  await setupBackend();
  requireNative();
});

test('matmul by hand: [[1,2],[3,4]] @ [[5,6],[7,8]] = [[19,22],[43,50]]', async () => {
  await tf.setBackend('native');
  const c = tf.matMul(tf.tensor2d([[1, 2], [3, 4]]), tf.tensor2d([[5, 6], [7, 8]]));
  assert.deepStrictEqual(c.arraySync(), [[19, 22], [43, 50]]);
  c.dispose();
});

test('matmul matches cpu: all transposes, odd and BLAS-sized shapes', async () => {
  for (const [m, k, n] of [[1, 1, 1], [3, 5, 7], [17, 33, 9], [64, 96, 80], [130, 70, 257]]) {
    for (const tA of [false, true]) {
      for (const tB of [false, true]) {
        await compareWithCpu(`matmul ${m}x${k}x${n} tA=${tA} tB=${tB}`, () => {
          const a = rand(tA ? [k, m] : [m, k], 1 + m);
          const b = rand(tB ? [n, k] : [k, n], 2 + n);
          return tf.matMul(a, b, tA, tB);
        }, 1e-4, 1e-4);
      }
    }
  }
});

test('matmuls big enough to split across threads (by rows, by columns, by batch) match cpu', async () => {
  for (const tA of [false, true]) {
    for (const tB of [false, true]) {
      await compareWithCpu(`rows split tA=${tA} tB=${tB}`, () => tf.matMul(rand(tA ? [300, 257] : [257, 300], 31), rand(tB ? [200, 300] : [300, 200], 32), tA, tB), 1e-4, 1e-4);
      await compareWithCpu(`columns split tA=${tA} tB=${tB}`, () => tf.matMul(rand(tA ? [400, 3] : [3, 400], 33), rand(tB ? [5000, 400] : [400, 5000], 34), tA, tB), 1e-4, 1e-4);
    }
  }
  await compareWithCpu('batch split', () => tf.matMul(rand([3, 130, 100], 35), rand([100, 140], 36)), 1e-4, 1e-4);
});

test('batched matmul matches cpu, including a broadcast batch and many small heads', async () => {
  await compareWithCpu('batch 4', () => tf.matMul(rand([4, 6, 5], 3), rand([4, 5, 3], 4)));
  await compareWithCpu('broadcast b', () => tf.matMul(rand([2, 3, 6, 5], 5), rand([5, 4], 6)));
  await compareWithCpu('broadcast a', () => tf.matMul(rand([6, 5], 7), rand([3, 5, 4], 8), false, false));
  await compareWithCpu('heads, transposed', () => tf.matMul(rand([2, 4, 16, 8], 9), rand([2, 4, 16, 8], 10), false, true), 1e-4, 1e-4);
  await compareWithCpu('empty', () => tf.matMul(tf.zeros([0, 3]), rand([3, 4], 11)));
  await compareWithCpu('k = 0', () => tf.matMul(tf.zeros([2, 0]), tf.zeros([0, 3])));
});

test('fused matmul with bias and each activation matches cpu', async () => {
  for (const activation of ['linear', 'relu', 'relu6', 'elu', 'sigmoid', 'leakyrelu', 'prelu'] as const) {
    await compareWithCpu(`fused ${activation}`, () => tf.fused.matMul({
      a: rand([9, 12], 12, 2), b: rand([12, 10], 13, 2), bias: rand([10], 14),
      activation, preluActivationWeights: activation === 'prelu' ? rand([10], 15) : undefined, leakyreluAlpha: 0.3,
    }), 1e-4, 1e-4);
  }
  await compareWithCpu('fused bias column broadcast', () => tf.fused.matMul({ a: rand([5, 4], 16), b: rand([4, 3], 17), bias: rand([5, 1], 18), activation: 'relu' }));
  await compareWithCpu('fused transposed, no bias', () => tf.fused.matMul({ a: rand([4, 5], 19), b: rand([3, 4], 20), transposeA: true, transposeB: true }));
});

test('gradients through matmul and fused matmul match cpu', async () => {
  await compareWithCpu('grad matmul', () => {
    const a = rand([7, 5], 21);
    const b = rand([5, 6], 22);
    const g = tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.matMul(x, y).square().sum());
    return g([a, b]);
  }, 1e-4, 1e-4);
  await compareWithCpu('grad fused relu', () => {
    const a = rand([7, 5], 23);
    const b = rand([5, 6], 24);
    const bias = rand([6], 25);
    const g = tf.grads((x: tf.Tensor, y: tf.Tensor, z: tf.Tensor) => tf.fused.matMul({ a: x as tf.Tensor2D, b: y as tf.Tensor2D, bias: z, activation: 'relu' }).sum());
    return g([a, b, bias]);
  }, 1e-4, 1e-4);
});
