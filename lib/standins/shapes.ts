/**
 * Shapes of a stand-in checkpoint: the scaled config (full = the hub's; tiny = the same architecture
 * with small widths, for tests), the tensors a Hugging Face checkpoint of that family holds with their
 * names, shapes and dtypes, and how each is initialised.
 *
 * Initialisation keeps activations sane at any width: weights reading the residual stream have
 * std 1/sqrt(fan_in) (outputs of rms ~1 from a normalised input), weights writing to it the same,
 * norms are the identity (Gemma stores w with (1 + w), so 0), biases 0. The residual stream then grows
 * by about one unit of variance per coordinate every two layers; `residualVariance` says how much.
 */
import { HfFamily, ModelRepoSpec, StoredDtype } from './catalog';

export type StandinScale = 'full' | 'tiny';

export type TensorInit =
  | { kind: 'uniform'; std: number }
  | { kind: 'const'; value: number }
  /** lower-triangular ones [1, 1, n, n] (old GPT-2 / NeoX attention mask buffers) */
  | { kind: 'causal' }
  /** rotary inverse frequencies base^(-2i/dim) */
  | { kind: 'invFreq'; dim: number; base: number };

export interface TensorSpec {
  name: string;
  /** the name without a checkpoint-specific prefix: seeds the values, so a finetune saved as `transformer.*` shares its base's */
  seedName?: string;
  shape: number[];
  dtype: StoredDtype | 'BOOL';
  init: TensorInit;
  /** rows [0, sharedRows) of a finetune's tensor derive from the base's (added vocabulary rows are new) */
  vocabRows?: boolean;
}

/** The config a stand-in writes: the hub's at full scale, small widths (same structure) when tiny. */
export function scaledConfig(spec: ModelRepoSpec, scale: StandinScale): Record<string, unknown> {
  const c: Record<string, unknown> = { ...spec.config };
  if (scale === 'full') return c;
  switch (spec.family) {
    case 'gpt2':
      return { ...c, n_embd: 64, n_head: 4 };
    case 'gpt_neox':
      return { ...c, hidden_size: 64, num_attention_heads: 4, intermediate_size: 256 };
    case 'gemma':
      // MQA kept (8 heads -> 4 heads, 1 KV head), 256k vocabulary -> 8,192
      return { ...c, hidden_size: 64, num_attention_heads: 4, head_dim: 16, num_key_value_heads: 1, intermediate_size: 256, vocab_size: 8192 };
    case 'mistral': {
      // GQA ratio kept (4 query heads per KV head); a sliding window shorter than the tests' contexts
      const extra = (c.vocab_size as number) - 32000;
      return { ...c, hidden_size: 64, num_attention_heads: 8, num_key_value_heads: 2, intermediate_size: 224, sliding_window: 32, vocab_size: 4096 + extra };
    }
  }
}

/** Tokenizer vocabulary size for a scale (tiny SentencePiece vocabularies shrink with the config). */
export function scaledTokenizerSize(spec: ModelRepoSpec, scale: StandinScale): number | undefined {
  const t = spec.tokenizer;
  if (t.kind !== 'sentencepiece') return undefined;
  if (scale === 'full') return t.size;
  return spec.family === 'gemma' ? 8192 : 4096;
}

/** SAE width for a scale: the release's at full scale, 8 x d_in when tiny. */
export function scaledSaeWidth(dSae: number, dIn: number, scale: StandinScale): number {
  return scale === 'full' ? dSae : 8 * dIn;
}

const num = (c: Record<string, unknown>, k: string): number => {
  const v = c[k];
  if (typeof v !== 'number') throw new Error(`stand-in config: field '${k}' is missing`);
  return v;
};

/** d_model of a config. */
export function hiddenSize(family: HfFamily, c: Record<string, unknown>): number {
  return family === 'gpt2' ? num(c, 'n_embd') : num(c, 'hidden_size');
}

/** Layer count of a config. */
export function layerCount(family: HfFamily, c: Record<string, unknown>): number {
  return family === 'gpt2' ? num(c, 'n_layer') : num(c, 'num_hidden_layers');
}

