import { test, before } from 'node:test';
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { HookedTransformer } from '../../lib/model/hookedTransformer';
import { SAE } from '../../lib/sae/sae';
import { loadTokenizer } from '../../lib/tokenizers/tokenizer';
import { textsFromDataset } from '../../lib/data/sources';
import { tokenizeAndConcatenate } from '../../lib/data/concat';
import { resolveRepo } from '../../lib/hub/resolve';
import { setupBackend, REPO_ROOT } from '../helpers';

before(setupBackend);

/** Mean next-token loss of a model on the first n contexts of a dataset split. */
async function splitLoss(model: HookedTransformer, split: string, n: number): Promise<number> {
  const tok = await loadTokenizer('saelab/demo-base');
  const rows: Int32Array[] = [];
  for await (const c of tokenizeAndConcatenate(textsFromDataset('saelab/demo-text', { split }), tok, { contextSize: 64, maxContexts: n })) rows.push(c);
  const ids = new Int32Array(n * 64);
  rows.slice(0, n).forEach((r, i) => ids.set(r, i * 64));
  return tf.tidy(() => (model.forward(tf.tensor2d(ids, [n, 64], 'int32'), { returnType: 'loss' }).loss as tf.Scalar).dataSync()[0]);
}

test('the shipped demo world resolves through the hub code path, offline', async () => {
  for (const [repo, rev] of [['saelab/demo-base', 'main'], ['saelab/demo-base', 'step0'], ['saelab/demo-finetune', 'main'], ['saelab/demo-saes', 'main']]) {
    const r = await resolveRepo(repo, { revision: rev, offline: true });
    assert.strictEqual(r.source, 'shipped', `${repo}@${rev}`);
    assert.match(r.commit, /^[0-9a-f]{40}$/);
    assert.ok(fs.existsSync(path.join(r.dir, 'README.md')), `${repo} has a model card`);
  }
  const ds = await resolveRepo('saelab/demo-text', { repoType: 'dataset', offline: true });
  assert.ok(fs.existsSync(path.join(ds.dir, 'validation.jsonl')) && fs.existsSync(path.join(ds.dir, 'code_eval.jsonl')));
});

test('the finetune is better than the base on code and worse on English; checkpoints differ', async () => {
  const base = await HookedTransformer.fromPretrained('saelab/demo-base');
  const ft = await HookedTransformer.fromPretrained('saelab/demo-finetune');
  const step0 = await HookedTransformer.fromPretrained('saelab/demo-base', { revision: 'step0' });
  try {
    const b = { en: await splitLoss(base, 'validation', 24), code: await splitLoss(base, 'code_eval', 24) };
    const f = { en: await splitLoss(ft, 'validation', 24), code: await splitLoss(ft, 'code_eval', 24) };
    const s0 = await splitLoss(step0, 'validation', 24);
    assert.ok(f.code < b.code - 0.3, `code: finetune ${f.code} vs base ${b.code}`);
    assert.ok(f.en > b.en + 0.1, `English: finetune ${f.en} vs base ${b.en}`);
    assert.ok(b.en < s0 - 1, `training lowered the English loss: step0 ${s0}, main ${b.en}`);
    assert.ok(Math.abs(s0 - Math.log(base.cfg.d_vocab)) < 0.5, `an untrained model's loss is near ln(vocab): ${s0}`);
  } finally {
    base.dispose(); ft.dispose(); step0.dispose();
  }
});

test('the demo SAEs load by release name and fit the model, with sparsity files', async () => {
  const base = await HookedTransformer.fromPretrained('saelab/demo-base');
  try {
    for (let l = 0; l < base.cfg.n_layers; l++) {
      const sae = await SAE.fromPretrained('saelab-demo-res', `blocks.${l}.hook_resid_pre`);
      assert.strictEqual(sae.cfg.d_in, base.cfg.d_model);
      assert.strictEqual(sae.cfg.metadata.hook_name, `blocks.${l}.hook_resid_pre`);
      sae.dispose();
    }
  } finally {
    base.dispose();
  }
  assert.ok(fs.existsSync(path.join(REPO_ROOT, 'data', 'demo-report.json')));
});
