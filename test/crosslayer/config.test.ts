import { it } from 'node:test';
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { REPO_ROOT, tmpDir } from '../helpers';
import { loadConfig, DEFAULT_CROSSLAYER_CONFIG } from '../../lib/stages/config';
import { resolveRelease } from '../../lib/sae/registry';
import { crossLayerBatches } from '../../lib/stages/crosslayerRun';

it('the gpt2-small preset loads, validates and describes the seed\'s experiment', () => {
  const c = loadConfig(path.join(REPO_ROOT, 'configs', 'gpt2-small-crosslayer.json')).crosslayer;
  assert.strictEqual(c.model, 'gpt2-small');
  assert.strictEqual(c.saeRelease, 'gpt2-small-res-jb');
  assert.deepStrictEqual(c.hooks, Array.from({ length: 12 }, (_, L) => `blocks.${L}.hook_resid_pre`));
  for (const h of c.hooks) assert.ok(resolveRelease(c.saeRelease, h).folder, h);
  assert.deepStrictEqual(c.dataset, { path: 'NeelNanda/pile-10k', split: 'train', column: 'text', revision: 'main' });
  assert.strictEqual(c.contextSize, 128);
  assert.strictEqual(c.prependBos, true);
  assert.strictEqual(c.batchSize, 32);
  assert.strictEqual(c.tokens, 17_500_000);
  assert.strictEqual(c.checkpointTokens, 16 * 4096);
  assert.deepStrictEqual(c.featureThresholds, [0, 5, 10, 50, 100, 500, 1000, 5000, 10000]);
  assert.deepStrictEqual(c.pairThresholds, [0, 5, 10, 50, 100]);
  // 17.5M tokens: 4272 whole batches of 4096, a checkpoint every 16 batches -> 267 steps (the seed's n_steps)
  const batches = crossLayerBatches(c);
  assert.strictEqual(batches, 4272);
  assert.strictEqual(Math.floor((batches * 4096) / c.checkpointTokens), 267);
  assert.deepStrictEqual(c.neuronpedia, { model: 'gpt2-small', saeId: '{layer}-res-jb' });
});

it('the demo defaults run the shipped world, and bad crosslayer values are errors naming the key', () => {
  const demo = loadConfig(path.join(REPO_ROOT, 'configs', 'demo.json')).crosslayer;
  assert.deepStrictEqual(demo, DEFAULT_CROSSLAYER_CONFIG);
  assert.strictEqual(demo.saeRelease, 'saelab-demo-res');
  assert.deepStrictEqual(demo.hooks, [0, 1, 2, 3].map((L) => `blocks.${L}.hook_resid_pre`));
  const f = path.join(tmpDir('crosslayer-config-'), 'bad.json');
  const bad = (crosslayer: unknown, re: RegExp) => {
    fs.writeFileSync(f, JSON.stringify({ name: 'x', crosslayer }));
    assert.throws(() => loadConfig(f), re);
  };
  bad({ batchSize: 0 }, /bad\.json: crosslayer\.batchSize must be a positive integer, got 0/);
  bad({ tokens: 100 }, /crosslayer\.tokens 100 is less than one batch/);
  bad({ pairThresholds: [5, 0] }, /crosslayer\.pairThresholds must be increasing/);
  bad({ hooks: ['blocks.0.hook_resid_pre'] }, /at least two hooks/);
  bad({ hooks: ['ln_final.hook_normalized', 'blocks.1.hook_resid_pre'] }, /crosslayer\.hooks\[0\] must be a per-block hook/);
  bad({ graph: { minWeight: 0 } }, /crosslayer\.graph\.minWeight must be in \(0, 1\]/);
  bad({ neuronpedia: { model: 'gpt2-small' } }, /crosslayer\.neuronpedia must be null or/);
  bad({ graph: { topk: 3 } }, /unknown config key 'crosslayer\.graph\.topk'/);
});
