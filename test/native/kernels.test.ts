import { before, test } from 'node:test';
import * as assert from 'assert';
import * as tf from '@tensorflow/tfjs';
import { nativeKernelNames } from '../../lib/backend/native';
import { setupBackend } from '../helpers';
import { compareWithCpu, rand, randomValues, requireNative } from './compare';

before(async () => {
  await setupBackend();
  requireNative();
});

test('the heavy kernels are native', () => {
  const names = nativeKernelNames();
  for (const k of ['BatchMatMul', '_FusedMatMul', 'Add', 'Multiply', 'RealDiv', 'Sum', 'Max', 'Mean', 'Softmax', 'Exp', 'Tanh',
    'Transpose', 'GatherV2', 'UnsortedSegmentSum', 'Concat', 'Slice']) {
    assert.ok(names.includes(k), `${k} is not native`);
  }
});

const BROADCASTS: Array<[number[], number[]]> = [
  [[5, 7], [5, 7]], [[5, 7], [7]], [[7], [5, 7]], [[5, 1], [1, 7]], [[2, 3, 4], [3, 1]], [[2, 1, 4], [2, 3, 1]],
  [[3, 4, 5, 6], [4, 1, 6]], [[], [3, 2]], [[3, 2], []], [[1], [4]], [[0, 3], [3]], [[2, 3, 1, 5], [1, 1, 4, 5]],
];

test('binary ops match cpu over broadcasting cases', async () => {
  const ops: Array<[string, (a: tf.Tensor, b: tf.Tensor) => tf.Tensor]> = [
    ['add', tf.add], ['sub', tf.sub], ['mul', tf.mul], ['div', tf.div], ['maximum', tf.maximum], ['minimum', tf.minimum],
    ['squaredDifference', tf.squaredDifference], ['pow', (a, b) => tf.pow(tf.abs(a), b)],
  ];
  for (const [name, op] of ops) {
    for (let i = 0; i < BROADCASTS.length; i++) {
      const [sa, sb] = BROADCASTS[i];
      await compareWithCpu(`${name} ${JSON.stringify(sa)} ${JSON.stringify(sb)}`, () => op(rand(sa, 100 + i, 2), rand(sb, 200 + i, 2)), 1e-5, 1e-4);
    }
  }
  for (const cmp of [tf.equal, tf.notEqual, tf.greater, tf.greaterEqual, tf.less, tf.lessEqual]) {
    await compareWithCpu(`${cmp.name} broadcast`, () => cmp(tf.round(rand([4, 5], 8, 2)), tf.round(rand([5], 9, 2))));
    await compareWithCpu(`${cmp.name} nan`, () => cmp(tf.tensor1d([NaN, 1, 2]), tf.tensor1d([NaN, 1, 3])));
  }
  for (const e of [2, 3, 0.5]) {
    await compareWithCpu(`pow by ${e}`, () => tf.pow(tf.tensor1d([-2, -0, 0, 1.5, 3, Infinity, -Infinity, NaN]), tf.scalar(e)));
  }
  await compareWithCpu('pow by 0.5 of negatives is NaN', () => tf.pow(tf.tensor1d([-1, -4]), tf.scalar(0.5)));
  await compareWithCpu('prelu', () => tf.prelu(rand([4, 6], 1), rand([6], 2)));
  await compareWithCpu('addN', () => tf.addN([rand([3, 4], 3), rand([3, 4], 4), rand([3, 4], 5)]));
  await compareWithCpu('large add splits across threads', () => tf.add(rand([300, 257], 6), rand([257], 7)));
  await compareWithCpu('int32 add uses the cpu kernel', () => tf.add(tf.tensor1d([1, 2, 3], 'int32'), tf.scalar(4, 'int32')));
});

test('NaN propagates through maximum and minimum as on cpu', async () => {
  await compareWithCpu('max nan', () => tf.maximum(tf.tensor1d([NaN, 1, 2, -Infinity]), tf.tensor1d([0, NaN, 1, 0])));
  await compareWithCpu('min nan', () => tf.minimum(tf.tensor1d([NaN, 1, 2, -Infinity]), tf.tensor1d([0, NaN, 1, 0])));
});

