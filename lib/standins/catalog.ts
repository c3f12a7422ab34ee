/**
 * What the published presets name on the hub, as stand-ins need it: each model repo's config.json
 * (the hub's values), its weight file layout and dtype, its tokenizer kind; each SAE release's
 * repo, folders, widths and cfg.json fields; each dataset's repo and file layout.
 *
 * Provenance: config.json values are those of the hub repos (transformers configs of gpt2,
 * EleutherAI/pythia-70m-deduped, google/gemma-2b, mistralai/Mistral-7B-v0.1); SAE widths and hook
 * names from SAELens's pretrained_saes.yaml and the releases' cfg.json files (gpt2-small-res-jb 24,576,
 * gemma-2b-res-jb 16,384, mistral-7b-res-wg 65,536, pythia-70m-deduped-res-sm 32,768). Where a repo's
 * exact file layout is not known (the two finetunes), the base's layout is used; docs/scale.md lists
 * these assumptions.
 */
import { getRelease } from '../sae/registry';

/** safetensors dtype of a checkpoint's floating tensors. */
export type StoredDtype = 'F32' | 'F16' | 'BF16';

/** HF architecture family (config.json model_type). */
export type HfFamily = 'gpt2' | 'gpt_neox' | 'gemma' | 'mistral';

/** How a repo's tokenizer files are made (see tokenizerFiles.ts). */
export type TokenizerKind =
  | { kind: 'gpt2' }
  /** GPT-2's byte-level vocabulary with ids shuffled (a finetune with its own BPE: few ids agree) */
  | { kind: 'gpt2-shuffled'; seed: number }
  /** GPT-NeoX style: byte-level BPE, <|endoftext|> = 0, <|padding|> = 1, whitespace-run tokens up to the size */
  | { kind: 'neox'; size: number }
  /** SentencePiece-converted BPE with byte fallback (Llama / Mistral / Gemma tokenizer.json layout) */
  | { kind: 'sentencepiece'; style: 'llama' | 'gemma'; size: number; extraTokens?: string[] };

export interface ModelRepoSpec {
  repoId: string;
  family: HfFamily;
  /** config.json as on the hub */
  config: Record<string, unknown>;
  dtype: StoredDtype;
  /** null: one model.safetensors; else shard at this many bytes (transformers' max_shard_size) */
  maxShardBytes: number | null;
  /** HF tensor names carry this prefix (GPT2LMHeadModel saves `transformer.`) */
  prefix?: string;
  /** include the attention mask buffers old checkpoints carry (gpt2 h.N.attn.bias, neox attention.bias) */
  buffers?: boolean;
  tokenizer: TokenizerKind;
  /** revisions: each gets its own weights; 'main' always exists */
  revisions?: string[];
  /** the revision whose weights 'main' shares (Pythia: main == step143000) */
  mainIs?: string;
  /** a finetune: weights = base's + a small seeded perturbation (vocabulary rows beyond the base's are new) */
  finetuneOf?: string;
}

const GPT2_CONFIG = {
  activation_function: 'gelu_new', architectures: ['GPT2LMHeadModel'], attn_pdrop: 0.1, bos_token_id: 50256, embd_pdrop: 0.1,
  eos_token_id: 50256, initializer_range: 0.02, layer_norm_epsilon: 1e-5, model_type: 'gpt2', n_ctx: 1024, n_embd: 768, n_head: 12,
  n_inner: null, n_layer: 12, n_positions: 1024, reorder_and_upcast_attn: false, resid_pdrop: 0.1, scale_attn_by_inverse_layer_idx: false,
  scale_attn_weights: true, summary_activation: null, summary_first_dropout: 0.1, summary_proj_to_labels: true, summary_type: 'cls_index',
  summary_use_proj: true, task_specific_params: { 'text-generation': { do_sample: true, max_length: 50 } }, transformers_version: '4.26.0.dev0',
  use_cache: true, vocab_size: 50257,
};

