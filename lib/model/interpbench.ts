/**
 * TransformerLens checkpoints saved from Python, as InterpBench publishes them: a folder with
 * `ll_model.pth` (torch.save of a HookedTransformer state_dict) and `ll_model_cfg.pkl` (a pickled
 * HookedTransformerConfig dict, or the config object itself). Both are read as data only.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { writeDirAtomic, writeFileAtomic, writeJsonAtomic } from '../io/atomic';
import { CONFIG_GLOBALS, PickleObject, PyFloat, PyGlobal, dataClassGlobal, dumpPickle, loadPickle } from '../io/pickle';
import { TorchTensor, asStateDict, readTorch, saveTorchStateDict } from '../io/torch';
import { TensorToWrite, rawToTensor } from '../io/safetensors';
import { HookedTransformerConfig, HookedTransformerConfigInput, makeConfig } from './config';
import { StateDict, checkStateDict } from './params';

export const TL_CHECKPOINT_WEIGHTS = 'll_model.pth';
export const TL_CHECKPOINT_CONFIG = 'll_model_cfg.pkl';

/** Does this folder hold a TransformerLens torch checkpoint (ll_model.pth + ll_model_cfg.pkl)? */
export function isTransformerLensTorchDir(dir: string): boolean {
  return fs.existsSync(path.join(dir, TL_CHECKPOINT_WEIGHTS)) && fs.existsSync(path.join(dir, TL_CHECKPOINT_CONFIG));
}

/**
 * HookedTransformerConfig fields (TransformerLens 2.x) whose defaults saelab's model also uses, or that
 * only affect Python-side bookkeeping (device, dtype, hook switches). Anything else that is set to a
 * non-default value makes the model compute something different and is refused.
 */
const PASS_THROUGH = [
  'n_layers', 'd_model', 'n_ctx', 'd_head', 'model_name', 'n_heads', 'd_mlp', 'act_fn', 'd_vocab', 'eps', 'use_attn_result',
  'use_attn_scale', 'original_architecture', 'tokenizer_name', 'window_size', 'normalization_type', 'attn_only', 'seed',
  'initializer_range', 'positional_embedding_type', 'final_rms', 'd_vocab_out', 'parallel_attn_mlp', 'rotary_dim', 'gated_mlp',
  'default_prepend_bos', 'n_key_value_heads', 'rotary_base', 'rotary_adjacent_pairs', 'use_local_attn',
] as const;

/*
 * Fields that never change the computation are ignored (device never decides where saelab runs): device,
 * n_devices, dtype, from_checkpoint, checkpoint_index, checkpoint_label_type, checkpoint_value, init_mode,
 * init_weights, n_params, use_split_qkv_input, use_hook_mlp_in, use_attn_in, use_hook_tokens,
 * tokenizer_prepends_bos, trust_remote_code, load_in_4bit, ungroup_grouped_query_attention, attn_types,
 * decoder_start_token_id, tie_word_embeddings and the NTK_by_parts_* settings.
 */

/** Fields whose non-default values need computation saelab's HookedTransformer does not have. */
const UNSUPPORTED_UNLESS_DEFAULT: Record<string, unknown[]> = {
  attention_dir: ['causal'],
  post_embedding_ln: [false],
  scale_attn_by_inverse_layer_idx: [false],
  use_qk_norm: [false],
  num_experts: [null],
  experts_per_token: [null],
  relative_attention_max_distance: [null],
  relative_attention_num_buckets: [null],
  use_normalization_before_and_after: [false],
  attn_scores_soft_cap: [-1, -1.0],
  output_logits_soft_cap: [-1, -1.0],
  use_NTK_by_parts_rope: [false],
  rotary_base_local: [null],
};

/**
 * A TransformerLens `HookedTransformerConfig` dict (as pickled by InterpBench, `cfg.to_dict()`) ->
 * saelab's HookedTransformerConfig, missing keys taking TransformerLens's defaults (n_heads =
 * d_model // d_head, d_mlp = 4 d_model, d_vocab_out = d_vocab, normalization 'LN', attn_scale
 * sqrt(d_head), ...). `device` and `dtype` are ignored; computation-changing options saelab lacks
 * are refused naming the field. `label` names the source in errors.
 */
