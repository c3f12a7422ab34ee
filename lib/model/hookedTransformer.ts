import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { writeDirAtomic, writeJsonAtomic } from '../io/atomic';
import { writeTensorsSafetensors } from '../io/safetensors';
import { ActivationCache } from './cache';
import {
  activation, applyRotary, attentionMasks, embeddingLookup, headsToMatrix, linear, offsetPositionIds, repeatKvHeads, rotaryTables,
} from './components';
import { HookedTransformerConfig, HookedTransformerConfigInput, kvPrefix, makeConfig, nKvHeads, validateConfig } from './config';
import { convertHfWeights, gpt2HfConfig, gpt2ToHfTensors, hfConfigToTl, modelFamily, trimVocab } from './hf';
import { HookRun, selectorMatches, unknownHookError } from './hooks';
import { isTransformerLensTorchDir, readTransformerLensTorchDir } from './interpbench';
import { officialModelName, openCheckpoint, readHfConfig, resolveModelDir } from './loading';
import { loadTokenizerFromDir } from '../tokenizers/tokenizer';
import { checkStateDict, initParams, paramShapes, StateDict } from './params';
import { DEFAULT_PROCESSING, NO_PROCESSING, ProcessingOptions, processWeights } from './processing';
import { ForwardOptions, ForwardResult, HookFn, HookSelector, RunWithCacheOptions } from './types';

/** Options of HookedTransformer.fromPretrained (TransformerLens's from_pretrained keyword names in camelCase). */
export interface FromPretrainedOptions {
  revision?: string;
  /** default true (TransformerLens default) */
  foldLn?: boolean;
  /** default true; only applied to LayerNorm models */
  centerWritingWeights?: boolean;
  /** default true */
  centerUnembed?: boolean;
  /** default true */
  foldValueBiases?: boolean;
  /** false = from_pretrained_no_processing (all four off) */
  processing?: boolean;
  /** keep only the first dVocab tokens of the vocabulary (finetunes that add tokens) */
  dVocab?: number;
  /** make the parameters trainable tf.Variables (for tf.variableGrads) */
  trainable?: boolean;
  /** override default_prepend_bos */
  defaultPrependBos?: boolean;
  /** load the folder's tokenizer.json as model.tokenizer when present (default true) */
  tokenizer?: boolean;
}

/**
 * Minimal tokenizer glue. toTokens adds BOS itself, so it uses encodeRaw when present (encoding
 * without special tokens, as saelab's Tokenizer has), else encode, which must then add none.
 */
export interface TokenizerLike {
  encode(text: string): number[];
  encodeRaw?(text: string): number[];
  decode(ids: number[]): string;
  bosTokenId?: number;
  padTokenId?: number;
}

/** Map SAELens's `model_from_pretrained_kwargs` (snake_case) onto fromPretrained options. */
export function optionsFromPretrainedKwargs(kwargs: Record<string, unknown> | undefined): FromPretrainedOptions {
  const o: FromPretrainedOptions = {};
  if (!kwargs) return o;
  const bool = (k: string) => (typeof kwargs[k] === 'boolean' ? (kwargs[k] as boolean) : undefined);
  if (bool('fold_ln') !== undefined) o.foldLn = bool('fold_ln');
  if (bool('center_writing_weights') !== undefined) o.centerWritingWeights = bool('center_writing_weights');
  if (bool('center_unembed') !== undefined) o.centerUnembed = bool('center_unembed');
  if (bool('fold_value_biases') !== undefined) o.foldValueBiases = bool('fold_value_biases');
  if (bool('default_prepend_bos') !== undefined) o.defaultPrependBos = bool('default_prepend_bos');
  if (typeof kwargs.revision === 'string') o.revision = kwargs.revision;
  if (typeof kwargs.checkpoint_value === 'number') o.revision = `step${kwargs.checkpoint_value}`;
  return o;
}

interface CoreOutput {
  logits?: tf.Tensor3D;
  /** per-token next-token loss [b, p-1], zero where masked */
  nll?: tf.Tensor2D;
}

/** Hook-point names of one block, in execution order. */
function blockHookNames(cfg: HookedTransformerConfig, l: number, withOptional: boolean): string[] {
  const b = `blocks.${l}`;
  const names = [`${b}.hook_resid_pre`];
  const norm = (p: string) => (cfg.normalization_type ? [`${b}.${p}.hook_scale`, `${b}.${p}.hook_normalized`] : []);
  names.push(...norm('ln1'), `${b}.attn.hook_q`, `${b}.attn.hook_k`, `${b}.attn.hook_v`);
  if (cfg.positional_embedding_type === 'rotary') names.push(`${b}.attn.hook_rot_q`, `${b}.attn.hook_rot_k`);
  names.push(`${b}.attn.hook_attn_scores`, `${b}.attn.hook_pattern`, `${b}.attn.hook_z`);
  if (withOptional || cfg.use_attn_result) names.push(`${b}.attn.hook_result`);
  names.push(`${b}.hook_attn_out`);
  if (!cfg.attn_only) {
    if (!cfg.parallel_attn_mlp) names.push(`${b}.hook_resid_mid`);
    names.push(...norm('ln2'), `${b}.mlp.hook_pre`);
    if (cfg.gated_mlp) names.push(`${b}.mlp.hook_pre_linear`);
    names.push(`${b}.mlp.hook_post`, `${b}.hook_mlp_out`);
  }
  names.push(`${b}.hook_resid_post`);
  return names;
}

