/**
 * Splicing SAEs into a model through the hook API: replace the activation at the SAE's hook with
 * the SAE reconstruction (optionally plus the error term, optionally only at chosen positions,
 * optionally with per-feature interventions), as SAELens's HookedSAETransformer does. A transcoder
 * reads its input hook and replaces its output hook (metadata.hook_name_out) with its prediction; its
 * error term is the true output minus the prediction.
 */
import * as tf from '@tensorflow/tfjs';
import { ForwardOptions, ForwardResult, HookFn, RunWithCacheOptions } from '../model/types';
import { SAE } from './sae';

/** A per-feature edit applied to the feature activations before decoding. */
export interface FeatureIntervention {
  feature: number;
  /** zero: f_i = 0; scale: f_i *= value; set: f_i = value */
  op: 'zero' | 'scale' | 'set';
  value?: number;
}

/** Names under which SAE internals are captured (SAELens HookedSAETransformer cache names, after the hook name). */
export const SAE_CACHE_SUFFIXES = ['hook_sae_input', 'hook_sae_acts_post', 'hook_sae_recons', 'hook_sae_error', 'hook_sae_output'] as const;
export type SAECacheSuffix = (typeof SAE_CACHE_SUFFIXES)[number];

export interface SpliceOptions {
  /**
   * Where to splice: a [batch, pos] mask (tf.Tensor of bool/0-1, or boolean[][]), or a list of positions
   * applied to every sequence (negative counts from the end). Elsewhere the original activation is kept.
   * Default: all positions.
   */
  positions?: tf.Tensor | boolean[][] | number[];
  /** add x - decode(encode(x)) (from the unedited features), so only interventions change the output */
  includeError?: boolean;
  interventions?: FeatureIntervention[];
  /**
   * Receives SAE internals at `${hook}.${suffix}`; each tensor is a fresh copy the receiver owns.
   * hook_sae_acts_post is [..., d_sae] (after interventions); the others have the activation's shape.
   * Transcoders report them under their output hook (hook_sae_input is the input hook's activation).
   */
  capture?: (name: string, tensor: tf.Tensor) => void;
}

/** The minimum of HookedTransformer that splicing needs. */
export interface SpliceableModel {
  forward(tokens: tf.Tensor, opts?: ForwardOptions): ForwardResult;
  runWithCache(tokens: tf.Tensor, opts?: RunWithCacheOptions): ForwardResult & { cache: unknown };
}

function interventionEditor(sae: SAE, interventions: FeatureIntervention[]): ((f: tf.Tensor2D) => tf.Tensor2D) | undefined {
  if (!interventions.length) return undefined;
  const d = sae.cfg.d_sae;
  const mul = new Float32Array(d).fill(1);
  const add = new Float32Array(d);
  for (const iv of interventions) {
    if (!Number.isInteger(iv.feature) || iv.feature < 0 || iv.feature >= d) throw new Error(`intervention feature ${iv.feature} is out of range for d_sae=${d}`);
    if (iv.op === 'zero') { mul[iv.feature] = 0; add[iv.feature] = 0; }
    else if (iv.op === 'scale') {
      if (typeof iv.value !== 'number') throw new Error(`intervention 'scale' on feature ${iv.feature} needs a numeric value`);
      mul[iv.feature] *= iv.value;
      add[iv.feature] *= iv.value;
    } else if (iv.op === 'set') {
      if (typeof iv.value !== 'number') throw new Error(`intervention 'set' on feature ${iv.feature} needs a numeric value`);
      mul[iv.feature] = 0;
      add[iv.feature] = iv.value;
    } else throw new Error(`unknown intervention op ${JSON.stringify((iv as FeatureIntervention).op)} (use zero, scale or set)`);
  }
  return (f) => tf.add(tf.mul(f, tf.tensor1d(mul)), tf.tensor1d(add)) as tf.Tensor2D;
}

/** [batch, pos] float mask from the positions option, for an activation of shape [batch, pos, ...]. */
function positionMask(positions: SpliceOptions['positions'], batch: number, pos: number): tf.Tensor2D {
  if (positions instanceof tf.Tensor) {
    if (positions.rank !== 2 || positions.shape[0] !== batch || positions.shape[1] !== pos) {
      throw new Error(`splice positions mask has shape [${positions.shape.join(', ')}], the activation needs [${batch}, ${pos}]`);
    }
    return tf.cast(tf.notEqual(positions, 0), 'float32') as tf.Tensor2D;
  }
  const arr = positions as boolean[][] | number[];
  if (arr.length && Array.isArray(arr[0])) {
    const rows = arr as boolean[][];
    if (rows.length !== batch || rows.some((r) => r.length !== pos)) throw new Error(`splice positions mask must be [${batch}][${pos}] booleans`);
    return tf.tensor2d(rows.map((r) => r.map((b) => (b ? 1 : 0))), [batch, pos], 'float32');
  }
  const row = new Float32Array(pos);
  for (const p of arr as number[]) {
    const i = p < 0 ? pos + p : p;
    if (!Number.isInteger(i) || i < 0 || i >= pos) throw new Error(`splice position ${p} is out of range for ${pos} positions`);
    row[i] = 1;
  }
  return tf.tile(tf.tensor2d(row, [1, pos]), [batch, 1]) as tf.Tensor2D;
}

