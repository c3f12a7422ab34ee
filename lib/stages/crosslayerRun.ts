/**
 * Cross-layer statistics streamed straight from a model and its SAEs (seed 000): loading the model, one
 * SAE per hook and the token stream from a `crosslayer` config section, and running the sparse collectors
 * with progress and resumable state. Used by stage 07 and `saelab crosslayer --model`.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { HookedTransformer, FromPretrainedOptions } from '../model/hookedTransformer';
import { SAE } from '../sae/sae';
import { checkSAEFitsModel, modelOptionsFromSAE } from '../sae/modelOptions';
import { Tokenizer, loadTokenizer, loadTokenizerFromDir } from '../tokenizers/tokenizer';
import { officialModelName } from '../model/loading';
import { textsFromDataset } from '../data/sources';
import { tokenizeAndConcatenate } from '../data/concat';
import { writeJsonAtomic } from '../io/atomic';
import { claimFolder, removeSaelabFolder } from '../io/folders';
import { CrossLayerSettings, configHash } from './config';
import { Progress } from '../notebook/progress';
import { ContextStream, ModelFeatureCodeSource } from '../analysis/crosslayer/featureCodeSource';
import { runCrossLayer } from '../analysis/crosslayer/driver';
import { CrossLayerCollector } from '../analysis/crosslayer/collector';
import { CrossLayerSummary, writeCrossLayerOutputs } from '../analysis/crosslayer/storage';

/** A model with one SAE per hook of the study, and its tokenizer. */
export interface CrossLayerModels {
  model: HookedTransformer;
  saes: SAE[];
  hooks: string[];
  tokenizer: Tokenizer;
  revisions: Record<string, string | undefined>;
  dispose(): void;
}

/**
 * Load the model the way its SAEs were trained (the first SAE's model_from_pretrained_kwargs) and one SAE
 * of `settings.saeRelease` per hook; `hooks: []` means blocks.L.hook_resid_pre for every layer of the model.
 */
export async function loadCrossLayerModels(settings: Pick<CrossLayerSettings, 'model' | 'revision' | 'saeRelease' | 'hooks'>): Promise<CrossLayerModels> {
  const saes: SAE[] = [];
  let model: HookedTransformer | null = null;
  try {
    const load = async (hook: string): Promise<SAE> => {
      const sae = await SAE.fromPretrained(settings.saeRelease, hook);
      if (sae.cfg.metadata.hook_name !== hook) {
        sae.dispose();
        throw new Error(`SAE ${settings.saeRelease}/${hook} reads ${sae.cfg.metadata.hook_name} (cfg.json metadata.hook_name), not ${hook}`);
      }
      return sae;
    };
    saes.push(await load(settings.hooks[0] ?? 'blocks.0.hook_resid_pre'));
    const fromSae = modelOptionsFromSAE(saes[0], {}, { emit: false }).options;
    model = await HookedTransformer.fromPretrained(settings.model, { ...(fromSae as FromPretrainedOptions), revision: settings.revision });
    const hooks = settings.hooks.length ? settings.hooks : Array.from({ length: model.cfg.n_layers }, (_, L) => `blocks.${L}.hook_resid_pre`);
    for (const h of hooks.slice(1)) saes.push(await load(h));
    for (const s of saes) checkSAEFitsModel(s, model);
    const dir = model.source?.dir;
    const tokenizer = dir && fs.existsSync(path.join(dir, 'tokenizer.json')) ? loadTokenizerFromDir(dir) : await loadTokenizer(officialModelName(settings.model), { revision: settings.revision });
    const m = model;
    return { model: m, saes, hooks, tokenizer, revisions: { model: m.source?.commit }, dispose() { m.dispose(); saes.forEach((s) => s.dispose()); } };
  } catch (e) {
    model?.dispose();
    saes.forEach((s) => s.dispose());
    throw e;
  }
}

/**
 * The dataset as a stream of contexts, in dataset order (no shuffling, so a resumed run can skip to any
 * context): documents tokenized and packed SAELens-style (BOS per context when prependBos).
 */
export function datasetContexts(settings: Pick<CrossLayerSettings, 'dataset' | 'contextSize' | 'prependBos'>, tokenizer: Tokenizer): ContextStream {
  return async function* contexts(skip: number) {
    const { path: ds, split, column, revision } = settings.dataset;
    const texts = textsFromDataset(ds, { split, column, revision } as never);
    let n = 0;
    for await (const c of tokenizeAndConcatenate(texts, tokenizer, { contextSize: settings.contextSize, prependBos: settings.prependBos })) {
      if (n++ >= skip) yield c;
    }
  };
}

