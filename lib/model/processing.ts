import * as tf from '@tensorflow/tfjs';
import { HookedTransformerConfig, kvPrefix } from './config';
import { StateDict } from './params';
import { inPlaceBinary } from '../backend/fusedOps';

/**
 * TransformerLens's weight processing (load_and_process_state_dict), on a state dict in TL names.
 * Each function owns `sd`: replaced tensors are disposed.
 */
export interface ProcessingOptions {
  foldLn: boolean;
  centerWritingWeights: boolean;
  centerUnembed: boolean;
  foldValueBiases: boolean;
}

export const DEFAULT_PROCESSING: ProcessingOptions = { foldLn: true, centerWritingWeights: true, centerUnembed: true, foldValueBiases: true };
export const NO_PROCESSING: ProcessingOptions = { foldLn: false, centerWritingWeights: false, centerUnembed: false, foldValueBiases: false };

/**
 * Which parts of a state dict a processing call sees: the embedding (embed.W_E, pos_embed.W_pos),
 * some blocks, the unembedding (ln_final, unembed.*). Every step is separable over these parts, so
 * processing the parts one by one gives the same weights as processing the whole model, while only
 * one part needs to be in float32 memory (how large models are loaded).
 */
export interface ProcessingScope {
  embed: boolean;
  layers: number[];
  unembed: boolean;
}

/** The whole model. */
export function fullScope(cfg: HookedTransformerConfig): ProcessingScope {
  return { embed: true, layers: Array.from({ length: cfg.n_layers }, (_, l) => l), unembed: true };
}

function put(sd: StateDict, name: string, t: tf.Tensor): void {
  const old = sd[name];
  sd[name] = t;
  if (old && old !== t) old.dispose();
}

function take(sd: StateDict, name: string): tf.Tensor {
  const t = sd[name];
  if (!t) throw new Error(`weight processing: state dict has no '${name}'`);
  return t;
}

function drop(sd: StateDict, name: string): void {
  sd[name]?.dispose();
  delete sd[name];
}

/** Subtract the mean over `axis` (keepdims); `t` is the state dict's own tensor (replaced by the result). */
function centre(t: tf.Tensor, axis: number | null): tf.Tensor {
  return tf.tidy(() => {
    const m = axis == null ? tf.mean(t) : tf.mean(t, axis, true);
    return inPlaceBinary(t, m, 'Sub') ?? tf.sub(t, m); // in place where the backend can: no second copy
  });
}

/** t * s (s broadcast); `t` is the state dict's own tensor (replaced by the result). */
function scaled(t: tf.Tensor, s: tf.Tensor): tf.Tensor {
  return inPlaceBinary(t, s, 'Multiply') ?? tf.mul(t, s);
}

/**
 * Fold each norm's weight (and for LayerNorm its bias) into the matrices that read its output;
 * with centerWeights, centre those matrices over d_model (LayerNorm output has zero mean).
 */
export function foldLayerNorm(cfg: HookedTransformerConfig, sd: StateDict, foldBiases: boolean, centerWeights: boolean, scope: ProcessingScope = fullScope(cfg)): void {
  const g = kvPrefix(cfg);
  for (const l of scope.layers) {
    const a = `blocks.${l}.attn`;
    const ln1w = take(sd, `blocks.${l}.ln1.w`);
    if (foldBiases) {
      const ln1b = take(sd, `blocks.${l}.ln1.b`);
      for (const [w, b] of [['W_Q', 'b_Q'], [`${g}W_K`, `${g}b_K`], [`${g}W_V`, `${g}b_V`]]) {
        // b + sum_d W[h, d, dh] * ln_b[d]
        put(sd, `${a}.${b}`, tf.tidy(() => tf.add(take(sd, `${a}.${b}`), tf.sum(tf.mul(take(sd, `${a}.${w}`), tf.reshape(ln1b, [1, -1, 1])), 1))));
      }
      drop(sd, `blocks.${l}.ln1.b`);
    }
    for (const w of ['W_Q', `${g}W_K`, `${g}W_V`]) {
      put(sd, `${a}.${w}`, tf.tidy(() => scaled(take(sd, `${a}.${w}`), tf.reshape(ln1w, [1, -1, 1]))));
      if (centerWeights) put(sd, `${a}.${w}`, centre(take(sd, `${a}.${w}`), 1));
    }
    drop(sd, `blocks.${l}.ln1.w`);
    if (!cfg.attn_only) {
      const m = `blocks.${l}.mlp`;
      const ln2w = take(sd, `blocks.${l}.ln2.w`);
      if (foldBiases) {
        const ln2b = take(sd, `blocks.${l}.ln2.b`);
        put(sd, `${m}.b_in`, tf.tidy(() => tf.add(take(sd, `${m}.b_in`), tf.sum(tf.mul(take(sd, `${m}.W_in`), tf.reshape(ln2b, [-1, 1])), 0))));
        drop(sd, `blocks.${l}.ln2.b`);
      }
      put(sd, `${m}.W_in`, tf.tidy(() => scaled(take(sd, `${m}.W_in`), tf.reshape(ln2w, [-1, 1]))));
      if (cfg.gated_mlp) put(sd, `${m}.W_gate`, tf.tidy(() => scaled(take(sd, `${m}.W_gate`), tf.reshape(ln2w, [-1, 1]))));
      drop(sd, `blocks.${l}.ln2.w`);
      if (centerWeights) put(sd, `${m}.W_in`, centre(take(sd, `${m}.W_in`), 0));
    }
  }
  if (!scope.unembed) return;
  if (!cfg.final_rms && foldBiases) {
    const lnfb = take(sd, 'ln_final.b');
    put(sd, 'unembed.b_U', tf.tidy(() => tf.add(take(sd, 'unembed.b_U'), tf.sum(tf.mul(take(sd, 'unembed.W_U'), tf.reshape(lnfb, [-1, 1])), 0))));
    drop(sd, 'ln_final.b');
  }
  put(sd, 'unembed.W_U', tf.tidy(() => scaled(take(sd, 'unembed.W_U'), tf.reshape(take(sd, 'ln_final.w'), [-1, 1]))));
  drop(sd, 'ln_final.w');
  if (centerWeights) put(sd, 'unembed.W_U', centre(take(sd, 'unembed.W_U'), 0));
}

