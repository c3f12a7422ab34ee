import { before, test } from 'node:test';
import * as assert from 'assert';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { setupBackend } from '../helpers';
import { HookedTransformer } from '../../lib/model';
import { SafetensorsFile } from '../../lib/io/safetensors';
import { FIXTURES, FAMILIES, assertTensorClose } from './util';

before(setupBackend);

/**
 * Each family's unprocessed forward pass against golden values from tools/model_golden.py, an
 * independent torch implementation written from the HF weight layout (tiny random checkpoints).
 */
for (const family of FAMILIES) {
  test(`${family}: hooks, logits and loss match the torch reference`, async () => {
    const model = await HookedTransformer.fromPretrained(path.join(FIXTURES, family), { processing: false });
    const golden = SafetensorsFile.open(path.join(FIXTURES, `${family}_golden.safetensors`));
    const tokens = golden.tensor('tokens') as tf.Tensor2D;
    const hookNames = golden.names().filter((n) => n.includes('hook_') && !n.startsWith('masked.'));
    const { logits, loss, cache } = model.runWithCache(tokens, { returnType: 'both' });
    try {
      assert.ok(hookNames.length > 20, `${family}: golden file has ${hookNames.length} hooks`);
      for (const name of hookNames) {
        assert.ok(cache.has(name), `${family}: hook ${name} not in the model's cache`);
        const g = golden.tensor(name);
        assertTensorClose(cache.get(name), g, 2e-4, 2e-4, `${family} ${name}`);
        g.dispose();
      }
      const gl = golden.tensor('logits');
      assertTensorClose(logits as tf.Tensor, gl, 2e-4, 2e-4, `${family} logits`);
      assertTensorClose(loss as tf.Tensor, golden.readFloat32('loss'), 1e-5, 1e-5, `${family} loss`);
      const perTok = model.forward(tokens, { returnType: 'loss', lossPerToken: true }).loss as tf.Tensor;
      assertTensorClose(perTok, golden.tensor('loss_per_token'), 1e-4, 1e-4, `${family} per-token loss`);
      perTok.dispose(); gl.dispose();
      // left-padded batch with an attention mask
      const mask = golden.tensor('masked.attention_mask') as tf.Tensor2D;
      const m = model.runWithCache(tokens, { returnType: 'both', attentionMask: mask, namesFilter: ['blocks.1.hook_resid_post', 'blocks.0.attn.hook_pattern'] });
      assertTensorClose(m.logits as tf.Tensor, golden.tensor('masked.logits'), 2e-4, 2e-4, `${family} masked logits`);
      assertTensorClose(m.loss as tf.Tensor, golden.readFloat32('masked.loss'), 1e-5, 1e-5, `${family} masked loss`);
      assertTensorClose(m.cache.get('blocks.1.hook_resid_post'), golden.tensor('masked.blocks.1.hook_resid_post'), 2e-4, 2e-4, `${family} masked resid`);
      assertTensorClose(m.cache.get('blocks.0.attn.hook_pattern'), golden.tensor('masked.blocks.0.attn.hook_pattern'), 1e-5, 1e-4, `${family} masked pattern`);
      m.cache.dispose(); m.logits?.dispose(); m.loss?.dispose(); mask.dispose();
    } finally {
      cache.dispose(); logits?.dispose(); loss?.dispose(); tokens.dispose();
      golden.close();
      model.dispose();
    }
  });
}