test('unary ops match cpu', async () => {
  const x = (): tf.Tensor => rand([6, 33], 11, 3);
  const pos = (): tf.Tensor => tf.add(tf.abs(rand([6, 33], 12, 3)), 0.01);
  const ops: Array<[string, () => tf.Tensor]> = [
    ['exp', () => tf.exp(x())], ['log', () => tf.log(pos())], ['tanh', () => tf.tanh(x())], ['sqrt', () => tf.sqrt(pos())],
    ['rsqrt', () => tf.rsqrt(pos())], ['neg', () => tf.neg(x())], ['square', () => tf.square(x())], ['abs', () => tf.abs(x())],
    ['relu', () => tf.relu(x())], ['sigmoid', () => tf.sigmoid(x())], ['erf', () => tf.erf(x())], ['reciprocal', () => tf.reciprocal(pos())],
    ['step', () => tf.step(x(), 0.25)], ['elu', () => tf.elu(x())], ['relu6', () => tf.relu6(tf.mul(x(), 3))],
    ['leakyRelu', () => tf.leakyRelu(x(), 0.1)], ['log1p', () => tf.log1p(pos())], ['expm1', () => tf.expm1(x())],
    ['sin', () => tf.sin(x())], ['cos', () => tf.cos(x())], ['sign', () => tf.sign(tf.tensor1d([-2, 0, 3, NaN]))],
    ['clip', () => tf.clipByValue(x(), -0.5, 0.7)], ['floor', () => tf.floor(x())], ['ceil', () => tf.ceil(x())],
    ['round', () => tf.round(tf.tensor1d([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 1.2, -1.7]))],
    ['relu nan', () => tf.relu(tf.tensor1d([NaN, -1, 1]))], ['big exp', () => tf.exp(rand([200, 300], 13, 5))],
  ];
  for (const [name, fn] of ops) await compareWithCpu(name, fn, 1e-5, 2e-5);
});

test('reductions match cpu over single, adjacent and separated axes, keepDims', async () => {
  const shape = [3, 4, 5, 6];
  const axesList: Array<number | number[] | undefined> = [undefined, 0, 1, 3, -1, [1, 2], [0, 3], [0, 2], [1, 2, 3]];
  const ops: Array<[string, (x: tf.Tensor, axis: number | number[] | undefined, keep: boolean) => tf.Tensor]> = [
    ['sum', tf.sum], ['max', tf.max], ['min', tf.min], ['mean', tf.mean], ['prod', (x, a, k) => tf.prod(tf.add(tf.mul(x, 0.2), 1), a, k)],
  ];
  for (const [name, op] of ops) {
    for (const axis of axesList) {
      for (const keep of [false, true]) {
        await compareWithCpu(`${name} axis=${JSON.stringify(axis)} keep=${keep}`, () => op(rand(shape, 21), axis, keep), 1e-5, 1e-4);
      }
    }
  }
  await compareWithCpu('sum over a long column (bias gradient shape)', () => tf.sum(rand([700, 1030], 22), 0), 1e-4, 1e-4);
  await compareWithCpu('max with NaN', () => tf.max(tf.tensor2d([[1, NaN, 3], [4, 5, 6]]), 1));
  for (const axis of [0, 1, 2]) {
    await compareWithCpu(`argMax axis ${axis}`, () => tf.argMax(rand([4, 5, 6], 23), axis));
    await compareWithCpu(`argMin axis ${axis}`, () => tf.argMin(rand([4, 5, 6], 24), axis));
  }
  await compareWithCpu('argMax ties take the first index', () => tf.argMax(tf.tensor2d([[1, 3, 3], [2, 2, 0]]), 1));
  await compareWithCpu('int32 sum uses the cpu kernel', () => tf.sum(tf.tensor2d([[1, 2], [3, 4]], [2, 2], 'int32'), 1));
});

test('softmax and logSoftmax match cpu, including -inf masks', async () => {
  await compareWithCpu('softmax 2d', () => tf.softmax(rand([7, 13], 31, 4)));
  await compareWithCpu('softmax 4d', () => tf.softmax(rand([2, 3, 5, 9], 32, 4)));
  await compareWithCpu('softmax masked', () => tf.softmax(tf.add(rand([4, 4], 33), tf.tensor2d([[0, -Infinity, -Infinity, -Infinity], [0, 0, -Infinity, -Infinity], [0, 0, 0, -Infinity], [0, 0, 0, 0]]))));
  await compareWithCpu('logSoftmax', () => tf.logSoftmax(rand([5, 11], 34, 4)));
});