export function configFromTransformerLensDict(dict: Record<string, unknown>, label = 'HookedTransformerConfig'): HookedTransformerConfig {
  if (dict === null || typeof dict !== 'object' || Array.isArray(dict) || dict instanceof Map) {
    throw new Error(`${label}: expected a dict of HookedTransformerConfig fields with string keys`);
  }
  for (const f of ['n_layers', 'd_model', 'n_ctx', 'd_head'] as const) {
    if (dict[f] === undefined) throw new Error(`${label}: missing required field '${f}' (TransformerLens has no default for it)`);
  }
  for (const [field, defaults] of Object.entries(UNSUPPORTED_UNLESS_DEFAULT)) {
    const v = dict[field];
    if (v !== undefined && !defaults.some((d) => d === v)) {
      throw new Error(`${label}: ${field}=${JSON.stringify(v)} is not supported by saelab's HookedTransformer (supported: ${defaults.map((d) => JSON.stringify(d)).join(' or ')})`);
    }
  }
  const pos = dict.positional_embedding_type;
  if (pos !== undefined && pos !== 'standard' && pos !== 'rotary') {
    throw new Error(`${label}: positional_embedding_type='${String(pos)}' is not supported (standard or rotary)`);
  }
  const input: Record<string, unknown> = {};
  for (const f of PASS_THROUGH) if (dict[f] !== undefined) input[f] = dict[f];
  const num = (f: string): number | undefined => {
    const v = dict[f];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'number') throw new Error(`${label}: ${f} must be a number, got ${typeof v} ${String(v)}`);
    return v;
  };
  // TransformerLens's sentinels: -1 means "derive it"
  if (num('n_heads') === -1) delete input.n_heads;
  if (num('d_vocab_out') === -1) delete input.d_vocab_out;
  if (input.d_mlp === null) delete input.d_mlp;
  const dVocab = num('d_vocab');
  if (dVocab === undefined || dVocab === -1) throw new Error(`${label}: d_vocab is not set (-1); TransformerLens infers it from a tokenizer, which a saved checkpoint must record`);
  if (!dict.attn_only && (dict.act_fn === undefined || dict.act_fn === null)) {
    throw new Error(`${label}: act_fn must be specified for models with MLPs (TransformerLens has no default)`);
  }
  if (input.original_architecture === null) delete input.original_architecture;
  const initRange = num('initializer_range');
  if (initRange === undefined || initRange < 0) {
    delete input.initializer_range;
    if (dict.init_mode !== undefined && dict.init_mode !== 'gpt2') input.initializer_range = 1.0;
  }
  // attn_scale: -1 (or absent) means sqrt(d_head) when use_attn_scale
  const scale = num('attn_scale');
  if (scale !== undefined && scale !== -1) input.attn_scale = scale;
  if (input.window_size === null) delete input.window_size;
  return makeConfig(input as HookedTransformerConfigInput);
}

/** TransformerLens's state_dict also holds these buffers; they are checked, then dropped. */
const BUFFER_RE = /^blocks\.(\d+)\.attn\.(mask|IGNORE|rotary_sin|rotary_cos)$/;

/** Read `ll_model_cfg.pkl` as a config dict (a pickled dict, or a pickled HookedTransformerConfig object). */
export function readTransformerLensConfigPickle(file: string): Record<string, unknown> {
  const value = loadPickle(file, {
    allow: [...CONFIG_GLOBALS, dataClassGlobal('transformer_lens.HookedTransformerConfig', 'HookedTransformerConfig'),
      dataClassGlobal('transformer_lens.config.HookedTransformerConfig', 'HookedTransformerConfig')],
  });
  if (value instanceof PickleObject) return value.state;
  if (value === null || typeof value !== 'object' || Array.isArray(value) || value instanceof Map) {
    throw new Error(`${file}: expected a pickled HookedTransformerConfig dict`);
  }
  return value as Record<string, unknown>;
}

/**
 * Read a TransformerLens torch checkpoint folder (InterpBench layout) into a config and a state
 * dict of float32 tfjs tensors (caller disposes). Buffers (attn.mask, attn.IGNORE) are checked
 * against the config and dropped; the remaining keys must match the model's parameters exactly
 * (checked when the model is built, as torch's strict load_state_dict does).
 */
export function readTransformerLensTorchDir(dir: string): { cfg: HookedTransformerConfig; sd: StateDict } {
  const cfgFile = path.join(dir, TL_CHECKPOINT_CONFIG);
  const weightsFile = path.join(dir, TL_CHECKPOINT_WEIGHTS);
  const cfg = configFromTransformerLensDict(readTransformerLensConfigPickle(cfgFile), cfgFile);
  const raw: Record<string, TorchTensor> = asStateDict(readTorch(weightsFile), weightsFile);
  const sd: StateDict = {};
  try {
    for (const [name, t] of Object.entries(raw)) {
      const m = BUFFER_RE.exec(name);
      if (m) {
        if (Number(m[1]) >= cfg.n_layers) throw new Error(`${weightsFile}: unexpected key '${name}' (the config has ${cfg.n_layers} layers)`);
        if (m[2] === 'mask' && (t.shape.length !== 2 || t.shape[0] !== cfg.n_ctx || t.shape[1] !== cfg.n_ctx)) {
          throw new Error(`${weightsFile}: '${name}' has shape [${t.shape}], expected [${cfg.n_ctx}, ${cfg.n_ctx}] (n_ctx ${cfg.n_ctx})`);
        }
        if (m[2] === 'IGNORE' && t.shape.length !== 0) throw new Error(`${weightsFile}: '${name}' has shape [${t.shape}], expected a scalar`);
        continue;
      }
      if (t.dtype !== 'F32' && t.dtype !== 'F16' && t.dtype !== 'BF16' && t.dtype !== 'F64') {
        throw new Error(`${weightsFile}: parameter '${name}' has dtype ${t.dtype}, expected a float tensor`);
      }
      sd[name] = rawToTensor(t, `${weightsFile}:${name}`);
    }
    try {
      checkStateDict(cfg, sd, true, `${weightsFile}: state_dict`);
    } catch (e) {
      throw new Error(`${(e as Error).message} (config from ${cfgFile})`);
    }
  } catch (e) {
    for (const v of Object.values(sd)) v.dispose();
    throw e;
  }
  return { cfg, sd };
}

