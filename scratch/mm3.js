const tf = require('@tensorflow/tfjs');
const { initBackend } = require('../dist/lib/backend');
(async () => {
  await initBackend();
  const q = tf.randomNormal([96, 128, 64]); const q1 = tf.reshape(q, [-1]); const q2 = tf.reshape(q, [96, 8192]);
  const time = (name, f) => { tf.dispose(f()); const t0 = performance.now(); for (let i = 0; i < 3; i++) { const y = f(); (Array.isArray(y) ? y[0] : y).dataSync(); tf.dispose(y); } console.log(name, ((performance.now() - t0) / 3).toFixed(1), 'ms'); };
  time('slices 3d', () => Array.from({ length: 96 }, (_, i) => tf.slice(q, [i, 0, 0], [1, -1, -1])));
  time('slices 1d', () => Array.from({ length: 96 }, (_, i) => tf.slice(q1, [i * 8192], [8192])));
  time('slices 2d', () => Array.from({ length: 96 }, (_, i) => tf.slice(q2, [i, 0], [1, 8192])));
  time('one slice', () => tf.slice(q, [3, 0, 0], [1, -1, -1]));
  time('add', () => tf.add(q, 1));
})();
