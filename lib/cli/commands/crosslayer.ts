import * as fs from 'fs';
import * as tf from '@tensorflow/tfjs';
import { CliCommand } from '../types';
import { parseIntegerArg, parseNumberArg, parseOptions, required } from '../args';
import { initBackend } from '../../backend';
import { SafetensorsFile, rawToFloat32 } from '../../io/safetensors';
import { DTYPE_SIZES } from '../../io/dtypes';
import * as path from 'path';
import { writeJsonAtomic } from '../../io/atomic';
import { claimFolder } from '../../io/folders';
import { assertFinite } from '../../io/finite';
import {
  CrossLayerCollector, CrossLayerSummary, MaxActivationCollector, NEURONPEDIA_GPT2_SMALL_RES_JB, NeuronpediaSource, convertToSeedNpz, featureGraph, loadCrossLayerOutputs, passThrough,
  writeCrossLayerOutputs, writeFeatureGraphHtml,
} from '../../analysis/crosslayer';
import { CrossLayerSettings, DEFAULT_CROSSLAYER_CONFIG, loadConfig, validateCrossLayerSettings } from '../../stages/config';
import { runCrossLayerFromModel } from '../../stages/crosslayerRun';

const usage = `usage: saelab crosslayer --acts <L0.safetensors,L1.safetensors,...> --out <dir> [options]
       saelab crosslayer --model <model> --sae-release <release> --dataset <dataset> --tokens N --out <dir> [options]
       saelab crosslayer --config <experiment.json> --out <dir> [options]

Cross-layer feature statistics of seed 000 (dead features, dead pairs, Pearson, activation cosine,
Jaccard, sufficiency, necessity and their relative-activation variants, mutual information, decoder
cosine) for every adjacent layer pair, computed sparsely in one pass over the tokens (plus a cheap first
pass for the max activations that the relative variants need).

From activation files:
  --acts FILES             comma-separated safetensors files, one per layer, in layer order
  --tensor NAME            activations tensor in each file, float [..., d_sae] (default feature_acts)
  --decoder-tensor NAME    W_dec [d_sae, d_model] in each file: adds decoder cosine_similarity
  --checkpoint-tokens N    dead-feature/dead-pair checkpoint every N tokens (default 65536; 0: none)
  --batch-tokens N         tokens read per batch (default 4096)

Streaming from a model and its SAEs (no activation files; resumable):
  --model NAME             model (hub id, TransformerLens name such as gpt2-small, demo name or folder)
  --model-revision REV     model revision (default main)
  --sae-release NAME       SAE release with one SAE per hook (e.g. gpt2-small-res-jb, saelab-demo-res)
  --hooks H1,H2,...        hooks in layer order (default: blocks.L.hook_resid_pre for every layer)
  --dataset NAME           text dataset (hub id or folder), read in order, packed into contexts
  --split S / --column C   dataset split (default train) and text column (default text)
  --dataset-revision REV   dataset revision (default main)
  --context-size N         tokens per context (default 128)
  --no-bos                 no BOS at the start of each context
  --batch-size N           contexts per forward pass (default 32); the last partial batch is dropped
  --tokens N               token budget, rounded down to whole batches (required)
  --state-dir DIR          resumable state (max activations, collector) saved every --save-every
                           tokens (--save-every N, default 1048576); rerunning the same command resumes
  --keep-state             keep the state folder after success (default: removed)
  --no-decoder             skip the decoder cosine_similarity of the SAEs' W_dec
  --config FILE            take all of the above from an experiment config's "crosslayer" section
                           (flags given as well override it)

Common:
  --rows R0:R1             (--acts) only features R0..R1-1 of layer L (a row shard; default all)
  --max-pairs N            pair entries held in memory before spilling to disk (default 8000000,
                           ~50 bytes each; for long runs prefer --rows shards)
  --spill-dir DIR          where spilled pair runs go: in a new folder made inside DIR (default: the temp
                           folder), removed at the end, also on SIGTERM / Ctrl-C
  --no-relative            skip the relative-activation variants (and the max-activation pass)
  --save-state DIR         (--acts) also save the collector state (for CrossLayerCollector.load / merge)
  --npz DIR                also write the seed's dense .npz files (d_sae^2 floats per pair: large)
  --graph-min X            also write pass_through.json, graph.json and graph.html: a feature graph of
                           the links with Pearson >= X (top 3 per feature), Louvain communities
  --neuronpedia-gpt2-res-jb  graph nodes link to Neuronpedia's gpt2-small <L>-res-jb pages
  --out DIR                output folder: pair_<L>_<L+1>.safetensors, max_activations.safetensors,
                           dead_features.safetensors, summary.json`;

