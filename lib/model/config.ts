/**
 * HookedTransformerConfig: TransformerLens's config fields (Python names), with its defaults.
 */
export type NormalizationType = 'LN' | 'LNPre' | 'RMS' | 'RMSPre' | null;
export type PositionalEmbeddingType = 'standard' | 'rotary';

export interface HookedTransformerConfig {
  n_layers: number;
  d_model: number;
  n_heads: number;
  d_head: number;
  /** MLP width; null for attention-only models */
  d_mlp: number | null;
  d_vocab: number;
  /** output vocabulary (InterpBench / algorithmic models may differ from d_vocab) */
  d_vocab_out: number;
  n_ctx: number;
  /** gelu_new | gelu_pytorch_tanh | gelu_fast | gelu | silu | relu */
  act_fn: string;
  normalization_type: NormalizationType;
  positional_embedding_type: PositionalEmbeddingType;
  rotary_dim: number | null;
  rotary_base: number;
  /** GPT-J style adjacent pairs; false = NeoX "halves" layout */
  rotary_adjacent_pairs: boolean;
  /** grouped-query attention: key/value head count (null = same as n_heads, plain attention) */
  n_key_value_heads: number | null;
  parallel_attn_mlp: boolean;
  gated_mlp: boolean;
  attn_only: boolean;
  original_architecture: string;
  model_name: string;
  tokenizer_name: string | null;
  default_prepend_bos: boolean;
  eps: number;
  use_attn_scale: boolean;
  /** divisor of q.k (default sqrt(d_head)) */
  attn_scale: number;
  /** compute attn.hook_result [batch, pos, head, d_model] in every forward pass */
  use_attn_result: boolean;
  /** sliding-window attention (Mistral): keys older than window_size positions are masked */
  window_size: number | null;
  use_local_attn: boolean;
  /** RMS families: the final norm is RMS (TransformerLens does not centre writing weights then) */
  final_rms: boolean;
  initializer_range: number;
  seed: number | null;
}

/** The fields a caller must give; everything else has TransformerLens's default. */
export type HookedTransformerConfigInput = Partial<HookedTransformerConfig> & {
  n_layers: number;
  d_model: number;
  n_ctx: number;
  d_head: number;
  d_vocab: number;
};

const ACT_FNS = ['gelu_new', 'gelu_pytorch_tanh', 'gelu_fast', 'gelu', 'silu', 'relu'];

/** Fill TransformerLens defaults (HookedTransformerConfig.__post_init__) and validate. */
export function makeConfig(input: HookedTransformerConfigInput): HookedTransformerConfig {
  const d_model = input.d_model;
  const d_head = input.d_head;
  const n_heads = input.n_heads ?? Math.floor(d_model / d_head);
  const attn_only = input.attn_only ?? false;
  const positional_embedding_type = input.positional_embedding_type ?? 'standard';
  const cfg: HookedTransformerConfig = {
    n_layers: input.n_layers,
    d_model,
    n_heads,
    d_head,
    d_mlp: attn_only ? null : (input.d_mlp ?? 4 * d_model),
    d_vocab: input.d_vocab,
    d_vocab_out: input.d_vocab_out == null || input.d_vocab_out === -1 ? input.d_vocab : input.d_vocab_out,
    n_ctx: input.n_ctx,
    act_fn: input.act_fn ?? 'relu',
    normalization_type: input.normalization_type === undefined ? 'LN' : input.normalization_type,
    positional_embedding_type,
    rotary_dim: input.rotary_dim ?? (positional_embedding_type === 'rotary' ? d_head : null),
    rotary_base: input.rotary_base ?? 10000,
    rotary_adjacent_pairs: input.rotary_adjacent_pairs ?? false,
    n_key_value_heads: input.n_key_value_heads ?? null,
    parallel_attn_mlp: input.parallel_attn_mlp ?? false,
    gated_mlp: input.gated_mlp ?? false,
    attn_only,
    original_architecture: input.original_architecture ?? '',
    model_name: input.model_name ?? 'custom',
    tokenizer_name: input.tokenizer_name ?? null,
    default_prepend_bos: input.default_prepend_bos ?? true,
    eps: input.eps ?? 1e-5,
    use_attn_scale: input.use_attn_scale ?? true,
    attn_scale: input.attn_scale ?? Math.sqrt(d_head),
    use_attn_result: input.use_attn_result ?? false,
    window_size: input.window_size ?? null,
    use_local_attn: input.use_local_attn ?? false,
    final_rms: input.final_rms ?? false,
    initializer_range: input.initializer_range != null && input.initializer_range >= 0 ? input.initializer_range : 0.8 / Math.sqrt(d_model),
    seed: input.seed ?? null,
  };
  validateConfig(cfg);
  return cfg;
}

function positiveInt(cfg: HookedTransformerConfig, field: keyof HookedTransformerConfig): void {
  const v = cfg[field];
  if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) {
    throw new Error(`HookedTransformerConfig.${String(field)} must be a positive integer, got ${JSON.stringify(v)}`);
  }
}

/** Throw an Error naming the field and value for an inconsistent config. */
export function validateConfig(cfg: HookedTransformerConfig): void {
  for (const f of ['n_layers', 'd_model', 'n_heads', 'd_head', 'd_vocab', 'd_vocab_out', 'n_ctx'] as const) positiveInt(cfg, f);
  if (!cfg.attn_only) positiveInt(cfg, 'd_mlp');
  if (!ACT_FNS.includes(cfg.act_fn)) throw new Error(`HookedTransformerConfig.act_fn '${cfg.act_fn}' is not supported (use one of ${ACT_FNS.join(', ')})`);
  if (![null, 'LN', 'LNPre', 'RMS', 'RMSPre'].includes(cfg.normalization_type)) {
    throw new Error(`HookedTransformerConfig.normalization_type ${JSON.stringify(cfg.normalization_type)} is not one of LN, LNPre, RMS, RMSPre, null`);
  }
  if (cfg.positional_embedding_type !== 'standard' && cfg.positional_embedding_type !== 'rotary') {
    throw new Error(`HookedTransformerConfig.positional_embedding_type '${cfg.positional_embedding_type}' is not supported (standard or rotary)`);
  }
  if (cfg.positional_embedding_type === 'rotary') {
    const r = cfg.rotary_dim;
    if (r == null || !Number.isInteger(r) || r <= 0 || r > cfg.d_head || r % 2 !== 0) {
      throw new Error(`HookedTransformerConfig.rotary_dim must be an even integer in (0, d_head=${cfg.d_head}], got ${r}`);
    }
  }
  if (cfg.n_key_value_heads != null) {
    const kv = cfg.n_key_value_heads;
    if (!Number.isInteger(kv) || kv <= 0 || cfg.n_heads % kv !== 0) {
      throw new Error(`HookedTransformerConfig.n_key_value_heads=${kv} must divide n_heads=${cfg.n_heads}`);
    }
  }
}

/** Number of key/value heads actually stored (n_key_value_heads or n_heads). */
export function nKvHeads(cfg: HookedTransformerConfig): number {
  return cfg.n_key_value_heads ?? cfg.n_heads;
}

/** TransformerLens stores grouped K/V weights under `_W_K`, `_W_V`, `_b_K`, `_b_V`. */
export function kvPrefix(cfg: HookedTransformerConfig): '' | '_' {
  return cfg.n_key_value_heads != null ? '_' : '';
}
