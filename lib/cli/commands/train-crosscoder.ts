import * as fs from 'fs';
import * as path from 'path';
import { CliCommand } from '../types';
import { parseIntegerArg, parseNumberArg, parseOptions, required } from '../args';
import { claimFolder } from '../../io/folders';
import { ArgumentError, ConfigError } from '../../io/errors';
import { initBackend, describeBackend } from '../../backend';
import { SAETrainer, TrainerOptions } from '../../train/trainer';
import { ActivationSource, SafetensorsActivationSource } from '../../train/sources';
import { TrainSAEConfigInput } from '../../train/config';
import { formatProgressLine } from '../../train/progress';
import { ModelActivationSource } from '../../train/model-source';
import { HookedTransformer } from '../../model/hookedTransformer';
import { loadTokenizer } from '../../tokenizers';
import { tokenizeAndConcatenate } from '../../data/concat';
import { textsFromDataset } from '../../data/sources';
import { ConcatenatedSource, CrosscoderActivation, crosscoderArchitecture } from '../../crosscoder/train';

const usage = `usage: saelab train-crosscoder --activations <file.safetensors> --tensors base,finetune --d-sae <n> --steps <n> --batch <tokens> --out <dir>
                               [--architecture relu|batchtopk] [--k <k>] [--l1 <coeff>] [--lr <lr>] [--seed <s>]
                               [--hook-name <name>] [--checkpoints <n>] [--resume <checkpoint dir>]
       saelab train-crosscoder --config <file.json> --out <dir> [--resume <checkpoint dir>]

Trains a crosscoder (one dictionary over several models' activations at the same tokens: one encoder per
model summed into shared latents, one decoder per model) with saelab's SAE trainer, and writes DIR/cfg.json
+ crosscoder_weights.safetensors (W_enc [n, d_in, d_sae], W_dec [d_sae, n, d_in], b_enc [d_sae], b_dec
[n, d_in], batchtopk: threshold [d_sae]) with metrics.jsonl and checkpoints/<tokens>/ beside them.
docs/crosscoders.md explains the method and the model diffing it enables.

  --activations <file>   safetensors file holding every model's activations (same rows); repeat for more files
  --tensors a,b,...      the tensor of each model in those files, in model order (base first); also the model names
  --d-sae <n>            number of latents
  --steps <n>            training steps (training tokens = steps x batch)
  --batch <tokens>       tokens per training batch
  --architecture <name>  relu (L1 weighted by the sum of the latent's decoder norms; default) or batchtopk
  --k <k>                batchtopk: active latents per token on average (default 32)
  --l1 <coeff>           relu: the L1 coefficient (default 1)
  --lr <lr>              learning rate (default 3e-4)
  --seed <s>             seed for initialisation and data order (default 42)
  --hook-name <name>     the hook the activations came from (cfg.json hook_name)
  --checkpoints <n>      n - 1 evenly spaced checkpoints plus the final crosscoder
  --resume <dir>         continue from a checkpoint folder (same activations)
  --config <file.json>   {"training": {camelCase trainer fields: dSae, activation ("relu" | "batchtopk"), k, l1Coefficient, lr,
                          trainingTokens, trainBatchSizeTokens, ...}, "activations": {"files": [...], "tensors": ["base", "finetune"]}}
                         or, streaming both models over the same texts: {"training": {...}, "models": ["gpt2", "pierreguillou/gpt2-small-portuguese"],
                          "hookName": "blocks.8.hook_resid_pre", "dataset": "hub id | folder | file", "contextSize": 128, "prependBos": true,
                          "contextsPerBatch": 8, "tokenizer": "name (default: the first model)", "datasetOptions": {"split": "train", "column": "text"},
                          "modelOptions": {fromPretrained options}}`;

/** The --config file's shape. */
export interface TrainCrosscoderConfigFile {
  training: Partial<TrainSAEConfigInput> & { activation?: CrosscoderActivation };
  activations?: { files: string[]; tensors: string[] };
  /** streaming: the models (names or folders), base first */
  models?: string[];
  modelOptions?: Record<string, unknown>;
  hookName?: string;
  dataset?: string;
  datasetOptions?: Record<string, unknown>;
  tokenizer?: string;
  contextSize?: number;
  prependBos?: boolean;
  contextsPerBatch?: number;
}

