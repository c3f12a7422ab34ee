import { test } from 'node:test';
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { tmpDir } from '../helpers';
import { beginShard, finishShard, completeShard, readShardsForMerge, shardDir, shardBatchRange, writeShardState, SHARD_RECORD } from '../../lib/stages/shard';

const STAGE = '02_compute_similarities';
const INPUTS = { activations: { model: 'a', revision: 'r1', nBatches: 8 } };

/** Write shard i/n as a finished stage shard would. */
function makeShard(stageDir: string, index: number, count: number, opts: { inputs?: unknown; provenance?: Record<string, unknown>; total?: number; finish?: boolean } = {}): void {
  const total = opts.total ?? 8;
  const dir = beginShard(stageDir, { index, count });
  const file = writeShardState(dir, { index });
  if (opts.finish === false) return;
  finishShard(stageDir, { stage: STAGE, index, count, range: shardBatchRange(total, { index, count }), totalBatches: total, batchSize: 4, provenance: opts.provenance ?? { revisions: { base: 'abc' } }, files: [file] }, opts.inputs ?? INPUTS);
}

test('three finished shards are read in order for merging', () => {
  const dir = tmpDir();
  for (let i = 0; i < 3; i++) makeShard(dir, i, 3);
  const recs = readShardsForMerge(dir, STAGE, INPUTS, 3, 8);
  assert.deepStrictEqual(recs.map((r) => r.range), [{ first: 0, count: 3 }, { first: 3, count: 3 }, { first: 6, count: 2 }]);
});

test('a killed shard (files, no shard.json) is not complete and merge names it; rerunning it starts from an empty folder', () => {
  const dir = tmpDir();
  makeShard(dir, 0, 3);
  makeShard(dir, 1, 3, { finish: false });
  makeShard(dir, 2, 3);
  assert.strictEqual(completeShard(dir, STAGE, INPUTS, { index: 1, count: 3 }, 8), null);
  assert.ok(completeShard(dir, STAGE, INPUTS, { index: 0, count: 3 }, 8));
  assert.throws(() => readShardsForMerge(dir, STAGE, INPUTS, 3, 8), /02_compute_similarities shard 1\/3 is not complete.*--shard 1\/3/);
  fs.writeFileSync(path.join(shardDir(dir, { index: 1, count: 3 }), 'partial.bin'), 'x');
  beginShard(dir, { index: 1, count: 3 });
  assert.deepStrictEqual(fs.readdirSync(shardDir(dir, { index: 1, count: 3 })), []);
});

test('a shard computed from another config (model revision) is refused at merge, naming the shard', () => {
  const dir = tmpDir();
  makeShard(dir, 0, 3);
  makeShard(dir, 1, 3);
  makeShard(dir, 2, 3, { inputs: { activations: { model: 'a', revision: 'r2', nBatches: 8 } } });
  assert.throws(() => readShardsForMerge(dir, STAGE, INPUTS, 3, 8), /shard 2\/3 was computed from a different config/);
  assert.strictEqual(completeShard(dir, STAGE, INPUTS, { index: 2, count: 3 }, 8), null, 'and it is recomputed on rerun');
});

test('shards whose model commits differ are refused, naming the shard', () => {
  const dir = tmpDir();
  makeShard(dir, 0, 2);
  makeShard(dir, 1, 2, { provenance: { revisions: { base: 'def' } } });
  assert.throws(() => readShardsForMerge(dir, STAGE, INPUTS, 2, 8), /shard 1\/2 was computed from other models than shard 0\/2/);
});

test('a different token range layout is refused, naming the shard', () => {
  const dir = tmpDir();
  makeShard(dir, 0, 2);
  makeShard(dir, 1, 2, { total: 10 });
  assert.throws(() => readShardsForMerge(dir, STAGE, INPUTS, 2, 8), /shard 1\/2 has token range layout batches 5\.\.10 of 10, expected to start at batch 4 of 8/);
});

test('a shard record whose listed file is gone is refused', () => {
  const dir = tmpDir();
  makeShard(dir, 0, 1);
  fs.rmSync(path.join(shardDir(dir, { index: 0, count: 1 }), 'state.json'));
  assert.ok(fs.existsSync(path.join(shardDir(dir, { index: 0, count: 1 }), SHARD_RECORD)));
  assert.throws(() => readShardsForMerge(dir, STAGE, INPUTS, 1, 8), /shard 0\/1 lists files that are missing \(state\.json\)/);
});