/** One layer's activation file, read in token blocks. */
class LayerInput {
  readonly f: SafetensorsFile;
  readonly T: number;
  readonly d: number;
  private readonly fd: number;
  private readonly start: number;
  private readonly dtype: 'F32' | 'F16' | 'BF16' | 'F64';

  constructor(readonly file: string, readonly tensor: string) {
    if (!fs.existsSync(file)) throw new Error(`--acts: file not found: ${file}`);
    this.f = SafetensorsFile.open(file);
    const info = this.f.info(tensor);
    if (!['F32', 'F16', 'BF16', 'F64'].includes(info.dtype)) throw new Error(`${file}: tensor '${tensor}' is ${info.dtype}; activations must be a float tensor`);
    if (info.shape.length < 1) throw new Error(`${file}: tensor '${tensor}' is a scalar; expected [..., d_sae]`);
    this.d = info.shape[info.shape.length - 1];
    this.T = info.shape.slice(0, -1).reduce((a, b) => a * b, 1);
    this.dtype = info.dtype as LayerInput['dtype'];
    this.start = info.start;
    this.fd = fs.openSync(file, 'r');
  }

  /** Tokens [t0, t1) as float32 `[t1 - t0, d]`. */
  read(t0: number, t1: number): Float32Array {
    const size = DTYPE_SIZES[this.dtype];
    const bytes = new Uint8Array((t1 - t0) * this.d * size);
    let off = 0;
    while (off < bytes.length) {
      const n = fs.readSync(this.fd, bytes, off, bytes.length - off, this.start + t0 * this.d * size + off);
      if (n === 0) throw new Error(`${this.file}: unexpected end of file reading '${this.tensor}'`);
      off += n;
    }
    const ab = bytes.buffer;
    const data = this.dtype === 'F32' ? new Float32Array(ab) : this.dtype === 'F64' ? new Float64Array(ab) : new Uint16Array(ab);
    assertFinite({ dtype: this.dtype, data }, `${this.file}:${this.tensor} (tokens ${t0}..${t1})`, 'activations must be finite');
    return rawToFloat32({ dtype: this.dtype, shape: [t1 - t0, this.d], data });
  }

  close(): void {
    fs.closeSync(this.fd);
    this.f.close();
  }
}

function positiveInt(v: string | undefined, flag: string, dflt: number, allowZero = false): number {
  return parseIntegerArg(v, flag, { min: allowZero ? 0 : 1, dflt });
}

const OPTIONS = {
  acts: { type: 'string' }, tensor: { type: 'string' }, 'decoder-tensor': { type: 'string' }, 'checkpoint-tokens': { type: 'string' },
  'batch-tokens': { type: 'string' }, rows: { type: 'string' }, 'max-pairs': { type: 'string' }, 'spill-dir': { type: 'string' },
  'no-relative': { type: 'boolean' }, 'graph-min': { type: 'string' }, 'neuronpedia-gpt2-res-jb': { type: 'boolean' }, 'save-state': { type: 'string' }, npz: { type: 'string' }, out: { type: 'string' },
  model: { type: 'string' }, 'model-revision': { type: 'string' }, 'sae-release': { type: 'string' }, hooks: { type: 'string' }, dataset: { type: 'string' }, split: { type: 'string' },
  column: { type: 'string' }, 'dataset-revision': { type: 'string' }, 'context-size': { type: 'string' }, 'no-bos': { type: 'boolean' }, 'batch-size': { type: 'string' },
  tokens: { type: 'string' }, 'state-dir': { type: 'string' }, 'save-every': { type: 'string' }, 'keep-state': { type: 'boolean' }, 'no-decoder': { type: 'boolean' }, config: { type: 'string' },
} as const;
type Opts = Record<keyof typeof OPTIONS, any>;

