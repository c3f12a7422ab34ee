import { test } from 'node:test';
import * as assert from 'assert';
import { MODEL_FAMILIES, SUPPORTED_MODEL_TYPES, hfConfigToTl } from '../../lib/model';
import { modelFamily } from '../../lib/model/hf';

test('the family registry: one entry per model_type; a config without model_type is matched by its architecture', () => {
  assert.deepStrictEqual(SUPPORTED_MODEL_TYPES, ['gpt2', 'gpt_neox', 'llama', 'mistral', 'gemma']);
  assert.strictEqual(new Set(MODEL_FAMILIES.map((f) => f.modelType)).size, MODEL_FAMILIES.length);
  const byArch = (a: string) => modelFamily({ architectures: [a] });
  assert.strictEqual(byArch('GPT2LMHeadModel'), 'gpt2');
  assert.strictEqual(byArch('GPTNeoXForCausalLM'), 'gpt_neox');
  assert.strictEqual(byArch('LlamaForCausalLM'), 'llama');
  assert.strictEqual(byArch('MistralForCausalLM'), 'mistral');
  assert.strictEqual(byArch('GemmaForCausalLM'), 'gemma');
  assert.throws(() => byArch('Gemma2ForCausalLM'), /not supported; supported: gpt2, gpt_neox, llama, mistral, gemma/);
  assert.throws(() => modelFamily({ model_type: 'bert' }, 'x/config.json'), /^Error: x\/config\.json: model_type 'bert'/);
});

test('a family config names the file and the missing field', () => {
  assert.throws(() => hfConfigToTl({ model_type: 'gpt_neox', hidden_size: 64 }, 'm', 'm/config.json'), /m\/config\.json: missing field 'num_attention_heads' needed for model_type 'gpt_neox'/);
  const c = hfConfigToTl({ model_type: 'gpt2', n_embd: 64, n_head: 4, n_layer: 2, n_positions: 32, vocab_size: 100 }, 'tiny');
  assert.strictEqual(c.d_head, 16);
  assert.strictEqual(c.d_mlp, 256);
  assert.strictEqual(c.n_ctx, 32);
  assert.strictEqual(c.act_fn, 'gelu_new');
});
