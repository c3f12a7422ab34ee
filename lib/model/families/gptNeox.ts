import * as tf from '@tensorflow/tfjs';
import { ModelFamily, outProjToHeads } from './family';

/** GPT-NeoX (Pythia): rotary on part of each head, parallel attention and MLP, fused QKV per head. */
export const gptNeox: ModelFamily = {
  modelType: 'gpt_neox',
  matchesArchitecture: (a) => a.startsWith('GPTNeoX'),
  config({ hf, n, base }) {
    const d = n('hidden_size');
    const dh = d / n('num_attention_heads');
    const pct = hf.rotary_pct ?? hf.partial_rotary_factor ?? 1;
    return {
      ...base, d_model: d, d_head: dh, n_heads: n('num_attention_heads'), d_mlp: n('intermediate_size'), n_layers: n('num_hidden_layers'),
      n_ctx: n('max_position_embeddings'), eps: hf.layer_norm_eps ?? 1e-5, d_vocab: n('vocab_size'), act_fn: hf.hidden_act ?? 'gelu',
      parallel_attn_mlp: hf.use_parallel_residual ?? true, positional_embedding_type: 'rotary', rotary_adjacent_pairs: false,
      rotary_dim: Math.round(pct * dh), rotary_base: hf.rotary_emb_base ?? hf.rope_theta ?? 10000, normalization_type: 'LN',
      default_prepend_bos: false, original_architecture: 'GPTNeoXForCausalLM',
    };
  },
  embed({ sd, conv }) {
    sd['embed.W_E'] = conv('gpt_neox.embed_in.weight');
  },
  block({ cfg, src, sd, conv }, l) {
    const { n_heads: h, d_model: d, d_head: dh } = cfg;
    const hp = `gpt_neox.layers.${l}`;
    const b = `blocks.${l}`;
    sd[`${b}.ln1.w`] = conv(`${hp}.input_layernorm.weight`);
    sd[`${b}.ln1.b`] = conv(`${hp}.input_layernorm.bias`);
    const w = src.get(`${hp}.attention.query_key_value.weight`); // [(h qkv dh), d]
    const bias = src.get(`${hp}.attention.query_key_value.bias`);
    tf.tidy(() => {
      const W = tf.transpose(tf.reshape(w, [h, 3, dh, d]), [1, 0, 3, 2]); // [3, h, d, dh]
      const B = tf.transpose(tf.reshape(bias, [h, 3, dh]), [1, 0, 2]); // [3, h, dh]
      ['Q', 'K', 'V'].forEach((x, i) => {
        sd[`${b}.attn.W_${x}`] = tf.keep(tf.squeeze(tf.slice(W, [i, 0, 0, 0], [1, h, d, dh]), [0]));
        sd[`${b}.attn.b_${x}`] = tf.keep(tf.squeeze(tf.slice(B, [i, 0, 0], [1, h, dh]), [0]));
      });
    });
    w.dispose(); bias.dispose();
    sd[`${b}.attn.W_O`] = conv(`${hp}.attention.dense.weight`, (t) => outProjToHeads(t, h));
    sd[`${b}.attn.b_O`] = conv(`${hp}.attention.dense.bias`);
    sd[`${b}.ln2.w`] = conv(`${hp}.post_attention_layernorm.weight`);
    sd[`${b}.ln2.b`] = conv(`${hp}.post_attention_layernorm.bias`);
    sd[`${b}.mlp.W_in`] = conv(`${hp}.mlp.dense_h_to_4h.weight`, (t) => tf.transpose(t));
    sd[`${b}.mlp.b_in`] = conv(`${hp}.mlp.dense_h_to_4h.bias`);
    sd[`${b}.mlp.W_out`] = conv(`${hp}.mlp.dense_4h_to_h.weight`, (t) => tf.transpose(t));
    sd[`${b}.mlp.b_out`] = conv(`${hp}.mlp.dense_4h_to_h.bias`);
  },
  unembed({ cfg, sd, conv, zeros }) {
    sd['ln_final.w'] = conv('gpt_neox.final_layer_norm.weight');
    sd['ln_final.b'] = conv('gpt_neox.final_layer_norm.bias');
    sd['unembed.W_U'] = conv('embed_out.weight', (t) => tf.transpose(t));
    sd['unembed.b_U'] = zeros([cfg.d_vocab_out]);
  },
};
