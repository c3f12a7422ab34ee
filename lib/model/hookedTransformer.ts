import * as tf from '@tensorflow/tfjs';
import { ActivationCache } from './cache';
import {
  activation, applyRotary, attentionMasks, embeddingLookup, headsToMatrix, linear, offsetPositionIds, repeatKvHeads, rotaryTables,
} from './components';
import { HookedTransformerConfig, HookedTransformerConfigInput, kvPrefix, makeConfig, nKvHeads, validateConfig } from './config';
import { convertHfWeights, gpt2HfConfig, gpt2ToHfTensors, hfConfigToTl, modelFamily, trimVocab } from './hf';
import { HookRun, selectorMatches, unknownHookError } from './hooks';
import { fusedAttention, fusedLayerNorm } from '../backend/fusedOps';
import { blockHook, hookNamesFor, modelHook } from './hookNames';
import { openPretrained, writeHuggingFaceFolder } from './loading';
import { checkStateDict, initParams, paramShapes, StateDict } from './params';
import { DEFAULT_PROCESSING, NO_PROCESSING, ProcessingOptions, ProcessingScope, processWeights } from './processing';
import { ForwardOptions, ForwardResult, HookFn, HookSelector, RunWithCacheOptions } from './types';
import { PackedDtype, PackedWeight, WeightDtype, WEIGHT_DTYPES, dtypeBytes, packTensor, tapeActive, widen, widenColumns, widenRows } from './weights';
import { formatBytes, memoryBudget } from './memory';
import { bf16Linear, bf16MatmulSupport, ComputeDtype, COMPUTE_DTYPES, noteBf16Fallback } from '../backend/bf16';
import { countNonFinite } from '../io/finite';

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
  /**
   * load only the first nLayers blocks: a model of nLayers layers (the embedding, those blocks, the final norm and
   * unembedding), for work that stops there (stopAtLayer <= nLayers, hooks of those blocks); the later blocks'
   * weights are never read
   */
  nLayers?: number;
  /** make the parameters trainable tf.Variables (for tf.variableGrads) */
  trainable?: boolean;
  /** override default_prepend_bos */
  defaultPrependBos?: boolean;
  /** load the folder's tokenizer.json as model.tokenizer when present (default true) */
  tokenizer?: boolean;
  /**
   * TransformerLens's dtype: how the weights are kept. 'auto' (default): float32 when the float32
   * weights fit in the memory budget, else the checkpoint's own 16-bit dtype (bfloat16 for a float32
   * checkpoint). 16-bit weights are processed in float32 and rounded once; passes compute in float32
   * unless computeDtype says otherwise.
   */
  dtype?: WeightDtype | 'auto';
  /**
   * What the weight matmuls compute in (the storage/compute split of transformers' `bnb_4bit_compute_dtype`;
   * like running a torch bfloat16 model). 'float32' (default): weights widened to float32 per block.
   * 'bfloat16': the block's matmuls (Q, K, V, O, MLP) and the unembedding take the activations rounded to
   * bfloat16 and the stored bfloat16 weights directly (oneDNN, AVX512-BF16), accumulating and returning
   * float32; needs weights kept in bfloat16 (dtype 'auto' then loads bfloat16). Where the kernel is missing
   * (wasm, no oneDNN, no AVX512-BF16) it computes in float32 with a one-line note. Default: $SAELAB_COMPUTE_DTYPE
   * for models loaded in bfloat16, else 'float32'. Settable later: model.computeDtype = 'bfloat16'.
   */
  computeDtype?: ComputeDtype;
}

/** SAELAB_COMPUTE_DTYPE (float32 | bfloat16), or undefined when unset. */
export function envComputeDtype(): ComputeDtype | undefined {
  const v = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env?.SAELAB_COMPUTE_DTYPE?.trim();
  if (!v) return undefined;
  if (!COMPUTE_DTYPES.includes(v as ComputeDtype)) throw new Error(`SAELAB_COMPUTE_DTYPE=${v}: use one of ${COMPUTE_DTYPES.join(', ')}`);
  return v as ComputeDtype;
}

/** What loading a checkpoint needs: bytes of the weights in the chosen dtype and the working memory of loading. */
export interface LoadPlan {
  dtype: WeightDtype;
  /** why this dtype ('asked', 'fits in float32', ...) */
  reason: string;
  params: number;
  weightBytes: number;
  /** peak extra bytes while loading (the largest part in float32, a few copies) */
  workingBytes: number;
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
  /** float32 logits one unembedding block may hold (losses of large vocabularies are computed block by block) */
  static logitBlockBytes = 256 * 2 ** 20;
  /** how the weights are stored: float32 (tf.Variables in `params`) or 16-bit (packed, widened per block) */
  dtype: WeightDtype = 'float32';
  /** what the weight matmuls compute in (see computeDtype) */
  private compute: ComputeDtype = 'float32';
  /** 16-bit weights by TransformerLens name (empty for float32 models, whose weights are in `params`) */
  private readonly packed = new Map<string, PackedWeight>();
  /** float32 copies of 16-bit weights handed out by the getters (W_U, W_E, ...), freed by dispose() */
  private readonly widenedCache = new Map<string, tf.Tensor>();
  /** widened weights of the block being run (freed when it ends, unless a gradient is being recorded) */
  private scratch: tf.Tensor[] | null = null;

