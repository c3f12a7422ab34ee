import { before, test } from 'node:test';
import * as assert from 'assert';
import * as tf from '@tensorflow/tfjs';
import { inPlaceBinary, rowNorm } from '../../lib/backend/fusedOps';
import { nativeKernelNames } from '../../lib/backend/native';
import { activation } from '../../lib/model/components';
import { Adam } from '../../lib/optim/adam';
import { topkActivation } from '../../lib/train/activations';
import { clipFactor, globalGradNorm } from '../../lib/optim/clip';
import { setupBackend } from '../helpers';
import { compareWithCpu, rand, randomValues, requireNative } from './compare';

// The fused and replaced kernels (GELU, Adam, Cast, Tile, Select, pow by 1) against the cpu backend, where the
// same library calls run as compositions of tfjs ops or as the cpu kernels.

before(async () => {
  await setupBackend();
  requireNative();
});

test('the fused and replaced kernels are registered natively', () => {
  const names = nativeKernelNames();
  for (const k of ['Cast', 'Tile', 'Select', 'TopK', 'SaelabGelu', 'SaelabGeluGrad', 'SaelabAdam']) assert.ok(names.includes(k), `${k} is not native`);
});

test('the model activation runs as one fused kernel on native', async () => {
  await tf.setBackend('native');
  const x = rand([4, 8], 1);
  for (const name of ['gelu_new', 'gelu']) {
    const prof = await tf.profile(() => activation(name, x));
    assert.deepStrictEqual(prof.kernels.map((k) => k.name), ['SaelabGelu'], name);
    tf.dispose(prof.result as tf.Tensor);
  }
  x.dispose();
});

test('fused GELU (tanh and erf) and its gradient match the tfjs composition on cpu', async () => {
  // values spread over [-12, 12] (saturating tails both sides), plus exact zeros and signed infinities
  const special = [0, -0, 1e-30, -1e-30, 30, -30, 100, -100];
  for (const name of ['gelu_new', 'gelu_pytorch_tanh', 'gelu_fast', 'gelu']) {
    for (const [i, shape] of [[3, 5], [2, 7, 33], [40000]].entries()) {
      await compareWithCpu(`${name} ${shape}`, () => activation(name, rand(shape, 10 + i, 12)), 2e-6, 2e-5);
    }
    await compareWithCpu(`${name} special values`, () => activation(name, tf.tensor1d(special)), 1e-6, 1e-5);
    await compareWithCpu(`${name} gradient`, () => {
      const x = rand([6, 50], 20, 6);
      const w = rand([6, 50], 21);
      return tf.grad((t: tf.Tensor) => tf.sum(tf.mul(activation(name, t), w)))(x);
    }, 2e-6, 5e-5);
    await compareWithCpu(`${name} gradient through a matmul`, () => {
      const x = rand([5, 8], 22);
      const w1 = rand([8, 16], 23, 0.8);
      const w2 = rand([16, 3], 24, 0.8);
      return tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.square(tf.matMul(activation(name, tf.matMul(x, a)), b))))([w1, w2]);
    }, 1e-5, 1e-4);
  }
});

test('the fused Adam update (lib/optim Adam) gives the parameters and moments of the op-by-op update on cpu', async () => {
  await compareWithCpu('adam 4 steps', () => {
    const params = { a: tf.variable(rand([7, 9], 30)), b: tf.variable(rand([9], 31)) };
    const opt = new Adam(params, 0.9, 0.999, 1e-8);
    for (let s = 0; s < 4; s++) {
      const grads = { a: rand([7, 9], 40 + s, 0.1 * (s + 1)), b: rand([9], 50 + s, 3) };
      opt.apply(grads, 1e-2);
      tf.dispose(Object.values(grads));
    }
    const out = [params.a, params.b, opt.m.a, opt.v.a, opt.m.b, opt.v.b].map((t) => t.clone());
    opt.dispose();
    tf.dispose(Object.values(params));
    return out;
  }, 1e-6, 1e-5);
});