/** The width an activation presents to the SAE (hook_z SAEs see n_heads * d_head). */
function activationWidth(sae: SAE, act: tf.Tensor): number {
  if (sae.cfg.reshape_activations === 'hook_z') return act.shape[act.rank - 1] * act.shape[act.rank - 2];
  return act.shape[act.rank - 1];
}

/**
 * What a splice writes at a hook: the reconstruction (plus the error term with includeError), after
 * handing copies of the SAE's input, activations, reconstruction, error and output to opts.capture.
 */
function spliceOutput(name: string, x: tf.Tensor, r: { saeOut: tf.Tensor; featureActs: tf.Tensor; error?: tf.Tensor }, opts: SpliceOptions): tf.Tensor {
  const out = opts.includeError ? tf.add(r.saeOut, r.error!) : r.saeOut;
  if (opts.capture) {
    const give = (suffix: SAECacheSuffix, t: tf.Tensor) => opts.capture!(`${name}.${suffix}`, tf.keep(t.clone()));
    give('hook_sae_input', x);
    give('hook_sae_acts_post', r.featureActs);
    give('hook_sae_recons', r.saeOut);
    if (r.error) give('hook_sae_error', r.error);
    give('hook_sae_output', out);
  }
  return out;
}

/**
 * Forward hooks that splice `sae` in at its hook (cfg.metadata.hook_name). Pass them in
 * `fwdHooks` of model.forward / runWithCache.
 */
export function spliceHooks(sae: SAE, opts: SpliceOptions = {}): Array<[string, HookFn]> {
  if (sae.isTranscoder) return transcoderSpliceHooks(sae, opts);
  const hookName = sae.cfg.metadata.hook_name;
  const edit = interventionEditor(sae, opts.interventions ?? []);
  const headIndex = sae.cfg.metadata.hook_head_index;
  const fn: HookFn = (act, ctx) => tf.tidy(() => {
    const name = ctx?.name ?? hookName;
    // SAEs on one head of a [b, p, head, d_head] hook read and replace only that head
    const perHead = typeof headIndex === 'number' && sae.cfg.reshape_activations === 'none' && act.rank === 4;
    const x = perHead ? tf.squeeze(tf.slice(act, [0, 0, headIndex as number, 0], [-1, -1, 1, -1]), [2]) : act;
    const width = activationWidth(sae, x);
    if (width !== sae.cfg.d_in) {
      throw new Error(`SAE d_in=${sae.cfg.d_in} does not match the model's ${name} width ${width} (activation shape [${act.shape.join(', ')}]): the SAE was made for another model or hook`);
    }
    const r = sae.run(x, { editFeatures: edit, withError: opts.includeError });
    let out = spliceOutput(name, x, r, opts);
    if (perHead) {
      const h = headIndex as number;
      const nHeads = act.shape[2] as number;
      const parts: tf.Tensor[] = [];
      if (h > 0) parts.push(tf.slice(act, [0, 0, 0, 0], [-1, -1, h, -1]));
      parts.push(tf.expandDims(out, 2));
      if (h < nHeads - 1) parts.push(tf.slice(act, [0, 0, h + 1, 0], [-1, -1, -1, -1]));
      out = tf.concat(parts, 2);
    }
    if (opts.positions !== undefined) out = applyPositions(opts.positions, act, out, name);
    return out;
  });
  return [[hookName, fn]];
}

/** Blend `out` into `act` at the chosen positions (the original activation elsewhere). */
function applyPositions(positions: SpliceOptions['positions'], act: tf.Tensor, out: tf.Tensor, name: string): tf.Tensor {
  if (act.rank < 2) throw new Error(`splicing at chosen positions needs a [batch, pos, ...] activation at ${name}, got shape [${act.shape.join(', ')}]`);
  const m = positionMask(positions, act.shape[0] as number, act.shape[1] as number);
  const mb = tf.reshape(m, [act.shape[0] as number, act.shape[1] as number, ...new Array(act.rank - 2).fill(1)]);
  return tf.add(tf.mul(mb, out), tf.mul(tf.sub(1, mb), act));
}