  private constructor(cfg: HookedTransformerConfig, sd: StateDict | null, trainable: boolean) {
    validateConfig(cfg);
    this.cfg = cfg;
    this.maxBatchTokens = Math.max(1, Math.floor(2 ** 28 / cfg.d_vocab_out));
    if (!sd) return;
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
    // the files: a folder or the hub in Node (fs), the hub over fetch in a browser (loading.browser.ts)
    const ckpt = await openPretrained(nameOrDir, { revision: opts.revision, tokenizer: opts.tokenizer !== false });
    if (ckpt.kind === 'transformerlens') {
      // a TransformerLens model saved from Python (InterpBench: ll_model.pth + ll_model_cfg.pkl), loaded
      // like HookedTransformer(cfg).load_state_dict(sd): strict, and processed only when asked explicitly
      const { cfg, sd } = ckpt;
      if (opts.defaultPrependBos !== undefined) cfg.default_prepend_bos = opts.defaultPrependBos;
      const model = new HookedTransformer(cfg, sd, opts.trainable ?? false);
      const on = opts.processing === true;
      const steps = { foldLn: opts.foldLn ?? on, centerWritingWeights: opts.centerWritingWeights ?? on, centerUnembed: opts.centerUnembed ?? on, foldValueBiases: opts.foldValueBiases ?? on };
      if (Object.values(steps).some(Boolean)) model.processWeights(steps);
      model.source = ckpt.source;
      return model;
    }
    const { hf, configFile, src } = ckpt;
    try {
      const family = modelFamily(hf, configFile);
      const input = hfConfigToTl(hf, nameOrDir, configFile);
      if (opts.nLayers !== undefined) {
        if (!Number.isInteger(opts.nLayers) || opts.nLayers < 0) throw new Error(`fromPretrained(${nameOrDir}): nLayers must be a non-negative integer, got ${opts.nLayers}`);
        input.n_layers = Math.min(input.n_layers, opts.nLayers);
      }
      input.tokenizer_name = ckpt.tokenizerName;
      if (opts.defaultPrependBos !== undefined) input.default_prepend_bos = opts.defaultPrependBos;
      const cfg = makeConfig(input);
      const compute = opts.computeDtype;
      let dtypeOpt = opts.dtype;
      if (compute !== undefined && !COMPUTE_DTYPES.includes(compute)) throw new Error(`fromPretrained(${nameOrDir}): computeDtype '${compute}' is not one of ${COMPUTE_DTYPES.join(', ')}`);
      if (compute === 'bfloat16') {
        if (dtypeOpt === undefined || dtypeOpt === 'auto') dtypeOpt = 'bfloat16';
        else if (dtypeOpt !== 'bfloat16') throw new Error(`fromPretrained(${nameOrDir}): computeDtype 'bfloat16' needs the weights kept in bfloat16 (dtype 'bfloat16' or 'auto'), got dtype '${dtypeOpt}'`);
      }
      const plan = HookedTransformer.planLoad(cfg, src.dtypes?.() ?? new Set(['F32']), { dtype: dtypeOpt }, opts.dVocab);
      HookedTransformer.checkFits(plan, nameOrDir);
      const on = opts.processing !== false;
      const wanted: ProcessingOptions = {
        foldLn: on && (opts.foldLn ?? DEFAULT_PROCESSING.foldLn),
        centerWritingWeights: on && (opts.centerWritingWeights ?? DEFAULT_PROCESSING.centerWritingWeights),
        centerUnembed: on && (opts.centerUnembed ?? DEFAULT_PROCESSING.centerUnembed),
        foldValueBiases: on && (opts.foldValueBiases ?? DEFAULT_PROCESSING.foldValueBiases),
      };
      const trim = opts.dVocab !== undefined && opts.dVocab !== cfg.d_vocab;
      const trimmedCfg = trim ? trimVocab(cfg, {}, opts.dVocab as number) : cfg;
      // the processed config and applied steps follow from the config alone (an empty scope touches no weights)
      const { cfg: processedCfg, applied } = processWeights(trimmedCfg, {}, wanted, { embed: false, layers: [], unembed: false });
      const model = new HookedTransformer(processedCfg, null, false);
      model.dtype = plan.dtype;
      const trainable = opts.trainable ?? false;
      if (trainable && plan.dtype !== 'float32') throw new Error(`${nameOrDir}: trainable weights need dtype float32 (asked for ${plan.dtype})`);
      // one part at a time: convert, trim, process in float32, then keep (float32 variable or rounded bits)
      const parts: ProcessingScope[] = [{ embed: true, layers: [], unembed: false }];
      for (let l = 0; l < cfg.n_layers; l++) parts.push({ embed: false, layers: [l], unembed: false });
      parts.push({ embed: false, layers: [], unembed: true });
      const shapes = paramShapes(processedCfg);
      const vars = new Map<string, tf.Variable>();
      try {
        for (const scope of parts) {
          const sd = convertHfWeights(family, cfg, src, hf, scope);
          try {
            if (trim) trimVocab(cfg, sd, opts.dVocab as number);
            processWeights(trimmedCfg, sd, wanted, scope);
            for (const [name, t] of Object.entries(sd)) {
              const want = shapes.get(name);
              if (!want) throw new Error(`${nameOrDir}: processed weights have an unexpected parameter '${name}'`);
              if (t.shape.join() !== want.join()) throw new Error(`${nameOrDir}: '${name}' has shape [${t.shape}], the config needs [${want}]`);
              assertFiniteWeight(t, name, nameOrDir);
              if (plan.dtype === 'float32') vars.set(name, tf.variable(t, trainable, `${name}_${Math.random().toString(36).slice(2, 10)}`));
              else model.packed.set(name, packTensor(t, plan.dtype));
            }
          } finally {
            // a variable keeps its own reference to the data: every converted tensor can go
            for (const t of Object.values(sd)) t.dispose();
          }
        }
        for (const name of shapes.keys()) {
          const v = vars.get(name);
          if (v) model.params.set(name, v);
          else if (!model.packed.has(name)) throw new Error(`${nameOrDir}: the checkpoint gave no '${name}'`);
        }
      } catch (e) {
        for (const v of vars.values()) v.dispose();
        model.dispose();
        throw e;
      }
      model.processing = applied;
      model.source = ckpt.source;
      const fromEnv = envComputeDtype();
      model.computeDtype = compute ?? (fromEnv === 'bfloat16' && plan.dtype === 'bfloat16' ? 'bfloat16' : 'float32');
      if (ckpt.tokenizer) model.setTokenizer(ckpt.tokenizer);
      return model;
    } finally {
      src.close();
    }
  }

