import { test } from 'node:test';
import * as assert from 'assert';
import { parseShard, formatShard, shardBatchRange, batchRangeRows } from '../../lib/stages/shard/spec';

test('parseShard reads 0-based i/n and refuses bad forms naming the value', () => {
  assert.deepStrictEqual(parseShard('0/3'), { index: 0, count: 3 });
  assert.deepStrictEqual(parseShard('2/3'), { index: 2, count: 3 });
  assert.strictEqual(formatShard({ index: 1, count: 4 }), '1/4');
  assert.throws(() => parseShard('3/3'), /'3\/3'.*0-based.*0\/3 \.\. 2\/3/);
  assert.throws(() => parseShard('1-3'), /'1-3' is not of the form i\/n/);
  assert.throws(() => parseShard('0/0'), /at least 1/);
  assert.throws(() => parseShard('-1/3'), /not of the form/);
});

test('shardBatchRange: 8 batches in 3 shards are 0-3, 3-6, 6-8 (sizes 3, 3, 2)', () => {
  const r = [0, 1, 2].map((index) => shardBatchRange(8, { index, count: 3 }));
  assert.deepStrictEqual(r, [{ first: 0, count: 3 }, { first: 3, count: 3 }, { first: 6, count: 2 }]);
});

test('shardBatchRange covers [0, total) contiguously, sizes within one, for many totals and counts', () => {
  for (let total = 0; total <= 23; total++) {
    for (let count = 1; count <= 7; count++) {
      let next = 0;
      const sizes: number[] = [];
      for (let index = 0; index < count; index++) {
        const r = shardBatchRange(total, { index, count });
        assert.strictEqual(r.first, next, `total ${total} count ${count} shard ${index}`);
        next += r.count;
        sizes.push(r.count);
      }
      assert.strictEqual(next, total);
      assert.ok(Math.max(...sizes) - Math.min(...sizes) <= 1);
      assert.strictEqual(sizes[0], Math.ceil(total / count));
    }
  }
});

test('more shards than batches leaves the last shards empty', () => {
  assert.deepStrictEqual([0, 1, 2, 3].map((index) => shardBatchRange(2, { index, count: 4 }).count), [1, 1, 0, 0]);
});

test('batchRangeRows turns batches into sequence rows, clipping a short last batch', () => {
  assert.deepStrictEqual(batchRangeRows({ first: 2, count: 2 }, 16, 128), { start: 32, end: 64 });
  assert.deepStrictEqual(batchRangeRows({ first: 6, count: 2 }, 16, 100), { start: 96, end: 100 });
});