/**
 * A transcoder's two hooks: at metadata.hook_name its input is kept (the activation passes unchanged);
 * at metadata.hook_name_out the activation is replaced by the prediction (plus, with includeError, the
 * error node: true output - prediction of the unedited features).
 */
function transcoderSpliceHooks(sae: SAE, opts: SpliceOptions): Array<[string, HookFn]> {
  const inHook = sae.cfg.metadata.hook_name;
  const outHook = sae.outputHook;
  if (typeof sae.cfg.metadata.hook_head_index === 'number') throw new Error(`${sae.cfg.architecture} on ${inHook}: splicing a transcoder on one attention head (hook_head_index) is not supported`);
  const edit = interventionEditor(sae, opts.interventions ?? []);
  let input: tf.Tensor | null = null;
  const keepInput: HookFn = (act, ctx) => {
    const name = ctx?.name ?? inHook;
    if (act.shape[act.rank - 1] !== sae.cfg.d_in) {
      throw new Error(`${sae.cfg.architecture} d_in=${sae.cfg.d_in} does not match the model's ${name} width ${act.shape[act.rank - 1]} (activation shape [${act.shape.join(', ')}]): the transcoder was made for another model or hook`);
    }
    input?.dispose();
    input = tf.keep(act.clone());
  };
  const replaceOutput: HookFn = (act, ctx) => {
    const name = ctx?.name ?? outHook;
    if (!input) throw new Error(`${sae.cfg.architecture}: its output hook ${name} ran before its input hook ${inHook} in this forward pass; a transcoder predicts a later hook from an earlier one`);
    const x = input;
    input = null;
    try {
      return tf.tidy(() => {
        if (act.shape[act.rank - 1] !== sae.dOut || !tf.util.arraysEqual(act.shape.slice(0, -1), x.shape.slice(0, -1))) {
          throw new Error(`${sae.cfg.architecture} predicts [..., ${sae.dOut}] from ${inHook} [${x.shape.join(', ')}], but ${name} is [${act.shape.join(', ')}]`);
        }
        const r = sae.run(x, { editFeatures: edit, withError: opts.includeError, target: act });
        let out = spliceOutput(name, x, r, opts);
        if (opts.positions !== undefined) out = applyPositions(opts.positions, act, out, name);
        return out;
      });
    } finally {
      x.dispose();
    }
  };
  return [[inHook, keepInput], [outHook, replaceOutput]];
}

export type RunWithSAEOptions = ForwardOptions & SpliceOptions;

function withSpliceHooks<T extends ForwardOptions>(saes: SAE | SAE[], opts: T & SpliceOptions): T {
  const list = Array.isArray(saes) ? saes : [saes];
  const hooks = list.flatMap((s) => spliceHooks(s, opts));
  const rest = { ...opts } as T & SpliceOptions;
  delete rest.positions;
  delete rest.includeError;
  delete rest.interventions;
  delete rest.capture;
  return { ...rest, fwdHooks: [...(opts.fwdHooks ?? []), ...hooks] };
}

/** model.forward with one or more SAEs spliced in (logits and/or loss per returnType). */
export function runWithSAE(model: SpliceableModel, saes: SAE | SAE[], tokens: tf.Tensor, opts: RunWithSAEOptions = {}): ForwardResult {
  return model.forward(tokens, withSpliceHooks(saes, opts));
}

/**
 * model.runWithCache with SAEs spliced in. Besides the model's cache, `saeCache` holds the SAE
 * internals at `${hook}.hook_sae_input|hook_sae_acts_post|hook_sae_recons|hook_sae_error|hook_sae_output`
 * (owned by the caller; dispose them).
 */
export function runWithCacheAndSAE<M extends SpliceableModel>(model: M, saes: SAE | SAE[], tokens: tf.Tensor, opts: RunWithCacheOptions & SpliceOptions = {}):
  ReturnType<M['runWithCache']> & { saeCache: Map<string, tf.Tensor> } {
  const saeCache = new Map<string, tf.Tensor>();
  const userCapture = opts.capture;
  const capture = (name: string, t: tf.Tensor) => {
    if (userCapture) userCapture(name, t);
    else {
      saeCache.get(name)?.dispose();
      saeCache.set(name, t);
    }
  };
  const res = model.runWithCache(tokens, withSpliceHooks(saes, { ...opts, capture }));
  return { ...(res as ReturnType<M['runWithCache']>), saeCache };
}