/**
 * A TransformerLens config dict for `HookedTransformerConfig.from_dict` (fields shared by
 * TransformerLens 1.x and 2.x; options at their defaults are left out). `extra` adds or overrides fields.
 */
export function transformerLensConfigDict(cfg: HookedTransformerConfig, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const d: Record<string, unknown> = {
    n_layers: cfg.n_layers, d_model: cfg.d_model, n_ctx: cfg.n_ctx, d_head: cfg.d_head, model_name: cfg.model_name,
    n_heads: cfg.n_heads, d_mlp: cfg.d_mlp, act_fn: cfg.act_fn, d_vocab: cfg.d_vocab, eps: new PyFloat(cfg.eps),
    use_attn_result: cfg.use_attn_result, use_attn_scale: cfg.use_attn_scale, original_architecture: cfg.original_architecture || null,
    tokenizer_name: cfg.tokenizer_name, normalization_type: cfg.normalization_type, attention_dir: 'causal', attn_only: cfg.attn_only,
    seed: cfg.seed, initializer_range: new PyFloat(cfg.initializer_range), positional_embedding_type: cfg.positional_embedding_type,
    final_rms: cfg.final_rms, d_vocab_out: cfg.d_vocab_out, parallel_attn_mlp: cfg.parallel_attn_mlp, gated_mlp: cfg.gated_mlp,
    default_prepend_bos: cfg.default_prepend_bos, dtype: new PyGlobal('torch', 'float32'),
  };
  if (cfg.positional_embedding_type === 'rotary') Object.assign(d, { rotary_dim: cfg.rotary_dim, rotary_base: cfg.rotary_base, rotary_adjacent_pairs: cfg.rotary_adjacent_pairs });
  if (cfg.n_key_value_heads != null) d.n_key_value_heads = cfg.n_key_value_heads;
  if (cfg.window_size != null) Object.assign(d, { window_size: cfg.window_size, use_local_attn: cfg.use_local_attn });
  if (Math.abs(cfg.attn_scale - Math.sqrt(cfg.d_head)) > 1e-12) d.attn_scale = new PyFloat(cfg.attn_scale);
  return { ...d, ...extra };
}

/**
 * Save a model as a TransformerLens torch checkpoint folder (InterpBench layout): `ll_model.pth`
 * (the state_dict torch's HookedTransformer(cfg).load_state_dict accepts strictly, buffers included),
 * `ll_model_cfg.pkl` (the config dict) and, when given, `meta.json`. Written atomically.
 */
export async function saveTransformerLensTorchDir(
  model: { cfg: HookedTransformerConfig; stateDict(): StateDict; processing?: object },
  dir: string,
  opts: { meta?: Record<string, unknown>; configExtra?: Record<string, unknown>; extraFiles?: Record<string, string> } = {},
): Promise<void> {
  if (model.processing && Object.values(model.processing as Record<string, boolean>).some(Boolean)) {
    throw new Error(`saveTransformerLensTorchDir(${dir}): weights are processed (${JSON.stringify(model.processing)}); TransformerLens checkpoints hold unprocessed weights`);
  }
  const cfg = model.cfg;
  const sd = model.stateDict();
  try {
    const tensors: Record<string, TensorToWrite | tf.Tensor> = {};
    const mask = new Uint8Array(cfg.n_ctx * cfg.n_ctx);
    for (let q = 0; q < cfg.n_ctx; q++) for (let k = 0; k <= q; k++) mask[q * cfg.n_ctx + k] = 1;
    for (const [name, t] of Object.entries(sd)) {
      tensors[name] = t;
      const m = /^blocks\.(\d+)\.attn\.b_O$/.exec(name);
      if (m) {
        tensors[`blocks.${m[1]}.attn.mask`] = { dtype: 'BOOL', shape: [cfg.n_ctx, cfg.n_ctx], data: mask };
        tensors[`blocks.${m[1]}.attn.IGNORE`] = { dtype: 'F32', shape: [], data: new Float32Array([-Infinity]) };
      }
    }
    await writeDirAtomic(dir, async (tmp) => {
      await saveTorchStateDict(path.join(tmp, TL_CHECKPOINT_WEIGHTS), tensors, { archiveName: 'll_model' });
      writeFileAtomic(path.join(tmp, TL_CHECKPOINT_CONFIG), dumpPickle(transformerLensConfigDict(cfg, opts.configExtra)));
      if (opts.meta) writeJsonAtomic(path.join(tmp, 'meta.json'), opts.meta);
      for (const [name, text] of Object.entries(opts.extraFiles ?? {})) writeFileAtomic(path.join(tmp, name), text);
    });
  } finally {
    for (const t of Object.values(sd)) t.dispose();
  }
}