/** Whole batches of the token budget. */
export function crossLayerBatches(settings: Pick<CrossLayerSettings, 'tokens' | 'batchSize' | 'contextSize'>): number {
  return Math.floor(settings.tokens / (settings.batchSize * settings.contextSize));
}

/** The settings a saved state depends on (what must match to resume). */
function stateKey(settings: CrossLayerSettings, hooks: string[], rows?: [number, number]): string {
  const { model, revision, saeRelease, dataset, contextSize, prependBos, batchSize, tokens, checkpointTokens, featureThresholds, pairThresholds, relative } = settings;
  return configHash({ model, revision, saeRelease, hooks, dataset, contextSize, prependBos, batchSize, tokens, checkpointTokens, featureThresholds, pairThresholds, relative, ...(rows ? { rows } : {}) });
}

/** A state folder written before folder markers existed: its settings.json carries the state key. */
function isEarlierStateFolder(dir: string): boolean {
  try {
    return typeof (JSON.parse(fs.readFileSync(path.join(dir, 'settings.json'), 'utf8')) as { key?: unknown }).key === 'string';
  } catch {
    return false;
  }
}

export interface CrossLayerModelRun {
  summary: CrossLayerSummary;
  hooks: string[];
  /** tokens already collected in the saved state when this call started (0: a fresh run) */
  resumedFrom: number;
  seconds: { max: number; collect: number; write: number };
}

/** A finished collection (both passes) still in memory: write it with `writeCrossLayerCollection`. */
export interface CrossLayerCollection {
  col: CrossLayerCollector;
  hooks: string[];
  /** tokens already collected in the saved state when the collection started (0: a fresh run) */
  resumedFrom: number;
  seconds: { max: number; collect: number };
}

export interface CollectOptions {
  /** folder for resumable state (saved every `saveEveryTokens`; resumed when the settings match) */
  stateDir?: string;
  label?: string;
  silent?: boolean;
  spillDir?: string;
  /** pass 1's sparse codes are reused by pass 2 while they fit (default 512 MiB) */
  cacheBytes?: number;
  /** row shard: only features [r0, r1) of layer L are paired with layer L+1 (every token is still read) */
  rows?: [number, number];
}

/**
 * Both passes of the cross-layer statistics over the first `settings.tokens` tokens (whole batches) of
 * the dataset: pass 1 (max activations, when `relative`), pass 2 (the collector). With `stateDir` the
 * state is saved every `saveEveryTokens` tokens and an interrupted call resumes from the last save (a
 * state made with other settings or rows is discarded). The caller disposes `col` and removes the state.
 */
