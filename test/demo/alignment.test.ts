import { test, before } from 'node:test';
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { setupStage } from '../../lib/notebook/stage';
import { computeActivationsStage } from '../../lib/stages/activations';
import { computeSimilaritiesStage } from '../../lib/stages/similarities';
import { tokenPieces, cutToLength } from '../../lib/stages/alignment';
import { loadTokenizer } from '../../lib/tokenizers/tokenizer';
import { setupBackend, tmpDir } from '../helpers';

before(setupBackend);

test('token pieces spell the decoded text; cutting keeps a prefix', async () => {
  const tok = await loadTokenizer('saelab/demo-base');
  const ids = tok.encode('The jury said, "café" costs 3€ — function f(x) { return x; }');
  const pieces = tokenPieces(tok, ids);
  assert.strictEqual(pieces.join(''), tok.decode(ids));
  const p = ['ab', 'cd', 'ef'];
  assert.strictEqual(cutToLength(p, 3), 1);
  assert.deepStrictEqual(p, ['ab', 'c', '']);
});

test('text alignment with identical tokenizers aligns every token and reproduces the id-replay similarities', async () => {
  const dir = tmpDir();
  const results: Record<string, { cosine_mean: number; euclidean_mean: number; aligned?: number; total?: number }> = {};
  for (const mode of ['ids', 'text'] as const) {
    const cfgFile = path.join(dir, `${mode}.json`);
    fs.writeFileSync(cfgFile, JSON.stringify({ name: `align-${mode}`, tokenAlignment: mode, activations: { nBatches: 2, batchSize: 4 } }));
    process.env.SAELAB_RUN_DIR = path.join(dir, 'runs', mode);
    try {
      const a = await computeActivationsStage(await setupStage('01_compute_activations', { config: cfgFile, quiet: true }));
      const s = await computeSimilaritiesStage(await setupStage('02_compute_similarities', { config: cfgFile, quiet: true }));
      results[mode] = { cosine_mean: s.cosine_mean, euclidean_mean: s.euclidean_mean, aligned: a.alignment?.aligned, total: a.alignment?.total };
    } finally {
      delete process.env.SAELAB_RUN_DIR;
    }
  }
  // the demo finetune shares its base's tokenizer: re-tokenizing the decoded text gives the same ids
  assert.strictEqual(results.text.aligned, results.text.total);
  assert.ok(Math.abs(results.text.cosine_mean - results.ids.cosine_mean) < 1e-5, `${results.text.cosine_mean} vs ${results.ids.cosine_mean}`);
  assert.ok(Math.abs(results.text.euclidean_mean - results.ids.euclidean_mean) < 1e-3 * results.ids.euclidean_mean);
});