/**
 * A transformer language model with TransformerLens's hook points, parameter names and weight
 * processing, on TensorFlow.js. Every forward pass is differentiable (tf.grads / tf.variableGrads).
 */
export class HookedTransformer {
  cfg: HookedTransformerConfig;
  /** parameters in TransformerLens state-dict names (embed.W_E, blocks.0.attn.W_Q [n_heads, d_model, d_head], ...) */
  readonly params = new Map<string, tf.Variable>();
  /** which weight-processing steps the current weights carry */
  processing: ProcessingOptions = { ...NO_PROCESSING };
  tokenizer: TokenizerLike | null = null;
  /**
   * Token budget per pass when a call gives no maxBatchTokens: larger batches are split into row
   * chunks. Default: 2^28 / d_vocab_out tokens (about 1 GiB of float32 logits per chunk); null = never split.
   */
  maxBatchTokens: number | null = null;
  /** the folder (and hub commit) the weights came from, when loaded with fromPretrained */
  source: { dir: string; commit?: string } | null = null;

  private constructor(cfg: HookedTransformerConfig, sd: StateDict, trainable: boolean) {
    validateConfig(cfg);
    this.cfg = cfg;
    this.maxBatchTokens = Math.max(1, Math.floor(2 ** 28 / cfg.d_vocab_out));
    checkStateDict(cfg, sd, true, 'initial weights');
    for (const name of paramShapes(cfg).keys()) {
      this.params.set(name, tf.variable(sd[name], trainable, `${name}_${Math.random().toString(36).slice(2, 10)}`));
      sd[name].dispose();
    }
  }

  /** A randomly initialised model (TransformerLens init: W_* ~ N(0, initializer_range), biases 0, norm weights 1). */
  static fromConfig(cfgInput: HookedTransformerConfigInput | HookedTransformerConfig, opts: { seed?: number; trainable?: boolean } = {}): HookedTransformer {
    const cfg = makeConfig(cfgInput as HookedTransformerConfigInput);
    const seed = opts.seed ?? cfg.seed ?? 0;
    return new HookedTransformer(cfg, initParams(cfg, seed), opts.trainable ?? false);
  }

  /** Build a model from a config and a TransformerLens state dict (tensors are copied). */
  static fromStateDict(cfgInput: HookedTransformerConfigInput | HookedTransformerConfig, sd: StateDict, opts: { trainable?: boolean } = {}): HookedTransformer {
    const cfg = makeConfig(cfgInput as HookedTransformerConfigInput);
    const copy: StateDict = {};
    for (const [k, v] of Object.entries(sd)) copy[k] = v.clone();
    return new HookedTransformer(cfg, copy, opts.trainable ?? false);
  }

  /**
   * Load a Hugging Face checkpoint (gpt2, gpt_neox, llama, mistral, gemma) and apply TransformerLens's
   * default processing (fold_ln, center_writing_weights, center_unembed, fold_value_biases), each switchable.
   */
  static async fromPretrained(nameOrDir: string, opts: FromPretrainedOptions = {}): Promise<HookedTransformer> {
    if (isTransformerLensTorchDir(nameOrDir)) {
      // a TransformerLens model saved from Python (InterpBench: ll_model.pth + ll_model_cfg.pkl), loaded
      // like HookedTransformer(cfg).load_state_dict(sd): strict, and processed only when asked explicitly
      const { cfg, sd } = readTransformerLensTorchDir(nameOrDir);
      if (opts.defaultPrependBos !== undefined) cfg.default_prepend_bos = opts.defaultPrependBos;
      const model = new HookedTransformer(cfg, sd, opts.trainable ?? false);
      const on = opts.processing === true;
      const steps = { foldLn: opts.foldLn ?? on, centerWritingWeights: opts.centerWritingWeights ?? on, centerUnembed: opts.centerUnembed ?? on, foldValueBiases: opts.foldValueBiases ?? on };
      if (Object.values(steps).some(Boolean)) model.processWeights(steps);
      model.source = { dir: path.resolve(nameOrDir) };
      return model;
    }
    const resolved = await resolveModelDir(nameOrDir, opts.revision);
    const hf = readHfConfig(resolved.dir);
    const configFile = path.join(resolved.dir, 'config.json');
    const family = modelFamily(hf, configFile);
    const input = hfConfigToTl(hf, nameOrDir, configFile);
    input.tokenizer_name = fs.existsSync(nameOrDir) ? nameOrDir : officialModelName(nameOrDir);
    if (opts.defaultPrependBos !== undefined) input.default_prepend_bos = opts.defaultPrependBos;
    let cfg = makeConfig(input);
    const src = openCheckpoint(resolved.dir);
    let sd: StateDict;
    try {
      sd = convertHfWeights(family, cfg, src, hf);
    } finally {
      src.close();
    }
    try {
      if (opts.dVocab !== undefined && opts.dVocab !== cfg.d_vocab) cfg = trimVocab(cfg, sd, opts.dVocab);
      const on = opts.processing !== false;
      const wanted: ProcessingOptions = {
        foldLn: on && (opts.foldLn ?? DEFAULT_PROCESSING.foldLn),
        centerWritingWeights: on && (opts.centerWritingWeights ?? DEFAULT_PROCESSING.centerWritingWeights),
        centerUnembed: on && (opts.centerUnembed ?? DEFAULT_PROCESSING.centerUnembed),
        foldValueBiases: on && (opts.foldValueBiases ?? DEFAULT_PROCESSING.foldValueBiases),
      };
      const { cfg: processedCfg, applied } = processWeights(cfg, sd, wanted);
      const model = new HookedTransformer(processedCfg, sd, opts.trainable ?? false);
      model.processing = applied;
      model.source = resolved;
      if (opts.tokenizer !== false && fs.existsSync(path.join(resolved.dir, 'tokenizer.json'))) {
        model.setTokenizer(loadTokenizerFromDir(resolved.dir));
      }
      return model;
    } catch (e) {
      for (const t of Object.values(sd)) if (!t.isDisposed) t.dispose();
      throw e;
    }
  }