const PYTHIA_70M_CONFIG = {
  architectures: ['GPTNeoXForCausalLM'], bos_token_id: 0, eos_token_id: 0, hidden_act: 'gelu', hidden_size: 512, initializer_range: 0.02,
  intermediate_size: 2048, layer_norm_eps: 1e-5, max_position_embeddings: 2048, model_type: 'gpt_neox', num_attention_heads: 8,
  num_hidden_layers: 6, rotary_emb_base: 10000, rotary_pct: 0.25, tie_word_embeddings: false, torch_dtype: 'float16',
  transformers_version: '4.24.0', use_cache: true, use_parallel_residual: true, vocab_size: 50304,
};

const GEMMA_2B_CONFIG = {
  architectures: ['GemmaForCausalLM'], attention_bias: false, attention_dropout: 0.0, bos_token_id: 2, eos_token_id: 1, head_dim: 256,
  hidden_act: 'gelu', hidden_size: 2048, initializer_range: 0.02, intermediate_size: 16384, max_position_embeddings: 8192,
  model_type: 'gemma', num_attention_heads: 8, num_hidden_layers: 18, num_key_value_heads: 1, pad_token_id: 0, rms_norm_eps: 1e-6,
  rope_scaling: null, rope_theta: 10000.0, torch_dtype: 'bfloat16', transformers_version: '4.38.0.dev0', use_cache: true, vocab_size: 256000,
};

const MISTRAL_7B_CONFIG = {
  architectures: ['MistralForCausalLM'], bos_token_id: 1, eos_token_id: 2, hidden_act: 'silu', hidden_size: 4096, initializer_range: 0.02,
  intermediate_size: 14336, max_position_embeddings: 32768, model_type: 'mistral', num_attention_heads: 32, num_hidden_layers: 32,
  num_key_value_heads: 8, rms_norm_eps: 1e-5, rope_theta: 10000.0, sliding_window: 4096, tie_word_embeddings: false,
  torch_dtype: 'bfloat16', transformers_version: '4.34.0.dev0', use_cache: true, vocab_size: 32000,
};

/** Pythia's training checkpoints on the hub (the checkpoint preset's revisions; main is step143000). */
export const PYTHIA_STEPS = [0, 1000, 5000, 10000, 33000, 66000, 143000].map((s) => `step${s}`);

/** Every model repo the presets name, by repo id. */
export const MODEL_REPOS: Record<string, ModelRepoSpec> = {
  'openai-community/gpt2': {
    repoId: 'openai-community/gpt2', family: 'gpt2', config: GPT2_CONFIG, dtype: 'F32', maxShardBytes: null, buffers: true, tokenizer: { kind: 'gpt2' },
  },
  'pierreguillou/gpt2-small-portuguese': {
    repoId: 'pierreguillou/gpt2-small-portuguese', family: 'gpt2', finetuneOf: 'openai-community/gpt2',
    config: { ...GPT2_CONFIG, _name_or_path: 'gpt2', torch_dtype: 'float32', transformers_version: '4.2.0' },
    dtype: 'F32', maxShardBytes: null, prefix: 'transformer.', tokenizer: { kind: 'gpt2-shuffled', seed: 351 },
  },
  'EleutherAI/pythia-70m-deduped': {
    repoId: 'EleutherAI/pythia-70m-deduped', family: 'gpt_neox', config: PYTHIA_70M_CONFIG, dtype: 'F16', maxShardBytes: null, buffers: true,
    tokenizer: { kind: 'neox', size: 50277 }, revisions: PYTHIA_STEPS, mainIs: 'step143000',
  },
  'google/gemma-2b': {
    repoId: 'google/gemma-2b', family: 'gemma', config: GEMMA_2B_CONFIG, dtype: 'BF16', maxShardBytes: 5e9,
    tokenizer: { kind: 'sentencepiece', style: 'gemma', size: 256000 },
  },
  'shahdishank/gemma-2b-it-finetune-python-codes': {
    repoId: 'shahdishank/gemma-2b-it-finetune-python-codes', family: 'gemma', finetuneOf: 'google/gemma-2b',
    config: { ...GEMMA_2B_CONFIG, _name_or_path: 'google/gemma-2b-it', transformers_version: '4.40.0' }, dtype: 'BF16', maxShardBytes: 5e9,
    tokenizer: { kind: 'sentencepiece', style: 'gemma', size: 256000 },
  },
  'mistralai/Mistral-7B-v0.1': {
    repoId: 'mistralai/Mistral-7B-v0.1', family: 'mistral', config: MISTRAL_7B_CONFIG, dtype: 'BF16', maxShardBytes: 10e9,
    tokenizer: { kind: 'sentencepiece', style: 'llama', size: 32000 },
  },
  'meta-math/MetaMath-Mistral-7B': {
    repoId: 'meta-math/MetaMath-Mistral-7B', family: 'mistral', finetuneOf: 'mistralai/Mistral-7B-v0.1',
    config: { ...MISTRAL_7B_CONFIG, _name_or_path: 'mistralai/Mistral-7B-v0.1', pad_token_id: 32000, transformers_version: '4.35.0', vocab_size: 32001 },
    dtype: 'BF16', maxShardBytes: 5e9, tokenizer: { kind: 'sentencepiece', style: 'llama', size: 32000, extraTokens: ['[PAD]'] },
  },
};