const int = (v: string | undefined, flag: string, min: number): number | undefined => (v === undefined ? undefined : parseIntegerArg(v, flag, { min }));
const positive = (v: string | undefined, flag: string, min = 0, exclusiveMin = true): number | undefined => (v === undefined ? undefined : parseNumberArg(v, flag, { min, exclusiveMin }));

/** Cached activations: one source per tensor, side by side. */
function cachedSource(files: string[], tensors: string[]): ActivationSource {
  if (tensors.length < 1 || tensors.some((t) => !t)) throw new Error(`--tensors must name each model's tensor, comma-separated (e.g. base,finetune), got '${tensors.join(',')}'`);
  return new ConcatenatedSource(tensors.map((t) => new SafetensorsActivationSource(files, t, { chunkTokens: 8192 })), tensors);
}

/** Streaming: each model run over the same token contexts at the same hook. */
async function streamingSource(c: TrainCrosscoderConfigFile, file: string): Promise<{ source: ActivationSource; metadata: Record<string, unknown> }> {
  const where = `--config ${file}`;
  if (!Array.isArray(c.models) || c.models.length < 2 || c.models.some((m) => typeof m !== 'string')) throw new Error(`${where}: give "activations" (cached files) or "models": [base, finetune, ...] (at least two names or folders) to stream`);
  if (!c.hookName) throw new Error(`${where}: "hookName" is required with "models" (e.g. "blocks.8.hook_resid_pre")`);
  if (!c.dataset) throw new Error(`${where}: streaming needs "dataset" (texts)`);
  if (!c.contextSize) throw new Error(`${where}: "contextSize" is required with "dataset"`);
  const local = (p: string): string => (fs.existsSync(path.resolve(path.dirname(file), p)) ? path.resolve(path.dirname(file), p) : p);
  const tok = await loadTokenizer(c.tokenizer ? local(c.tokenizer) : local(c.models[0]));
  const ds = local(c.dataset);
  const size = c.contextSize;
  const factory = () => tokenizeAndConcatenate(textsFromDataset(ds, (c.datasetOptions ?? {}) as object), tok, { contextSize: size, prependBos: c.prependBos ?? true });
  const sources: ActivationSource[] = [];
  for (const m of c.models) {
    const model = await HookedTransformer.fromPretrained(local(m), (c.modelOptions ?? {}) as object);
    sources.push(await ModelActivationSource.create(model, factory, { hookName: c.hookName, contextsPerBatch: c.contextsPerBatch }));
  }
  return {
    source: new ConcatenatedSource(sources, c.models),
    metadata: { model_names: c.models, hook_name: c.hookName, context_size: size, prepend_bos: c.prependBos ?? true, dataset_path: c.dataset },
  };
}

