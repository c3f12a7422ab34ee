/**
 * Hook names: the points every fixture family's forward fires are exactly hookNamesFor(cfg), in
 * execution order; the `blocks.L.` parse; docs/model.md's table and `saelab cache --help` are current.
 */
import { before, test } from 'node:test';
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { setupBackend, REPO_ROOT } from '../helpers';
import { HookedTransformer } from '../../lib/model';
import { hookLayer, hookNamesFor, hookPointsText, parseBlockHook, stopAtLayerFor } from '../../lib/model/hookNames';
import { generatedBlocks, replaceGeneratedBlock } from '../../scripts/gen-docs';
import { command as cacheCommand } from '../../lib/cli/commands/cache';
import { FIXTURES, FAMILIES } from './util';

before(setupBackend);

for (const family of FAMILIES) {
  test(`${family}: the forward fires exactly the listed hook points, in order (attn.hook_result too when asked)`, async () => {
    const model = await HookedTransformer.fromPretrained(path.join(FIXTURES, family));
    const tokens = tf.tensor2d([[3, 17, 5, 40]], undefined, 'int32');
    const fired: string[] = [];
    const out = model.runWithHooks(tokens, { fwdHooks: [[() => true, (_x, h) => { fired.push(h.name); }]] });
    assert.deepStrictEqual(fired, hookNamesFor(model.cfg));
    assert.deepStrictEqual(model.hookNames(), hookNamesFor(model.cfg));
    model.setUseAttnResult(true);
    fired.length = 0;
    const out2 = model.runWithHooks(tokens, { fwdHooks: [[() => true, (_x, h) => { fired.push(h.name); }]] });
    assert.deepStrictEqual(fired, hookNamesFor(model.cfg, true));
    tf.dispose([tokens, out.logits as tf.Tensor, out2.logits as tf.Tensor]);
    model.dispose();
  });
}

test('blocks.L. names parse to their layer; other names are refused with the hook named', () => {
  assert.deepStrictEqual(parseBlockHook('blocks.12.attn.hook_z'), { layer: 12, point: 'attn.hook_z' });
  assert.strictEqual(parseBlockHook('ln_final.hook_scale'), null);
  assert.strictEqual(hookLayer('blocks.3.hook_resid_pre'), 3);
  assert.throws(() => hookLayer('hook_embed', 'stage 07'), /hook 'hook_embed' is not a per-block hook \(blocks\.L\.\.\.\.\): stage 07 needs one/);
  assert.strictEqual(stopAtLayerFor('blocks.3.hook_resid_post'), 4);
  assert.strictEqual(stopAtLayerFor('hook_embed'), 0);
  assert.strictEqual(stopAtLayerFor('ln_final.hook_normalized'), undefined);
});

test('docs/model.md holds the generated hook table and saelab cache --help lists the hook points', () => {
  for (const g of generatedBlocks()) {
    const text = fs.readFileSync(g.file, 'utf8');
    assert.strictEqual(replaceGeneratedBlock(text, g.name, g.content, g.file), text, `${path.relative(REPO_ROOT, g.file)} is stale: run node dist/scripts/gen-docs.js`);
  }
  assert.ok(cacheCommand.usage.includes(hookPointsText()));
  assert.ok(hookPointsText().includes('blocks.L.mlp.hook_pre_linear'));
});
