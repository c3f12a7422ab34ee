import { before, test } from 'node:test';
import * as assert from 'assert';
import * as tf from '@tensorflow/tfjs';
import { setupBackend, assertClose } from '../helpers';
import { jumpReLU, stepFunction, topkActivation, stopGradient } from '../../lib/train/activations';
import { ghostGradLoss } from '../../lib/train/losses';

before(setupBackend);

const rect = (z: number) => (z > -0.5 && z < 0.5 ? 1 : 0);

test('JumpReLU forward and straight-through threshold gradient (rectangle kernel)', () => {
  const xs = [[0.5, 0.0012, -1], [0.0008, 2, 0.0011]];
  const t = [0.001, 0.001, 0.002];
  const w = [[1, 2, 3], [4, 5, 6]];
  const bw = 0.001;
  const x = tf.tensor2d(xs);
  const th = tf.tensor1d(t);
  const W = tf.tensor2d(w);
  const value = jumpReLU(x, th, bw);
  assertClose(value.dataSync(), [0.5, 0.0012, 0, 0, 2, 0], 1e-7);
  const [dx, dt] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(jumpReLU(a as tf.Tensor2D, b as tf.Tensor1D, bw), W)))([x, th]);
  const edx: number[] = [];
  const edt = [0, 0, 0];
  for (let i = 0; i < 2; i++) for (let j = 0; j < 3; j++) {
    edx.push(xs[i][j] > t[j] ? w[i][j] : 0);
    edt[j] += -(t[j] / bw) * rect((xs[i][j] - t[j]) / bw) * w[i][j];
  }
  assertClose(dx.dataSync(), edx, 1e-6);
  assertClose(dt.dataSync(), edt, 1e-4, 1e-4);
  assert.ok(edt.some((v) => v !== 0), 'the test must exercise the rectangle window');
});

test('Step: value [x > t], zero x-gradient, threshold gradient -(1/bw) * rectangle', () => {
  const xs = [[0.0012, 0.5], [0.0009, -0.3]];
  const t = [0.001, 0.001];
  const bw = 0.001;
  const x = tf.tensor2d(xs);
  const th = tf.tensor1d(t);
  assertClose(stepFunction(x, th, bw).dataSync(), [1, 1, 0, 0]);
  const [dx, dt] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(stepFunction(a as tf.Tensor2D, b as tf.Tensor1D, bw)))([x, th]);
  assertClose(dx.dataSync(), [0, 0, 0, 0]);
  // column 0: both entries inside the window -> 2 * -(1/bw); column 1: none
  assertClose(dt.dataSync(), [-2 / bw, 0], 1e-3, 1e-5);
});

test('TopK keeps the k largest per row, relu on kept, gradient only through kept entries', () => {
  const x = tf.tensor2d([[0.1, 3, -1, 2], [-5, -4, 1, -3]]);
  assertClose(topkActivation(x, 2).dataSync(), [0, 3, 0, 2, 0, 0, 1, 0]);
  const g = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(topkActivation(a as tf.Tensor2D, 2), tf.tensor2d([[1, 2, 3, 4], [5, 6, 7, 8]]))))(x);
  assertClose(g.dataSync(), [0, 2, 0, 4, 0, 0, 7, 0]);
});

test('stopGradient passes values and blocks gradients', () => {
  const g = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(stopGradient(a), a)))(tf.tensor1d([2, 3]));
  assertClose(g.dataSync(), [2, 3]);
});

test('ghost grads: loss and W_dec gradient as the formula says (only dead rows get gradient)', () => {
  const X = [[1, 0.5], [-0.2, 0.3], [0.4, -1]];
  const OUT = [[0.8, 0.1], [0, 0.2], [0.1, -0.5]];
  const PRE = [[0.2, -0.1, 0.3], [1, 0.5, -0.2], [-0.3, 0.1, 0.4]];
  const WD = [[1, 0], [0.6, 0.8], [0, 1]];
  const dead = [0, 1, 1];
  const x = tf.tensor2d(X);
  const out = tf.tensor2d(OUT);
  const pre = tf.tensor2d(PRE);
  const Wd = tf.variable(tf.tensor2d(WD), true, 'ghost_test_wdec');
  const perItem = tf.square(tf.sub(out, x)) as tf.Tensor2D;
  const { value, grads } = tf.variableGrads(() => ghostGradLoss(x, out, perItem, pre, tf.tensor1d(dead), Wd), [Wd]);
  // by hand
  const B = 3, D = 2;
  let val = 0;
  const gW = [[0, 0], [0, 0], [0, 0]];
  for (let b = 0; b < B; b++) {
    const r = [X[b][0] - OUT[b][0], X[b][1] - OUT[b][1]];
    const e = PRE[b].map((p, j) => (dead[j] ? Math.exp(p) : 0));
    const g = [0, 1].map((d) => e.reduce((s, ej, j) => s + ej * WD[j][d], 0));
    const s = Math.hypot(...r) / (2 * Math.hypot(...g) + 1e-6);
    for (let d = 0; d < D; d++) {
      const ghost = (s * g[d] - r[d]) ** 2;
      const R = r[d] ** 2 / (ghost + 1e-6);
      val += (R * ghost) / (B * D);
      for (let j = 0; j < 3; j++) gW[j][d] += (R * 2 * (s * g[d] - r[d]) * s * e[j]) / (B * D);
    }
  }
  assertClose(value.dataSync(), [val], 1e-6, 1e-4);
  const got = grads[Wd.name].dataSync();
  assertClose(got, gW.flat(), 1e-6, 1e-3);
  assert.deepStrictEqual([got[0], got[1]], [0, 0]);
});