test('layout kernels match cpu: transpose, slice, split, unstack, concat, stack, pad', async () => {
  for (const perm of [[1, 0, 2, 3], [0, 2, 1, 3], [3, 2, 1, 0], [2, 0, 3, 1], [0, 1, 3, 2]]) {
    await compareWithCpu(`transpose ${perm}`, () => tf.transpose(rand([2, 3, 4, 5], 41), perm));
  }
  await compareWithCpu('transpose int32', () => tf.transpose(tf.tensor2d([[1, 2, 3], [4, 5, 6]], [2, 3], 'int32')));
  // large enough for the tiled path (32 x 32 tiles, ragged edges), with and without other axes around the swapped pair
  await compareWithCpu('transpose 2d tiled', () => tf.transpose(rand([70, 45], 42)));
  await compareWithCpu('transpose 3d tiled [1,0,2] and [0,2,1] and [2,1,0]', () => [tf.transpose(rand([33, 40, 3], 43), [1, 0, 2]), tf.transpose(rand([3, 65, 34], 44), [0, 2, 1]), tf.transpose(rand([37, 2, 35], 45), [2, 1, 0])]);
  await compareWithCpu('slice contiguous', () => tf.slice(rand([4, 5, 6], 42), [1, 0, 0], [2, 5, 6]));
  await compareWithCpu('slice strided', () => tf.slice(rand([4, 5, 6], 43), [1, 2, 3], [2, 2, 3]));
  await compareWithCpu('slice to end', () => tf.slice(rand([4, 5, 6], 44), [0, 1, 0], [-1, -1, 4]));
  await compareWithCpu('split', () => tf.split(rand([4, 9], 45), [2, 3, 4], 1));
  await compareWithCpu('split even', () => tf.split(rand([6, 4, 2], 46), 3, 0));
  await compareWithCpu('unstack', () => tf.unstack(rand([3, 4, 5], 47), 1));
  await compareWithCpu('unstack first axis', () => tf.unstack(rand([3, 4, 5], 48), 0));
  await compareWithCpu('concat axis 1', () => tf.concat([rand([2, 3, 4], 49), rand([2, 1, 4], 50), rand([2, 5, 4], 51)], 1));
  await compareWithCpu('concat axis 0', () => tf.concat([rand([2, 3], 52), rand([4, 3], 53)], 0));
  await compareWithCpu('concat last axis with empty', () => tf.concat([rand([2, 3], 54), tf.zeros([2, 0]), rand([2, 2], 55)], -1));
  await compareWithCpu('concat int32', () => tf.concat([tf.tensor1d([1, 2], 'int32'), tf.tensor1d([3], 'int32')]));
  await compareWithCpu('stack', () => tf.stack([rand([3, 4], 56), rand([3, 4], 57)], 1));
  await compareWithCpu('stack axis 0', () => tf.stack([rand([3, 4], 58), rand([3, 4], 59), rand([3, 4], 60)]));
  await compareWithCpu('pad', () => tf.pad(rand([3, 4], 61), [[1, 2], [0, 3]], 0.5));
  // Cast int32 -> float32 keeps the Int32Array on the cpu backend: every layout kernel must still give floats.
  const castInts = (): tf.Tensor => tf.cast(tf.tensor2d([[3, 0, 7], [1, 2, 5]], [2, 3], 'int32'), 'float32');
  await compareWithCpu('stack of cast ints', () => tf.stack([castInts(), tf.onesLike(castInts())], 2));
  await compareWithCpu('concat of cast ints', () => tf.concat([castInts(), rand([2, 1], 63)], 1));
  await compareWithCpu('transpose of cast ints', () => tf.transpose(castInts()));
  await compareWithCpu('strided slice of cast ints', () => tf.slice(castInts(), [0, 1], [2, 2]));
  await compareWithCpu('gather of cast ints', () => tf.gather(castInts(), tf.tensor1d([1, 0, 1], 'int32')));
  await compareWithCpu('pad of cast ints', () => tf.pad(castInts(), [[1, 0], [0, 1]]));
  await compareWithCpu('arithmetic on cast ints', () => tf.add(tf.mul(castInts(), 0.5), tf.exp(tf.neg(castInts()))));
  await compareWithCpu('pad 3d', () => tf.pad(rand([2, 3, 4], 62), [[0, 0], [1, 1], [2, 0]]));
});