  /**
   * The dtype a checkpoint loads in and the memory that takes: `opts.dtype`, or for 'auto' float32
   * when the float32 weights (plus the working memory of loading) fit in the memory budget's free
   * bytes, else the checkpoint's own 16-bit dtype (bfloat16 for a float32 checkpoint).
   */
  static planLoad(cfg: HookedTransformerConfig, storedDtypes: Set<string>, opts: { dtype?: WeightDtype | 'auto' } = {}, dVocab?: number): LoadPlan {
    const want = opts.dtype ?? 'auto';
    if (want !== 'auto' && !WEIGHT_DTYPES.includes(want)) throw new Error(`dtype '${want}' is not one of auto, ${WEIGHT_DTYPES.join(', ')}`);
    const trimmed = dVocab !== undefined && dVocab < cfg.d_vocab ? { ...cfg, d_vocab: dVocab, d_vocab_out: Math.min(dVocab, cfg.d_vocab_out) } : cfg;
    let params = 0;
    let largest = 0;
    for (const shape of paramShapes(trimmed).values()) {
      const n = shape.reduce((a, b) => a * b, 1);
      params += n;
      largest = Math.max(largest, n);
    }
    const layerParams = (params - 2 * trimmed.d_vocab * trimmed.d_model) / Math.max(1, trimmed.n_layers);
    // converting and processing a part holds it a few times in float32 (the checkpoint's values, a transpose, a centred copy)
    const workingBytes = 3 * 4 * Math.max(largest, layerParams) + 256 * 2 ** 20;
    const own: PackedDtype = storedDtypes.has('F16') && !storedDtypes.has('BF16') ? 'float16' : 'bfloat16';
    let dtype: WeightDtype;
    let reason: string;
    if (want !== 'auto') { dtype = want; reason = 'asked'; }
    else {
      const free = memoryBudget().free;
      if (params * 4 + workingBytes <= free) { dtype = 'float32'; reason = `float32 fits (${formatBytes(params * 4)} of ${formatBytes(free)} free)`; }
      else { dtype = own; reason = `float32 (${formatBytes(params * 4)}) does not fit in ${formatBytes(free)} free: the checkpoint's ${storedDtypes.has('F32') && own === 'bfloat16' && !storedDtypes.has('BF16') ? 'float32 rounded to bfloat16' : own}`; }
    }
    return { dtype, reason, params, weightBytes: params * dtypeBytes(dtype), workingBytes };
  }

  /** Throw before reading any weights when a load plan does not fit in the memory budget. */
  static checkFits(plan: LoadPlan, name: string): void {
    const b = memoryBudget();
    const need = plan.weightBytes + plan.workingBytes;
    if (need <= b.free) return;
    const fix = plan.dtype === 'float32'
      ? 'Load it in 16 bits (the model\'s "dtype": "bfloat16" in the config, or fromPretrained(name, { dtype: \'bfloat16\' })), free memory, or raise SAELAB_MAX_MEMORY.'
      : 'Free memory (other processes, the other model of a stage) or raise SAELAB_MAX_MEMORY.';
    throw new Error(`${name} needs ${formatBytes(plan.weightBytes)} in ${plan.dtype} (+ ${formatBytes(plan.workingBytes)} while loading), ${formatBytes(b.free)} free ` +
      `(limit ${formatBytes(b.limit)} from ${b.source}, ${formatBytes(b.used)} in use). ${fix}`);
  }

  // ---------------------------------------------------------------- weights

  /**
   * A weight inside a pass: the variable (float32), or a float32 widening of the 16-bit bits that
   * the enclosing tidy frees (and the block frees as soon as it ends).
   */
  private p(name: string): tf.Tensor {
    const t = this.params.get(name);
    if (t) return t;
    const pk = this.packed.get(name);
    if (!pk) throw new Error(`model has no parameter '${name}'`);
    const w = widen(pk);
    this.scratch?.push(w);
    return w;
  }