test('the fused Adam update writes in place only into buffers nothing else shares', async () => {
  await tf.setBackend('native');
  const params = { w: tf.variable(tf.tensor1d([1, 2, 3])) };
  const opt = new Adam(params, 0.9, 0.999, 1e-8);
  const g = (): Record<string, tf.Tensor> => ({ w: tf.tensor1d([0.5, -1, 0]) });
  for (let s = 0; s < 2; s++) { const gs = g(); opt.apply(gs, 0.1); tf.dispose(Object.values(gs)); }
  const snapshot = params.w.clone(); // shares the variable's buffer
  const before = Array.from(snapshot.dataSync());
  const mem = tf.memory().numTensors;
  const gs = g();
  opt.apply(gs, 0.1);
  tf.dispose(Object.values(gs));
  assert.deepStrictEqual(Array.from(snapshot.dataSync()), before, 'a clone taken before the update keeps its values');
  // by hand, step 3 of Adam with a constant gradient: m_hat = g, v_hat = g^2, so each step moves -lr sign(g)
  // (within 1e-5: beta2 = 0.999 rounded to float32 shifts 1 - beta2^t, hence v_hat, by ~1e-5 relative)
  const w = Array.from(params.w.dataSync());
  [1 - 0.3, 2 + 0.3, 3].forEach((e, i) => assert.ok(Math.abs(w[i] - e) < 1e-5, `w[${i}] = ${w[i]}, expected ${e}`));
  assert.strictEqual(tf.memory().numTensors, mem, 'no tensors leaked');
  tf.dispose([snapshot, params.w]);
  opt.dispose();
});

test('the fused AdamW update (weight decay, clipping) matches the op-by-op update on cpu', async () => {
  await compareWithCpu('adamw 3 steps', () => {
    const params = { w: tf.variable(rand([6, 4], 60)), bias: tf.variable(rand([4], 61)) };
    const opt = new Adam(params, 0.9, 0.95, 1e-8, { rate: 0.1, applies: (n) => n === 'w' });
    const norms: number[] = [];
    for (let s = 0; s < 3; s++) {
      const grads = { w: rand([6, 4], 70 + s, 2), bias: rand([4], 80 + s, 2) };
      norms.push(globalGradNorm(grads));
      opt.apply(grads, 3e-3, clipFactor(norms[s], 0.5));
      tf.dispose(Object.values(grads));
    }
    const out: tf.Tensor[] = [params.w, params.bias, opt.m.w, opt.v.w, opt.v.bias].map((t) => t.clone());
    out.push(tf.tensor1d(norms));
    opt.dispose();
    tf.dispose(Object.values(params));
    return out;
  }, 1e-6, 1e-5);
});

test('Cast between float32, int32 and bool matches cpu (truncation, NaN, infinities, wrap-around)', async () => {
  const floats = [-2.7, -0.5, 0, -0, 0.5, 2.7, 1e10, -1e10, 2147483647.5, NaN, Infinity, -Infinity, 3e9];
  await compareWithCpu('float32 -> int32', () => tf.cast(tf.tensor1d(floats), 'int32'));
  await compareWithCpu('float32 -> bool', () => tf.cast(tf.tensor1d(floats), 'bool'));
  await compareWithCpu('int32 -> float32', () => tf.cast(tf.tensor1d([-5, 0, 7, 2147483647, -2147483648], 'int32'), 'float32'));
  await compareWithCpu('int32 -> bool', () => tf.cast(tf.tensor1d([-5, 0, 7], 'int32'), 'bool'));
  await compareWithCpu('bool -> float32', () => tf.cast(tf.greater(rand([3, 70], 90), 0), 'float32'));
  await compareWithCpu('bool -> int32', () => tf.cast(tf.tensor1d([true, false, true], 'bool'), 'int32'));
  await compareWithCpu('large float32 -> int32', () => tf.cast(rand([300, 200], 91, 1000), 'int32'));
  await compareWithCpu('float32 -> float32 (shares the data, as on cpu)', () => tf.cast(rand([4], 92), 'float32'));
  await compareWithCpu('cast int32 then arithmetic', () => tf.mul(tf.cast(tf.tensor2d([[1, 2], [3, 4]], [2, 2], 'int32'), 'float32'), 0.5));
});

