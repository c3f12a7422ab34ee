import { before, test } from 'node:test';
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { setupBackend, tmpDir } from '../helpers';
import { setupStage, StageContext } from '../../lib/notebook/stage';
import { shardDir } from '../../lib/stages/shard';
import { SHARDABLE_STAGES, STAGE_FUNCTIONS } from '../../lib/stages/registry';
import { STAGE_ACTIVATIONS } from '../../lib/stages/activations';
import { STAGE_SIMILARITIES } from '../../lib/stages/similarities';
import { STAGE_OUTLIERS } from '../../lib/stages/outliers';
import { STAGE_SAE_EVAL } from '../../lib/stages/saeEval';
import { STAGE_FEATURE_TRANSFER } from '../../lib/stages/featureTransfer';
import { readTokens } from '../../lib/stages/common';
import { SafetensorsFile } from '../../lib/io/safetensors';
import { compareRuns } from '../../lib/pipeline/compareRuns';

// The shipped demo models (data/hub) on a tiny sample: 4 batches of 2 sequences of 16 tokens per stage,
// so 3 shards hold 2, 1 and 1 batches (uneven on purpose).
before(setupBackend);

const SAMPLE = { nBatches: 4, batchSize: 2 };
const STAGES = [STAGE_ACTIVATIONS, STAGE_SIMILARITIES, STAGE_OUTLIERS, STAGE_SAE_EVAL, STAGE_FEATURE_TRANSFER];
const SHARDS = 3;

const root = tmpDir('saelab-slurm-demo-');
const configFile = path.join(root, 'tiny.json');
fs.writeFileSync(configFile, JSON.stringify({ name: 'tiny', contextSize: 16, activations: SAMPLE, eval: SAMPLE, transfer: { ...SAMPLE } }));

async function ctxFor(runDir: string, stage: string): Promise<StageContext> {
  process.env.SAELAB_RUN_DIR = runDir;
  return setupStage(stage, { config: configFile, quiet: true });
}

const single = path.join(root, 'single');
const sharded = path.join(root, 'sharded');

test('stages 01-05 of the demo: 3 shards + merge per data-parallel stage write the same runs/ content as single runs', async () => {
  for (const s of [STAGE_ACTIVATIONS, STAGE_SIMILARITIES, STAGE_SAE_EVAL, STAGE_FEATURE_TRANSFER]) assert.ok(SHARDABLE_STAGES[s], `${s} is data-parallel`);
  assert.ok(!SHARDABLE_STAGES[STAGE_OUTLIERS], 'outliers (two passes over all activations) is not');
  for (const stage of STAGES) await STAGE_FUNCTIONS[stage](await ctxFor(single, stage));
  for (const stage of STAGES) {
    const ctx = await ctxFor(sharded, stage);
    const st = SHARDABLE_STAGES[stage];
    if (!st) {
      await STAGE_FUNCTIONS[stage](ctx);
      continue;
    }
    const ranges = [];
    for (let i = 0; i < SHARDS; i++) {
      const { record, reused } = await st.shard(ctx, { index: i, count: SHARDS });
      assert.strictEqual(reused, false);
      ranges.push([record.range.first, record.range.count]);
    }
    assert.deepStrictEqual(ranges, [[0, 2], [2, 1], [3, 1]], `${stage} shard ranges`);
    assert.ok(!fs.existsSync(path.join(ctx.stageDir, 'manifest.json')), `${stage}: no complete-looking stage before the merge`);
    await st.merge(ctx, SHARDS);
    assert.ok(fs.existsSync(path.join(ctx.stageDir, 'manifest.json')), `${stage}: merged`);
  }
  // shard 1 of stage 01 holds sequences 4..6 of the single run's token sample and activations
  const sh = path.join(sharded, STAGE_ACTIVATIONS, 'shards', `1-of-${SHARDS}`);
  const part = readTokens(path.join(sh, 'tokens.safetensors')).tokens;
  const whole = readTokens(path.join(single, STAGE_ACTIVATIONS, 'tokens.safetensors')).tokens;
  assert.deepStrictEqual(Array.from(part), Array.from(whole.slice(4 * 16, 6 * 16)));
  const a = SafetensorsFile.open(path.join(sh, 'base_acts.safetensors'));
  const b = SafetensorsFile.open(path.join(single, STAGE_ACTIVATIONS, 'base_acts.safetensors'));
  assert.deepStrictEqual(a.info('acts').shape, [2, 16, b.info('acts').shape[2]]);
  const pa = a.readFloat32('acts');
  const pb = b.readFloat32('acts').subarray(4 * 16 * b.info('acts').shape[2], 6 * 16 * b.info('acts').shape[2]);
  a.close();
  b.close();
  let maxDiff = 0;
  for (let i = 0; i < pa.length; i++) maxDiff = Math.max(maxDiff, Math.abs(pa[i] - pb[i]));
  assert.ok(maxDiff <= 1e-5, `shard activations vs the single run's rows: max |diff| ${maxDiff}`);
  // every artifact (tokens, activations, results.json of 02-05, outlier config, tables) equal within float32 rounding
  for (const f of [`${STAGE_ACTIVATIONS}/base_acts.safetensors`, `${STAGE_ACTIVATIONS}/finetune_acts.safetensors`, ...STAGES.slice(1).map((s) => `${s}/results.json`)]) {
    assert.ok(fs.existsSync(path.join(sharded, f)), `${f} written by the sharded run`);
  }
  assert.deepStrictEqual(compareRuns(single, sharded), []);
});

test('a stage 01 shard killed midway (files, no shard.json) is not complete: merge names it, rerun recomputes only it', async () => {
  const ctx = await ctxFor(sharded, STAGE_ACTIVATIONS);
  const st = SHARDABLE_STAGES[STAGE_ACTIVATIONS];
  // a killed run: its stage manifest was invalidated, shard 1 was rewriting its files when it died
  fs.rmSync(path.join(ctx.stageDir, 'manifest.json'));
  const dir = shardDir(ctx.stageDir, { index: 1, count: SHARDS });
  fs.rmSync(path.join(dir, 'shard.json'));
  const acts = path.join(dir, 'base_acts.safetensors');
  fs.truncateSync(acts, Math.floor(fs.statSync(acts).size / 2));
  await assert.rejects(st.merge(ctx, SHARDS), /01_compute_activations shard 1\/3 is not complete/);
  assert.ok(!fs.existsSync(path.join(ctx.stageDir, 'manifest.json')), 'a refused merge leaves no manifest');
  assert.strictEqual((await st.shard(ctx, { index: 0, count: SHARDS })).reused, true, 'a finished shard is never recomputed');
  assert.strictEqual((await st.shard(ctx, { index: 1, count: SHARDS })).reused, false, 'the killed shard is recomputed');
  assert.strictEqual((await st.shard(ctx, { index: 2, count: SHARDS })).reused, true);
  await st.merge(ctx, SHARDS);
  assert.deepStrictEqual(compareRuns(path.join(single, STAGE_ACTIVATIONS), path.join(sharded, STAGE_ACTIVATIONS)), []);
});

test('a merge asking for another shard count does not use the 3-shard results: it names the missing shard', async () => {
  const ctx = await ctxFor(sharded, STAGE_SAE_EVAL);
  fs.rmSync(path.join(ctx.stageDir, 'manifest.json'));
  await assert.rejects(SHARDABLE_STAGES[STAGE_SAE_EVAL].merge(ctx, 2), /04_sae_eval shard 0\/2 is not complete/);
});
