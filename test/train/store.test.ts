import { before, test } from 'node:test';
import * as assert from 'assert';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { setupBackend, tmpDir, assertClose } from '../helpers';
import { ActivationStore } from '../../lib/train/store';
import { InMemorySource, SafetensorsActivationSource } from '../../lib/train/sources';
import { writeSafetensors } from '../../lib/io/safetensors';

before(setupBackend);

/** rows [i, -i] so a row's identity and integrity can be checked */
function idRows(n: number): Float32Array {
  const d = new Float32Array(2 * n);
  for (let i = 0; i < n; i++) {
    d[2 * i] = i;
    d[2 * i + 1] = -i;
  }
  return d;
}

async function serve(store: ActivationStore, batches: number): Promise<number[]> {
  const ids: number[] = [];
  for (let b = 0; b < batches; b++) {
    const t = await store.nextBatch();
    const v = t.dataSync();
    t.dispose();
    for (let i = 0; i < v.length; i += 2) {
      assert.strictEqual(v[i + 1], -v[i], 'rows stay intact');
      ids.push(v[i]);
    }
  }
  return ids;
}

test('mixing buffer: refilled when the served half is used up, every read row served at most once, shuffled', async () => {
  const store = new ActivationStore(new InMemorySource(idRows(1000), 2, { chunkTokens: 7, loop: false }), { batchTokens: 5, nBatchesInBuffer: 4, seed: 3 });
  await store.init();
  const ids = await serve(store, 10); // 50 rows: initial 10 kept + 5 refills of 10 read = 60 rows read
  assert.strictEqual(new Set(ids).size, 50, 'no row is served twice');
  const kept = Array.from(store.storageBuffer().dataSync()).filter((_, i) => i % 2 === 0);
  assert.deepStrictEqual([...ids, ...kept].sort((a, b) => a - b), Array.from({ length: 60 }, (_, i) => i), 'served + kept = exactly the rows read');
  assert.notDeepStrictEqual(ids, [...ids].sort((a, b) => a - b), 'order is shuffled');
  assert.strictEqual(store.servedTokens, 50);
});

test('store state restores to the same future batches (source position, buffer, pending rows, RNG)', async () => {
  const make = () => new ActivationStore(new InMemorySource(idRows(500), 2, { chunkTokens: 7 }), { batchTokens: 5, nBatchesInBuffer: 4, seed: 11 });
  const a = make();
  await a.init();
  await serve(a, 3);
  const snap = a.getState();
  const rest = await serve(a, 9);
  const b = make();
  await b.restore(snap);
  assert.deepStrictEqual(await serve(b, 9), rest);
});

test('expected_average_only_in scale = sqrt(d_in) / mean |x| over the buffer', async () => {
  // rows [3,4] and [6,8]: norms 5 and 10, mean 7.5
  const data = new Float32Array([3, 4, 6, 8, 3, 4, 6, 8]);
  const store = new ActivationStore(new InMemorySource(data, 2), { batchTokens: 2, nBatchesInBuffer: 2, seed: 0 });
  await store.init();
  assertClose([store.estimateNormScalingFactor(100)], [Math.SQRT2 / 7.5], 1e-6);
  const b = await store.nextBatch();
  const v = b.dataSync();
  assertClose([Math.hypot(v[0], v[1]) + Math.hypot(v[2], v[3])], [(15 * Math.SQRT2) / 7.5], 1e-5);
});

test('safetensors source reads rows in chunks across files ([batch, pos, d] flattened, F16 decoded) and loops', async () => {
  const dir = tmpDir();
  const a = Float32Array.from({ length: 2 * 3 * 4 }, (_, i) => i); // [2, 3, 4]: rows 0..5
  const bvals = Float32Array.from({ length: 2 * 4 }, (_, i) => 100 + i); // rows 6..7, exact in f16
  writeSafetensors(path.join(dir, 'a.safetensors'), { acts: { shape: [2, 3, 4], data: a } });
  writeSafetensors(path.join(dir, 'b.safetensors'), { acts: { dtype: 'F16', shape: [2, 4], data: bvals } });
  const src = new SafetensorsActivationSource([path.join(dir, 'a.safetensors'), path.join(dir, 'b.safetensors')], 'acts', { chunkTokens: 4 });
  assert.strictEqual(src.dIn, 4);
  const rows: number[] = [];
  for (let i = 0; i < 4; i++) {
    const t = (await src.next())!;
    rows.push(...Array.from(t.dataSync()));
    t.dispose();
  }
  // chunks: rows 0-3, 4-5 (end of file a), 6-7 (file b), 0-3 again
  assert.deepStrictEqual(rows, [...Array.from(a), ...Array.from(bvals), ...Array.from(a.subarray(0, 16))]);
  assert.throws(() => new SafetensorsActivationSource([path.join(dir, 'a.safetensors')], 'nope'), /no tensor 'nope'.*--tensor/);
  tf.disposeVariables();
});