  // ---------------------------------------------------------------- weights

  private p(name: string): tf.Tensor {
    const t = this.params.get(name);
    if (!t) throw new Error(`model has no parameter '${name}'`);
    return t;
  }

  /** Unembedding [d_model, d_vocab_out]. */
  get W_U(): tf.Tensor2D { return this.p('unembed.W_U') as tf.Tensor2D; }
  /** Unembedding bias [d_vocab_out]. */
  get b_U(): tf.Tensor1D { return this.p('unembed.b_U') as tf.Tensor1D; }
  /** Token embedding [d_vocab, d_model]. */
  get W_E(): tf.Tensor2D { return this.p('embed.W_E') as tf.Tensor2D; }
  /** Positional embedding [n_ctx, d_model] (standard positional embeddings only). */
  get W_pos(): tf.Tensor2D { return this.p('pos_embed.W_pos') as tf.Tensor2D; }

  /** A copy of the weights as a state dict (caller disposes). */
  stateDict(): StateDict {
    const sd: StateDict = {};
    for (const [k, v] of this.params) sd[k] = v.clone();
    return sd;
  }

  /**
   * Assign weights by TransformerLens name. strict (default true): every parameter must be present
   * and nothing else. Shapes must match. The given tensors are copied (caller keeps ownership).
   */
  loadStateDict(sd: StateDict | Map<string, tf.Tensor>, opts: { strict?: boolean } = {}): void {
    const rec: StateDict = sd instanceof Map ? Object.fromEntries(sd) : sd;
    checkStateDict(this.cfg, rec, opts.strict ?? true);
    for (const [k, v] of Object.entries(rec)) {
      const target = this.params.get(k);
      if (!target) continue;
      if (v.dtype === 'float32') target.assign(v);
      else { const c = tf.cast(v, 'float32'); target.assign(c); c.dispose(); }
    }
  }

  /**
   * Apply TransformerLens weight processing to the current weights in place (process_weights_).
   * Steps already applied are skipped.
   */
  processWeights(opts: Partial<ProcessingOptions> = DEFAULT_PROCESSING): void {
    const wanted: ProcessingOptions = {
      foldLn: (opts.foldLn ?? false) && !this.processing.foldLn,
      centerWritingWeights: (opts.centerWritingWeights ?? false) && !this.processing.centerWritingWeights,
      centerUnembed: (opts.centerUnembed ?? false) && !this.processing.centerUnembed,
      foldValueBiases: (opts.foldValueBiases ?? false) && !this.processing.foldValueBiases,
    };
    const trainable = [...this.params.values()].some((v) => v.trainable);
    const sd = this.stateDict();
    const { cfg, applied } = processWeights(this.cfg, sd, wanted);
    for (const v of this.params.values()) v.dispose();
    this.params.clear();
    this.cfg = cfg;
    checkStateDict(cfg, sd, true, 'processed weights');
    for (const name of paramShapes(cfg).keys()) {
      this.params.set(name, tf.variable(sd[name], trainable, `${name}_${Math.random().toString(36).slice(2, 10)}`));
      sd[name].dispose();
    }
    for (const k of Object.keys(applied) as Array<keyof ProcessingOptions>) this.processing[k] = this.processing[k] || applied[k];
  }

  /** Free the weights. */
  dispose(): void {
    for (const v of this.params.values()) v.dispose();
    this.params.clear();
  }

  // ---------------------------------------------------------------- hooks

  /**
   * Hook-point names in execution order. attn.hook_result appears when cfg.use_attn_result is set
   * (it can also be asked for by exact name; then it is computed for that pass).
   */
  hookNames(opts: { includeOptional?: boolean } = {}): string[] {
    const names = ['hook_embed'];
    if (this.cfg.positional_embedding_type === 'standard') names.push('hook_pos_embed');
    for (let l = 0; l < this.cfg.n_layers; l++) names.push(...blockHookNames(this.cfg, l, opts.includeOptional ?? false));
    if (this.cfg.normalization_type) names.push('ln_final.hook_scale', 'ln_final.hook_normalized');
    return names;
  }

  /** TransformerLens set_use_attn_result: compute (and list) attn.hook_result [b, p, head, d_model] in every pass. */
  setUseAttnResult(on: boolean): void {
    this.cfg = { ...this.cfg, use_attn_result: on };
  }

  private checkHookName(name: string): void {
    const all = this.hookNames({ includeOptional: true });
    if (!all.includes(name)) throw unknownHookError(name, all);
  }

  private resolveHooks(hooks: Array<[HookSelector, HookFn]> | undefined): Array<[HookSelector, HookFn]> {
    const list = hooks ?? [];
    for (const [sel] of list) if (typeof sel === 'string') this.checkHookName(sel);
    return list;
  }

