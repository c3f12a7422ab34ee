import { ModelFamily } from './family';
import { llamaLayout } from './llama';

/** Gemma (1): Llama's layout with (1 + w) RMSNorm, an embedding scaled by sqrt(d_model) and tanh GELU. */
export const gemma: ModelFamily = {
  modelType: 'gemma',
  matchesArchitecture: (a) => a.startsWith('Gemma') && !a.startsWith('Gemma2') && !a.startsWith('Gemma3'),
  config({ hf, n, base }) {
    const d = n('hidden_size');
    const h = n('num_attention_heads');
    const dh = hf.head_dim ?? d / h;
    return {
      ...base, d_model: d, d_head: dh, n_heads: h, d_mlp: n('intermediate_size'), n_layers: n('num_hidden_layers'),
      n_ctx: hf.max_position_embeddings ?? 8192, eps: hf.rms_norm_eps ?? 1e-6, d_vocab: n('vocab_size'),
      // TransformerLens (and HF's Gemma) use the tanh GELU whatever hidden_act says
      act_fn: 'gelu_new', n_key_value_heads: hf.num_key_value_heads ?? h, normalization_type: 'RMS',
      positional_embedding_type: 'rotary', rotary_adjacent_pairs: false, rotary_dim: dh, rotary_base: hf.rope_theta ?? 10000,
      final_rms: true, gated_mlp: true, original_architecture: 'GemmaForCausalLM',
    };
  },
  ...llamaLayout(true),
};