test('Tile matches cpu for ranks 1-4, int32, and its gradient', async () => {
  const cases: Array<[number[], number[]]> = [[[5], [3]], [[2, 3], [1, 4]], [[2, 3], [3, 1]], [[2, 1, 3], [2, 5, 1]], [[1, 2, 3, 2], [2, 1, 2, 3]], [[0, 3], [2, 2]], [[300, 200], [1, 2]]];
  for (const [i, [shape, reps]] of cases.entries()) {
    await compareWithCpu(`tile ${shape} by ${reps}`, () => tf.tile(rand(shape, 100 + i), reps));
  }
  await compareWithCpu('tile int32', () => tf.tile(tf.tensor2d([[1, 2], [3, 4]], [2, 2], 'int32'), [2, 3]));
  await compareWithCpu('broadcastTo (a tile)', () => tf.broadcastTo(rand([3, 1], 110), [2, 3, 4]));
  await compareWithCpu('tile gradient', () => {
    const w = rand([2, 3, 12], 111);
    return tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.tile(t, [2, 1, 3]), w)))(rand([1, 3, 4], 112));
  });
});

test('Select (tf.where) matches cpu: same shape, row condition, broadcast, int32, gradient', async () => {
  const cond = (shape: number[], seed: number): tf.Tensor => tf.greater(rand(shape, seed), 0);
  await compareWithCpu('where same shape', () => tf.where(cond([4, 9], 120), rand([4, 9], 121), rand([4, 9], 122)));
  await compareWithCpu('where broadcast condition', () => tf.where(cond([9], 123), rand([4, 9], 124), rand([4, 9], 125)));
  await compareWithCpu('where broadcast values', () => tf.where(cond([4, 9], 126), rand([4, 1], 127), tf.scalar(-1)));
  await compareWithCpu('where int32', () => tf.where(tf.tensor1d([true, false, true], 'bool'), tf.tensor1d([1, 2, 3], 'int32'), tf.tensor1d([7, 8, 9], 'int32')));
  await compareWithCpu('where large', () => tf.where(cond([300, 200], 128), rand([300, 200], 129), tf.fill([300, 200], -Infinity)));
  await compareWithCpu('where gradient', () => {
    const c = cond([5, 6], 130);
    return tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.square(tf.where(c, a, b))))([rand([5, 6], 131), rand([5, 6], 132)]);
  });
  await tf.setBackend('native');
  // a rank-1 condition against rank-2 values as the Select kernel takes it (tf.where broadcasts first)
  const out = tf.engine().runKernel('Select', { condition: tf.tensor1d([true, false], 'bool'), t: tf.tensor2d([[1, 2], [3, 4]]), e: tf.tensor2d([[5, 6], [7, 8]]) }) as tf.Tensor;
  assert.deepStrictEqual(Array.from(out.dataSync()), [1, 2, 7, 8]);
  out.dispose();
});

test('TopK matches cpu: values, indices, ties by lower index, k = 0 and all, NaN rows, gradient', async () => {
  await compareWithCpu('topk rows', () => { const r = tf.topk(rand([7, 50], 160), 5); return [r.values, r.indices]; });
  await compareWithCpu('topk 3d', () => { const r = tf.topk(rand([2, 3, 40], 161), 7); return [r.values, r.indices]; });
  await compareWithCpu('topk 1d all', () => { const r = tf.topk(rand([9], 162), 9); return [r.values, r.indices]; });
  await compareWithCpu('topk k 0', () => { const r = tf.topk(rand([3, 4], 163), 0); return [r.values, r.indices]; });
  await compareWithCpu('topk ties', () => { const r = tf.topk(tf.tensor2d([[1, 3, 3, 0, 3], [2, 2, 2, 2, 2]]), 3); return [r.values, r.indices]; });
  await compareWithCpu('topk infinities', () => { const r = tf.topk(tf.tensor1d([-Infinity, 1, Infinity, 0, -0]), 4); return [r.values, r.indices]; });
  await compareWithCpu('topk a NaN row uses the cpu kernel', () => { const r = tf.topk(tf.tensor2d([[1, NaN, 2], [3, 1, 2]]), 2); return [r.values, r.indices]; });
  await compareWithCpu('topk large', () => { const r = tf.topk(rand([64, 3000], 164), 32); return [r.values, r.indices]; });
  await compareWithCpu('training topk activation and its gradient', () => {
    const x = rand([6, 40], 165) as tf.Tensor2D;
    return [topkActivation(x, 4), tf.grad((t: tf.Tensor) => tf.sum(tf.square(topkActivation(t as tf.Tensor2D, 4))))(x)];
  });
});

