import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { HookedTransformer } from '../model/hookedTransformer';
import { WeightDtype } from '../model/weights';
import { collectGarbage, formatBytes, memoryBudget } from '../model/memory';
import { readHfConfig, resolveModelDir } from '../model/loading';
import { hfConfigToTl } from '../model/hf';
import { recordActivity } from '../notebook/activity';
import { hookLayer } from '../model/hookNames';
import { SAE } from '../sae/sae';
import { modelOptionsFromSAE } from '../sae/modelOptions';
import { Tokenizer, loadTokenizer, loadTokenizerFromDir } from '../tokenizers/tokenizer';
import { textsFromDataset } from '../data/sources';
import { shuffleStream } from '../data/random';
import { tokenizeAndConcatenate } from '../data/concat';
import { SafetensorsFile, writeSafetensors } from '../io/safetensors';
import { ExperimentConfig, ModelRef } from './config';

/**
 * Load a model for the pipeline with the SAE's model_from_pretrained_kwargs, the config's dtype and
 * memory budget, and attach its tokenizer. `maxTokensPerForward` caps the tokens of one forward pass
 * (batches are split into row chunks above it), lowered further when the memory left after loading is short.
 */
export async function loadPipelineModel(ref: ModelRef, sae: SAE, dVocab?: number, maxTokensPerForward?: number, role = 'model'): Promise<HookedTransformer> {
  const spec = modelOptionsFromSAE(sae, { revision: ref.revision });
  const dtype = (ref.dtype ?? 'auto') as WeightDtype | 'auto';
  recordActivity(`loading the ${role} ${ref.model} (dtype ${dtype})`, `${role} ${ref.model}`);
  const model = await HookedTransformer.fromPretrained(ref.model, { ...spec.options, revision: ref.revision, dVocab: ref.dVocab ?? dVocab, dtype } as never);
  const dir = model.source?.dir;
  if (dir && fs.existsSync(path.join(dir, 'tokenizer.json'))) model.setTokenizer(loadTokenizerFromDir(dir));
  model.maxBatchTokens = forwardTokenBudget(model, maxTokensPerForward);
  recordActivity(`holding the ${role} ${ref.model} (${model.dtype}, ${formatBytes(model.weightBytes())})`, `${role} ${ref.model}`);
  return model;
}

/**
 * Float32 bytes one token of a forward pass holds at its peak (residual copies, attention scores and
 * pattern over the context, the MLP's hidden activations), for sizing passes from the memory budget.
 */
export function forwardBytesPerToken(cfg: HookedTransformer['cfg'], contextSize = cfg.n_ctx): number {
  return 4 * (12 * cfg.d_model + 3 * (cfg.d_mlp ?? 0) + 3 * cfg.n_heads * Math.min(contextSize, cfg.n_ctx));
}

/** Tokens per forward pass: the config's cap, and at most what half the free memory holds. */
export function forwardTokenBudget(model: HookedTransformer, cap?: number): number {
  const fit = Math.max(1, Math.floor((0.5 * memoryBudget().free) / forwardBytesPerToken(model.cfg)));
  return Math.max(1, Math.min(cap ?? Infinity, fit, model.maxBatchTokens ?? Infinity));
}

export type ModelRole = 'base' | 'finetune';

/**
 * What the transferability stages run on: the SAE, the tokenizers and the two models, which are loaded
 * one at a time: `model('finetune')` releases the base before loading the finetune, so a stage never
 * holds both (Mistral-7B's two models do not fit in 24 GB even in bfloat16).
 */
export interface PipelineModels {
  sae: SAE;
  hook: string;
  layer: number;
  /** d_model of the models (from the base's config.json, checked against the SAE's d_in) */
  dModel: number;
  /** the base model's tokenizer (the finetune is fed its ids unless tokenAlignment is "text") */
  tokenizer: Tokenizer;
  finetuneTokenizer?: Tokenizer;
  /** repo commits the weights come from (provenance), known before any weights load */
  revisions: Record<string, string | undefined>;
  /** the model of this role, loaded now if another one (or none) is held */
  model(which: ModelRole): Promise<HookedTransformer>;
  /** free the model held now, if any */
  release(): void;
  dispose(): void;
}

/** d_vocab and d_model of a model from its config.json (no weights read). */
async function modelShape(ref: ModelRef): Promise<{ dVocab: number; dModel: number; commit?: string }> {
  const r = await resolveModelDir(ref.model, ref.revision);
  const cfg = hfConfigToTl(readHfConfig(r.dir), ref.model, path.join(r.dir, 'config.json'));
  return { dVocab: cfg.d_vocab, dModel: cfg.d_model, commit: r.commit };
}

/**
 * The SAE named in the config, the tokenizers, and lazy access to base and finetune (vocabulary trimmed
 * to the base's, as published for MetaMath). No model weights are read until a stage asks for a model.
 */
