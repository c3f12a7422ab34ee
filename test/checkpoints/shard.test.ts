/**
 * Stage 10 on SLURM: two shards (one checkpoint each) and the merge give exactly what a single run gives
 * (same summaries, bit-identical SAE weights), a rerun reuses the shards, and an incomplete set of shards is
 * refused. A tiny budget on two demo checkpoints.
 */
import { before, test } from 'node:test';
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { setupBackend, tmpDir } from '../helpers';
import { headlessStage } from '../../lib/stages/shard/context';
import { SHARDABLE_STAGES, STAGE_FUNCTIONS, resolveStageName } from '../../lib/stages/registry';
import { STAGE_CHECKPOINT_SAES, CheckpointSaesResult } from '../../lib/stages/checkpointSaes';
import { SAELAB_ROOT } from '../../lib/version';

before(setupBackend);

const TINY = {
  name: 'tiny-checkpoints',
  checkpoints: {
    checkpoints: [{ label: 'step0', step: 0, revision: 'step0' }, { label: 'step300', step: 300, revision: 'step300' }],
    training: { expansionFactor: 2, l1Coefficient: 3, lr: 0.003, trainingTokens: 2048, trainBatchSizeTokens: 256, seed: 0, nCheckpoints: 2 },
    trainBatches: 2, evalBatches: 1, batchSize: 8, streamTokens: 6000,
  },
};

test('stage 10 sharded by checkpoint and merged equals the single run', async () => {
  const cfgFile = path.join(tmpDir(), 'tiny.json');
  fs.writeFileSync(cfgFile, JSON.stringify(TINY));
  const single = `test-ckshard-single-${process.pid}`;
  const sharded = `test-ckshard-sharded-${process.pid}`;
  try {
    assert.strictEqual(resolveStageName('10'), STAGE_CHECKPOINT_SAES);
    assert.ok(STAGE_FUNCTIONS['11_feature_matching'] && STAGE_FUNCTIONS['12_circuits_over_time']);
    const one = (await STAGE_FUNCTIONS[STAGE_CHECKPOINT_SAES](await headlessStage(STAGE_CHECKPOINT_SAES, { config: cfgFile, runName: single }))) as CheckpointSaesResult;

    const st = SHARDABLE_STAGES[STAGE_CHECKPOINT_SAES];
    const ctx = await headlessStage(STAGE_CHECKPOINT_SAES, { config: cfgFile, runName: sharded });
    assert.strictEqual(st.totalBatches(ctx.config), 2);
    const s0 = await st.shard(ctx, { index: 0, count: 2 });
    assert.strictEqual(s0.reused, false);
    await assert.rejects(st.merge(ctx, 2), /shard/i, 'a merge with a shard missing is refused');
    const s1 = await st.shard(ctx, { index: 1, count: 2 });
    assert.deepStrictEqual([s0.record.range, s1.record.range], [{ first: 0, count: 1 }, { first: 1, count: 1 }]);
    assert.strictEqual((await st.shard(ctx, { index: 1, count: 2 })).reused, true);
    const merged = (await st.merge(ctx, 2)) as CheckpointSaesResult;
    assert.strictEqual(merged.reused, false);
    assert.deepStrictEqual(merged.table, one.table);
    for (const label of ['step0', 'step300']) {
      const w = (run: string) => fs.readFileSync(path.join(SAELAB_ROOT, 'runs', run, STAGE_CHECKPOINT_SAES, 'sweep', label, 'sae', 'sae_weights.safetensors'));
      assert.ok(w(single).equals(w(sharded)), `${label}: SAE weights of the shard equal the single run's`);
    }
    const tok = (run: string) => fs.readFileSync(path.join(SAELAB_ROOT, 'runs', run, STAGE_CHECKPOINT_SAES, 'eval_tokens.safetensors'));
    assert.ok(tok(single).equals(tok(sharded)));
  } finally {
    delete process.env.SAELAB_RUN_DIR;
    for (const r of [single, sharded]) fs.rmSync(path.join(SAELAB_ROOT, 'runs', r), { recursive: true, force: true });
  }
});