export const command: CliCommand = {
  name: 'train-crosscoder',
  summary: 'train a crosscoder (relu or batchtopk) over several models\' activations at one hook; writes cfg.json + crosscoder_weights.safetensors',
  usage,
  async run(argv: string[]): Promise<number> {
    const o = parseOptions(argv, {
      activations: { type: 'string', multiple: true },
      tensors: { type: 'string' },
      'd-sae': { type: 'string' },
      steps: { type: 'string' },
      batch: { type: 'string' },
      out: { type: 'string' },
      architecture: { type: 'string' },
      l1: { type: 'string' },
      k: { type: 'string' },
      lr: { type: 'string' },
      seed: { type: 'string' },
      'hook-name': { type: 'string' },
      checkpoints: { type: 'string' },
      resume: { type: 'string' },
      config: { type: 'string' },
      quiet: { type: 'boolean' },
    }, usage);
    const out = required(o.out as string | undefined, 'out', usage);
    let source: ActivationSource | undefined;
    let training: Partial<TrainSAEConfigInput>;
    let nModels: number;
    if (o.config) {
      const file = o.config as string;
      if (!fs.existsSync(file)) throw new ConfigError(`--config ${file}: no such file`);
      let parsed: TrainCrosscoderConfigFile;
      try {
        parsed = JSON.parse(fs.readFileSync(file, 'utf8'));
      } catch (e) {
        throw new ConfigError(`--config ${file}: not valid JSON (${(e as Error).message})`);
      }
      if (!parsed.training || typeof parsed.training !== 'object') throw new Error(`--config ${file}: needs a "training" object of trainer fields (dSae, activation, k, trainingTokens, ...)`);
      const { activation, ...rest } = parsed.training;
      training = { ...rest, architecture: crosscoderArchitecture(activation ?? 'relu') };
      if (parsed.activations) {
        const { files, tensors } = parsed.activations;
        if (!Array.isArray(files) || !Array.isArray(tensors)) throw new Error(`--config ${file}: "activations" needs "files" and "tensors" arrays`);
        source = cachedSource(files.map((f) => path.resolve(path.dirname(file), f)), tensors);
        nModels = tensors.length;
        training.metadata = { model_names: tensors, ...(training.metadata ?? {}) };
      } else {
        claimFolder(out, 'the --out folder');
        await initBackend();
        const s = await streamingSource(parsed, file);
        source = s.source;
        nModels = parsed.models!.length;
        training.metadata = { ...s.metadata, ...(training.metadata ?? {}) };
      }
    } else {
      const files = required(o.activations as string[] | undefined, 'activations', usage);
      const tensors = required(o.tensors as string | undefined, 'tensors', usage).split(',').map((t) => t.trim());
      const steps = parseIntegerArg(required(o.steps as string | undefined, 'steps', usage), 'steps', { min: 1 });
      const batch = parseIntegerArg(required(o.batch as string | undefined, 'batch', usage), 'batch', { min: 1 });
      const activation = (o.architecture as string | undefined) ?? 'relu';
      if (activation !== 'relu' && activation !== 'batchtopk') throw new ArgumentError(`--architecture must be relu or batchtopk, got '${activation}'\n\n${usage}`);
      source = cachedSource(files, tensors);
      nModels = tensors.length;
      training = {
        architecture: crosscoderArchitecture(activation),
        dSae: parseIntegerArg(required(o['d-sae'] as string | undefined, 'd-sae', usage), 'd-sae', { min: 1 }),
        trainingTokens: steps * batch,
        trainBatchSizeTokens: batch,
        k: positive(o.k as string | undefined, 'k'),
        l1Coefficient: positive(o.l1 as string | undefined, 'l1', 0, false),
        lr: positive(o.lr as string | undefined, 'lr'),
        seed: int(o.seed as string | undefined, 'seed', 0),
        nCheckpoints: int(o.checkpoints as string | undefined, 'checkpoints', 0),
        metadata: { model_names: tensors, ...(o['hook-name'] ? { hook_name: o['hook-name'] as string } : {}) },
      };
      if (activation === 'relu' && training.k !== undefined) throw new ArgumentError('--k is for --architecture batchtopk');
      if (activation === 'batchtopk' && training.l1Coefficient !== undefined) throw new ArgumentError('--l1 is for --architecture relu (batchtopk is sparse by construction)');
      for (const k of Object.keys(training) as Array<keyof TrainSAEConfigInput>) if (training[k] === undefined) delete training[k];
    }
    claimFolder(out, 'the --out folder');
    const info = await initBackend();
    if (!o.quiet) console.error(describeBackend(info));
    const opts: TrainerOptions = { outDir: out, progress: o.quiet ? 'none' : 'auto' };
    if (!o.quiet && !process.stderr.isTTY) {
      let last = 0;
      opts.onProgress = (p) => {
        const now = Date.now();
        if (now - last > 5000 || p.step === p.totalSteps) {
          console.error(formatProgressLine(p));
          last = now;
        }
      };
    }
    const trainer = o.resume
      ? await SAETrainer.resume(o.resume as string, source, opts)
      : await SAETrainer.create({ nModels, ...training, dIn: training.dIn ?? source.dIn, trainingTokens: training.trainingTokens! } as TrainSAEConfigInput, source, opts);
    if (!trainer.arch.save) {
      trainer.dispose();
      throw new Error(`${o.resume}: the checkpoint is of a ${trainer.cfg.architecture} SAE, not a crosscoder; resume it with saelab train-sae`);
    }
    const result = await trainer.fit();
    trainer.dispose();
    const m = result.metrics;
    console.log(`trained ${trainer.cfg.architecture} over ${trainer.cfg.nModels} models (d_in ${trainer.cfg.dIn / (trainer.cfg.nModels as number)} each) x d_sae ${trainer.cfg.dSae}: ${result.steps} steps, ${result.tokens} tokens` +
      (m ? `; MSE ${m.mse_loss.toPrecision(4)}, L0 ${m.l0.toFixed(2)}, explained variance ${m.explained_variance.toFixed(4)}, dead ${m.dead_features}` : '') +
      `\nwrote ${result.saeDir}`);
    return 0;
  },
};