test('gather and its gradient (segment sum) match cpu; a bad index throws', async () => {
  const ids = (): tf.Tensor => tf.tensor2d([[3, 0, 3], [9, 1, 3]], [2, 3], 'int32');
  await compareWithCpu('gather rows', () => tf.gather(rand([10, 6], 71), ids()));
  await compareWithCpu('gather axis 1', () => tf.gather(rand([4, 10, 3], 72), tf.tensor1d([2, 2, 7], 'int32'), 1));
  await compareWithCpu('gather int32 values', () => tf.gather(tf.tensor1d([5, 6, 7], 'int32'), tf.tensor1d([2, 0], 'int32')));
  await compareWithCpu('unsortedSegmentSum', () => tf.unsortedSegmentSum(rand([6, 4], 73), tf.tensor1d([0, 2, 2, 5, 0, 1], 'int32'), 6));
  await compareWithCpu('gather gradient (embedding)', () => {
    const table = rand([10, 6], 74);
    const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.gather(t, ids()), rand([2, 3, 6], 75))));
    return g(table);
  });
  await tf.setBackend('native');
  assert.throws(() => tf.gather(tf.ones([3, 2]), tf.tensor1d([0, 3], 'int32')), /GatherV2: the index value 3 is not in \[0, 2\]/);
});

test('gradients of a layer-norm + attention + gelu block match cpu', async () => {
  await compareWithCpu('block grads', () => {
    const x = rand([2, 5, 8], 81);
    const w = rand([8, 8], 82, 0.5);
    const wo = rand([8, 8], 83, 0.5);
    const f = (xx: tf.Tensor, ww: tf.Tensor, wwo: tf.Tensor): tf.Tensor => {
      const mean = tf.mean(xx, -1, true);
      const c = tf.sub(xx, mean);
      const ln = tf.mul(c, tf.rsqrt(tf.add(tf.mean(tf.square(c), -1, true), 1e-5)));
      const q = tf.matMul(ln.reshape([10, 8]), ww).reshape([2, 5, 2, 4]).transpose([0, 2, 1, 3]);
      const scores = tf.div(tf.matMul(q, q, false, true), 2);
      const mask = tf.linalg.bandPart(tf.ones([5, 5]), -1, 0);
      const pattern = tf.softmax(tf.add(scores, tf.mul(tf.sub(1, mask), -1e9)));
      const z = tf.matMul(pattern, q).transpose([0, 2, 1, 3]).reshape([10, 8]);
      const h = tf.matMul(z, wwo);
      const gelu = tf.mul(tf.mul(0.5, h), tf.add(1, tf.tanh(tf.mul(0.79788456, tf.add(h, tf.mul(0.044715, tf.pow(h, 3)))))));
      return tf.sum(tf.mul(gelu, gelu));
    };
    return tf.grads(f)([x, w, wo]);
  }, 1e-4, 1e-3);
});

test('an SAE training step (Adam) gives the same parameters on native and cpu', async () => {
  const dIn = 12;
  const dSae = 40;
  const xs = randomValues(16 * dIn, 91);
  await compareWithCpu('sae step', () => {
    const x = tf.tensor2d(xs, [16, dIn]);
    const wEnc = tf.variable(rand([dIn, dSae], 92, 0.3));
    const bEnc = tf.variable(tf.zeros([dSae]));
    const wDec = tf.variable(rand([dSae, dIn], 93, 0.3));
    const bDec = tf.variable(tf.zeros([dIn]));
    const opt = tf.train.adam(0.01);
    for (let i = 0; i < 3; i++) {
      opt.minimize(() => {
        const acts = tf.relu(tf.add(tf.matMul(tf.sub(x, bDec), wEnc), bEnc));
        const recon = tf.add(tf.matMul(acts, wDec), bDec);
        const mse = tf.mean(tf.sum(tf.squaredDifference(recon, x), -1));
        return tf.add(mse, tf.mul(0.1, tf.mean(tf.sum(tf.mul(acts, tf.norm(wDec, 2, 1)), -1)))) as tf.Scalar;
      }, false, [wEnc, bEnc, wDec, bDec]);
    }
    const out = [wEnc, bEnc, wDec, bDec].map((v) => v.clone());
    opt.dispose();
    tf.dispose([wEnc, bEnc, wDec, bDec]);
    return out;
  }, 1e-4, 1e-3);
});

test('layout kernels read a cast int32 -> float32 tensor as floats (the cpu Cast may keep an Int32Array)', async () => {
  await compareWithCpu('cast int32 then layout ops', () => {
    const c = tf.cast(tf.tensor1d([3, 0, -7], 'int32'), 'float32');
    return [tf.stack([c, tf.tensor1d([1, 2, 3])]), tf.transpose(tf.stack([c, c])), tf.gather(tf.stack([c, c]), [1]), tf.concat([c, c])];
  });
});
