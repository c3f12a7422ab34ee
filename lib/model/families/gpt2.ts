import * as tf from '@tensorflow/tfjs';
import { ModelFamily, TensorSource } from './family';

/** GPT-2's tensor names have no prefix (GPT2Model) or `transformer.` (GPT2LMHeadModel). */
function prefix(src: TensorSource): string {
  const p = src.has('wte.weight') ? '' : src.has('transformer.wte.weight') ? 'transformer.' : null;
  if (p === null) throw new Error(`GPT-2 checkpoint has neither 'wte.weight' nor 'transformer.wte.weight' (found: ${src.names().slice(0, 8).join(', ')} ...)`);
  return p;
}

/** GPT-2 (learned positions, LayerNorm, Conv1D weights stored [in, out], fused QKV). */
export const gpt2: ModelFamily = {
  modelType: 'gpt2',
  matchesArchitecture: (a) => a.startsWith('GPT2'),
  config({ hf, file, n, base }) {
    if (hf.scale_attn_by_inverse_layer_idx) throw new Error(`${file}: scale_attn_by_inverse_layer_idx=true is not supported`);
    const d = n('n_embd');
    return {
      ...base, d_model: d, d_head: d / n('n_head'), n_heads: n('n_head'), d_mlp: hf.n_inner ?? 4 * d, n_layers: n('n_layer'),
      n_ctx: hf.n_ctx ?? n('n_positions'), eps: hf.layer_norm_epsilon ?? 1e-5, d_vocab: n('vocab_size'), act_fn: hf.activation_function ?? 'gelu_new',
      use_attn_scale: true, normalization_type: 'LN', positional_embedding_type: 'standard', original_architecture: 'GPT2LMHeadModel',
    };
  },
  embed({ cfg, src, sd, conv }) {
    const p = prefix(src);
    sd['embed.W_E'] = conv(`${p}wte.weight`);
    sd['pos_embed.W_pos'] = conv(`${p}wpe.weight`, (t) => t.shape[0] > cfg.n_ctx ? tf.slice(t, [0, 0], [cfg.n_ctx, -1]) : t.clone());
  },
  block({ cfg, src, sd, conv }, l) {
    const { n_heads: h, d_model: d, d_head: dh } = cfg;
    const hp = `${prefix(src)}h.${l}`;
    const b = `blocks.${l}`;
    sd[`${b}.ln1.w`] = conv(`${hp}.ln_1.weight`);
    sd[`${b}.ln1.b`] = conv(`${hp}.ln_1.bias`);
    const qkv = src.get(`${hp}.attn.c_attn.weight`); // [d, 3d]
    const qkvB = src.get(`${hp}.attn.c_attn.bias`); // [3d]
    tf.tidy(() => {
      const parts = tf.split(qkv, 3, 1);
      const biases = tf.reshape(qkvB, [3, h, dh]);
      ['Q', 'K', 'V'].forEach((x, i) => {
        sd[`${b}.attn.W_${x}`] = tf.keep(tf.transpose(tf.reshape(parts[i], [d, h, dh]), [1, 0, 2]));
        sd[`${b}.attn.b_${x}`] = tf.keep(tf.squeeze(tf.slice(biases, [i, 0, 0], [1, h, dh]), [0]));
      });
    });
    qkv.dispose(); qkvB.dispose();
    sd[`${b}.attn.W_O`] = conv(`${hp}.attn.c_proj.weight`, (t) => tf.reshape(t, [h, dh, d]));
    sd[`${b}.attn.b_O`] = conv(`${hp}.attn.c_proj.bias`);
    sd[`${b}.ln2.w`] = conv(`${hp}.ln_2.weight`);
    sd[`${b}.ln2.b`] = conv(`${hp}.ln_2.bias`);
    sd[`${b}.mlp.W_in`] = conv(`${hp}.mlp.c_fc.weight`);
    sd[`${b}.mlp.b_in`] = conv(`${hp}.mlp.c_fc.bias`);
    sd[`${b}.mlp.W_out`] = conv(`${hp}.mlp.c_proj.weight`);
    sd[`${b}.mlp.b_out`] = conv(`${hp}.mlp.c_proj.bias`);
  },
  unembed({ cfg, hf, src, sd, conv, zeros }) {
    const p = prefix(src);
    sd['ln_final.w'] = conv(`${p}ln_f.weight`);
    sd['ln_final.b'] = conv(`${p}ln_f.bias`);
    const untied = hf.tie_word_embeddings === false && src.has('lm_head.weight');
    // tied: the transpose of the embedding already read where it was (not a second read of the largest tensor)
    sd['unembed.W_U'] = !untied && sd['embed.W_E'] ? tf.transpose(sd['embed.W_E']) : conv(untied ? 'lm_head.weight' : `${p}wte.weight`, (t) => tf.transpose(t));
    sd['unembed.b_U'] = zeros([cfg.d_vocab_out]);
  },
};
