import * as tf from '@tensorflow/tfjs';
import { HookedTransformerConfig, kvPrefix, nKvHeads } from './config';

/** A state dict in TransformerLens names (embed.W_E, blocks.0.attn.W_Q, ...). */
export type StateDict = Record<string, tf.Tensor>;

/** The parameter names and shapes TransformerLens gives a model with this config, in state-dict order. */
export function paramShapes(cfg: HookedTransformerConfig): Map<string, number[]> {
  const s = new Map<string, number[]>();
  const { d_model: d, n_heads: h, d_head: dh, d_vocab, d_vocab_out, n_ctx } = cfg;
  const kv = nKvHeads(cfg);
  const g = kvPrefix(cfg);
  const norm = (prefix: string) => {
    if (cfg.normalization_type === 'LN') { s.set(`${prefix}.w`, [d]); s.set(`${prefix}.b`, [d]); }
    else if (cfg.normalization_type === 'RMS') s.set(`${prefix}.w`, [d]);
  };
  s.set('embed.W_E', [d_vocab, d]);
  if (cfg.positional_embedding_type === 'standard') s.set('pos_embed.W_pos', [n_ctx, d]);
  for (let l = 0; l < cfg.n_layers; l++) {
    const b = `blocks.${l}`;
    norm(`${b}.ln1`);
    if (!cfg.attn_only) norm(`${b}.ln2`);
    s.set(`${b}.attn.W_Q`, [h, d, dh]);
    s.set(`${b}.attn.${g}W_K`, [kv, d, dh]);
    s.set(`${b}.attn.${g}W_V`, [kv, d, dh]);
    s.set(`${b}.attn.W_O`, [h, dh, d]);
    s.set(`${b}.attn.b_Q`, [h, dh]);
    s.set(`${b}.attn.${g}b_K`, [kv, dh]);
    s.set(`${b}.attn.${g}b_V`, [kv, dh]);
    s.set(`${b}.attn.b_O`, [d]);
    if (!cfg.attn_only) {
      const m = cfg.d_mlp as number;
      s.set(`${b}.mlp.W_in`, [d, m]);
      if (cfg.gated_mlp) s.set(`${b}.mlp.W_gate`, [d, m]);
      s.set(`${b}.mlp.b_in`, [m]);
      s.set(`${b}.mlp.W_out`, [m, d]);
      s.set(`${b}.mlp.b_out`, [d]);
    }
  }
  norm('ln_final');
  s.set('unembed.W_U', [d, d_vocab_out]);
  s.set('unembed.b_U', [d_vocab_out]);
  return s;
}

/**
 * TransformerLens's GPT-2 style init: every W_* ~ Normal(0, initializer_range), biases 0, norm weights 1.
 * Deterministic for a given seed.
 */
export function initParams(cfg: HookedTransformerConfig, seed: number): StateDict {
  const sd: StateDict = {};
  // tfjs treats a seed of 0 as "no seed" (Math.random): map a derived 0 to a fixed non-zero value
  const tfSeed = (s: number): number => (s === 0 ? Number.MIN_VALUE : s);
  let i = 0;
  for (const [name, shape] of paramShapes(cfg)) {
    const leaf = name.slice(name.lastIndexOf('.') + 1);
    if (leaf.startsWith('W_') || leaf.startsWith('_W_')) sd[name] = tf.randomNormal(shape, 0, cfg.initializer_range, 'float32', tfSeed(seed + 7919 * i++));
    else if (leaf === 'w') sd[name] = tf.ones(shape);
    else sd[name] = tf.zeros(shape);
  }
  return sd;
}

/** Check a state dict against the config's parameter shapes; strict also rejects missing and unexpected keys. */
export function checkStateDict(cfg: HookedTransformerConfig, sd: StateDict, strict: boolean, what = 'state dict'): void {
  const shapes = paramShapes(cfg);
  const problems: string[] = [];
  for (const [name, t] of Object.entries(sd)) {
    const want = shapes.get(name);
    if (!want) { if (strict) problems.push(`unexpected key '${name}'`); continue; }
    if (t.shape.length !== want.length || t.shape.some((x, k) => x !== want[k])) problems.push(`'${name}' has shape [${t.shape}], expected [${want}]`);
  }
  if (strict) for (const name of shapes.keys()) if (!(name in sd)) problems.push(`missing key '${name}'`);
  if (problems.length) throw new Error(`${what} does not match the model config: ${problems.slice(0, 12).join('; ')}${problems.length > 12 ? `; ... (${problems.length} problems)` : ''}`);
}
