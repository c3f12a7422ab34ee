import * as tf from '@tensorflow/tfjs';
import { HookedTransformerConfig, HookedTransformerConfigInput } from './config';
import { StateDict } from './params';
import { fullScope, ProcessingScope } from './processing';
import { HfConfig, MODEL_FAMILIES, TensorSource, findModelFamily } from './families';

/**
 * Hugging Face checkpoints <-> TransformerLens layout. Each family saelab supports (gpt2, gpt_neox
 * (Pythia), llama, mistral, gemma) is one file in lib/model/families/, listed in MODEL_FAMILIES; this file
 * picks the family and runs its conversions.
 */

export { HfConfig, TensorSource };

/** config.json model_types saelab loads. */
export const SUPPORTED_MODEL_TYPES = MODEL_FAMILIES.map((f) => f.modelType);

/** The model family of an HF config (model_type, or guessed from architectures). */
export function modelFamily(hf: HfConfig, file = 'config.json'): string {
  let t: string | undefined = hf.model_type;
  if (!t && Array.isArray(hf.architectures)) {
    const a = String(hf.architectures[0]);
    t = MODEL_FAMILIES.find((f) => f.matchesArchitecture(a))?.modelType;
  }
  if (!t || !findModelFamily(t)) {
    throw new Error(`${file}: model_type '${hf.model_type ?? '(none)'}' (architectures ${JSON.stringify(hf.architectures ?? [])}) is not supported; supported: ${SUPPORTED_MODEL_TYPES.join(', ')}`);
  }
  return t;
}

/** HF config.json -> HookedTransformerConfig fields (TransformerLens convert_hf_model_config). */
export function hfConfigToTl(hf: HfConfig, modelName: string, file = 'config.json'): HookedTransformerConfigInput {
  const family = findModelFamily(modelFamily(hf, file))!;
  const n = (key: string): number => {
    const v = hf[key];
    if (v === undefined || v === null) throw new Error(`${file}: missing field '${key}' needed for model_type '${hf.model_type}'`);
    return v;
  };
  if (hf.rope_scaling) throw new Error(`${file}: rope_scaling ${JSON.stringify(hf.rope_scaling)} is not supported`);
  return family.config({ hf, file, n, base: { model_name: modelName, tokenizer_name: modelName } });
}

/**
 * Read an HF checkpoint into a TransformerLens state dict (unprocessed). Every tensor read is
 * disposed after conversion so peak memory stays near one copy of the weights. `scope` reads only
 * some parts (the embedding, some blocks, the unembedding), so a model can be loaded part by part.
 */
export function convertHfWeights(family: string, cfg: HookedTransformerConfig, src: TensorSource, hf: HfConfig, scope: ProcessingScope = fullScope(cfg)): StateDict {
  const fam = findModelFamily(family);
  if (!fam) throw new Error(`unsupported model family ${family}; supported: ${SUPPORTED_MODEL_TYPES.join(', ')}`);
  const sd: StateDict = {};
  const conv = (name: string, f: (t: tf.Tensor) => tf.Tensor = (t) => t.clone()): tf.Tensor => {
    const raw = src.get(name);
    try { return tf.tidy(() => f(raw)); } finally { raw.dispose(); }
  };
  const w = { cfg, hf, src, sd, conv, zeros: (shape: number[]) => tf.zeros(shape) };
  if (scope.embed) fam.embed(w);
  for (const l of scope.layers) fam.block(w, l);
  if (scope.unembed) fam.unembed(w);
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