/** The tensors of a Hugging Face checkpoint of this family and config, in save order. */
export function checkpointTensors(spec: ModelRepoSpec, c: Record<string, unknown>): TensorSpec[] {
  const dt = spec.dtype;
  const out: TensorSpec[] = [];
  const strip = (name: string) => (spec.prefix && name.startsWith(spec.prefix) ? name.slice(spec.prefix.length) : name);
  const w = (name: string, shape: number[], fanIn: number, extra: Partial<TensorSpec> = {}) =>
    out.push({ name, seedName: strip(name), shape, dtype: dt, init: { kind: 'uniform', std: 1 / Math.sqrt(fanIn) }, ...extra });
  const k = (name: string, shape: number[], value: number) => out.push({ name, seedName: strip(name), shape, dtype: dt, init: { kind: 'const', value } });
  const L = layerCount(spec.family, c);
  const V = num(c, 'vocab_size');
  if (spec.family === 'gpt2') {
    const p = spec.prefix ?? '';
    const d = num(c, 'n_embd');
    const m = (c.n_inner as number | null) ?? 4 * d;
    const nPos = num(c, 'n_positions');
    w(`${p}wte.weight`, [V, d], d, { vocabRows: true });
    w(`${p}wpe.weight`, [nPos, d], d);
    for (let l = 0; l < L; l++) {
      const h = `${p}h.${l}`;
      k(`${h}.ln_1.weight`, [d], 1); k(`${h}.ln_1.bias`, [d], 0);
      if (spec.buffers) out.push({ name: `${h}.attn.bias`, shape: [1, 1, nPos, nPos], dtype: dt, init: { kind: 'causal' } });
      w(`${h}.attn.c_attn.weight`, [d, 3 * d], d); k(`${h}.attn.c_attn.bias`, [3 * d], 0);
      w(`${h}.attn.c_proj.weight`, [d, d], d); k(`${h}.attn.c_proj.bias`, [d], 0);
      k(`${h}.ln_2.weight`, [d], 1); k(`${h}.ln_2.bias`, [d], 0);
      w(`${h}.mlp.c_fc.weight`, [d, m], d); k(`${h}.mlp.c_fc.bias`, [m], 0);
      w(`${h}.mlp.c_proj.weight`, [m, d], m); k(`${h}.mlp.c_proj.bias`, [d], 0);
    }
    k(`${p}ln_f.weight`, [d], 1); k(`${p}ln_f.bias`, [d], 0);
    return out;
  }
  if (spec.family === 'gpt_neox') {
    const d = num(c, 'hidden_size');
    const m = num(c, 'intermediate_size');
    const h = num(c, 'num_attention_heads');
    const nPos = num(c, 'max_position_embeddings');
    const rot = Math.round((c.rotary_pct as number) * (d / h));
    w('gpt_neox.embed_in.weight', [V, d], d, { vocabRows: true });
    for (let l = 0; l < L; l++) {
      const x = `gpt_neox.layers.${l}`;
      k(`${x}.input_layernorm.weight`, [d], 1); k(`${x}.input_layernorm.bias`, [d], 0);
      k(`${x}.post_attention_layernorm.weight`, [d], 1); k(`${x}.post_attention_layernorm.bias`, [d], 0);
      if (spec.buffers) {
        out.push({ name: `${x}.attention.bias`, shape: [1, 1, nPos, nPos], dtype: 'BOOL', init: { kind: 'causal' } });
        out.push({ name: `${x}.attention.rotary_emb.inv_freq`, shape: [rot / 2], dtype: 'F32', init: { kind: 'invFreq', dim: rot, base: (c.rotary_emb_base as number) ?? 10000 } });
      }
      w(`${x}.attention.query_key_value.weight`, [3 * d, d], d); k(`${x}.attention.query_key_value.bias`, [3 * d], 0);
      w(`${x}.attention.dense.weight`, [d, d], d); k(`${x}.attention.dense.bias`, [d], 0);
      w(`${x}.mlp.dense_h_to_4h.weight`, [m, d], d); k(`${x}.mlp.dense_h_to_4h.bias`, [m], 0);
      w(`${x}.mlp.dense_4h_to_h.weight`, [d, m], m); k(`${x}.mlp.dense_4h_to_h.bias`, [d], 0);
    }
    k('gpt_neox.final_layer_norm.weight', [d], 1); k('gpt_neox.final_layer_norm.bias', [d], 0);
    w('embed_out.weight', [V, d], d, { vocabRows: true });
    return out;
  }
  // gemma, mistral: the Llama layout
  const gemma = spec.family === 'gemma';
  const d = num(c, 'hidden_size');
  const m = num(c, 'intermediate_size');
  const h = num(c, 'num_attention_heads');
  const kv = (c.num_key_value_heads as number) ?? h;
  const dh = (c.head_dim as number) ?? d / h;
  const normOne = gemma ? 0 : 1;
  // Gemma multiplies the embedding by sqrt(d_model): entries of 1/sqrt(d) give a residual of rms 1, like Mistral's
  w('model.embed_tokens.weight', [V, d], gemma ? d : 1, { vocabRows: true });
  for (let l = 0; l < L; l++) {
    const x = `model.layers.${l}`;
    w(`${x}.self_attn.q_proj.weight`, [h * dh, d], d);
    w(`${x}.self_attn.k_proj.weight`, [kv * dh, d], d);
    w(`${x}.self_attn.v_proj.weight`, [kv * dh, d], d);
    w(`${x}.self_attn.o_proj.weight`, [d, h * dh], h * dh);
    w(`${x}.mlp.gate_proj.weight`, [m, d], d);
    w(`${x}.mlp.up_proj.weight`, [m, d], d);
    w(`${x}.mlp.down_proj.weight`, [d, m], m);
    k(`${x}.input_layernorm.weight`, [d], normOne);
    k(`${x}.post_attention_layernorm.weight`, [d], normOne);
  }
  k('model.norm.weight', [d], normOne);
  if (!gemma && c.tie_word_embeddings === false) w('lm_head.weight', [V, d], d, { vocabRows: true });
  return out;
}

/**
 * Expected squared norm of the residual stream per coordinate after `blocks` blocks, for the
 * initialisation above: the embedding's variance plus, per block, E[act(z)^2] from the MLP (GELU 0.425,
 * gated SiLU 0.356) and about 0.4 from attention (measured on tiny stand-ins of all four families:
 * the formula is within 10% of their mean squared norms at the middle layer).
 */
export function residualVariance(family: HfFamily, c: Record<string, unknown>, blocks: number): number {
  const d = hiddenSize(family, c);
  const v0 = family === 'gpt2' ? 2 / d : family === 'gpt_neox' ? 1 / d : 1;
  const mlp = family === 'gpt2' || family === 'gpt_neox' ? 0.425 : 0.356;
  return v0 + blocks * (0.4 + mlp);
}

/** Bytes of a tensor as stored. */
export function tensorBytes(t: TensorSpec): number {
  const size = t.dtype === 'F32' ? 4 : t.dtype === 'BOOL' ? 1 : 2;
  return t.shape.reduce((a, b) => a * b, 1) * size;
}
