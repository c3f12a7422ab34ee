import * as tf from '@tensorflow/tfjs';
import { kvPrefix, nKvHeads } from '../config';
import { ConfigReader, ModelFamily, WeightReader, linearRowsToHeads, outProjToHeads } from './family';

/** Llama's config, which Mistral's shares but for the context length, sliding window and final norm. */
export function llamaConfig({ hf, n, base }: ConfigReader, mistral: boolean): ReturnType<ModelFamily['config']> {
  const d = n('hidden_size');
  const h = n('num_attention_heads');
  const dh = hf.head_dim ?? d / h;
  const kv = hf.num_key_value_heads ?? h;
  return {
    ...base, d_model: d, d_head: dh, n_heads: h, d_mlp: n('intermediate_size'), n_layers: n('num_hidden_layers'),
    n_ctx: mistral ? Math.min(2048, hf.max_position_embeddings ?? 2048) : n('max_position_embeddings'),
    eps: hf.rms_norm_eps ?? 1e-6, d_vocab: n('vocab_size'), act_fn: hf.hidden_act ?? 'silu',
    n_key_value_heads: mistral || kv !== h ? kv : null, normalization_type: 'RMS', positional_embedding_type: 'rotary',
    rotary_adjacent_pairs: false, rotary_dim: dh, rotary_base: hf.rope_theta ?? 10000, final_rms: !mistral, gated_mlp: true,
    window_size: mistral ? hf.sliding_window ?? null : null, use_local_attn: mistral && !!hf.sliding_window,
    original_architecture: mistral ? 'MistralForCausalLM' : 'LlamaForCausalLM',
  };
}

/**
 * The weight layout Llama, Mistral and Gemma share (`model.layers.N.self_attn.q_proj` ..., gated MLP,
 * RMSNorm, optional grouped K/V). `gemma`: RMSNorm weights stored as w for a (1 + w) scale, and the
 * embedding scaled by sqrt(d_model).
 */
export function llamaLayout(gemma: boolean): Pick<ModelFamily, 'embed' | 'block' | 'unembed'> {
  /** Gemma's RMSNorm multiplies by (1 + w) */
  const normW = ({ conv }: WeightReader, name: string) => conv(name, (t) => gemma ? tf.add(t, 1) : t.clone());
  return {
    embed({ cfg, sd, conv }) {
      sd['embed.W_E'] = conv('model.embed_tokens.weight', (t) => gemma ? tf.mul(t, Math.sqrt(cfg.d_model)) : t.clone());
    },
    block(w, l) {
      const { cfg, src, sd, conv, zeros } = w;
      const { n_heads: h, d_model: d, d_head: dh } = cfg;
      const kv = nKvHeads(cfg);
      const g = kvPrefix(cfg);
      const hp = `model.layers.${l}`;
      const b = `blocks.${l}`;
      sd[`${b}.ln1.w`] = normW(w, `${hp}.input_layernorm.weight`);
      sd[`${b}.attn.W_Q`] = conv(`${hp}.self_attn.q_proj.weight`, (t) => linearRowsToHeads(t, h));
      sd[`${b}.attn.${g}W_K`] = conv(`${hp}.self_attn.k_proj.weight`, (t) => linearRowsToHeads(t, kv));
      sd[`${b}.attn.${g}W_V`] = conv(`${hp}.self_attn.v_proj.weight`, (t) => linearRowsToHeads(t, kv));
      sd[`${b}.attn.b_Q`] = src.has(`${hp}.self_attn.q_proj.bias`) ? conv(`${hp}.self_attn.q_proj.bias`, (t) => tf.reshape(t, [h, dh])) : zeros([h, dh]);
      sd[`${b}.attn.${g}b_K`] = src.has(`${hp}.self_attn.k_proj.bias`) ? conv(`${hp}.self_attn.k_proj.bias`, (t) => tf.reshape(t, [kv, dh])) : zeros([kv, dh]);
      sd[`${b}.attn.${g}b_V`] = src.has(`${hp}.self_attn.v_proj.bias`) ? conv(`${hp}.self_attn.v_proj.bias`, (t) => tf.reshape(t, [kv, dh])) : zeros([kv, dh]);
      sd[`${b}.attn.W_O`] = conv(`${hp}.self_attn.o_proj.weight`, (t) => outProjToHeads(t, h));
      sd[`${b}.attn.b_O`] = zeros([d]);
      sd[`${b}.ln2.w`] = normW(w, `${hp}.post_attention_layernorm.weight`);
      sd[`${b}.mlp.W_in`] = conv(`${hp}.mlp.up_proj.weight`, (t) => tf.transpose(t));
      sd[`${b}.mlp.W_gate`] = conv(`${hp}.mlp.gate_proj.weight`, (t) => tf.transpose(t));
      sd[`${b}.mlp.b_in`] = zeros([cfg.d_mlp as number]);
      sd[`${b}.mlp.W_out`] = conv(`${hp}.mlp.down_proj.weight`, (t) => tf.transpose(t));
      sd[`${b}.mlp.b_out`] = zeros([d]);
    },
    unembed(w) {
      const { cfg, src, sd, conv, zeros } = w;
      sd['ln_final.w'] = normW(w, 'model.norm.weight');
      const tied = !src.has('lm_head.weight');
      // tied (not Gemma, whose W_E is scaled): the transpose of the embedding already read where it was, not a second read
      sd['unembed.W_U'] = tied && !gemma && sd['embed.W_E'] ? tf.transpose(sd['embed.W_E']) : conv(tied ? 'model.embed_tokens.weight' : 'lm_head.weight', (t) => tf.transpose(t));
      sd['unembed.b_U'] = zeros([cfg.d_vocab_out]);
    },
  };
}

/** Llama (1-3): RMSNorm, rotary, SwiGLU MLP, grouped K/V when num_key_value_heads < heads. */
export const llama: ModelFamily = {
  modelType: 'llama',
  matchesArchitecture: (a) => a.startsWith('Llama'),
  config: (r) => llamaConfig(r, false),
  ...llamaLayout(false),
};