/** Centre every weight writing to the residual stream over d_model (W_E, W_pos, W_O, b_O, W_out, b_out). */
export function centerWritingWeights(cfg: HookedTransformerConfig, sd: StateDict, scope: ProcessingScope = fullScope(cfg)): void {
  if (scope.embed) {
    put(sd, 'embed.W_E', centre(take(sd, 'embed.W_E'), -1));
    if (cfg.positional_embedding_type !== 'rotary') put(sd, 'pos_embed.W_pos', centre(take(sd, 'pos_embed.W_pos'), -1));
  }
  for (const l of scope.layers) {
    put(sd, `blocks.${l}.attn.W_O`, centre(take(sd, `blocks.${l}.attn.W_O`), -1));
    put(sd, `blocks.${l}.attn.b_O`, centre(take(sd, `blocks.${l}.attn.b_O`), null));
    if (!cfg.attn_only) {
      put(sd, `blocks.${l}.mlp.W_out`, centre(take(sd, `blocks.${l}.mlp.W_out`), -1));
      put(sd, `blocks.${l}.mlp.b_out`, centre(take(sd, `blocks.${l}.mlp.b_out`), null));
    }
  }
}

/** Centre W_U and b_U over the vocabulary (log-probs unchanged, logits zero-mean). */
export function centerUnembed(sd: StateDict): void {
  put(sd, 'unembed.W_U', centre(take(sd, 'unembed.W_U'), -1));
  put(sd, 'unembed.b_U', centre(take(sd, 'unembed.b_U'), null));
}

/** Move the value biases into b_O: b_O += sum_h b_V[h] @ W_O[h]; b_V = 0. */
export function foldValueBiases(cfg: HookedTransformerConfig, sd: StateDict, scope: ProcessingScope = fullScope(cfg)): void {
  const g = kvPrefix(cfg);
  const group = cfg.n_heads / (cfg.n_key_value_heads ?? cfg.n_heads);
  for (const l of scope.layers) {
    const a = `blocks.${l}.attn`;
    const bV = take(sd, `${a}.${g}b_V`);
    put(sd, `${a}.b_O`, tf.tidy(() => {
      const [kv, dh] = bV.shape;
      const full = group === 1 ? bV : tf.reshape(tf.tile(tf.reshape(bV, [kv, 1, dh]), [1, group, 1]), [kv * group, dh]);
      return tf.add(take(sd, `${a}.b_O`), tf.sum(tf.mul(tf.expandDims(full, 2), take(sd, `${a}.W_O`)), [0, 1]));
    }));
    put(sd, `${a}.${g}b_V`, tf.zerosLike(bV));
  }
}

/** Normalisation type after folding (LN -> LNPre, RMS -> RMSPre). */
export function foldedNormalization(t: HookedTransformerConfig['normalization_type']): HookedTransformerConfig['normalization_type'] {
  if (t === 'LN') return 'LNPre';
  if (t === 'RMS') return 'RMSPre';
  return t;
}

/**
 * Apply TransformerLens's processing in its order. `cfg` is the config of the unprocessed
 * weights; returns the config of the processed model (normalisation LNPre/RMSPre when folded),
 * and which steps were applied (TL skips fold_ln without norm weights and centring for RMS models).
 * `scope`: the parts `sd` holds (default the whole model); the other parts are processed by other calls.
 */
export function processWeights(cfg: HookedTransformerConfig, sd: StateDict, opts: ProcessingOptions, scope: ProcessingScope = fullScope(cfg)): { cfg: HookedTransformerConfig; applied: ProcessingOptions } {
  const applied: ProcessingOptions = { ...NO_PROCESSING };
  let out = cfg;
  const t = cfg.normalization_type;
  if (opts.foldLn && (t === 'LN' || t === 'RMS')) {
    if (t === 'LN') foldLayerNorm(cfg, sd, true, true, scope);
    else foldLayerNorm(cfg, sd, false, false, scope);
    out = { ...cfg, normalization_type: foldedNormalization(t) };
    applied.foldLn = true;
  }
  const nt = out.normalization_type;
  if (opts.centerWritingWeights && (nt === 'LN' || nt === 'LNPre') && !out.final_rms) {
    centerWritingWeights(out, sd, scope);
    applied.centerWritingWeights = true;
  }
  if (opts.centerUnembed) { if (scope.unembed) centerUnembed(sd); applied.centerUnembed = true; }
  if (opts.foldValueBiases) { foldValueBiases(out, sd, scope); applied.foldValueBiases = true; }
  return { cfg: out, applied };
}