export async function collectCrossLayerFromModel(settings: CrossLayerSettings, models: CrossLayerModels, opts: CollectOptions = {}): Promise<CrossLayerCollection> {
  const nBatches = crossLayerBatches(settings);
  const bt = settings.batchSize * settings.contextSize;
  if (nBatches < 1) throw new Error(`crosslayer: a token budget of ${settings.tokens} is less than one batch of ${bt} tokens (batchSize x contextSize)`);
  const source = new ModelFeatureCodeSource({
    model: models.model, saes: models.saes, contexts: datasetContexts(settings, models.tokenizer), contextSize: settings.contextSize, batchSize: settings.batchSize, maxBatches: nBatches,
  });
  const total = nBatches * bt;
  const stateDir = opts.stateDir && settings.saveEveryTokens > 0 ? opts.stateDir : undefined;
  let resumedFrom = 0;
  if (stateDir) {
    const key = stateKey(settings, models.hooks, opts.rows);
    const keyFile = path.join(stateDir, 'settings.json');
    // a folder holding anything but saelab's state is refused before anything in it is touched
    claimFolder(stateDir, 'the resumable state folder (--state-dir)', { recognize: isEarlierStateFolder });
    const same = fs.existsSync(keyFile) && (JSON.parse(fs.readFileSync(keyFile, 'utf8')) as { key: string }).key === key;
    if (!same) {
      removeSaelabFolder(stateDir);
      claimFolder(stateDir, 'the resumable state folder (--state-dir)');
    }
    writeJsonAtomic(keyFile, { key, settings, hooks: models.hooks, ...(opts.rows ? { rows: opts.rows } : {}) });
    const st = path.join(stateDir, 'collector', 'state.json');
    if (fs.existsSync(st)) resumedFrom = (JSON.parse(fs.readFileSync(st, 'utf8')) as { tokens: number }).tokens;
  }
  const label = opts.label ?? 'crosslayer';
  const bars: Record<string, { p: Progress; at: number }> = {};
  const times = { max: 0, collect: 0 };
  let t0 = Date.now();
  let phase: 'max' | 'collect' | null = null;
  const col = await runCrossLayer(source, {
    relative: settings.relative, max_tokens: total, cache_bytes: opts.cacheBytes ?? 512 * 2 ** 20, state_dir: stateDir, save_every_tokens: settings.saveEveryTokens || undefined,
    config: { checkpoint_tokens: settings.checkpointTokens, feature_thresholds: settings.featureThresholds, pair_thresholds: settings.pairThresholds, max_pairs_in_memory: settings.maxPairsInMemory, spill_dir: opts.spillDir, rows: opts.rows },
    onProgress: ({ pass, tokens }) => {
      if (phase !== pass) {
        if (phase) { bars[phase].p.done(); times[phase] = (Date.now() - t0) / 1000; }
        t0 = Date.now();
        phase = pass;
        const start = pass === 'collect' ? resumedFrom : 0;
        bars[pass] = { p: new Progress(`${label} ${pass === 'max' ? 'pass 1 (max activations)' : 'pass 2 (statistics)'}`, total, { silent: opts.silent }), at: start };
        bars[pass].p.tick(start);
      }
      bars[pass].p.tick(tokens - bars[pass].at);
      bars[pass].at = tokens;
    },
  });
  const lastPhase = phase as 'max' | 'collect' | null;
  if (lastPhase) { bars[lastPhase].p.done(); times[lastPhase] = (Date.now() - t0) / 1000; }
  return { col, hooks: models.hooks, resumedFrom, seconds: times };
}

/**
 * Write a collection's output files into `outDir` (pair_<L>_<L+1>.safetensors with the decoder cosine
 * when `settings.decoder`, max_activations, dead_features, summary.json) and dispose its collector.
 */
export async function writeCrossLayerCollection(settings: CrossLayerSettings, models: Pick<CrossLayerModels, 'saes'>, c: CrossLayerCollection, outDir: string): Promise<CrossLayerModelRun> {
  try {
    const t0 = Date.now();
    const decoders = settings.decoder ? models.saes.map((s) => s.weights.W_dec as tf.Tensor2D) : null;
    const summary = await writeCrossLayerOutputs(outDir, c.col, decoders);
    return { summary, hooks: c.hooks, resumedFrom: c.resumedFrom, seconds: { ...c.seconds, write: (Date.now() - t0) / 1000 } };
  } finally {
    c.col.dispose();
  }
}

/**
 * Run the cross-layer statistics over the first `settings.tokens` tokens (whole batches) of the dataset
 * and write the output files into `outDir` (pair_<L>_<L+1>.safetensors, max_activations.safetensors,
 * dead_features.safetensors, summary.json). With `stateDir`, the max activations and the collector are
 * saved every `saveEveryTokens` tokens and an interrupted call resumes from the last save (a state made
 * with other settings is discarded); the state is removed after success unless `keepState`. Pass 1's
 * sparse codes are reused by pass 2 while they fit `cacheBytes` (default 512 MiB), saving a model pass.
 */
export async function runCrossLayerFromModel(
  settings: CrossLayerSettings, outDir: string,
  opts: { models?: CrossLayerModels; stateDir?: string; keepState?: boolean; label?: string; silent?: boolean; spillDir?: string; cacheBytes?: number } = {},
): Promise<CrossLayerModelRun> {
  const models = opts.models ?? await loadCrossLayerModels(settings);
  try {
    const c = await collectCrossLayerFromModel(settings, models, opts);
    const run = await writeCrossLayerCollection(settings, models, c, outDir);
    const stateDir = opts.stateDir && settings.saveEveryTokens > 0 ? opts.stateDir : undefined;
    if (stateDir && !opts.keepState) removeSaelabFolder(stateDir);
    return run;
  } finally {
    if (!opts.models) models.dispose();
  }
}