  /** namesFilter -> the set of hook names to cache (unknown exact names are an error listing valid ones). */
  resolveCacheNames(filter: RunWithCacheOptions['namesFilter']): Set<string> {
    const names = this.hookNames();
    if (filter === undefined) return new Set(names);
    if (Array.isArray(filter)) {
      for (const n of filter) this.checkHookName(n);
      return new Set(filter);
    }
    if (typeof filter === 'string') {
      this.checkHookName(filter);
      return new Set([filter]);
    }
    return new Set(names.filter((n) => selectorMatches(filter, n)));
  }

  // ---------------------------------------------------------------- forward

  /**
   * Run the model on int token ids [batch, pos]. Returns logits and/or the next-token loss
   * (TransformerLens's: mean over every prediction, the one at the BOS position included).
   */
  forward(tokens: tf.Tensor, opts: ForwardOptions = {}): ForwardResult {
    const { result } = this.runBatched(tokens, opts, null);
    return result;
  }

  /** forward with hooks (TransformerLens run_with_hooks); hooks may return a replacement activation. */
  runWithHooks(tokens: tf.Tensor, opts: ForwardOptions = {}): ForwardResult {
    return this.forward(tokens, opts);
  }

  /** forward that records activations (after any hooks) at the hook points namesFilter selects. */
  runWithCache(tokens: tf.Tensor, opts: RunWithCacheOptions = {}): ForwardResult & { cache: ActivationCache } {
    const names = this.resolveCacheNames(opts.namesFilter);
    const { result, cached } = this.runBatched(tokens, opts, names);
    return { ...result, cache: new ActivationCache(cached) };
  }

  private runBatched(tokensIn: tf.Tensor, opts: ForwardOptions, cacheNames: Set<string> | null): { result: ForwardResult; cached: Map<string, tf.Tensor> } {
    const hooks = this.resolveHooks(opts.fwdHooks);
    const returnType = opts.returnType ?? 'logits';
    if (!['logits', 'loss', 'both', 'none'].includes(returnType)) throw new Error(`returnType '${returnType}' must be logits, loss, both or none`);
    const tokens = this.checkTokens(tokensIn);
    const [B, P] = tokens.shape;
    const mask = opts.attentionMask;
    if (mask && (mask.rank !== 2 || mask.shape[0] !== B || mask.shape[1] !== P)) {
      throw new Error(`attentionMask has shape [${mask.shape}], tokens have [${tokens.shape}]`);
    }
    const wantLoss = returnType === 'loss' || returnType === 'both';
    if (wantLoss && P < 2) throw new Error('a loss needs at least 2 positions per sequence');
    const keep = opts.logitsToKeep;
    if (keep !== undefined) {
      if (!Number.isInteger(keep) || keep < 1 || keep > P) throw new Error(`logitsToKeep must be an integer in [1, ${P}] (the sequence length), got ${keep}`);
      if (wantLoss) throw new Error('logitsToKeep cannot be combined with a loss (the loss needs the logits at every position)');
    }
    const budget = opts.maxBatchTokens ?? this.maxBatchTokens;
    const rows = budget && budget > 0 ? Math.max(1, Math.floor(budget / P)) : B;
    const chunks: Array<[number, number]> = [];
    for (let s = 0; s < B; s += rows) chunks.push([s, Math.min(rows, B - s)]);
    const run = new HookRun(hooks, cacheNames);
    const perChunkCache: Array<Map<string, tf.Tensor>> = [];
    const outs: CoreOutput[] = [];
    try {
      for (const [start, n] of chunks) {
        const out = tf.tidy(() => {
          const tk = chunks.length === 1 ? tokens : tf.slice(tokens, [start, 0], [n, P]);
          const mk = mask && (chunks.length === 1 ? mask : tf.slice(mask, [start, 0], [n, P]));
          const o = this.core(tk as tf.Tensor2D, mk as tf.Tensor2D | undefined, run, opts, returnType);
          const kept: Record<string, tf.Tensor> = {};
          if (o.logits) kept.logits = o.logits;
          if (o.nll) kept.nll = o.nll;
          return kept;
        });
        outs.push(out as CoreOutput);
        perChunkCache.push(new Map(run.cached));
        run.cached.clear();
      }
    } catch (e) {
      for (const o of outs) { o.logits?.dispose(); o.nll?.dispose(); }
      for (const m of perChunkCache) for (const t of m.values()) t.dispose();
      for (const t of run.cached.values()) t.dispose();
      if (tokens !== tokensIn) tokens.dispose();
      throw e;
    }
    const cat = (ts: tf.Tensor[]): tf.Tensor => {
      if (ts.length === 1) return ts[0];
      const c = tf.concat(ts, 0);
      for (const t of ts) t.dispose();
      return c;
    };
    const cached = new Map<string, tf.Tensor>();
    if (perChunkCache.length) {
      for (const name of perChunkCache[0].keys()) cached.set(name, cat(perChunkCache.map((m) => m.get(name) as tf.Tensor)));
    }
    const result: ForwardResult = {};
    if (returnType === 'logits' || returnType === 'both') {
      if (outs.every((o) => o.logits)) result.logits = cat(outs.map((o) => o.logits as tf.Tensor)) as tf.Tensor3D;
    } else for (const o of outs) o.logits?.dispose();
    if (wantLoss && outs.every((o) => o.nll)) {
      const nll = cat(outs.map((o) => o.nll as tf.Tensor)) as tf.Tensor2D;
      if (opts.lossPerToken) result.loss = nll;
      else {
        result.loss = tf.tidy(() => {
          const count = mask
            ? tf.sum(tf.mul(tf.cast(tf.slice(mask, [0, 0], [B, P - 1]), 'float32'), tf.cast(tf.slice(mask, [0, 1], [B, P - 1]), 'float32')))
            : tf.scalar(B * (P - 1));
          return tf.div(tf.sum(nll), count);
        });
        nll.dispose();
      }
    } else for (const o of outs) o.nll?.dispose();
    if (tokens !== tokensIn) tokens.dispose();
    return { result, cached };
  }