/** A pretrained SAE release as stand-ins write it. */
export interface SaeReleaseSpec {
  release: string;
  /** the model repo whose activations the SAEs read (for calibration and d_in) */
  modelRepo: string;
  dSae: number;
  /** cfg.json keys as the release's files have them (the hook and widths are added per SAE) */
  cfg: (hook: string, layer: number, dIn: number, dSae: number) => Record<string, unknown>;
  /** writes sparsity.safetensors (log10 feature densities) as the release does */
  sparsity: boolean;
}

export const SAE_RELEASES: Record<string, SaeReleaseSpec> = {
  'gpt2-small-res-jb': {
    release: 'gpt2-small-res-jb', modelRepo: 'openai-community/gpt2', dSae: 24576, sparsity: true,
    // pre-6.0 SAELens (mats_sae_training) layout
    cfg: (hook, layer, dIn, dSae) => ({
      model_name: 'gpt2-small', hook_point: hook, hook_point_layer: layer, hook_point_head_index: null, dataset_path: 'Skylion007/openwebtext',
      is_dataset_tokenized: false, context_size: 128, use_cached_activations: false, d_in: dIn, n_batches_in_buffer: 128,
      total_training_tokens: 300000000, store_batch_size: 32, device: 'mps', seed: 42, dtype: 'torch.float32', b_dec_init_method: 'geometric_median',
      expansion_factor: dSae / dIn, l1_coefficient: 8e-5, lr: 0.0004, lr_scheduler_name: null, lr_warm_up_steps: 5000, train_batch_size: 4096,
      use_ghost_grads: false, feature_sampling_window: 1000, dead_feature_window: 5000, dead_feature_threshold: 1e-8, d_sae: dSae,
    }),
  },
  'gemma-2b-res-jb': {
    release: 'gemma-2b-res-jb', modelRepo: 'google/gemma-2b', dSae: 16384, sparsity: true,
    cfg: (hook, layer, dIn, dSae) => ({
      model_name: 'gemma-2b', hook_point: hook, hook_point_layer: layer, hook_point_head_index: null, dataset_path: 'HuggingFaceFW/fineweb',
      is_dataset_tokenized: false, context_size: 1024, d_in: dIn, d_sae: dSae, dtype: 'float32', device: 'cuda', seed: 42,
      expansion_factor: dSae / dIn, prepend_bos: true, apply_b_dec_to_input: false, normalize_activations: 'none',
      sae_lens_training_version: '2.1.3', model_from_pretrained_kwargs: {},
    }),
  },
  'mistral-7b-res-wg': {
    release: 'mistral-7b-res-wg', modelRepo: 'mistralai/Mistral-7B-v0.1', dSae: 65536, sparsity: false,
    // SAELens 5 layout (hook_name / hook_layer); the registry overrides normalize_activations
    cfg: (hook, layer, dIn, dSae) => ({
      architecture: 'standard', d_in: dIn, d_sae: dSae, dtype: 'float32', device: 'cuda', model_name: 'mistral-7b', hook_name: hook,
      hook_layer: layer, hook_head_index: null, activation_fn_str: 'relu', activation_fn_kwargs: {}, apply_b_dec_to_input: false,
      finetuning_scaling_factor: false, sae_lens_training_version: '3.13.0', prepend_bos: false, dataset_path: 'monology/pile-uncopyrighted',
      context_size: 256, normalize_activations: 'none', model_from_pretrained_kwargs: {},
    }),
  },
  'pythia-70m-deduped-res-sm': {
    release: 'pythia-70m-deduped-res-sm', modelRepo: 'EleutherAI/pythia-70m-deduped', dSae: 32768, sparsity: false,
    cfg: (hook, layer, dIn, dSae) => ({
      architecture: 'standard', d_in: dIn, d_sae: dSae, dtype: 'float32', device: 'cpu', model_name: 'pythia-70m-deduped', hook_name: hook,
      hook_layer: layer, hook_head_index: null, activation_fn_str: 'relu', apply_b_dec_to_input: true, finetuning_scaling_factor: false,
      sae_lens_training_version: null, prepend_bos: true, dataset_path: 'monology/pile-uncopyrighted', context_size: 128, normalize_activations: 'none',
    }),
  },
};