export async function loadPipelineModels(config: ExperimentConfig, opts: { finetune?: boolean } = {}): Promise<PipelineModels> {
  const sae = await SAE.fromPretrained(config.sae.release, config.sae.id);
  const hook = sae.cfg.metadata.hook_name;
  const layer = hookLayer(hook, 'the pipeline (a residual-stream SAE)');
  const withFinetune = opts.finetune !== false;
  const base = await modelShape(config.base);
  if (sae.cfg.d_in !== base.dModel) {
    sae.dispose();
    throw new Error(`SAE ${config.sae.release}/${config.sae.id} has d_in ${sae.cfg.d_in} but ${config.base.model} has d_model ${base.dModel} at ${hook}`);
  }
  const ft = withFinetune ? await modelShape(config.finetune) : null;
  const ftVocab = config.finetune.dVocab ?? (ft && ft.dVocab > base.dVocab ? base.dVocab : undefined);
  const tokenizer = await loadTokenizer(config.base.tokenizer ?? config.base.model, { revision: config.base.revision });
  const finetuneTokenizer = withFinetune ? await loadTokenizer(config.finetune.tokenizer ?? config.finetune.model, { revision: config.finetune.revision }) : undefined;
  let held: { which: ModelRole; model: HookedTransformer } | null = null;
  const release = () => {
    if (held) {
      const { which, model } = held;
      model.dispose();
      held = null;
      recordActivity(`released the ${which} ${config[which].model}`);
    }
  };
  return {
    sae, hook, layer, dModel: base.dModel, tokenizer, finetuneTokenizer,
    revisions: { base: base.commit, finetune: ft?.commit },
    async model(which) {
      if (held?.which === which) return held.model;
      if (which === 'finetune' && !withFinetune) throw new Error('the finetune was not opened (loadPipelineModels with finetune: false)');
      if (held) {
        release();
        // the released model's buffers go back to the system only once collected: before the next load
        await collectGarbage();
      }
      const ref = config[which];
      const model = await loadPipelineModel(ref, sae, which === 'finetune' ? ftVocab : undefined, config.maxTokensPerForward, which);
      held = { which, model };
      return model;
    },
    release,
    dispose() { release(); sae.dispose(); },
  };
}

/**
 * Draw `nSequences` fixed-length contexts from the config's dataset: documents shuffled with a seeded
 * buffer, tokenized and packed SAELens-style (BOS per context). Each stage passes its own seed offset,
 * so stages draw separate samples, as published; the ids are saved with each stage's results.
 */
export async function sampleContexts(config: ExperimentConfig, tokenizer: Tokenizer, nSequences: number, seedOffset: number): Promise<Int32Array> {
  const ctx = config.contextSize;
  const out = new Int32Array(nSequences * ctx);
  const texts = textsFromDataset(config.dataset.path, { split: config.dataset.split, column: config.dataset.column, revision: config.dataset.revision } as never);
  const shuffled = shuffleStream(texts, { bufferSize: 256, seed: config.seed * 1000 + seedOffset });
  let n = 0;
  for await (const c of tokenizeAndConcatenate(shuffled, tokenizer, { contextSize: ctx, prependBos: config.prependBos, maxContexts: nSequences })) {
    out.set(c, n * ctx);
    n++;
    if (n === nSequences) break;
  }
  if (n < nSequences) throw new Error(`dataset ${config.dataset.path} (split ${config.dataset.split}) gives only ${n} contexts of ${ctx} tokens; the stage asks for ${nSequences}: lower nBatches/batchSize or contextSize in the config`);
  return out;
}

/** Save token ids [N, ctx] as tokens.safetensors (tensor `tokens`, int32). */
export function saveTokens(file: string, tokens: Int32Array, ctx: number): void {
  writeSafetensors(file, { tokens: { dtype: 'I32', shape: [tokens.length / ctx, ctx], data: tokens } });
}

/** Read tokens.safetensors back. */
export function readTokens(file: string): { tokens: Int32Array; shape: [number, number] } {
  const f = SafetensorsFile.open(file);
  try {
    const raw = f.readRaw('tokens');
    return { tokens: Int32Array.from(raw.data as ArrayLike<number>), shape: raw.shape as [number, number] };
  } finally {
    f.close();
  }
}

/** Batches of rows of a [N, ctx] token array as int32 tensors (caller disposes each). */
export function* tokenBatches(tokens: Int32Array, ctx: number, batchSize: number): Generator<{ index: number; start: number; tokens: tf.Tensor2D }> {
  const n = tokens.length / ctx;
  for (let start = 0, index = 0; start < n; start += batchSize, index++) {
    const b = Math.min(batchSize, n - start);
    yield { index, start, tokens: tf.tensor2d(tokens.subarray(start * ctx, (start + b) * ctx), [b, ctx], 'int32') };
  }
}

/** Read rows [start, start+count) of an activations file (tensor `acts` [N, ctx, d]) as a float32 tensor. */
export function readActRows(file: SafetensorsFile, start: number, count: number, tensor = 'acts'): tf.Tensor3D {
  const raw = file.readRows(tensor, start, count);
  return tf.tensor3d(raw.data as Float32Array, raw.shape as [number, number, number], 'float32');
}

/** The activation at `hook` for a batch, running the model only up to the hook's block. */
export function hookActivations(model: HookedTransformer, tokens: tf.Tensor2D, hook: string, layer: number): tf.Tensor3D {
  const { cache } = model.runWithCache(tokens, { namesFilter: [hook], stopAtLayer: layer + 1, returnType: 'none' });
  const act = cache.get(hook).clone() as tf.Tensor3D;
  cache.dispose();
  return act;
}
