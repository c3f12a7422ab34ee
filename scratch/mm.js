const tf = require('@tensorflow/tfjs');
const { initBackend } = require('../dist/lib/backend');
(async () => {
  await initBackend();
  const q = tf.randomNormal([8, 12, 128, 64]); const k = tf.randomNormal([8, 12, 128, 64]); const kt = tf.transpose(k, [0, 1, 3, 2]);
  const time = (name, f) => { f().dispose(); const t0 = performance.now(); for (let i = 0; i < 3; i++) { const y = f(); y.dataSync(); y.dispose(); } console.log(name, ((performance.now() - t0) / 3).toFixed(1), 'ms'); };
  time('batch transB', () => tf.matMul(q, k, false, true));
  time('batch pre-transposed', () => tf.matMul(q, kt));
  const q3 = tf.reshape(q, [96, 128, 64]); const kt3 = tf.reshape(kt, [96, 64, 128]);
  time('rank3', () => tf.matMul(q3, kt3));
  const W = tf.randomNormal([2000, 768]); const ids = tf.zeros([1024], 'int32');
  time('gather', () => tf.gather(W, ids));
  const a = tf.randomNormal([1024, 768]); const w = tf.randomNormal([768, 3072]);
  time('mm 1024x768x3072', () => tf.matMul(a, w));
})();
(async () => {
  await new Promise((r) => setTimeout(r, 100));
  await initBackend();
  const q = tf.randomNormal([96, 128, 64]); const kt = tf.randomNormal([96, 64, 128]);
  const time = (name, f) => { tf.dispose(f()); const t0 = performance.now(); for (let i = 0; i < 3; i++) { const y = f(); (Array.isArray(y) ? y[0] : y).dataSync(); tf.dispose(y); } console.log(name, ((performance.now() - t0) / 3).toFixed(1), 'ms'); };
  time('fused batch', () => tf.fused.matMul({ a: q, b: kt }));
  const qs = tf.unstack(q), ks = tf.unstack(kt);
  time('96 x 2D', () => qs.map((x, i) => tf.matMul(x, ks[i])));
  const a2 = tf.randomNormal([128, 64]); const b2 = tf.randomNormal([64, 128 * 96]);
  time('one 2D 128x64x12288', () => tf.matMul(a2, b2));
  const a = tf.randomNormal([1024, 768]); const w = tf.randomNormal([768, 3072]);
  time('mm 1024x768x3072 again', () => tf.matMul(a, w));
})();
