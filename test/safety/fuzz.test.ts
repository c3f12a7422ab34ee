/**
 * Seeded fuzzing of every format saelab reads (a few hundred mutations each; `npm run bench -- fuzz`
 * runs many more): every failure is one of saelab's own errors naming the file, nothing hangs, memory stays bounded.
 */
import { before, test } from 'node:test';
import * as assert from 'assert';
import * as path from 'path';
import { setupBackend, tmpDir, REPO_ROOT } from '../helpers';
import { FuzzStats, fuzzExperimentConfigs, fuzzPickle, fuzzSaeCfg, fuzzSafetensors, fuzzTorch, fuzzTrainConfigs } from './fuzzHarness';

before(setupBackend);

const N = 300;
const dir = tmpDir('safety-fuzz-');

function check(s: FuzzStats, bothOutcomes: boolean): void {
  console.log(JSON.stringify(s));
  assert.deepStrictEqual(s.failures.slice(0, 5), [], `${s.format}: ${s.failures.length} mishandled cases`);
  assert.strictEqual(s.loaded + s.rejected, s.cases);
  assert.ok(s.rejected > s.cases / 10, `${s.format}: most mutations must be caught (${s.rejected}/${s.cases})`);
  if (bothOutcomes) assert.ok(s.loaded > 0, `${s.format}: some mutations stay valid (${s.loaded})`);
  assert.ok(s.slowestMs < 2000, `${s.format}: no case hangs (slowest ${s.slowestMs} ms)`);
  assert.ok(s.rssGrowthMiB < 512, `${s.format}: no huge allocation (rss grew ${s.rssGrowthMiB.toFixed(0)} MiB)`);
}

test(`fuzz: ${N} safetensors files`, async () => check(await fuzzSafetensors(N, 101, dir), true));
test(`fuzz: ${N} torch zip checkpoints`, async () => check(await fuzzTorch(N, 202, path.join(REPO_ROOT, 'test', 'fixtures', 'torch')), false));
test(`fuzz: ${N} pickles`, async () => check(await fuzzPickle(N, 303, path.join(REPO_ROOT, 'test', 'fixtures', 'torch')), false));
test(`fuzz: ${N} SAE cfg.json files`, async () => check(await fuzzSaeCfg(N, 404, path.join(REPO_ROOT, 'test', 'fixtures', 'sae'), dir), true));
test(`fuzz: ${N} experiment configs`, async () => check(await fuzzExperimentConfigs(N, 505, path.join(REPO_ROOT, 'configs'), dir), true));
test(`fuzz: ${N} train-sae configs`, async () => check(await fuzzTrainConfigs(N, 606, dir), true));
