const tf = require('@tensorflow/tfjs');
const { initBackend } = require('../dist/lib/backend');
(async () => {
  await initBackend();
  const q = tf.randomNormal([96, 128, 64]); const k = tf.randomNormal([96, 128, 64]); const kt = tf.randomNormal([96, 64, 128]);
  const time = (name, f) => { tf.dispose(f()); const t0 = performance.now(); for (let i = 0; i < 3; i++) { const y = f(); (Array.isArray(y) ? y[0] : y).dataSync(); tf.dispose(y); } console.log(name, ((performance.now() - t0) / 3).toFixed(1), 'ms'); };
  time('unstack', () => tf.unstack(q));
  time('split', () => tf.split(q, 96, 0));
  time('slices', () => Array.from({ length: 96 }, (_, i) => tf.slice(q, [i, 0, 0], [1, -1, -1])));
  const qs = tf.split(q, 96, 0).map((x) => x.reshape([128, 64])), ks = tf.split(k, 96, 0).map((x) => x.reshape([128, 64])), kts = tf.split(kt, 96, 0).map((x) => x.reshape([64, 128]));
  time('96 x 2D transB', () => qs.map((x, i) => tf.matMul(x, ks[i], false, true)));
  time('96 x 2D plain', () => qs.map((x, i) => tf.matMul(x, kts[i])));
  time('batched transB', () => tf.matMul(q, k, false, true));
  time('batched plain', () => tf.matMul(q, kt));
  time('stack', () => tf.stack(qs));
  time('concat', () => tf.concat(qs.map(x => x.expandDims(0)), 0));
})();