  /**
   * What the weight matmuls compute in: 'float32' (default; 16-bit weights widened per block) or 'bfloat16'
   * (activations rounded to bfloat16 times the stored bfloat16 weights, float32 accumulation; needs dtype
   * 'bfloat16'). Passes that record a gradient, and backends without the kernel, compute in float32.
   */
  get computeDtype(): ComputeDtype { return this.compute; }
  set computeDtype(d: ComputeDtype) {
    if (!COMPUTE_DTYPES.includes(d)) throw new Error(`computeDtype '${d}' is not one of ${COMPUTE_DTYPES.join(', ')}`);
    if (d === 'bfloat16' && this.dtype !== 'bfloat16') {
      throw new Error(`computeDtype 'bfloat16' needs the weights kept in bfloat16; this model's are ${this.dtype} (castWeights('bfloat16'), or load with dtype 'bfloat16')`);
    }
    if (d === 'bfloat16') {
      const s = bf16MatmulSupport();
      if (!s.ok) noteBf16Fallback(s.reason);
    }
    this.compute = d;
  }

  /** Whether this pass's weight matmuls run in bfloat16 (asked, possible here, no gradient recorded). */
  private bf16Active(): boolean {
    if (this.compute !== 'bfloat16' || tapeActive()) return false;
    const s = bf16MatmulSupport();
    if (!s.ok) noteBf16Fallback(s.reason);
    return s.ok;
  }

  /**
   * x @ weight (+ bias) for a block's weight: `heads` is a per-head [h, d, dh] weight (W_Q, W_K, W_V) used as
   * [d, h*dh]; `matrix` a [.., out] weight flattened to 2-D (W_O [h, dh, d] as [h*dh, d], W_in, W_out, W_gate).
   * In float32 compute exactly linear(x, widened weight, bias); in bfloat16 compute the stored bits directly.
   */
  private weightLinear(x: tf.Tensor, name: string, layout: 'heads' | 'matrix', bias?: tf.Tensor): tf.Tensor {
    const pk = this.packed.get(name);
    if (pk && this.bf16Active()) return bf16Linear(x, pk, { heads: layout === 'heads' }, bias);
    const w = this.p(name);
    if (layout === 'heads') return linear(x, headsToMatrix(w), bias);
    return linear(x, (w.rank === 2 ? w : tf.reshape(w, [-1, w.shape[w.rank - 1]])) as tf.Tensor2D, bias);
  }

  /** A weight for the getters: the variable, or a float32 copy of a 16-bit weight kept until dispose(). */
  private shared(name: string): tf.Tensor {
    const t = this.params.get(name);
    if (t) return t;
    let w = this.widenedCache.get(name);
    if (!w) {
      const pk = this.packed.get(name);
      if (!pk) throw new Error(`model has no parameter '${name}'`);
      w = tf.keep(widen(pk));
      this.widenedCache.set(name, w);
    }
    return w;
  }

  /** Unembedding [d_model, d_vocab_out] (16-bit models: a float32 copy kept until dispose; see weightColumns). */
  get W_U(): tf.Tensor2D { return this.shared('unembed.W_U') as tf.Tensor2D; }
  /** Unembedding bias [d_vocab_out]. */
  get b_U(): tf.Tensor1D { return this.shared('unembed.b_U') as tf.Tensor1D; }
  /** Token embedding [d_vocab, d_model]. */
  get W_E(): tf.Tensor2D { return this.shared('embed.W_E') as tf.Tensor2D; }
  /** Positional embedding [n_ctx, d_model] (standard positional embeddings only). */
  get W_pos(): tf.Tensor2D { return this.shared('pos_embed.W_pos') as tf.Tensor2D; }

  /** Names of the parameters (float32 or 16-bit), in state-dict order. */
  parameterNames(): string[] {
    return [...paramShapes(this.cfg).keys()].filter((n) => this.params.has(n) || this.packed.has(n));
  }

  /** A weight as a new float32 tensor the caller disposes (any dtype). */
  weight(name: string): tf.Tensor {
    const v = this.params.get(name);
    if (v) return v.clone();
    const pk = this.packed.get(name);
    if (!pk) throw new Error(`model has no parameter '${name}'`);
    return widen(pk);
  }

  /** Columns [start, start + count) of a 2-D weight (e.g. a block of unembed.W_U's vocabulary) as a new float32 tensor. */
  weightColumns(name: string, start: number, count: number): tf.Tensor2D {
    const v = this.params.get(name);
    if (v) return tf.slice(v, [0, start], [-1, count]) as tf.Tensor2D;
    const pk = this.packed.get(name);
    if (!pk) throw new Error(`model has no parameter '${name}'`);
    return widenColumns(pk, start, count);
  }

  /** Bytes the weights take as stored. */
  weightBytes(): number {
    let n = 0;
    for (const v of this.params.values()) n += v.size * 4;
    for (const p of this.packed.values()) n += p.bits.byteLength;
    return n;
  }

  /**
   * Keep the weights in another dtype (TransformerLens's model.to(dtype)): float32 -> 16-bit rounds each
   * weight once; 16-bit -> float32 widens. 16-bit models are for inference (no trainable variables).
   */
  castWeights(dtype: WeightDtype): void {
    if (!WEIGHT_DTYPES.includes(dtype)) throw new Error(`dtype '${dtype}' is not one of ${WEIGHT_DTYPES.join(', ')}`);
    if (dtype === this.dtype) return;
    if (this.compute === 'bfloat16') throw new Error(`castWeights('${dtype}'): this model computes in bfloat16, which needs bfloat16 weights; set computeDtype = 'float32' first`);
    this.releaseWidened();
    if (dtype === 'float32') {
      for (const name of this.parameterNames()) {
        const pk = this.packed.get(name)!;
        this.params.set(name, tf.variable(widen(pk), false, `${name}_${Math.random().toString(36).slice(2, 10)}`));
        this.packed.delete(name);
      }
    } else {
      for (const name of this.parameterNames()) {
        const v = this.params.get(name);
        const pk = v ? packTensor(v, dtype) : packTensor(this.weight(name), dtype);
        if (v) { v.dispose(); this.params.delete(name); }
        this.packed.set(name, pk);
      }
    }
    this.dtype = dtype;
  }