  /** int32 [batch, pos] tokens; a 1-D tensor gets a batch dimension. Ids are checked against d_vocab. */
  private checkTokens(tokens: tf.Tensor): tf.Tensor2D {
    if (!(tokens instanceof tf.Tensor)) throw new Error('tokens must be an int32 tf.Tensor [batch, pos] (use model.toTokens for text)');
    if (tokens.rank !== 1 && tokens.rank !== 2) throw new Error(`tokens must be [batch, pos], got shape [${tokens.shape}]`);
    const t = tf.tidy(() => {
      const t2 = tokens.rank === 1 ? tf.expandDims(tokens, 0) : tokens;
      return t2.dtype === 'int32' ? t2 : tf.cast(t2, 'int32');
    }) as tf.Tensor2D;
    const P = t.shape[1];
    if (P > this.cfg.n_ctx) {
      if (t !== tokens) t.dispose();
      throw new Error(`sequence length ${P} exceeds the model's n_ctx ${this.cfg.n_ctx}`);
    }
    const range = tf.tidy(() => tf.stack([tf.min(t), tf.max(t)]));
    const [lo, hi] = range.dataSync() as unknown as number[];
    range.dispose();
    if (t.size > 0 && (lo < 0 || hi >= this.cfg.d_vocab)) {
      if (t !== tokens) t.dispose();
      throw new Error(`token ids must be in [0, ${this.cfg.d_vocab}), got min ${lo}, max ${hi}`);
    }
    return t;
  }

  private resolveStop(stopAtLayer: number | undefined): number | null {
    if (stopAtLayer === undefined || stopAtLayer === null) return null;
    const n = this.cfg.n_layers;
    if (!Number.isInteger(stopAtLayer)) throw new Error(`stopAtLayer must be an integer, got ${stopAtLayer}`);
    return stopAtLayer < 0 ? Math.max(0, n + stopAtLayer) : Math.min(stopAtLayer, n);
  }

  /** The forward pass proper (inside the caller's tidy). */
  private core(tokens: tf.Tensor2D, mask: tf.Tensor2D | undefined, run: HookRun, opts: ForwardOptions, returnType: string): CoreOutput {
    const cfg = this.cfg;
    const [B, P] = tokens.shape;
    let resid = run.point('hook_embed', embeddingLookup(this.W_E, tokens));
    const positions = mask ? offsetPositionIds(mask) : null;
    if (cfg.positional_embedding_type === 'standard') {
      let pos: tf.Tensor;
      if (positions && mask) {
        pos = tf.mul(embeddingLookup(this.W_pos, positions), tf.expandDims(tf.cast(mask, 'float32'), -1));
      } else {
        // broadcasting multiply, not tile (tile is slow on wasm): [B, 1, 1] * [1, P, d]
        pos = tf.mul(tf.ones([B, 1, 1]), tf.expandDims(tf.slice(this.W_pos, [0, 0], [P, -1]), 0));
      }
      resid = tf.add(resid, run.point('hook_pos_embed', pos));
    }
    let rot: { cos: tf.Tensor; sin: tf.Tensor } | null = null;
    if (cfg.positional_embedding_type === 'rotary') {
      const r = rotaryTables(positions ?? tf.range(0, P, 1, 'int32'), cfg.rotary_dim as number, cfg.rotary_base, cfg.rotary_adjacent_pairs);
      const shape = positions ? [B, P, 1, cfg.rotary_dim as number] : [1, P, 1, cfg.rotary_dim as number];
      rot = { cos: tf.reshape(r.cos, shape), sin: tf.reshape(r.sin, shape) };
    }
    const masks = attentionMasks(P, cfg.use_local_attn ? cfg.window_size : null, mask, NEG_BIG);
    const ctx: AttnContext = { maskNegBig: masks.negBig, maskNegInf: masks.negInf, maskFloat: masks.visible, rot };
    const stop = this.resolveStop(opts.stopAtLayer);
    const nRun = stop ?? cfg.n_layers;
    for (let l = 0; l < nRun; l++) resid = this.block(l, resid, run, ctx);
    if (stop !== null || returnType === 'none') return {};
    // logitsToKeep: the final norm and unembedding see only the last positions (both act per position)
    const keep = opts.logitsToKeep;
    const kept = keep !== undefined && keep < P ? tf.slice(resid, [0, P - keep, 0], [B, keep, -1]) : resid;
    const normed = this.norm('ln_final', kept, run, 'ln_final');
    const logits = linear(normed, this.W_U, this.b_U) as tf.Tensor3D;
    const out: CoreOutput = { logits };
    if (returnType === 'loss' || returnType === 'both') out.nll = this.nextTokenNll(logits, tokens, mask);
    return out;
  }

