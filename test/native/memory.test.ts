import { before, test } from 'node:test';
import * as assert from 'assert';
import * as tf from '@tensorflow/tfjs';
import * as v8 from 'v8';
import * as vm from 'vm';
import { activation } from '../../lib/model/components';
import { setupBackend } from '../helpers';
import { rand, requireNative } from './compare';

/** A full garbage collection (node's gc(), enabled at run time), so that what is measured is what is still reachable. */
async function collectGarbage(): Promise<void> {
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as () => void;
  // twice, with a turn of the event loop between: backing stores are released after the collection
  for (let i = 0; i < 2; i++) {
    gc();
    await new Promise((resolve) => setImmediate(resolve));
  }
}

before(async () => {
  await setupBackend();
  requireNative();
});

test('1,000 forward+backward iterations on native keep tensors, bytes, data ids and RSS flat', async () => {
  await tf.setBackend('native');
  const backend = tf.backend() as unknown as { numDataIds(): number };
  const table = tf.variable(rand([50, 32], 1, 0.5));
  const w1 = tf.variable(rand([32, 64], 2, 0.3));
  const w2 = tf.variable(rand([64, 32], 3, 0.3));
  const ids = tf.tensor2d(Array.from({ length: 4 * 16 }, (_, i) => (i * 7) % 50), [4, 16], 'int32');
  const opt = tf.train.adam(1e-3);
  const step = (): void => {
    const loss = opt.minimize(() => {
      const x = tf.gather(table, ids).reshape([64, 32]); // [tokens, d]
      const h = activation('gelu_new', tf.matMul(x, w1)); // [tokens, 64] (the fused GELU kernel and its gradient)
      const logits = tf.matMul(h, w2).reshape([4, 16, 32]);
      const att = tf.softmax(tf.matMul(logits, logits, false, true)); // [4, 16, 16]
      return tf.mean(tf.square(tf.sub(tf.matMul(att, logits), 1))) as tf.Scalar;
    }, true, [table, w1, w2]);
    loss!.dataSync();
    loss!.dispose();
  };
  // warm-up: optimizer slots and caches are created, and the JS heap and malloc arenas reach their working size
  for (let i = 0; i < 200; i++) step();
  await collectGarbage();
  const before = { mem: tf.memory(), ids: backend.numDataIds(), rss: process.memoryUsage().rss, arrays: process.memoryUsage().arrayBuffers, heap: process.memoryUsage().heapUsed };
  for (let i = 0; i < 1000; i++) step();
  await collectGarbage();
  const after = { mem: tf.memory(), ids: backend.numDataIds(), rss: process.memoryUsage().rss, arrays: process.memoryUsage().arrayBuffers, heap: process.memoryUsage().heapUsed };
  assert.strictEqual(after.mem.numTensors, before.mem.numTensors, 'tensor count grew');
  assert.strictEqual(after.mem.numBytes, before.mem.numBytes, 'tensor bytes grew');
  assert.strictEqual(after.ids, before.ids, 'backend data ids grew');
  // Each iteration allocates ~100 KB of arrays; a leak of them would add ~100 MB. After a full GC the
  // arrays still reachable are those of the variables and optimizer slots, the same before and after.
  const grownArraysKb = (after.arrays - before.arrays) / 1024;
  assert.ok(grownArraysKb < 64, `live ArrayBuffers grew by ${grownArraysKb.toFixed(1)} KB over 1,000 iterations`);
  const heapMb = (after.heap - before.heap) / 2 ** 20;
  assert.ok(heapMb < 4, `the JS heap in use grew by ${heapMb.toFixed(1)} MB over 1,000 iterations`);
  // RSS also holds the JS heap's and malloc's free space, which settle during the warm-up
  const grownMb = (after.rss - before.rss) / 2 ** 20;
  assert.ok(grownMb < 40, `RSS grew by ${grownMb.toFixed(1)} MB over 1,000 iterations`);
  opt.dispose();
  tf.dispose([table, w1, w2, ids]);
});
