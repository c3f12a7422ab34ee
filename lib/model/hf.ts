import * as tf from '@tensorflow/tfjs';
import { HookedTransformerConfig, HookedTransformerConfigInput, kvPrefix, nKvHeads } from './config';
import { StateDict } from './params';
import { fullScope, ProcessingScope } from './processing';

/**
 * Hugging Face checkpoints <-> TransformerLens layout, for the families saelab supports:
 * gpt2, gpt_neox (Pythia), llama, mistral, gemma. Conversions follow TransformerLens 2.x's
 * loading_from_pretrained and pretrained/weight_conversions.
 */

export type HfConfig = Record<string, any>;

/** Tensor source over a checkpoint: names and a float32 reader. */
export interface TensorSource {
  has(name: string): boolean;
  /** read as float32 tfjs tensor (caller disposes) */
  get(name: string): tf.Tensor;
  names(): string[];
}

export const SUPPORTED_MODEL_TYPES = ['gpt2', 'gpt_neox', 'llama', 'mistral', 'gemma'];

function need(hf: HfConfig, key: string, file: string): any {
  const v = hf[key];
  if (v === undefined || v === null) throw new Error(`${file}: missing field '${key}' needed for model_type '${hf.model_type}'`);
  return v;
}

/** The model family of an HF config (model_type, or guessed from architectures). */
export function modelFamily(hf: HfConfig, file = 'config.json'): string {
  let t: string | undefined = hf.model_type;
  if (!t && Array.isArray(hf.architectures)) {
    const a = String(hf.architectures[0]);
    t = a.startsWith('GPT2') ? 'gpt2' : a.startsWith('GPTNeoX') ? 'gpt_neox' : a.startsWith('Llama') ? 'llama' : a.startsWith('Mistral') ? 'mistral' : a.startsWith('Gemma') && !a.startsWith('Gemma2') && !a.startsWith('Gemma3') ? 'gemma' : undefined;
  }
  if (!t || !SUPPORTED_MODEL_TYPES.includes(t)) {
    throw new Error(`${file}: model_type '${hf.model_type ?? '(none)'}' (architectures ${JSON.stringify(hf.architectures ?? [])}) is not supported; supported: ${SUPPORTED_MODEL_TYPES.join(', ')}`);
  }
  return t;
}