  /** -log p(token[t+1] | ..t) [b, p-1]; zero where the mask excludes a pair. */
  private nextTokenNll(logits: tf.Tensor3D, tokens: tf.Tensor2D, mask?: tf.Tensor2D): tf.Tensor2D {
    const [B, P, V] = logits.shape;
    const lp = tf.reshape(tf.slice(logits, [0, 0, 0], [B, P - 1, V]), [B * (P - 1), V]) as tf.Tensor2D;
    const targets = tf.reshape(tf.slice(tokens, [0, 1], [B, P - 1]), [-1]);
    const lse = tf.logSumExp(lp, -1);
    const flatIdx = tf.add(tf.mul(tf.range(0, B * (P - 1), 1, 'int32'), tf.scalar(V, 'int32')), targets);
    const picked = tf.reshape(embeddingLookup(tf.reshape(lp, [-1, 1]) as tf.Tensor2D, flatIdx), [-1]);
    let nll = tf.reshape(tf.sub(lse, picked), [B, P - 1]);
    if (mask) {
      const m = tf.mul(tf.cast(tf.slice(mask, [0, 0], [B, P - 1]), 'float32'), tf.cast(tf.slice(mask, [0, 1], [B, P - 1]), 'float32'));
      nll = tf.mul(nll, m);
    }
    return nll as tf.Tensor2D;
  }

  /** LayerNorm / RMSNorm (and their Pre forms) with hook_scale [b, p, 1] and hook_normalized. */
  private norm(prefix: string, x: tf.Tensor, run: HookRun, hookPrefix: string): tf.Tensor {
    const t = this.cfg.normalization_type;
    if (t === null) return x;
    const centred = t === 'LN' || t === 'LNPre' ? tf.sub(x, tf.mean(x, -1, true)) : x;
    const scale = run.point(`${hookPrefix}.hook_scale`, tf.sqrt(tf.add(tf.mean(tf.square(centred), -1, true), this.cfg.eps)));
    const normed = tf.mul(centred, tf.reciprocal(scale)); // [b, p, d] * [b, p, 1]
    // TransformerLens 2.x: LayerNorm's hook_normalized includes w and b; RMSNorm's excludes w.
    if (t === 'LN') return run.point(`${hookPrefix}.hook_normalized`, tf.add(tf.mul(normed, this.p(`${prefix}.w`)), this.p(`${prefix}.b`)));
    const hooked = run.point(`${hookPrefix}.hook_normalized`, normed);
    return t === 'RMS' ? tf.mul(hooked, this.p(`${prefix}.w`)) : hooked;
  }

  private block(l: number, residIn: tf.Tensor, run: HookRun, ctx: AttnContext): tf.Tensor {
    const cfg = this.cfg;
    const b = `blocks.${l}`;
    const resid = run.point(`${b}.hook_resid_pre`, residIn);
    const attnIn = this.norm(`${b}.ln1`, resid, run, `${b}.ln1`);
    const attnOut = run.point(`${b}.hook_attn_out`, this.attention(l, attnIn, run, ctx));
    let post: tf.Tensor;
    if (cfg.attn_only) {
      post = tf.add(resid, attnOut);
    } else if (cfg.parallel_attn_mlp) {
      const mlpOut = run.point(`${b}.hook_mlp_out`, this.mlp(l, this.norm(`${b}.ln2`, resid, run, `${b}.ln2`), run));
      post = tf.add(tf.add(resid, attnOut), mlpOut);
    } else {
      const mid = run.point(`${b}.hook_resid_mid`, tf.add(resid, attnOut));
      const mlpOut = run.point(`${b}.hook_mlp_out`, this.mlp(l, this.norm(`${b}.ln2`, mid, run, `${b}.ln2`), run));
      post = tf.add(mid, mlpOut);
    }
    return run.point(`${b}.hook_resid_post`, post);
  }