const MODEL_FLAGS = ['model', 'model-revision', 'sae-release', 'hooks', 'dataset', 'split', 'column', 'dataset-revision', 'context-size', 'no-bos', 'batch-size', 'tokens', 'state-dir', 'save-every', 'keep-state', 'no-decoder', 'config'] as const;
const ACTS_FLAGS = ['acts', 'tensor', 'decoder-tensor', 'batch-tokens', 'rows', 'save-state'] as const;

/** Settings for streaming from a model: a config's crosslayer section (or defaults) overridden by flags. */
function modelSettings(o: Opts): CrossLayerSettings {
  const fromConfig = o.config !== undefined;
  const base: CrossLayerSettings = fromConfig ? loadConfig(o.config as string).crosslayer : { ...structuredClone(DEFAULT_CROSSLAYER_CONFIG), hooks: [], contextSize: 128, batchSize: 32, checkpointTokens: 65536, saveEveryTokens: 1 << 20 };
  if (!fromConfig) {
    for (const f of ['model', 'sae-release', 'dataset', 'tokens'] as const) required(o[f], f, usage);
    base.dataset = { path: '', split: 'train', column: 'text', revision: 'main' };
  }
  const s = base;
  if (o.model !== undefined) s.model = o.model;
  if (o['model-revision'] !== undefined) s.revision = o['model-revision'];
  if (o['sae-release'] !== undefined) s.saeRelease = o['sae-release'];
  if (o.hooks !== undefined) s.hooks = String(o.hooks).split(',').map((h) => h.trim()).filter(Boolean);
  if (o.dataset !== undefined) s.dataset.path = o.dataset;
  if (o.split !== undefined) s.dataset.split = o.split;
  if (o.column !== undefined) s.dataset.column = o.column;
  if (o['dataset-revision'] !== undefined) s.dataset.revision = o['dataset-revision'];
  s.contextSize = positiveInt(o['context-size'], 'context-size', s.contextSize);
  if (o['no-bos']) s.prependBos = false;
  s.batchSize = positiveInt(o['batch-size'], 'batch-size', s.batchSize);
  s.tokens = positiveInt(o.tokens, 'tokens', s.tokens);
  s.checkpointTokens = positiveInt(o['checkpoint-tokens'], 'checkpoint-tokens', s.checkpointTokens, true);
  s.saveEveryTokens = positiveInt(o['save-every'], 'save-every', s.saveEveryTokens, true);
  s.maxPairsInMemory = positiveInt(o['max-pairs'], 'max-pairs', s.maxPairsInMemory);
  if (o['no-relative']) s.relative = false;
  if (o['no-decoder']) s.decoder = false;
  validateCrossLayerSettings(s, 'saelab crosslayer');
  return s;
}