/** HF config.json -> HookedTransformerConfig fields (TransformerLens convert_hf_model_config). */
export function hfConfigToTl(hf: HfConfig, modelName: string, file = 'config.json'): HookedTransformerConfigInput {
  const family = modelFamily(hf, file);
  const n = (k: string) => need(hf, k, file) as number;
  if (hf.rope_scaling) throw new Error(`${file}: rope_scaling ${JSON.stringify(hf.rope_scaling)} is not supported`);
  const base = { model_name: modelName, tokenizer_name: modelName };
  switch (family) {
    case 'gpt2': {
      if (hf.scale_attn_by_inverse_layer_idx) throw new Error(`${file}: scale_attn_by_inverse_layer_idx=true is not supported`);
      const d = n('n_embd');
      return {
        ...base, d_model: d, d_head: d / n('n_head'), n_heads: n('n_head'), d_mlp: hf.n_inner ?? 4 * d, n_layers: n('n_layer'),
        n_ctx: hf.n_ctx ?? n('n_positions'), eps: hf.layer_norm_epsilon ?? 1e-5, d_vocab: n('vocab_size'), act_fn: hf.activation_function ?? 'gelu_new',
        use_attn_scale: true, normalization_type: 'LN', positional_embedding_type: 'standard', original_architecture: 'GPT2LMHeadModel',
      };
    }
    case 'gpt_neox': {
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
    }
    case 'llama':
    case 'mistral': {
      const d = n('hidden_size');
      const h = n('num_attention_heads');
      const dh = hf.head_dim ?? d / h;
      const kv = hf.num_key_value_heads ?? h;
      const mistral = family === 'mistral';
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
    case 'gemma': {
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
    }
  }
  throw new Error(`${file}: unsupported family ${family}`);
}

/** [h*dh, d] (torch Linear rows per head) -> [h, d, dh]. */
function linearRowsToHeads(w: tf.Tensor, h: number): tf.Tensor {
  const [rows, d] = w.shape;
  return tf.transpose(tf.reshape(w, [h, rows / h, d]), [0, 2, 1]);
}

/** torch Linear o_proj [d, h*dh] -> W_O [h, dh, d]. */
function outProjToHeads(w: tf.Tensor, h: number): tf.Tensor {
  const [d, cols] = w.shape;
  return tf.transpose(tf.reshape(w, [d, h, cols / h]), [1, 2, 0]);
}

/**
 * Read an HF checkpoint into a TransformerLens state dict (unprocessed). Every tensor read is
 * disposed after conversion so peak memory stays near one copy of the weights. `scope` reads only
 * some parts (the embedding, some blocks, the unembedding), so a model can be loaded part by part.
 */
export function convertHfWeights(family: string, cfg: HookedTransformerConfig, src: TensorSource, hf: HfConfig, scope: ProcessingScope = fullScope(cfg)): StateDict {
  const sd: StateDict = {};
  const { n_heads: h, d_model: d, d_head: dh } = cfg;
  const kv = nKvHeads(cfg);
  const g = kvPrefix(cfg);
  /** read, transform inside tidy, dispose the raw tensor */
  const conv = (name: string, f: (t: tf.Tensor) => tf.Tensor = (t) => t.clone()): tf.Tensor => {
    const raw = src.get(name);
    try { return tf.tidy(() => f(raw)); } finally { raw.dispose(); }
  };
  const zeros = (shape: number[]) => tf.zeros(shape);
  if (family === 'gpt2') {
    const p = src.has('wte.weight') ? '' : src.has('transformer.wte.weight') ? 'transformer.' : null;
    if (p === null) throw new Error(`GPT-2 checkpoint has neither 'wte.weight' nor 'transformer.wte.weight' (found: ${src.names().slice(0, 8).join(', ')} ...)`);
    if (scope.embed) {
      sd['embed.W_E'] = conv(`${p}wte.weight`);
      sd['pos_embed.W_pos'] = conv(`${p}wpe.weight`, (t) => t.shape[0] > cfg.n_ctx ? tf.slice(t, [0, 0], [cfg.n_ctx, -1]) : t.clone());
    }
    for (const l of scope.layers) {
      const hp = `${p}h.${l}`;
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
    }
    if (scope.unembed) {
      sd['ln_final.w'] = conv(`${p}ln_f.weight`);
      sd['ln_final.b'] = conv(`${p}ln_f.bias`);
      const untied = hf.tie_word_embeddings === false && src.has('lm_head.weight');
      sd['unembed.W_U'] = conv(untied ? 'lm_head.weight' : `${p}wte.weight`, (t) => tf.transpose(t));
      sd['unembed.b_U'] = zeros([cfg.d_vocab_out]);
    }
    return sd;
  }
  if (family === 'gpt_neox') {
    if (scope.embed) sd['embed.W_E'] = conv('gpt_neox.embed_in.weight');
    for (const l of scope.layers) {
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
    }
    if (scope.unembed) {
      sd['ln_final.w'] = conv('gpt_neox.final_layer_norm.weight');
      sd['ln_final.b'] = conv('gpt_neox.final_layer_norm.bias');
      sd['unembed.W_U'] = conv('embed_out.weight', (t) => tf.transpose(t));
      sd['unembed.b_U'] = zeros([cfg.d_vocab_out]);
    }
    return sd;
  }
  // llama, mistral, gemma share the HF layout
  const gemma = family === 'gemma';
  /** Gemma's RMSNorm multiplies by (1 + w) */
  const normW = (name: string) => conv(name, (t) => gemma ? tf.add(t, 1) : t.clone());
  if (scope.embed) sd['embed.W_E'] = conv('model.embed_tokens.weight', (t) => gemma ? tf.mul(t, Math.sqrt(d)) : t.clone());
  for (const l of scope.layers) {
    const hp = `model.layers.${l}`;
    const b = `blocks.${l}`;
    sd[`${b}.ln1.w`] = normW(`${hp}.input_layernorm.weight`);
    sd[`${b}.attn.W_Q`] = conv(`${hp}.self_attn.q_proj.weight`, (t) => linearRowsToHeads(t, h));
    sd[`${b}.attn.${g}W_K`] = conv(`${hp}.self_attn.k_proj.weight`, (t) => linearRowsToHeads(t, kv));
    sd[`${b}.attn.${g}W_V`] = conv(`${hp}.self_attn.v_proj.weight`, (t) => linearRowsToHeads(t, kv));
    sd[`${b}.attn.b_Q`] = src.has(`${hp}.self_attn.q_proj.bias`) ? conv(`${hp}.self_attn.q_proj.bias`, (t) => tf.reshape(t, [h, dh])) : zeros([h, dh]);
    sd[`${b}.attn.${g}b_K`] = src.has(`${hp}.self_attn.k_proj.bias`) ? conv(`${hp}.self_attn.k_proj.bias`, (t) => tf.reshape(t, [kv, dh])) : zeros([kv, dh]);
    sd[`${b}.attn.${g}b_V`] = src.has(`${hp}.self_attn.v_proj.bias`) ? conv(`${hp}.self_attn.v_proj.bias`, (t) => tf.reshape(t, [kv, dh])) : zeros([kv, dh]);
    sd[`${b}.attn.W_O`] = conv(`${hp}.self_attn.o_proj.weight`, (t) => outProjToHeads(t, h));
    sd[`${b}.attn.b_O`] = zeros([d]);
    sd[`${b}.ln2.w`] = normW(`${hp}.post_attention_layernorm.weight`);
    sd[`${b}.mlp.W_in`] = conv(`${hp}.mlp.up_proj.weight`, (t) => tf.transpose(t));
    sd[`${b}.mlp.W_gate`] = conv(`${hp}.mlp.gate_proj.weight`, (t) => tf.transpose(t));
    sd[`${b}.mlp.b_in`] = zeros([cfg.d_mlp as number]);
    sd[`${b}.mlp.W_out`] = conv(`${hp}.mlp.down_proj.weight`, (t) => tf.transpose(t));
    sd[`${b}.mlp.b_out`] = zeros([d]);
  }
  if (scope.unembed) {
    sd['ln_final.w'] = normW('model.norm.weight');
    const tied = !src.has('lm_head.weight');
    sd['unembed.W_U'] = conv(tied ? 'model.embed_tokens.weight' : 'lm_head.weight', (t) => tf.transpose(t));
    sd['unembed.b_U'] = zeros([cfg.d_vocab_out]);
  }
  return sd;
}

/**
 * Keep only the first dVocab rows of W_E and columns of W_U / b_U (finetunes that add tokens).
 * Trims whichever of them `sd` holds (a part of the model); returns the trimmed config.
 */
export function trimVocab(cfg: HookedTransformerConfig, sd: StateDict, dVocab: number): HookedTransformerConfig {
  if (!Number.isInteger(dVocab) || dVocab <= 0 || dVocab > cfg.d_vocab) {
    throw new Error(`dVocab=${dVocab} must be a positive integer no larger than the checkpoint's vocabulary (${cfg.d_vocab})`);
  }
  const swap = (name: string, f: (t: tf.Tensor) => tf.Tensor) => { const old = sd[name]; if (!old) return; sd[name] = tf.tidy(() => f(old)); old.dispose(); };
  swap('embed.W_E', (t) => tf.slice(t, [0, 0], [dVocab, -1]));
  swap('unembed.W_U', (t) => tf.slice(t, [0, 0], [-1, Math.min(dVocab, cfg.d_vocab_out)]));
  swap('unembed.b_U', (t) => tf.slice(t, [0], [Math.min(dVocab, cfg.d_vocab_out)]));
  return { ...cfg, d_vocab: dVocab, d_vocab_out: Math.min(dVocab, cfg.d_vocab_out) };
}

/** HF GPT-2 config.json for a TransformerLens GPT-2-shaped config. */
export function gpt2HfConfig(cfg: HookedTransformerConfig, tied: boolean): HfConfig {
  return {
    architectures: ['GPT2LMHeadModel'], model_type: 'gpt2', activation_function: cfg.act_fn, n_embd: cfg.d_model, n_head: cfg.n_heads,
    n_layer: cfg.n_layers, n_ctx: cfg.n_ctx, n_positions: cfg.n_ctx, n_inner: cfg.d_mlp, vocab_size: cfg.d_vocab,
    layer_norm_epsilon: cfg.eps, scale_attn_by_inverse_layer_idx: false, tie_word_embeddings: tied,
    bos_token_id: cfg.d_vocab - 1, eos_token_id: cfg.d_vocab - 1, initializer_range: cfg.initializer_range,
    attn_pdrop: 0, embd_pdrop: 0, resid_pdrop: 0, torch_dtype: 'float32',
  };
}

/** Unprocessed TL GPT-2 state dict -> HF GPT-2 tensors (Conv1D [in, out], wte/wpe/h.N.* names). */
export function gpt2ToHfTensors(cfg: HookedTransformerConfig, sd: StateDict, tied: boolean): Record<string, tf.Tensor> {
  const out: Record<string, tf.Tensor> = {};
  const { d_model: d, n_heads: h, d_head: dh } = cfg;
  tf.tidy(() => {
    const keep = (name: string, t: tf.Tensor) => { out[name] = tf.keep(t); };
    keep('wte.weight', sd['embed.W_E'].clone());
    keep('wpe.weight', sd['pos_embed.W_pos'].clone());
    for (let l = 0; l < cfg.n_layers; l++) {
      const b = `blocks.${l}`;
      const hp = `h.${l}`;
      keep(`${hp}.ln_1.weight`, sd[`${b}.ln1.w`].clone());
      keep(`${hp}.ln_1.bias`, sd[`${b}.ln1.b`].clone());
      const mats = ['Q', 'K', 'V'].map((x) => tf.reshape(tf.transpose(sd[`${b}.attn.W_${x}`], [1, 0, 2]), [d, h * dh]));
      keep(`${hp}.attn.c_attn.weight`, tf.concat(mats, 1));
      keep(`${hp}.attn.c_attn.bias`, tf.concat(['Q', 'K', 'V'].map((x) => tf.reshape(sd[`${b}.attn.b_${x}`], [-1])), 0));
      keep(`${hp}.attn.c_proj.weight`, tf.reshape(sd[`${b}.attn.W_O`], [h * dh, d]));
      keep(`${hp}.attn.c_proj.bias`, sd[`${b}.attn.b_O`].clone());
      keep(`${hp}.ln_2.weight`, sd[`${b}.ln2.w`].clone());
      keep(`${hp}.ln_2.bias`, sd[`${b}.ln2.b`].clone());
      keep(`${hp}.mlp.c_fc.weight`, sd[`${b}.mlp.W_in`].clone());
      keep(`${hp}.mlp.c_fc.bias`, sd[`${b}.mlp.b_in`].clone());
      keep(`${hp}.mlp.c_proj.weight`, sd[`${b}.mlp.W_out`].clone());
      keep(`${hp}.mlp.c_proj.bias`, sd[`${b}.mlp.b_out`].clone());
    }
    keep('ln_f.weight', sd['ln_final.w'].clone());
    keep('ln_f.bias', sd['ln_final.b'].clone());
    if (!tied) keep('lm_head.weight', tf.transpose(sd['unembed.W_U']));
  });
  return out;
}
