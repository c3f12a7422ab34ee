import { before, test } from 'node:test';
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { setupBackend, tmpDir } from '../helpers';
import { setupStage, StageContext } from '../../lib/notebook/stage';
import { shardBatchRange, shardDir } from '../../lib/stages/shard';
import { SHARDABLE_STAGES } from '../../lib/stages/registry';
import { CROSSLAYER_ROW_BLOCKS, STAGE_CROSSLAYER, crossLayerShardRows, crossLayerStage } from '../../lib/stages/crosslayer';
import { SafetensorsFile } from '../../lib/io/safetensors';
import { compareRuns } from '../../lib/pipeline/compareRuns';

// Stage 07 on the shipped demo world (4 layers x 512 features) over 4 batches of 16 x 64 tokens, with
// dead-feature checkpoints every batch and a resumable-state save every 2 batches (as in a long run).
before(setupBackend);

const root = tmpDir('saelab-crosslayer-shards-');
const configFile = path.join(root, 'xl-tiny.json');
fs.writeFileSync(configFile, JSON.stringify({
  name: 'xl-tiny',
  crosslayer: { tokens: 4096, checkpointTokens: 1024, saveEveryTokens: 2048, graph: { contexts: 2, contextTokens: 1024 } },
}));

async function ctxFor(runDir: string): Promise<StageContext> {
  process.env.SAELAB_RUN_DIR = runDir;
  return setupStage(STAGE_CROSSLAYER, { config: configFile, quiet: true });
}

test('row shards tile layer L\'s features: contiguous, in order, without gaps or overlaps (empty when shards outnumber features)', () => {
  for (const [d, n] of [[512, 3], [512, 7], [24576, 16], [3, 5], [1000, 1]]) {
    let next = 0;
    for (let i = 0; i < n; i++) {
      const [r0, r1] = crossLayerShardRows(shardBatchRange(CROSSLAYER_ROW_BLOCKS, { index: i, count: n }), d);
      assert.strictEqual(r0, next, `d ${d}, shard ${i}/${n} starts where the last ended`);
      assert.ok(r1 >= r0 && r1 - r0 <= Math.ceil(d / n) + 1, `d ${d}, shard ${i}/${n}: ${r1 - r0} rows`);
      next = r1;
    }
    assert.strictEqual(next, d, `d ${d}: ${n} shards cover every feature`);
  }
  // 512 features over 1024 blocks: 3 shards take blocks 0..342, 342..683, 683..1024, i.e. rows (block x 512 / 1024)
  assert.deepStrictEqual([0, 1, 2].map((i) => crossLayerShardRows(shardBatchRange(CROSSLAYER_ROW_BLOCKS, { index: i, count: 3 }), 512)), [[0, 171], [171, 341], [341, 512]]);
});

test('stage 07 split into 3 row shards and merged writes the single run\'s files bit for bit', async () => {
  const st = SHARDABLE_STAGES[STAGE_CROSSLAYER];
  assert.ok(st, 'stage 07 is data-parallel');
  const single = path.join(root, 'single');
  const sharded = path.join(root, 'sharded');
  await crossLayerStage(await ctxFor(single));
  const ctx = await ctxFor(sharded);
  const rows: Array<[number, number]> = [];
  for (let i = 0; i < 3; i++) {
    const { record, reused } = await st.shard(ctx, { index: i, count: 3 });
    assert.strictEqual(reused, false);
    const state = JSON.parse(fs.readFileSync(path.join(shardDir(ctx.stageDir, { index: i, count: 3 }), 'collector', 'state.json'), 'utf8'));
    assert.strictEqual(state.tokens, 4096, `shard ${i} reads every token`);
    rows.push(state.config.rows);
    assert.deepStrictEqual(record.files, ['collector', 'state.json']);
    assert.ok(!fs.existsSync(`${shardDir(ctx.stageDir, { index: i, count: 3 })}.state`), 'the shard\'s resumable state is removed after success');
  }
  assert.deepStrictEqual(rows, [[0, 171], [171, 341], [341, 512]]);
  assert.strictEqual((await st.shard(ctx, { index: 1, count: 3 })).reused, true, 'a finished shard is not recomputed');
  assert.ok(!fs.existsSync(path.join(ctx.stageDir, 'manifest.json')), 'no complete-looking stage before the merge');
  const merged = await st.merge(ctx, 3) as { reused: boolean; tokens: number };
  assert.strictEqual(merged.reused, false);
  assert.strictEqual(merged.tokens, 4096);

  const a = path.join(single, STAGE_CROSSLAYER);
  const b = path.join(sharded, STAGE_CROSSLAYER);
  const files = fs.readdirSync(a).filter((f) => !['manifest.json', 'shards'].includes(f)).sort();
  assert.deepStrictEqual(files, ['collection.json', 'dead_features.safetensors', 'graph.html', 'graph.json', 'max_activations.safetensors',
    'pair_0_1.safetensors', 'pair_1_2.safetensors', 'pair_2_3.safetensors', 'pass_through.json', 'results.json', 'summary.json']);
  assert.deepStrictEqual(fs.readdirSync(b).filter((f) => !['manifest.json', 'shards'].includes(f)).sort(), files, 'the same files');
  // the statistics files byte for byte (tensors, their order and metadata), the graph page too
  for (const f of files.filter((x) => x.endsWith('.safetensors') || x === 'graph.html' || x === 'graph.json' || x === 'pass_through.json')) {
    assert.ok(fs.readFileSync(path.join(a, f)).equals(fs.readFileSync(path.join(b, f))), `${f} is byte-identical`);
  }
  // the dead-pair series is the part token shards could not reproduce: check it is there and not trivial
  const df = SafetensorsFile.open(path.join(b, 'dead_features.safetensors'));
  const deadPairs = Array.from(df.readRaw('dead_feature_pairs').data as BigInt64Array, Number);
  assert.deepStrictEqual(df.info('dead_feature_pairs').shape, [5, 3, 4]);
  df.close();
  assert.ok(deadPairs.some((v) => v > 0 && v < 512 * 512), 'dead-pair counts between none and all');
  // every JSON number (results, summary, collection record) exactly equal, times and memory figures aside
  assert.deepStrictEqual(compareRuns(single, sharded, { rtol: 0, atol: 0 }), []);
  const sum = JSON.parse(fs.readFileSync(path.join(b, 'summary.json'), 'utf8'));
  assert.deepStrictEqual([sum.tokens, sum.rows, sum.steps], [4096, [0, 512], 4]);
});
