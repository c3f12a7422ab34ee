import { test } from 'node:test';
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { loadConfig } from '../lib/stages/config';
import { resolveRelease } from '../lib/sae/registry';
import { REPO_ROOT, tmpDir } from './helpers';

test('every shipped config loads and names a registered SAE release', () => {
  const dir = path.join(REPO_ROOT, 'configs');
  for (const f of fs.readdirSync(dir).filter((x) => x.endsWith('.json'))) {
    const c = loadConfig(path.join(dir, f));
    assert.ok(c.name && c.contextSize > 0, f);
    assert.ok(resolveRelease(c.sae.release, c.sae.id), `${f}: ${c.sae.release}/${c.sae.id}`);
  }
  const mistral = loadConfig(path.join(dir, 'mistral-7b-metamath.json'));
  assert.strictEqual(mistral.finetune.dVocab, 32000);
  assert.strictEqual(mistral.outliers.absoluteThreshold, 200);
  assert.strictEqual(loadConfig(path.join(dir, 'gpt2-portuguese.json')).sae.id, 'blocks.6.hook_resid_pre');
});

test('the one-batch scale configs are their presets with only the sizes cut (docs/scale.md)', () => {
  const dir = path.join(REPO_ROOT, 'configs');
  for (const [cut, preset] of [['mistral-7b-metamath-1batch', 'mistral-7b-metamath'], ['gemma-2b-python-1batch', 'gemma-2b-python']]) {
    const c = loadConfig(path.join(dir, 'scale', `${cut}.json`));
    const p = loadConfig(path.join(dir, `${preset}.json`));
    assert.deepStrictEqual([c.base, c.finetune, c.sae, c.dataset, c.prependBos, c.outliers], [p.base, p.finetune, p.sae, p.dataset, p.prependBos, p.outliers], cut);
    for (const part of ['activations', 'eval', 'transfer'] as const) assert.deepStrictEqual([c[part].nBatches, c[part].batchSize], [1, 1], `${cut} ${part}`);
  }
});

test('an unknown config key is an error naming the key and the file', () => {
  const f = path.join(tmpDir(), 'bad.json');
  fs.writeFileSync(f, JSON.stringify({ name: 'x', activations: { nBatchs: 3 } }));
  assert.throws(() => loadConfig(f), /bad\.json: unknown config key 'activations\.nBatchs' \(known keys here: nBatches, batchSize\)/);
  fs.writeFileSync(f, JSON.stringify({ contextSize: 'long' }));
  assert.throws(() => loadConfig(f), /config key 'contextSize' must be a number/);
});