  /** Free the float32 copies of 16-bit weights the getters handed out. */
  releaseWidened(): void {
    for (const t of this.widenedCache.values()) t.dispose();
    this.widenedCache.clear();
  }

  /** A copy of the weights as a float32 state dict (caller disposes). */
  stateDict(): StateDict {
    const sd: StateDict = {};
    for (const name of this.parameterNames()) sd[name] = this.weight(name);
    return sd;
  }

  /**
   * Assign weights by TransformerLens name. strict (default true): every parameter must be present
   * and nothing else. Shapes must match. The given tensors are copied (caller keeps ownership).
   */
  loadStateDict(sd: StateDict | Map<string, tf.Tensor>, opts: { strict?: boolean } = {}): void {
    const rec: StateDict = sd instanceof Map ? Object.fromEntries(sd) : sd;
    checkStateDict(this.cfg, rec, opts.strict ?? true);
    this.releaseWidened();
    for (const [k, v] of Object.entries(rec)) {
      const pk = this.packed.get(k);
      if (pk) {
        const c = v.dtype === 'float32' ? v : tf.cast(v, 'float32');
        this.packed.set(k, packTensor(c, pk.dtype));
        if (c !== v) c.dispose();
        continue;
      }
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
    this.packed.clear();
    this.releaseWidened();
    this.cfg = cfg;
    checkStateDict(cfg, sd, true, 'processed weights');
    for (const name of paramShapes(cfg).keys()) {
      if (this.dtype === 'float32') this.params.set(name, tf.variable(sd[name], trainable, `${name}_${Math.random().toString(36).slice(2, 10)}`));
      else this.packed.set(name, packTensor(sd[name], this.dtype));
      sd[name].dispose();
    }
    for (const k of Object.keys(applied) as Array<keyof ProcessingOptions>) this.processing[k] = this.processing[k] || applied[k];
  }

  /** Free the weights. */
  dispose(): void {
    for (const v of this.params.values()) v.dispose();
    this.params.clear();
    this.packed.clear();
    this.releaseWidened();
  }

  // ---------------------------------------------------------------- hooks

  /**
   * Hook-point names in execution order. attn.hook_result appears when cfg.use_attn_result is set
   * (it can also be asked for by exact name; then it is computed for that pass).
   */
  hookNames(opts: { includeOptional?: boolean } = {}): string[] {
    return hookNamesFor(this.cfg, opts.includeOptional ?? false);
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
    const startAt = opts.startAtLayer ?? 0;
    if (!Number.isInteger(startAt) || startAt < 0 || startAt > this.cfg.n_layers) throw new Error(`startAtLayer must be an integer in [0, ${this.cfg.n_layers}], got ${opts.startAtLayer}`);
    const residualIn = opts.residual;
    if (startAt > 0 && !residualIn) throw new Error('startAtLayer needs the residual stream entering that block (opts.residual [batch, pos, d_model])');
    if (residualIn) {
      if (residualIn.rank !== 3 || residualIn.shape[0] !== B || residualIn.shape[1] !== P || residualIn.shape[2] !== this.cfg.d_model) {
        throw new Error(`residual has shape [${residualIn.shape}], expected [${B}, ${P}, ${this.cfg.d_model}] for tokens [${B}, ${P}]`);
      }
    }
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
          const rk = residualIn ? (chunks.length === 1 ? residualIn : tf.slice(residualIn as tf.Tensor, [start, 0, 0], [n, P, -1])) : undefined;
          const o = this.core(tk as tf.Tensor2D, mk as tf.Tensor2D | undefined, run, opts, returnType, rk);
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
  private core(tokens: tf.Tensor2D, mask: tf.Tensor2D | undefined, run: HookRun, opts: ForwardOptions, returnType: string, residualIn?: tf.Tensor): CoreOutput {
    const cfg = this.cfg;
    const [B, P] = tokens.shape;
    const startAt = opts.startAtLayer ?? 0;
    // from a given residual (startAtLayer, 0 included) the embeddings are skipped: it is what enters block startAt
    let resid = residualIn ?? run.point(modelHook('hook_embed'), this.embed(tokens));
    const positions = mask ? offsetPositionIds(mask) : null;
    if (cfg.positional_embedding_type === 'standard' && !residualIn) {
      let pos: tf.Tensor;
      if (positions && mask) {
        pos = tf.mul(embeddingLookup(this.p('pos_embed.W_pos') as tf.Tensor2D, positions), tf.expandDims(tf.cast(mask, 'float32'), -1));
      } else {
        // broadcasting multiply, not tile (tile is slow on wasm): [B, 1, 1] * [1, P, d]
        pos = tf.mul(tf.ones([B, 1, 1]), tf.expandDims(tf.slice(this.p('pos_embed.W_pos'), [0, 0], [P, -1]), 0));
      }
      resid = tf.add(resid, run.point(modelHook('hook_pos_embed'), pos));
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
    // each block in its own scope: its intermediates are freed before the next block runs (kept where a gradient needs them)
    for (let l = startAt; l < nRun; l++) { const input = resid; resid = tf.tidy(() => this.block(l, input, run, ctx)); }
    if (stop !== null || returnType === 'none') return {};
    // logitsToKeep: the final norm and unembedding see only the last positions (both act per position)
    const keep = opts.logitsToKeep;
    const kept = keep !== undefined && keep < P ? tf.slice(resid, [0, P - keep, 0], [B, keep, -1]) : resid;
    const normed = this.norm('ln_final', kept, run, { scale: modelHook('ln_final.hook_scale'), normalized: modelHook('ln_final.hook_normalized') });
    if (returnType === 'loss' && this.lossByVocabBlocks(B * P)) return { nll: this.nllByVocabBlocks(normed as tf.Tensor3D, tokens, mask) };
    const logits = this.unembed(normed) as tf.Tensor3D;
    const out: CoreOutput = { logits };
    if (returnType === 'loss' || returnType === 'both') out.nll = this.nextTokenNll(logits, tokens, mask);
    return out;
  }

  /** Token embeddings [b, p, d]: a gather (float32), or the rows widened from 16 bits. */
  private embed(tokens: tf.Tensor2D): tf.Tensor {
    const pk = this.packed.get('embed.W_E');
    if (!pk) return embeddingLookup(this.W_E, tokens);
    const [B, P] = tokens.shape;
    return tf.reshape(widenRows(pk, tokens.dataSync()), [B, P, this.cfg.d_model]);
  }

  /** Vocabulary columns per unembedding block: blocks of [tokens, columns] float32 logits of about HookedTransformer.logitBlockBytes. */
  private vocabBlock(tokens: number): number {
    return Math.max(256, Math.min(this.cfg.d_vocab_out, Math.floor(HookedTransformer.logitBlockBytes / (4 * Math.max(1, tokens)))));
  }

  /**
   * Logits [.., d_vocab_out]: one matmul for float32 weights; for 16-bit weights the unembedding is
   * widened and multiplied one block of vocabulary columns at a time.
   */
  private unembed(normed: tf.Tensor): tf.Tensor {
    const pk = this.packed.get('unembed.W_U');
    if (!pk) return linear(normed, this.W_U, this.b_U);
    if (this.bf16Active()) return bf16Linear(normed, pk, {}, this.p('unembed.b_U'));
    const [d, V] = pk.shape;
    const lead = normed.shape.slice(0, -1);
    const x = tf.reshape(normed, [-1, d]) as tf.Tensor2D;
    const block = this.vocabBlock(x.shape[0]);
    const parts: tf.Tensor[] = [];
    for (let start = 0; start < V; start += block) {
      const w = widenColumns(pk, start, Math.min(block, V - start));
      parts.push(tf.matMul(x, w));
      if (!tapeActive()) w.dispose();
    }
    const logits = parts.length === 1 ? parts[0] : tf.concat(parts, 1);
    return tf.reshape(tf.add(logits, this.p('unembed.b_U')), [...lead, V]);
  }

  /** Compute a loss without the full logits when they would be large (or the weights are 16-bit); never while recording gradients of float32 weights. */
  private lossByVocabBlocks(tokens: number): boolean {
    if (this.packed.has('unembed.W_U')) return true;
    return tokens * this.cfg.d_vocab_out * 4 > HookedTransformer.logitBlockBytes && !tapeActive();
  }

  /**
   * -log p(token[t+1] | ..t) [b, p-1] from the final normalised residual, one block of vocabulary
   * columns at a time: a running log-sum-exp (max, then the rescaled sum of exponentials) and the
   * target's logit picked from the block holding it. Holds [tokens, block] logits, never [tokens, d_vocab].
   */
  private nllByVocabBlocks(normed: tf.Tensor3D, tokens: tf.Tensor2D, mask?: tf.Tensor2D): tf.Tensor2D {
    const [B, P, d] = normed.shape;
    const T = B * (P - 1);
    const V = this.cfg.d_vocab_out;
    const x = tf.reshape(tf.slice(normed, [0, 0, 0], [B, P - 1, d]), [T, d]) as tf.Tensor2D;
    const targets = tf.reshape(tf.slice(tokens, [0, 1], [B, P - 1]), [T]);
    const rows = tf.range(0, T, 1, 'int32');
    const bU = this.p('unembed.b_U');
    const block = this.vocabBlock(T);
    let m: tf.Tensor | null = null;
    let sum: tf.Tensor | null = null;
    let picked: tf.Tensor = tf.zeros([T]);
    const pk = this.packed.get('unembed.W_U');
    const bf16 = pk !== undefined && this.bf16Active();
    for (let start = 0; start < V; start += block) {
      const n = Math.min(block, V - start);
      const next = tf.tidy(() => {
        const logits = bf16 // [T, n]
          ? bf16Linear(x, pk, { columns: { start, count: n } }, tf.slice(bU, [start], [n]))
          : tf.add(tf.matMul(x, this.weightColumns('unembed.W_U', start, n)), tf.slice(bU, [start], [n]));
        const bm = tf.max(logits, 1);
        const m2 = m ? tf.maximum(m, bm) : bm;
        const e = tf.sum(tf.exp(tf.sub(logits, tf.expandDims(m2, 1))), 1);
        const s2 = sum ? tf.add(tf.mul(sum, tf.exp(tf.sub(m as tf.Tensor, m2))), e) : e;
        const local = tf.sub(targets, tf.scalar(start, 'int32'));
        const inBlock = tf.logicalAnd(tf.greaterEqual(local, 0), tf.less(local, n));
        // (minimum/maximum: the wasm backend's clipByValue does not clamp int32 values)
        const clamped = tf.maximum(tf.minimum(local, tf.scalar(n - 1, 'int32')), tf.scalar(0, 'int32'));
        const idx = tf.add(tf.mul(rows, tf.scalar(n, 'int32')), clamped);
        const g = tf.gather(tf.reshape(logits, [-1]), idx);
        return { m: m2, s: s2, picked: tf.add(picked, tf.where(inBlock, g, tf.zerosLike(g))) };
      });
      tf.dispose([m, sum, picked].filter((t): t is tf.Tensor => t !== null));
      m = next.m; sum = next.s; picked = next.picked;
    }
    let nll = tf.reshape(tf.sub(tf.add(tf.log(sum as tf.Tensor), m as tf.Tensor), picked), [B, P - 1]);
    if (mask) {
      const keep = tf.mul(tf.cast(tf.slice(mask, [0, 0], [B, P - 1]), 'float32'), tf.cast(tf.slice(mask, [0, 1], [B, P - 1]), 'float32'));
      nll = tf.mul(nll, keep);
    }
    return nll as tf.Tensor2D;
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
  private norm(prefix: string, x: tf.Tensor, run: HookRun, hooks: { scale: string; normalized: string }): tf.Tensor {
    const t = this.cfg.normalization_type;
    if (t === null) return x;
    if (!run.hooked(hooks.scale)) {
      // one pass per row where the backend can (inference); hook_scale is only read, so it can come out of the kernel
      const fused = fusedLayerNorm(x, { eps: this.cfg.eps, center: t === 'LN' || t === 'LNPre', w: t === 'LN' ? this.p(`${prefix}.w`) : undefined, b: t === 'LN' ? this.p(`${prefix}.b`) : undefined });
      if (fused) {
        run.point(hooks.scale, fused.scale);
        const hooked = run.point(hooks.normalized, fused.out);
        return t === 'RMS' ? tf.mul(hooked, this.p(`${prefix}.w`)) : hooked;
      }
    }
    const centred = t === 'LN' || t === 'LNPre' ? tf.sub(x, tf.mean(x, -1, true)) : x;
    const scale = run.point(hooks.scale, tf.sqrt(tf.add(tf.mean(tf.square(centred), -1, true), this.cfg.eps)));
    const normed = tf.mul(centred, tf.reciprocal(scale)); // [b, p, d] * [b, p, 1]
    // TransformerLens 2.x: LayerNorm's hook_normalized includes w and b; RMSNorm's excludes w.
    if (t === 'LN') return run.point(hooks.normalized, tf.add(tf.mul(normed, this.p(`${prefix}.w`)), this.p(`${prefix}.b`)));
    const hooked = run.point(hooks.normalized, normed);
    return t === 'RMS' ? tf.mul(hooked, this.p(`${prefix}.w`)) : hooked;
  }

  private block(l: number, residIn: tf.Tensor, run: HookRun, ctx: AttnContext): tf.Tensor {
    if (!this.packed.size) return this.blockBody(l, residIn, run, ctx);
    // 16-bit weights: widened for this block only, freed when it ends (kept while a gradient is recorded)
    const outer = this.scratch;
    this.scratch = [];
    try {
      return this.blockBody(l, residIn, run, ctx);
    } finally {
      const widened = this.scratch;
      this.scratch = outer;
      if (!tapeActive()) for (const t of widened) t.dispose();
      else outer?.push(...widened);
    }
  }

  private blockBody(l: number, residIn: tf.Tensor, run: HookRun, ctx: AttnContext): tf.Tensor {
    const cfg = this.cfg;
    const b = `blocks.${l}`;
    const ln2 = { scale: blockHook(l, 'ln2.hook_scale'), normalized: blockHook(l, 'ln2.hook_normalized') };
    const resid = run.point(blockHook(l, 'hook_resid_pre'), residIn);
    const attnIn = this.norm(`${b}.ln1`, resid, run, { scale: blockHook(l, 'ln1.hook_scale'), normalized: blockHook(l, 'ln1.hook_normalized') });
    const attnOut = run.point(blockHook(l, 'hook_attn_out'), this.attention(l, attnIn, run, ctx));
    let post: tf.Tensor;
    if (cfg.attn_only) {
      post = tf.add(resid, attnOut);
    } else if (cfg.parallel_attn_mlp) {
      const mlpOut = run.point(blockHook(l, 'hook_mlp_out'), this.mlp(l, this.norm(`${b}.ln2`, resid, run, ln2), run));
      post = tf.add(tf.add(resid, attnOut), mlpOut);
    } else {
      const mid = run.point(blockHook(l, 'hook_resid_mid'), tf.add(resid, attnOut));
      const mlpOut = run.point(blockHook(l, 'hook_mlp_out'), this.mlp(l, this.norm(`${b}.ln2`, mid, run, ln2), run));
      post = tf.add(mid, mlpOut);
    }
    return run.point(blockHook(l, 'hook_resid_post'), post);
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
      tf.reshape(this.weightLinear(x, `${a}.${w}`, 'heads', tf.reshape(this.p(`${a}.${bias}`), [-1])), [B, P, heads, dh]);
    let q = run.point(blockHook(l, 'attn.hook_q'), proj('W_Q', 'b_Q', h));
    let k = run.point(blockHook(l, 'attn.hook_k'), proj(`${g}W_K`, `${g}b_K`, kv));
    const v = run.point(blockHook(l, 'attn.hook_v'), proj(`${g}W_V`, `${g}b_V`, kv));
    if (ctx.rot) {
      const rd = cfg.rotary_dim as number;
      q = run.point(blockHook(l, 'attn.hook_rot_q'), applyRotary(q, ctx.rot.cos, ctx.rot.sin, rd, cfg.rotary_adjacent_pairs));
      k = run.point(blockHook(l, 'attn.hook_rot_k'), applyRotary(k, ctx.rot.cos, ctx.rot.sin, rd, cfg.rotary_adjacent_pairs));
    }
    const group = h / kv;
    const patternName = blockHook(l, 'attn.hook_pattern');
    if (!run.active(blockHook(l, 'attn.hook_attn_scores')) && !run.hooked(patternName)) {
      // scores, mask, softmax and z per head in one kernel where the backend can (inference): no transposes
      const fused = fusedAttention(q, k, v, {
        scale: cfg.use_attn_scale ? 1 / cfg.attn_scale : 1, mask: ctx.maskNegBig, visible: ctx.maskFloat ?? undefined, pattern: run.active(patternName),
      });
      if (fused) {
        if (fused.pattern) run.point(patternName, fused.pattern);
        return this.attentionOut(l, run.point(blockHook(l, 'attn.hook_z'), fused.z), run);
      }
    }
    // the 1/attn_scale factor is applied to q (half the elements of the scores)
    const qScaled = cfg.use_attn_scale ? tf.mul(q, 1 / cfg.attn_scale) : q;
    const qT = tf.transpose(qScaled, [0, 2, 1, 3]); // [b, h, p, dh]
    const kT = tf.transpose(repeatKvHeads(k, group), [0, 2, 1, 3]);
    const vT = tf.transpose(repeatKvHeads(v, group), [0, 2, 1, 3]);
    const scores = tf.matMul(qT, kT, false, true);
    const scoresName = blockHook(l, 'attn.hook_attn_scores');
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
    pattern = run.point(patternName, pattern);
    return this.attentionOut(l, run.point(blockHook(l, 'attn.hook_z'), tf.transpose(tf.matMul(pattern, vT), [0, 2, 1, 3])), run); // z [b, p, h, dh]
  }

  /** The attention output from z [b, p, h, dh]: per head (attn.hook_result) when asked, else one matmul with W_O. */
  private attentionOut(l: number, z: tf.Tensor, run: HookRun): tf.Tensor {
    const cfg = this.cfg;
    const a = `blocks.${l}.attn`;
    const [B, P, h, dh] = z.shape;
    const resultName = blockHook(l, 'attn.hook_result');
    if (cfg.use_attn_result || run.active(resultName, true)) {
      const W_O = this.p(`${a}.W_O`); // [h, dh, d]
      const d = cfg.d_model;
      const zh = tf.reshape(tf.transpose(z, [2, 0, 1, 3]), [h, B * P, dh]);
      const perHead = tf.transpose(tf.reshape(tf.matMul(zh, W_O), [h, B, P, d]), [1, 2, 0, 3]); // [b, p, h, d]
      const result = run.point(resultName, perHead);
      return tf.add(tf.sum(result, 2), this.p(`${a}.b_O`));
    }
    return this.weightLinear(tf.reshape(z, [B, P, h * dh]), `${a}.W_O`, 'matrix', this.p(`${a}.b_O`));
  }

  private mlp(l: number, x: tf.Tensor, run: HookRun): tf.Tensor {
    const cfg = this.cfg;
    const m = `blocks.${l}.mlp`;
    let post: tf.Tensor;
    if (cfg.gated_mlp) {
      const pre = run.point(blockHook(l, 'mlp.hook_pre'), this.weightLinear(x, `${m}.W_gate`, 'matrix'));
      const preLinear = run.point(blockHook(l, 'mlp.hook_pre_linear'), this.weightLinear(x, `${m}.W_in`, 'matrix'));
      post = run.point(blockHook(l, 'mlp.hook_post'), tf.add(tf.mul(activation(cfg.act_fn, pre), preLinear), this.p(`${m}.b_in`)));
    } else {
      const pre = run.point(blockHook(l, 'mlp.hook_pre'), this.weightLinear(x, `${m}.W_in`, 'matrix', this.p(`${m}.b_in`)));
      post = run.point(blockHook(l, 'mlp.hook_post'), activation(cfg.act_fn, pre));
    }
    return this.weightLinear(post, `${m}.W_out`, 'matrix', this.p(`${m}.b_out`));
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
        await writeHuggingFaceFolder(dir, gpt2HfConfig(cfg, tied), tensors);
      } finally {
        for (const t of Object.values(tensors)) t.dispose();
      }
    } finally {
      for (const t of Object.values(sd)) t.dispose();
    }
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

/** A weight with a NaN or infinity is an error where it enters (naming the model and the parameter). */
function assertFiniteWeight(t: tf.Tensor, name: string, model: string): void {
  const v = t.dataSync() as Float32Array;
  const { first } = countNonFinite({ dtype: 'F32', data: v });
  if (first >= 0) throw new Error(`${model}: weight '${name}' has a non-finite value (${v[first]}) at flat index ${first}; the checkpoint is corrupt or was saved in a dtype that overflowed`);
}
