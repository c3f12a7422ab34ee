/**
 * defineStage on a toy stage (no models): reuse when the inputs are unchanged, recompute when they change,
 * the result file and manifest written last, a failed run leaving no complete-looking stage, and a shard /
 * merge run equal to the single run. Then the registry: every registered stage has its notebook.
 */
import { test } from 'node:test';
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { tmpDir, REPO_ROOT } from '../helpers';
import { StageContext } from '../../lib/notebook/stage';
import { DEFAULT_CONFIG, ExperimentConfig } from '../../lib/stages/config';
import { defineStage, requireStage, stageNumber } from '../../lib/stages/define';
import { readShardState } from '../../lib/stages/shard/store';
import { STAGES, resolveStageName, runStage, shardableStages } from '../../lib/stages/registry';

/** A stage context without a backend or config file: the toy stage needs neither. */
function toyContext(runDir: string, stage: string, config: ExperimentConfig = DEFAULT_CONFIG): StageContext {
  const stageDir = path.join(runDir, stage);
  fs.mkdirSync(stageDir, { recursive: true });
  return { stage, config, configFile: '(test)', backend: {} as StageContext['backend'], runDir, stageDir, stageDirOf: (s) => path.join(runDir, s) };
}

interface ToyResult {
  reused: boolean;
  /** sum over items 0..n-1 of (item + seed) */
  sum: number;
  items: number;
}

const N_ITEMS = 7;
/** item i contributes i + seed: the total is n(n-1)/2 + n * seed */
const expectedSum = (seed: number) => (N_ITEMS * (N_ITEMS - 1)) / 2 + N_ITEMS * seed;

function toyStage(calls: { run: number; fail?: boolean }) {
  return defineStage<ToyResult, { partial: number[] }>({
    name: '90_toy_sum',
    inputs: (c) => ({ seed: c.seed }),
    async run(ctx, opts) {
      calls.run++;
      fs.writeFileSync(path.join(ctx.stageDir, 'items.txt'), `${N_ITEMS}\n`);
      if (calls.fail) throw new Error('toy failure midway');
      const sum = opts ? opts.partial.reduce((a, b) => a + b, 0) : Array.from({ length: N_ITEMS }, (_, i) => i + ctx.config.seed).reduce((a, b) => a + b, 0);
      return { result: { sum, items: N_ITEMS }, artifacts: ['items.txt'], provenance: { toy: true } };
    },
    shard: {
      totalBatches: () => N_ITEMS,
      async run(ctx, { range }) {
        let s = 0;
        for (let i = range.first; i < range.first + range.count; i++) s += i + ctx.config.seed;
        return { files: [], state: { sum: s } };
      },
    },
    merge: (ctx, shards) => ({ partial: shards.map((r) => readShardState<{ sum: number }>(ctx.stageDir, r).sum) }),
  });
}

test('a defined stage computes, writes results.json and its manifest last, and is reused while its inputs are unchanged', async () => {
  const runDir = tmpDir();
  const calls = { run: 0 };
  const stage = toyStage(calls);
  assert.strictEqual(stage.name, '90_toy_sum');
  assert.strictEqual(stage.number, '90');
  const ctx = toyContext(runDir, stage.name);
  const r = await stage(ctx);
  assert.deepStrictEqual(r, { reused: false, sum: expectedSum(0), items: N_ITEMS });
  assert.strictEqual(fs.readFileSync(path.join(ctx.stageDir, 'results.json'), 'utf8'), `${JSON.stringify({ reused: false, sum: expectedSum(0), items: N_ITEMS }, null, 2)}\n`);
  const manifest = JSON.parse(fs.readFileSync(path.join(ctx.stageDir, 'manifest.json'), 'utf8'));
  assert.strictEqual(manifest.stage, '90_toy_sum');
  assert.deepStrictEqual(manifest.inputs, { seed: 0 });
  assert.deepStrictEqual(manifest.artifacts, ['items.txt', 'results.json']);
  assert.deepStrictEqual(manifest.provenance, { toy: true });
  const again = await stage(ctx);
  assert.deepStrictEqual(again, { reused: true, sum: expectedSum(0), items: N_ITEMS });
  assert.strictEqual(calls.run, 1, 'a reused stage does not run');
  // another seed: recomputed
  const other = await stage(toyContext(runDir, stage.name, { ...DEFAULT_CONFIG, seed: 3 }));
  assert.deepStrictEqual(other, { reused: false, sum: expectedSum(3), items: N_ITEMS });
  assert.strictEqual(calls.run, 2);
  // a deleted artifact: recomputed
  fs.rmSync(path.join(ctx.stageDir, 'items.txt'));
  assert.strictEqual((await stage(toyContext(runDir, stage.name, { ...DEFAULT_CONFIG, seed: 3 }))).reused, false);
});