  private attention(l: number, x: tf.Tensor, run: HookRun, ctx: AttnContext): tf.Tensor {
    const cfg = this.cfg;
    const a = `blocks.${l}.attn`;
    const g = kvPrefix(cfg);
    const [B, P] = x.shape;
    const h = cfg.n_heads;
    const kv = nKvHeads(cfg);
    const dh = cfg.d_head;
    const proj = (w: string, bias: string, heads: number) =>
      tf.reshape(linear(x, headsToMatrix(this.p(`${a}.${w}`)), tf.reshape(this.p(`${a}.${bias}`), [-1])), [B, P, heads, dh]);
    let q = run.point(`${a}.hook_q`, proj('W_Q', 'b_Q', h));
    let k = run.point(`${a}.hook_k`, proj(`${g}W_K`, `${g}b_K`, kv));
    const v = run.point(`${a}.hook_v`, proj(`${g}W_V`, `${g}b_V`, kv));
    if (ctx.rot) {
      const rd = cfg.rotary_dim as number;
      q = run.point(`${a}.hook_rot_q`, applyRotary(q, ctx.rot.cos, ctx.rot.sin, rd, cfg.rotary_adjacent_pairs));
      k = run.point(`${a}.hook_rot_k`, applyRotary(k, ctx.rot.cos, ctx.rot.sin, rd, cfg.rotary_adjacent_pairs));
    }
    const group = h / kv;
    // the 1/attn_scale factor is applied to q (half the elements of the scores)
    const qScaled = cfg.use_attn_scale ? tf.mul(q, 1 / cfg.attn_scale) : q;
    const qT = tf.transpose(qScaled, [0, 2, 1, 3]); // [b, h, p, dh]
    const kT = tf.transpose(repeatKvHeads(k, group), [0, 2, 1, 3]);
    const vT = tf.transpose(repeatKvHeads(v, group), [0, 2, 1, 3]);
    const scores = tf.matMul(qT, kT, false, true);
    const scoresName = `${a}.hook_attn_scores`;
    let pattern: tf.Tensor;
    if (run.active(scoresName)) {
      // TransformerLens: masked scores are -inf; the pattern is softmax with NaN replaced by 0
      const hooked = run.point(scoresName, tf.add(scores, ctx.maskNegInf));
      // -inf -> NEG_BIG keeps softmax and its gradient finite; masked entries still get exactly 0
      const sm = tf.softmax(tf.maximum(hooked, NEG_BIG));
      pattern = tf.where(tf.isNaN(sm), tf.zerosLike(sm), sm);
    } else {
      pattern = tf.softmax(tf.add(scores, ctx.maskNegBig));
    }
    // rows with no visible key (left padding) give 0, as TransformerLens's NaN -> 0
    if (ctx.maskFloat) pattern = tf.mul(pattern, ctx.maskFloat);
    pattern = run.point(`${a}.hook_pattern`, pattern);
    const z = run.point(`${a}.hook_z`, tf.transpose(tf.matMul(pattern, vT), [0, 2, 1, 3])); // [b, p, h, dh]
    const W_O = this.p(`${a}.W_O`); // [h, dh, d]
    const resultName = `${a}.hook_result`;
    if (cfg.use_attn_result || run.active(resultName, true)) {
      const d = cfg.d_model;
      const zh = tf.reshape(tf.transpose(z, [2, 0, 1, 3]), [h, B * P, dh]);
      const perHead = tf.transpose(tf.reshape(tf.matMul(zh, W_O), [h, B, P, d]), [1, 2, 0, 3]); // [b, p, h, d]
      const result = run.point(resultName, perHead);
      return tf.add(tf.sum(result, 2), this.p(`${a}.b_O`));
    }
    return linear(tf.reshape(z, [B, P, h * dh]), tf.reshape(W_O, [h * dh, cfg.d_model]) as tf.Tensor2D, this.p(`${a}.b_O`));
  }

  private mlp(l: number, x: tf.Tensor, run: HookRun): tf.Tensor {
    const cfg = this.cfg;
    const m = `blocks.${l}.mlp`;
    let post: tf.Tensor;
    if (cfg.gated_mlp) {
      const pre = run.point(`${m}.hook_pre`, linear(x, this.p(`${m}.W_gate`) as tf.Tensor2D));
      const preLinear = run.point(`${m}.hook_pre_linear`, linear(x, this.p(`${m}.W_in`) as tf.Tensor2D));
      post = run.point(`${m}.hook_post`, tf.add(tf.mul(activation(cfg.act_fn, pre), preLinear), this.p(`${m}.b_in`)));
    } else {
      const pre = run.point(`${m}.hook_pre`, linear(x, this.p(`${m}.W_in`) as tf.Tensor2D, this.p(`${m}.b_in`)));
      post = run.point(`${m}.hook_post`, activation(cfg.act_fn, pre));
    }
    return linear(post, this.p(`${m}.W_out`) as tf.Tensor2D, this.p(`${m}.b_out`));
  }

  // ---------------------------------------------------------------- tokens

  /** Attach a tokenizer (encode without special tokens; bosTokenId used for prepend_bos). */
  setTokenizer(t: TokenizerLike): void {
    this.tokenizer = t;
  }

  private needTokenizer(): TokenizerLike {
    if (!this.tokenizer) throw new Error('no tokenizer set: call model.setTokenizer(tokenizer) first');
    return this.tokenizer;
  }

  /**
   * Text -> int32 tokens [batch, pos] as TransformerLens's to_tokens: BOS prepended when
   * prependBos (default cfg.default_prepend_bos); several texts are right-padded with the pad
   * token (padTokenId, else bosTokenId, else 0).
   */
  toTokens(input: string | string[], opts: { prependBos?: boolean; paddingSide?: 'left' | 'right' } = {}): tf.Tensor2D {
    return this.toTokensWithMask(input, opts).tokens;
  }

  /** toTokens plus the attention mask [batch, pos] (1 = real token) for padded batches. */
  toTokensWithMask(input: string | string[], opts: { prependBos?: boolean; paddingSide?: 'left' | 'right' } = {}): { tokens: tf.Tensor2D; attentionMask: tf.Tensor2D } {
    const tok = this.needTokenizer();
    const texts = Array.isArray(input) ? input : [input];
    const prepend = opts.prependBos ?? this.cfg.default_prepend_bos;
    if (prepend && tok.bosTokenId === undefined) throw new Error('prependBos needs tokenizer.bosTokenId');
    const enc = (s: string) => (tok.encodeRaw ? tok.encodeRaw(s) : tok.encode(s));
    const seqs = texts.map((s) => (prepend ? [tok.bosTokenId as number, ...enc(s)] : enc(s)));
    const P = Math.max(...seqs.map((s) => s.length));
    const pad = tok.padTokenId ?? tok.bosTokenId ?? 0;
    const ids = new Int32Array(seqs.length * P).fill(pad);
    const m = new Int32Array(seqs.length * P);
    seqs.forEach((s, i) => {
      const off = opts.paddingSide === 'left' ? P - s.length : 0;
      s.forEach((id, j) => { ids[i * P + off + j] = id; m[i * P + off + j] = 1; });
    });
    return { tokens: tf.tensor2d(ids, [seqs.length, P], 'int32'), attentionMask: tf.tensor2d(m, [seqs.length, P], 'int32') };
  }