test('pow by 1 (the gradient of x^2) and the decoder-norm gradient match cpu', async () => {
  await compareWithCpu('pow by 1', () => tf.pow(tf.tensor1d([-2, -0, 0, 1.5, Infinity, -Infinity, NaN]), tf.scalar(1)));
  const w = randomValues(40 * 12, 140);
  await compareWithCpu('norm gradient', () => {
    const wDec = tf.tensor2d(w, [40, 12]);
    const acts = tf.relu(rand([8, 40], 141));
    return tf.grad((t: tf.Tensor) => tf.sum(tf.mul(acts, tf.norm(t, 'euclidean', 1))))(wDec);
  }, 1e-6, 1e-5);
});

test('rowNorm: values and gradient by hand, and as tf.norm on random rows (on native and cpu)', async () => {
  for (const backend of ['native', 'cpu']) {
    await tf.setBackend(backend);
    const x = tf.tensor2d([[3, 4], [0, 0], [-1, 0]]);
    const [value, grad] = tf.tidy(() => [rowNorm(x as tf.Tensor2D), tf.grad((t: tf.Tensor) => tf.sum(rowNorm(t as tf.Tensor2D)))(x)]);
    assert.deepStrictEqual(Array.from(value.dataSync()), [5, 0, 1], backend);
    // d|x|/dx = x / |x|; torch's convention gives 0 for a zero row
    assert.deepStrictEqual(Array.from(grad.dataSync()).map((v) => Math.round(v * 1e6) / 1e6), [0.6, 0.8, 0, 0, -1, 0], backend);
    tf.dispose([x, value, grad]);
  }
  await compareWithCpu('rowNorm against tf.norm', () => {
    const x = rand([30, 17], 150);
    const w = rand([30], 151);
    const f = (norm: (t: tf.Tensor) => tf.Tensor) => tf.grad((t: tf.Tensor) => tf.sum(tf.mul(norm(t), w)))(x);
    return [rowNorm(x as tf.Tensor2D), f((t) => rowNorm(t as tf.Tensor2D)), tf.norm(x, 'euclidean', 1), f((t) => tf.norm(t, 'euclidean', 1))];
  }, 1e-6, 1e-5);
});

test('inPlaceBinary (weight processing) gives tf.sub / tf.mul values, in place only where nothing else shares the buffer', async () => {
  await tf.setBackend('native');
  const av = randomValues(6 * 5, 31), bv = randomValues(5, 32);
  for (const op of ['Sub', 'Multiply', 'Add', 'RealDiv'] as const) {
    // expected, element by element in float32 (b broadcast over the rows)
    const want = Float32Array.from(av, (x, k) => {
      const y = bv[k % 5];
      return op === 'Sub' ? x - y : op === 'Multiply' ? x * y : op === 'Add' ? x + y : x / y;
    });
    const a = tf.tensor2d(av.slice(), [6, 5]);
    const b = tf.tensor2d(bv, [1, 5]);
    const buffers = tf.memory().numDataBuffers;
    const r = inPlaceBinary(a, b, op);
    assert.ok(r, `${op}: the native backend runs it`);
    assert.strictEqual(tf.memory().numDataBuffers, buffers, `${op}: the result is written into a's buffer (no new buffer)`);
    a.dispose();
    assert.deepStrictEqual(Array.from(r!.dataSync()), Array.from(want), op);
    tf.dispose([r!, b]);
  }
  // a buffer shared by a clone is not written: the clone keeps its values
  const a = tf.tensor2d(av.slice(), [6, 5]);
  const keep = a.clone();
  const b = tf.tensor2d(bv, [1, 5]);
  const r = inPlaceBinary(a, b, 'Multiply')!;
  assert.deepStrictEqual(Array.from(keep.dataSync()), Array.from(av), 'the clone is unchanged');
  assert.deepStrictEqual(Array.from(r.dataSync()), Array.from(av, (x, k) => Math.fround(x * bv[k % 5])));
  tf.dispose([a, keep, b, r]);
  // cpu (and wasm): not run, the caller uses the tfjs op
  await tf.setBackend('cpu');
  const c = tf.tensor1d([1, 2]), one = tf.scalar(1);
  assert.strictEqual(inPlaceBinary(c, one, 'Sub'), undefined);
  tf.dispose([c, one]);
  await tf.setBackend('native');
});