/** A text dataset repo: where its train split's files go. */
export interface DatasetSpec {
  repoId: string;
  /** file name pattern for shard i of n (a path inside the repo, .jsonl) */
  file: (i: number, n: number) => string;
}

const pad5 = (k: number) => String(k).padStart(5, '0');

export const DATASETS: Record<string, DatasetSpec> = {
  'Skylion007/openwebtext': { repoId: 'Skylion007/openwebtext', file: (i, n) => `plain_text/train-${pad5(i)}-of-${pad5(n)}.jsonl` },
  'NeelNanda/pile-10k': { repoId: 'NeelNanda/pile-10k', file: (i, n) => `data/train-${pad5(i)}-of-${pad5(n)}.jsonl` },
  'ctigges/openwebtext-gemma-1024-cl': { repoId: 'ctigges/openwebtext-gemma-1024-cl', file: (i, n) => `data/train-${pad5(i)}-of-${pad5(n)}.jsonl` },
  // the hub's files are train/NN.jsonl.zst; lib/data reads .jsonl (zstd needs Node 22), so the stand-in is uncompressed
  'monology/pile-uncopyrighted': { repoId: 'monology/pile-uncopyrighted', file: (i) => `train/${String(i).padStart(2, '0')}.jsonl` },
};

/** The SAE release's repo and the folder of one SAE id (through saelab's registry, as loading resolves it). */
export function saeFolder(release: string, saeId: string): { repoId: string; folder: string } {
  const info = getRelease(release);
  if (!info) throw new Error(`make-standins: SAE release '${release}' is not in saelab's registry`);
  const sae = info.saes.find((s) => s.id === saeId);
  if (!sae) throw new Error(`make-standins: release '${release}' has no SAE '${saeId}' (ids: ${info.saes.map((s) => s.id).join(', ')})`);
  return { repoId: info.repo_id, folder: sae.path };
}

/** Model-family names accepted by --like, and the preset configs each stands for. */
export const FAMILY_PRESETS: Record<string, string[]> = {
  gpt2: ['gpt2-portuguese', 'gpt2-small-crosslayer', 'gpt2-small-circuits'],
  'gpt2-small': ['gpt2-portuguese', 'gpt2-small-crosslayer', 'gpt2-small-circuits'],
  'pythia-70m-deduped': ['pythia-70m-circuits', 'pythia-70m-checkpoints'],
  'gemma-2b': ['gemma-2b-python'],
  'mistral-7b': ['mistral-7b-metamath'],
};