test('a run that fails midway leaves no manifest: the stage is not complete and a dependent stage says what to run', async () => {
  const runDir = tmpDir();
  const calls: { run: number; fail?: boolean } = { run: 0 };
  const stage = toyStage(calls);
  const ctx = toyContext(runDir, stage.name);
  await stage(ctx);
  calls.fail = true;
  await assert.rejects(stage(toyContext(runDir, stage.name, { ...DEFAULT_CONFIG, seed: 1 })), /toy failure midway/);
  assert.ok(!fs.existsSync(path.join(ctx.stageDir, 'manifest.json')), 'the stale manifest was removed before recomputing');
  assert.throws(() => requireStage(toyContext(runDir, '91_next', { ...DEFAULT_CONFIG, seed: 1 }), stage), /stage 90_toy_sum has no results for this config in .*: run notebook 90 first/);
});

test('shards of a defined stage merge into the single run\'s result; complete shards are reused', async () => {
  const runDir = tmpDir();
  const stage = toyStage({ run: 0 });
  const ctx = toyContext(runDir, stage.name);
  const sh = stage.sharding!;
  const ranges = [];
  for (let i = 0; i < 3; i++) ranges.push((await sh.shard(ctx, { index: i, count: 3 })).record.range);
  assert.deepStrictEqual(ranges, [{ first: 0, count: 3 }, { first: 3, count: 2 }, { first: 5, count: 2 }]);
  assert.strictEqual((await sh.shard(ctx, { index: 2, count: 3 })).reused, true);
  assert.ok(!fs.existsSync(path.join(ctx.stageDir, 'manifest.json')), 'no complete stage before the merge');
  await assert.rejects(sh.merge(ctx, 4), /90_toy_sum shard 0\/4 is not complete/);
  assert.deepStrictEqual(await sh.merge(ctx, 3), { reused: false, sum: expectedSum(0), items: N_ITEMS });
  assert.strictEqual((await sh.merge(ctx, 3)).reused, true, 'a merged stage is reused');
});

test('the registry: stage names, numbers and words resolve; every registered stage has its notebook', () => {
  assert.strictEqual(stageNumber('04_sae_eval'), '04');
  assert.throws(() => stageNumber('sae_eval'), /must start with its number/);
  assert.strictEqual(resolveStageName('02'), '02_compute_similarities');
  assert.strictEqual(resolveStageName('similarities'), '02_compute_similarities');
  assert.throws(() => resolveStageName('99'), /unknown stage '99'/);
  const names = STAGES.map((s) => s.name);
  assert.strictEqual(new Set(names).size, names.length, 'stage names are unique');
  assert.deepStrictEqual([...names].sort(), names, 'registered in stage order');
  for (const s of STAGES) assert.ok(fs.existsSync(path.join(REPO_ROOT, 'notebooks', `${s.name}.ipynb`)), `notebooks/${s.name}.ipynb exists`);
  assert.deepStrictEqual(shardableStages().map((s) => s.name), ['01_compute_activations', '02_compute_similarities', '04_sae_eval', '05_features_transfer', '07_crosslayer_features', '10_checkpoint_saes']);
});

test('runStage refuses a stage that is not in the registry, naming the registry file', async () => {
  await assert.rejects(runStage(toyContext(tmpDir(), '90_toy_sum')), /stage '90_toy_sum' is not registered in lib\/stages\/registry\.ts/);
});
