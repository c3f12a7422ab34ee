import { before, test } from 'node:test';
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { setupBackend, tmpDir, assertClose } from '../helpers';
import { writeSafetensors } from '../../lib/io/safetensors';
import { setupStage, writeManifest } from '../../lib/notebook/stage';
import { loadConfig } from '../../lib/stages/config';
import { STAGE_ACTIVATIONS, activationsInputs } from '../../lib/stages/activations';
import { STAGE_SIMILARITIES, computeSimilaritiesStage, SimilaritiesResult } from '../../lib/stages/similarities';
import { SHARDABLE_STAGES } from '../../lib/stages/registry';
import { compareRuns } from '../../lib/pipeline/compareRuns';

before(setupBackend);

const N_BATCHES = 5;
const BATCH = 3;
const CTX = 6;
const D = 4;

/** A config and a finished stage 01 with synthetic activations in `runDir` (no models needed). */
function syntheticRun(runDir: string, configFile: string): void {
  fs.writeFileSync(configFile, JSON.stringify({ name: 'synthetic', contextSize: CTX, activations: { nBatches: N_BATCHES, batchSize: BATCH } }));
  const config = loadConfig(configFile);
  const dir = path.join(runDir, STAGE_ACTIVATIONS);
  fs.mkdirSync(dir, { recursive: true });
  const n = N_BATCHES * BATCH;
  const acts = (seed: number) => Float32Array.from({ length: n * CTX * D }, (_, i) => Math.sin(seed * 1.7 + i * 0.37) + 0.1 * Math.cos(i * seed));
  writeSafetensors(path.join(dir, 'base_acts.safetensors'), { acts: { dtype: 'F32', shape: [n, CTX, D], data: acts(1) } });
  writeSafetensors(path.join(dir, 'finetune_acts.safetensors'), { acts: { dtype: 'F32', shape: [n, CTX, D], data: acts(2) } });
  writeManifest(dir, STAGE_ACTIVATIONS, activationsInputs(config), ['base_acts.safetensors', 'finetune_acts.safetensors']);
}

async function ctxFor(runDir: string, configFile: string) {
  process.env.SAELAB_RUN_DIR = runDir;
  return setupStage(STAGE_SIMILARITIES, { config: configFile, quiet: true });
}

test('stage 02 in 3 shards + merge writes the same results as the single pass; a finished shard is reused', async () => {
  const root = tmpDir();
  const cfg = path.join(root, 'synthetic.json');
  const single = path.join(root, 'single');
  const sharded = path.join(root, 'sharded');
  syntheticRun(single, cfg);
  syntheticRun(sharded, cfg);
  const a = await computeSimilaritiesStage(await ctxFor(single, cfg));
  const ctx = await ctxFor(sharded, cfg);
  const st = SHARDABLE_STAGES[STAGE_SIMILARITIES];
  for (let i = 0; i < 3; i++) assert.strictEqual((await st.shard(ctx, { index: i, count: 3 })).reused, false);
  assert.strictEqual((await st.shard(ctx, { index: 1, count: 3 })).reused, true, 'a complete shard is not recomputed');
  const b = (await st.merge(ctx, 3)) as SimilaritiesResult;
  assert.strictEqual(b.tokens, N_BATCHES * BATCH * CTX);
  assertClose([b.cosine_mean, b.euclidean_mean], [a.cosine_mean, a.euclidean_mean], 1e-7, 1e-6, 'means');
  assert.deepStrictEqual(compareRuns(single, sharded), []);
  assert.strictEqual((await st.merge(ctx, 3) as SimilaritiesResult).reused, true, 'a merged stage is reused');
});

test('merging with a missing shard names it and writes no manifest', async () => {
  const root = tmpDir();
  const cfg = path.join(root, 'synthetic.json');
  const run = path.join(root, 'run');
  syntheticRun(run, cfg);
  const ctx = await ctxFor(run, cfg);
  const st = SHARDABLE_STAGES[STAGE_SIMILARITIES];
  await st.shard(ctx, { index: 0, count: 2 });
  await assert.rejects(st.merge(ctx, 2), /02_compute_similarities shard 1\/2 is not complete/);
  assert.ok(!fs.existsSync(path.join(ctx.stageDir, 'manifest.json')));
});