/** Feature activations read from one safetensors file per layer: the collector after both passes, and the decoders. */
async function collectFromFiles(o: Opts): Promise<{ col: CrossLayerCollector; decoders: tf.Tensor2D[] | null; close(): void }> {
  const files = String(o.acts).split(',').map((s) => s.trim()).filter(Boolean);
  const tensor = (o.tensor as string | undefined) ?? 'feature_acts';
  if (files.length < 2) throw new Error(`--acts needs at least two layer files (got ${files.length}): statistics are between adjacent layers`);
  const C = positiveInt(o['checkpoint-tokens'], 'checkpoint-tokens', 65536, true);
  const batch = positiveInt(o['batch-tokens'], 'batch-tokens', 4096);
  const maxPairs = positiveInt(o['max-pairs'], 'max-pairs', 8_000_000);
  const inputs: LayerInput[] = [];
  const close = () => { for (const inp of inputs) inp.close(); };
  try {
    for (const f of files) inputs.push(new LayerInput(f, tensor));
    const { T, d } = inputs[0];
    for (const inp of inputs) {
      if (inp.d !== d) throw new Error(`${inp.file}: '${tensor}' has d_sae ${inp.d}, but ${inputs[0].file} has ${d}; all layers must have the same d_sae`);
      if (inp.T !== T) throw new Error(`${inp.file}: '${tensor}' has ${inp.T} tokens, but ${inputs[0].file} has ${T}; all layers must cover the same tokens`);
    }
    let rows: [number, number] = [0, d];
    if (o.rows !== undefined) {
      const m = /^(\d+):(\d+)$/.exec(String(o.rows));
      if (!m) throw new Error(`--rows must look like R0:R1 (e.g. 0:100), got '${o.rows}'`);
      rows = [Number(m[1]), Number(m[2])];
    }
    const decoderName = o['decoder-tensor'] as string | undefined;
    const decoders: tf.Tensor2D[] | null = decoderName ? [] : null;
    if (decoderName) {
      for (const inp of inputs) {
        const w = inp.f.tensor(decoderName);
        if (w.rank !== 2 || w.shape[0] !== d) { w.dispose(); decoders!.forEach((x) => x.dispose()); throw new Error(`${inp.file}: '${decoderName}' has shape [${w.shape}], expected [d_sae=${d}, d_model]`); }
        decoders!.push(w as tf.Tensor2D);
      }
    }
    const readBatch = (t0: number, t1: number): Float32Array[] => inputs.map((inp) => inp.read(t0, t1));
    const t0 = Date.now();
    let maxActs: Float32Array[] | null = null;
    if (!o['no-relative']) {
      const mp = new MaxActivationCollector(inputs.length, d);
      for (let t = 0; t < T; t += batch) await mp.add(readBatch(t, Math.min(T, t + batch)));
      maxActs = mp.result();
      console.error(`crosslayer: max-activation pass over ${T} tokens in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    }
    const col = new CrossLayerCollector({
      n_layers: inputs.length, d_sae: d, checkpoint_tokens: C, rows, max_pairs_in_memory: maxPairs, spill_dir: o['spill-dir'] as string | undefined, max_activations: maxActs,
    });
    const t1 = Date.now();
    for (let t = 0; t < T; t += batch) {
      await col.add(readBatch(t, Math.min(T, t + batch)));
      if (process.stderr.isTTY) process.stderr.write(`\rcrosslayer: ${Math.min(T, t + batch)}/${T} tokens`);
    }
    const secs = (Date.now() - t1) / 1000;
    console.error(`${process.stderr.isTTY ? '\n' : ''}crosslayer: ${T} tokens x ${inputs.length - 1} layer pairs in ${secs.toFixed(1)} s (${(T / Math.max(secs, 1e-3)).toFixed(0)} tokens/s), peak ${col.peakPairsInMemory} pairs in memory, ${col.spills} spills`);
    if (o['save-state']) await col.save(o['save-state'] as string);
    return { col, decoders, close };
  } catch (e) {
    close();
    throw e;
  }
}

export const command: CliCommand = {
  name: 'crosslayer',
  summary: 'dead features/pairs and all-pairs feature similarity across adjacent layers (seed 000), sparse; from activation files or straight from a model and its SAEs',
  usage,
  async run(argv) {
    const o = parseOptions(argv, OPTIONS, usage) as Opts;
    const out = required(o.out, 'out', usage) as string;
    const modelMode = o.model !== undefined || o.config !== undefined || o['sae-release'] !== undefined;
    if (modelMode) {
      const clash = ACTS_FLAGS.filter((f) => o[f] !== undefined);
      if (clash.length) throw new Error(`--${clash[0]} reads activation files; it cannot be combined with --model/--sae-release/--config (streaming from the model)\n\n${usage}`);
    } else {
      required(o.acts, 'acts', usage);
      const clash = MODEL_FLAGS.filter((f) => o[f] !== undefined);
      if (clash.length) throw new Error(`--${clash[0]} belongs to streaming from a model: give --model, --sae-release and --dataset too (or --config)\n\n${usage}`);
    }
    // numbers first, so a refused argument leaves nothing behind
    for (const f of ['checkpoint-tokens', 'save-every'] as const) positiveInt(o[f], f, 0, true);
    for (const f of ['batch-tokens', 'max-pairs', 'context-size', 'batch-size', 'tokens'] as const) positiveInt(o[f], f, 1);
    if (o['graph-min'] !== undefined) parseNumberArg(o['graph-min'], 'graph-min', { min: 0, exclusiveMin: true, max: 1 });
    claimFolder(out, 'the --out folder');
    for (const f of ['npz', 'save-state'] as const) if (o[f] !== undefined) claimFolder(o[f] as string, `the --${f} folder`);
    await initBackend();
    let summary: CrossLayerSummary;
    let neuronpedia: NeuronpediaSource | null = o['neuronpedia-gpt2-res-jb'] ? NEURONPEDIA_GPT2_SMALL_RES_JB : null;
    if (modelMode) {
      const settings = modelSettings(o);
      if (!neuronpedia && settings.neuronpedia) neuronpedia = { model: settings.neuronpedia.model, sae_id: (L) => settings.neuronpedia!.saeId.replace(/\{layer\}/g, String(L)) };
      const t0 = Date.now();
      const run = await runCrossLayerFromModel(settings, out, { stateDir: o['state-dir'] as string | undefined, keepState: !!o['keep-state'], spillDir: o['spill-dir'] as string | undefined });
      summary = run.summary;
      const secs = (Date.now() - t0) / 1000;
      console.error(`crosslayer: ${summary.tokens} tokens from ${settings.model} (${run.hooks.join(', ')})${run.resumedFrom ? `, resumed at ${run.resumedFrom}` : ''} in ${secs.toFixed(1)} s (pass 1 ${run.seconds.max.toFixed(1)} s, pass 2 ${run.seconds.collect.toFixed(1)} s), peak ${summary.peak_pairs_in_memory} pairs in memory, ${summary.spills} spills`);
    } else {
      const { col, decoders, close } = await collectFromFiles(o);
      try {
        summary = await writeCrossLayerOutputs(out, col, decoders);
      } finally {
        decoders?.forEach((w) => w.dispose());
        col.dispose();
        close();
      }
    }
    if (o['graph-min'] !== undefined) {
      const minW = parseNumberArg(o['graph-min'], 'graph-min', { min: 0, exclusiveMin: true, max: 1 });
      const res = loadCrossLayerOutputs(out);
      writeJsonAtomic(path.join(out, 'pass_through.json'), passThrough(res.pairs.map((p) => p.pearson_correlation), [0.4, 0.5], res.max_activations));
      const graph = featureGraph(res.pairs, { min_weight: minW, top_k: 3 });
      writeJsonAtomic(path.join(out, 'graph.json'), graph);
      writeFeatureGraphHtml(path.join(out, 'graph.html'), graph, { neuronpedia });
      console.error(`crosslayer: graph of ${graph.nodes.length} features, ${graph.edges.length} links, ${graph.communities} communities -> ${path.join(out, 'graph.html')}`);
    }
    if (o.npz) {
      const written = convertToSeedNpz(out, o.npz as string);
      console.error(`crosslayer: wrote ${written.length} .npz files to ${o.npz}`);
    }
    console.log(JSON.stringify({ out, tokens: summary.tokens, steps: summary.steps, peak_pairs_in_memory: summary.peak_pairs_in_memory, nnz: summary.nnz }));
    return 0;
  },
};
