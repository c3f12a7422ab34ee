import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { HookedTransformer } from '../model/hookedTransformer';
import { WeightDtype } from '../model/weights';
import { hookLayer } from '../model/hookNames';
import { SAE } from '../sae/sae';
import { modelOptionsFromSAE } from '../sae/modelOptions';
import { Tokenizer, loadTokenizer, loadTokenizerFromDir } from '../tokenizers/tokenizer';
import { textsFromDataset } from '../data/sources';
import { shuffleStream } from '../data/random';
import { tokenizeAndConcatenate } from '../data/concat';
import { SafetensorsFile, writeSafetensors } from '../io/safetensors';
import { ExperimentConfig, ModelRef } from './config';

/** Load a model for the pipeline with the SAE's model_from_pretrained_kwargs and attach its tokenizer. */
export async function loadPipelineModel(ref: ModelRef, sae: SAE, dVocab?: number): Promise<HookedTransformer> {
  const spec = modelOptionsFromSAE(sae, { revision: ref.revision });
  const dtype = (ref.dtype ?? 'auto') as WeightDtype | 'auto';
  const model = await HookedTransformer.fromPretrained(ref.model, { ...spec.options, revision: ref.revision, dVocab: ref.dVocab ?? dVocab, dtype } as never);
  const dir = model.source?.dir;
  if (dir && fs.existsSync(path.join(dir, 'tokenizer.json'))) model.setTokenizer(loadTokenizerFromDir(dir));
  return model;
}

/** Everything the transferability stages run on. */
export interface PipelineModels {
  base: HookedTransformer;
  /** absent when only the base model was asked for */
  finetune?: HookedTransformer;
  sae: SAE;
  hook: string;
  layer: number;
  /** the base model's tokenizer (the finetune is fed its ids unless tokenAlignment is "text") */
  tokenizer: Tokenizer;
  finetuneTokenizer?: Tokenizer;
  /** repo commits the weights came from (provenance) */
  revisions: Record<string, string | undefined>;
  dispose(): void;
}

/** Load base, finetune (vocabulary trimmed to the base's, as published for MetaMath) and the SAE named in the config. */
export async function loadPipelineModels(config: ExperimentConfig, opts: { finetune?: boolean } = {}): Promise<PipelineModels> {
  const sae = await SAE.fromPretrained(config.sae.release, config.sae.id);
  const hook = sae.cfg.metadata.hook_name;
  const layer = hookLayer(hook, 'the pipeline (a residual-stream SAE)');
  const base = await loadPipelineModel(config.base, sae);
  const tokenizer = await loadTokenizer(config.base.tokenizer ?? config.base.model, { revision: config.base.revision });
  let finetune: HookedTransformer | undefined;
  let finetuneTokenizer: Tokenizer | undefined;
  if (opts.finetune !== false) {
    finetune = await loadPipelineModel(config.finetune, sae, config.finetune.dVocab ?? undefined);
    if (finetune.cfg.d_vocab > base.cfg.d_vocab && config.finetune.dVocab === null) {
      finetune.dispose();
      finetune = await loadPipelineModel(config.finetune, sae, base.cfg.d_vocab);
    }
    finetuneTokenizer = await loadTokenizer(config.finetune.tokenizer ?? config.finetune.model, { revision: config.finetune.revision });
  }
  if (sae.cfg.d_in !== base.cfg.d_model) throw new Error(`SAE ${config.sae.release}/${config.sae.id} has d_in ${sae.cfg.d_in} but ${config.base.model} has d_model ${base.cfg.d_model} at ${hook}`);
  return {
    base, finetune, sae, hook, layer, tokenizer, finetuneTokenizer,
    revisions: { base: base.source?.commit, finetune: finetune?.source?.commit },
    dispose() { base.dispose(); finetune?.dispose(); sae.dispose(); },
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
