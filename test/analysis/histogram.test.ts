import { before, test } from 'node:test';
import * as assert from 'assert';
import * as tf from '@tensorflow/tfjs';
import { setupBackend, assertClose } from '../helpers';
import { MinMaxAccumulator, StreamingHistogram, histogram } from '../../lib/analysis';
import { FX, nums } from './fixtures';

before(setupBackend);

test('numpy.histogram bins by hand: equal width, last bin closed', () => {
  const h = histogram([0, 1, 2, 3], { bins: 3 });
  assert.deepStrictEqual(Array.from(h.edges), [0, 1, 2, 3]);
  assert.deepStrictEqual(Array.from(h.counts), [1, 1, 2]);
});

test('histogram matches numpy.histogram on the fixture cases', () => {
  for (const c of FX.histogram) {
    const h = histogram(nums(c.values), { bins: c.bins, range: c.range ?? undefined });
    assertClose(h.edges, c.edges, 1e-12, 1e-12, `edges bins=${c.bins}`);
    assert.deepStrictEqual(Array.from(h.counts), c.counts, `counts bins=${c.bins} range=${c.range}`);
  }
});

test('NaN: excluded with an explicit range, an error without one', () => {
  assert.deepStrictEqual(Array.from(histogram([0, NaN, 1], { bins: 2, range: [0, 1] }).counts), [1, 1]);
  assert.throws(() => histogram([0, NaN, 1], { bins: 2 }), /not finite/);
  assert.throws(() => histogram([1], { bins: 0 }), /positive integer/);
});

test('streaming histogram over batches and shards equals one pass', () => {
  const c = FX.histogram[0];
  const vals = nums(c.values);
  const mm = new MinMaxAccumulator();
  mm.add(vals.slice(0, 70));
  const mm2 = MinMaxAccumulator.fromJSON(JSON.parse(JSON.stringify(new MinMaxAccumulator().toJSON())));
  mm2.add(tf.tensor1d(vals.slice(70)));
  mm.merge(mm2);
  const a = new StreamingHistogram([mm.min, mm.max], c.bins);
  const b = new StreamingHistogram([mm.min, mm.max], c.bins);
  a.add(vals.slice(0, 120));
  b.add(tf.tensor1d(vals.slice(120)));
  const merged = StreamingHistogram.fromJSON(a.toJSON()).merge(b).result();
  assert.deepStrictEqual(Array.from(merged.counts), c.counts);
  assert.throws(() => a.merge(new StreamingHistogram([0, 1], c.bins)), /different edges/);
});