  /** Token ids -> text: one string for a 1-D input, one per row for [batch, pos]. */
  toString(tokens: tf.Tensor | number[] | number[][]): string | string[] {
    const tok = this.needTokenizer();
    if (tokens instanceof tf.Tensor) {
      const arr = tokens.arraySync() as number[] | number[][];
      return this.toString(arr);
    }
    if (tokens.length && Array.isArray(tokens[0])) return (tokens as number[][]).map((r) => tok.decode(r));
    return tok.decode(tokens as number[]);
  }

  /** Each token of a text (or of given ids) decoded on its own, as TransformerLens's to_str_tokens. */
  toStrTokens(input: string | number[], opts: { prependBos?: boolean } = {}): string[] {
    const tok = this.needTokenizer();
    let ids: number[];
    if (typeof input === 'string') {
      const prepend = opts.prependBos ?? this.cfg.default_prepend_bos;
      const raw = tok.encodeRaw ? tok.encodeRaw(input) : tok.encode(input);
      ids = prepend && tok.bosTokenId !== undefined ? [tok.bosTokenId, ...raw] : raw;
    } else ids = input;
    return ids.map((i) => tok.decode([i]));
  }

  // ---------------------------------------------------------------- export

  /**
   * Write config.json + model.safetensors in Hugging Face GPT-2 layout (Conv1D [in, out], wte/wpe/h.N.*,
   * no `transformer.` prefix) from unprocessed weights of a GPT-2-shaped model.
   */
  async saveHuggingFace(dir: string): Promise<void> {
    const cfg = this.cfg;
    const problems: string[] = [];
    if (Object.values(this.processing).some(Boolean)) problems.push(`weights are processed (${JSON.stringify(this.processing)}); load with processing: false or use fromConfig`);
    if (cfg.normalization_type !== 'LN') problems.push(`normalization_type is ${cfg.normalization_type}, GPT-2 needs LN`);
    if (cfg.positional_embedding_type !== 'standard') problems.push('GPT-2 needs standard positional embeddings');
    if (cfg.gated_mlp || cfg.parallel_attn_mlp || cfg.attn_only || cfg.n_key_value_heads != null) problems.push('GPT-2 has a plain sequential MLP block and no grouped-query attention');
    if (cfg.d_head * cfg.n_heads !== cfg.d_model) problems.push(`d_head * n_heads (${cfg.d_head * cfg.n_heads}) must equal d_model (${cfg.d_model})`);
    if (cfg.d_vocab_out !== cfg.d_vocab) problems.push(`d_vocab_out (${cfg.d_vocab_out}) must equal d_vocab (${cfg.d_vocab})`);
    if (!cfg.use_attn_scale || Math.abs(cfg.attn_scale - Math.sqrt(cfg.d_head)) > 1e-6) problems.push('GPT-2 scales attention scores by sqrt(d_head)');
    if (!['gelu_new', 'gelu', 'relu', 'silu', 'gelu_fast', 'gelu_pytorch_tanh'].includes(cfg.act_fn)) problems.push(`activation ${cfg.act_fn}`);
    const hasPosBias = tf.tidy(() => tf.max(tf.abs(this.b_U)).dataSync()[0]) > 0;
    if (hasPosBias) problems.push('unembed.b_U is non-zero; GPT-2 has no output bias');
    for (const name of ['attn.b_Q', 'attn.b_K', 'attn.b_V']) if (!this.params.has(`blocks.0.${name}`)) problems.push(`missing ${name}`);
    if (problems.length) throw new Error(`saveHuggingFace(${dir}): cannot write this model as HF GPT-2: ${problems.join('; ')}`);
    const tied = tf.tidy(() => tf.max(tf.abs(tf.sub(tf.transpose(this.W_E), this.W_U))).dataSync()[0]) === 0;
    const sd = this.stateDict();
    try {
      const tensors = gpt2ToHfTensors(cfg, sd, tied);
      try {
        await writeDirAtomic(dir, async (tmp) => {
          writeJsonAtomic(path.join(tmp, 'config.json'), gpt2HfConfig(cfg, tied));
          await writeTensorsSafetensors(path.join(tmp, 'model.safetensors'), tensors, { format: 'pt' });
        });
      } finally {
        for (const t of Object.values(tensors)) t.dispose();
      }
    } finally {
      for (const t of Object.values(sd)) t.dispose();
    }
    if (!fs.existsSync(path.join(dir, 'model.safetensors'))) throw new Error(`saveHuggingFace: ${dir}/model.safetensors was not written`);
  }
}

/** Stands in for -inf inside the softmax so masked rows stay finite (and their gradients too). */
const NEG_BIG = -1e30;

interface AttnContext {
  /** [B|1, 1, P, P]: 0 where a query may see a key, NEG_BIG elsewhere */
  maskNegBig: tf.Tensor;
  /** the same with -inf (what hook_attn_scores shows, as TransformerLens) */
  maskNegInf: tf.Tensor;
  /** the boolean mask as 0/1, only with a padding mask (rows with no visible key are zeroed) */
  maskFloat: tf.Tensor | null;
  rot: { cos: tf.Tensor; sin: tf.Tensor } | null;
}
