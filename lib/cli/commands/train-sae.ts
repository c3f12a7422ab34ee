import * as fs from 'fs';
import * as path from 'path';
import { CliCommand } from '../types';
import { parseIntegerArg, parseNumberArg, parseOptions, required } from '../args';
import { ArgumentError, ConfigError, describeValue } from '../../io/errors';
import { claimFolder } from '../../io/folders';
import { initBackend, describeBackend } from '../../backend';
import { SAETrainer, TrainerOptions } from '../../train/trainer';
import { ActivationSource, PairedActivationSource, SafetensorsActivationSource } from '../../train/sources';
import { TRAINING_DEFAULTS, TrainSAEConfigInput, TrainingDefaults, resolveTrainConfig } from '../../train/config';
import { DEFAULT_ARCHITECTURE, listArchitectures, trainingArchitecture } from '../../sae/architectures';
import { formatProgressLine } from '../../train/progress';
import { ModelActivationSource } from '../../train/model-source';
import { HookedTransformer } from '../../model/hookedTransformer';
import { loadTokenizer } from '../../tokenizers';
import { tokenizeAndConcatenate } from '../../data/concat';
import { textsFromDataset } from '../../data/sources';

const usage = `usage: saelab train-sae --activations <file.safetensors> --tensor <name> --d-sae <n> --steps <n> --batch <tokens> --out <dir>
                        [--architecture <name>] [--l1 <coeff>] [--k <k>] [--matryoshka-widths a,b,c] [--lr <lr>] [--seed <s>]
                        [--defaults saelens6|saelens5] [--hook-name <name>] [--checkpoints <n>] [--resume <checkpoint dir>]
                        [--target-tensor <name> [--target-activations <file>] [--hook-name-out <name>]]   (transcoders)
       saelab train-sae --config <file.json> --out <dir> [--resume <checkpoint dir>]

Trains a sparse autoencoder (or a transcoder) with SAELens 6.18's training method and defaults on cached
activations and writes the trained SAE folder (cfg.json, sae_weights.safetensors, sparsity.safetensors)
to --out, with metrics.jsonl and checkpoints/<tokens>/ beside it. docs/sae-architectures.md lists the
architectures and their defaults.

  --activations <file>   safetensors file of activations [n, d_in] or [batch, pos, d_in]; repeat for more files
  --tensor <name>        tensor name inside the files
  --d-sae <n>            number of features
  --steps <n>            training steps (training tokens = steps x batch)
  --batch <tokens>       tokens per training batch
  --architecture <name>  ${listArchitectures('training').join(', ')} (default ${DEFAULT_ARCHITECTURE});
                         batchtopk and matryoshka_batchtopk are saved as jumprelu SAEs with the learned threshold
  --l1 <coeff>           the sparsity coefficient (L1; jumprelu: L0)
  --k <k>                active features per token (topk family; batchtopk: on average, may be fractional; default 100)
  --matryoshka-widths    matryoshka_batchtopk: nested feature widths, strictly increasing (d_sae is the last level)
  --lr <lr>              learning rate (default 3e-4)
  --seed <s>             seed for initialisation and data order (default 42)
  --defaults <preset>    ${TRAINING_DEFAULTS.join(' or ')}: SAELens 6.18's training defaults (default) or SAELens 5's
                         (unit-norm decoder every step, geometric-median b_dec, no decoder-norm rescaling, ...)
  --hook-name <name>     hook the activations came from (written to cfg.json metadata.hook_name)
  --target-tensor <name> transcoders: the output hook's activations (same rows as --tensor), the prediction target
  --target-activations   transcoders: files holding --target-tensor (default: the --activations files); repeatable
  --hook-name-out <name> transcoders: the hook --target-tensor came from (cfg.json metadata.hook_name_out)
  --checkpoints <n>      SAELens n_checkpoints: n - 1 evenly spaced checkpoints plus the final SAE
  --resume <dir>         continue from a checkpoint folder (same activations)
  --config <file.json>   {"training": {camelCase SAELens runner and SAE fields: dIn, dSae, architecture, defaults, l1Coefficient,
                          k, matryoshkaWidths, lr, trainingTokens, trainBatchSizeTokens, ...},
                          "activations": {"files": [...], "tensor": "name", "targetTensor": "name", "targetFiles": [...]}}
                         or, streaming from a model: {"training": {...}, "model": "gpt2 | folder", "hookName": "blocks.0.hook_resid_post",
                          "hookNameOut": "blocks.0.hook_mlp_out (transcoders)",
                          "dataset": "hub id | folder | file", "contextSize": 128, "prependBos": true, "contextsPerBatch": 8,
                          "tokenizer": "name (default: the model)", "datasetOptions": {"split": "train", "column": "text"},
                          "modelOptions": {fromPretrained options}}  or "contexts": [[token ids], ...] instead of "dataset"`;

/** The --config file's shape. */
export interface TrainSAEConfigFile {
  training: Partial<TrainSAEConfigInput>;
  /** cached activations; transcoders add the output hook's tensor (targetTensor, in targetFiles or the same files) */
  activations?: { files: string[]; tensor: string; targetTensor?: string; targetFiles?: string[] };
  /** streaming: model name or folder (HookedTransformer.fromPretrained) */
  model?: string;
  modelOptions?: Record<string, unknown>;
  hookName?: string;
  /** transcoders: the hook they predict, read in the same forward pass */
  hookNameOut?: string;
  /** dataset of texts (hub id, folder or file) tokenized into contexts */
  dataset?: string;
  datasetOptions?: Record<string, unknown>;
  tokenizer?: string;
  contextSize?: number;
  prependBos?: boolean;
  contextsPerBatch?: number;
  /** pre-tokenized contexts (repeated when used up), instead of a dataset */
  contexts?: number[][];
}

/** The streaming source of a --config file: model + (dataset | contexts) + hook. */
async function streamingSource(c: TrainSAEConfigFile, file: string): Promise<{ source: ActivationSource; metadata: Record<string, unknown> }> {
  const where = `--config ${file}`;
  if (!c.model) throw new Error(`${where}: give either "activations" (cached files) or "model" + "hookName" + ("dataset" or "contexts") to stream`);
  if (!c.hookName) throw new Error(`${where}: "hookName" is required with "model" (e.g. "blocks.0.hook_resid_post")`);
  const modelPath = fs.existsSync(path.resolve(path.dirname(file), c.model)) ? path.resolve(path.dirname(file), c.model) : c.model;
  const model = await HookedTransformer.fromPretrained(modelPath, (c.modelOptions ?? {}) as object);
  let factory: () => AsyncIterable<Int32Array> | Iterable<Int32Array>;
  let contextSize = c.contextSize;
  if (c.contexts) {
    if (!Array.isArray(c.contexts) || !c.contexts.length) throw new Error(`${where}: "contexts" must be a non-empty array of token id arrays`);
    const ctxs = c.contexts.map((x) => Int32Array.from(x));
    contextSize = ctxs[0].length;
    factory = () => ctxs;
  } else if (c.dataset) {
    if (!contextSize) throw new Error(`${where}: "contextSize" is required with "dataset"`);
    const tok = await loadTokenizer(c.tokenizer ?? modelPath);
    const ds = fs.existsSync(path.resolve(path.dirname(file), c.dataset)) ? path.resolve(path.dirname(file), c.dataset) : c.dataset;
    const size = contextSize;
    factory = () => tokenizeAndConcatenate(textsFromDataset(ds, (c.datasetOptions ?? {}) as object), tok, { contextSize: size, prependBos: c.prependBos ?? true });
  } else {
    throw new Error(`${where}: streaming needs "dataset" (texts) or "contexts" (token ids)`);
  }
  const source = await ModelActivationSource.create(model, factory, { hookName: c.hookName, hookNameOut: c.hookNameOut, contextsPerBatch: c.contextsPerBatch });
  return {
    source,
    metadata: {
      model_name: c.model, hook_name: c.hookName, ...(c.hookNameOut ? { hook_name_out: c.hookNameOut } : {}),
      context_size: contextSize, prepend_bos: c.prependBos ?? true, dataset_path: c.dataset ?? '',
    },
  };
}

/** The fields of a --config file and their JSON types. */
const CONFIG_FILE_FIELDS: Record<string, 'object' | 'string' | 'number' | 'boolean' | 'array'> = {
  training: 'object', activations: 'object', model: 'string', modelOptions: 'object', hookName: 'string', hookNameOut: 'string', dataset: 'string', datasetOptions: 'object',
  tokenizer: 'string', contextSize: 'number', prependBos: 'boolean', contextsPerBatch: 'number', contexts: 'array',
};

/**
 * Read and check a train-sae --config file: known fields of the right types, a complete training config
 * (validated as the trainer will, with the activations' width standing in when dIn is not given), and
 * either cached activation files or a streaming source. Errors (ConfigError) name the file and the field.
 */
export function readTrainSAEConfigFile(file: string): TrainSAEConfigFile {
  const where = `--config ${file}`;
  const fail = (msg: string): never => { throw new ConfigError(`${where}: ${msg}`); };
  if (!fs.existsSync(file)) fail('no such file');
  if (fs.statSync(file).isDirectory()) fail('is a folder; pass a .json file');
  let parsed: unknown;
  try {
    parsed = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    fail(`not valid JSON (${(e as Error).message})`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) fail('must be a JSON object with a "training" object');
  const c = parsed as Record<string, unknown>;
  const kind = (v: unknown) => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v);
  for (const [key, v] of Object.entries(c)) {
    if (!Object.prototype.hasOwnProperty.call(CONFIG_FILE_FIELDS, key)) fail(`unknown field '${key}' (fields: ${Object.keys(CONFIG_FILE_FIELDS).join(', ')})`);
    if (kind(v) !== CONFIG_FILE_FIELDS[key]) fail(`"${key}" must be ${CONFIG_FILE_FIELDS[key] === 'array' || CONFIG_FILE_FIELDS[key] === 'object' ? 'an' : 'a'} ${CONFIG_FILE_FIELDS[key]}, got ${describeValue(v)}`);
  }
  if (!c.training) fail('needs a "training" object of trainer fields (dSae, l1Coefficient, trainingTokens, ...)');
  for (const k of ['contextSize', 'contextsPerBatch'] as const) {
    if (c[k] !== undefined && !(Number.isSafeInteger(c[k]) && (c[k] as number) > 0)) fail(`"${k}" must be a positive integer, got ${c[k]}`);
  }
  if (c.activations) {
    const a = c.activations as Record<string, unknown>;
    const fields = ['files', 'tensor', 'targetTensor', 'targetFiles'];
    for (const key of Object.keys(a)) if (!fields.includes(key)) fail(`unknown field 'activations.${key}' (fields: ${fields.join(', ')})`);
    if (!Array.isArray(a.files) || !a.files.length || !a.files.every((f) => typeof f === 'string' && f)) fail(`"activations.files" must be a non-empty array of file names, got ${describeValue(a.files)}`);
    if (typeof a.tensor !== 'string' || !a.tensor) fail(`"activations.tensor" must be the activations' tensor name, got ${describeValue(a.tensor)}`);
    if (a.targetTensor !== undefined && (typeof a.targetTensor !== 'string' || !a.targetTensor)) fail(`"activations.targetTensor" must be the output hook's tensor name, got ${describeValue(a.targetTensor)}`);
    if (a.targetFiles !== undefined) {
      if (!Array.isArray(a.targetFiles) || !a.targetFiles.length || !a.targetFiles.every((f) => typeof f === 'string' && f)) fail(`"activations.targetFiles" must be a non-empty array of file names, got ${describeValue(a.targetFiles)}`);
      if (a.targetTensor === undefined) fail('"activations.targetFiles" needs "activations.targetTensor" (the output hook\'s tensor name)');
    }
  } else {
    if (!c.model) fail('give either "activations" (cached files) or "model" + "hookName" + ("dataset" or "contexts") to stream');
    if (!c.hookName) fail('"hookName" is required with "model" (e.g. "blocks.0.hook_resid_post")');
    if (c.contexts !== undefined) {
      const xs = c.contexts as unknown[];
      if (!xs.length || !xs.every((x) => Array.isArray(x) && x.length > 0 && x.every((t) => Number.isSafeInteger(t) && (t as number) >= 0))) fail('"contexts" must be a non-empty array of non-empty token id arrays');
    } else if (!c.dataset) fail('streaming needs "dataset" (texts) or "contexts" (token ids)');
    else if (!c.contextSize) fail('"contextSize" is required with "dataset"');
  }
  const training = c.training as Partial<TrainSAEConfigInput>;
  try {
    // the activations' width is known only once they are opened: a stand-in width checks everything else now
    resolveTrainConfig({ ...training, dIn: training.dIn ?? 1 << 16 } as TrainSAEConfigInput);
  } catch (e) {
    if (e instanceof ConfigError) fail(`"training": ${e.message.replace(/^train config: /, '')}`);
    throw e;
  }
  return c as unknown as TrainSAEConfigFile;
}

/** An optional whole-number flag (decimal digits, at least `min`). */
function int(v: string | undefined, flag: string, min: number): number | undefined {
  return v === undefined ? undefined : parseIntegerArg(v, flag, { min });
}

export const command: CliCommand = {
  name: 'train-sae',
  summary: 'train an SAE or transcoder (SAELens 6.18 method and defaults) on cached or streamed activations; writes a SAELens SAE folder',
  usage,
  async run(argv: string[]): Promise<number> {
    const o = parseOptions(argv, {
      activations: { type: 'string', multiple: true },
      tensor: { type: 'string' },
      'd-sae': { type: 'string' },
      steps: { type: 'string' },
      batch: { type: 'string' },
      out: { type: 'string' },
      architecture: { type: 'string' },
      l1: { type: 'string' },
      k: { type: 'string' },
      'matryoshka-widths': { type: 'string' },
      defaults: { type: 'string' },
      lr: { type: 'string' },
      seed: { type: 'string' },
      'hook-name': { type: 'string' },
      'hook-name-out': { type: 'string' },
      'target-tensor': { type: 'string' },
      'target-activations': { type: 'string', multiple: true },
      checkpoints: { type: 'string' },
      resume: { type: 'string' },
      config: { type: 'string' },
      quiet: { type: 'boolean' },
    }, usage);
    const out = required(o.out as string | undefined, 'out', usage);
    let source: ActivationSource | undefined;
    let files: string[] = [];
    let tensor = '';
    let targetFiles: string[] = [];
    let targetTensor: string | undefined;
    let training: Partial<TrainSAEConfigInput>;
    if (o.config) {
      const file = o.config as string;
      const parsed = readTrainSAEConfigFile(file);
      training = parsed.training;
      if (parsed.activations) {
        files = parsed.activations.files.map((f) => path.resolve(path.dirname(file), f));
        tensor = parsed.activations.tensor;
        targetTensor = parsed.activations.targetTensor;
        targetFiles = (parsed.activations.targetFiles ?? []).map((f) => path.resolve(path.dirname(file), f));
      } else {
        claimFolder(out, 'the --out folder');
        await initBackend();
        const s = await streamingSource(parsed, file);
        source = s.source;
        training = { ...training, metadata: { ...s.metadata, ...(training.metadata ?? {}) } };
      }
    } else {
      files = required(o.activations as string[] | undefined, 'activations', usage);
      tensor = required(o.tensor as string | undefined, 'tensor', usage);
      const steps = parseIntegerArg(required(o.steps as string | undefined, 'steps', usage), 'steps', { min: 1 });
      const batch = parseIntegerArg(required(o.batch as string | undefined, 'batch', usage), 'batch', { min: 1 });
      const arch = (o.architecture as string | undefined) ?? DEFAULT_ARCHITECTURE;
      const l1 = o.l1 === undefined ? undefined : parseNumberArg(o.l1 as string, 'l1', { min: 0 });
      const widths = o['matryoshka-widths'] as string | undefined;
      const matryoshkaWidths = widths === undefined ? undefined : widths.split(',').map((w) => parseIntegerArg(w.trim(), 'matryoshka-widths', { min: 1 }));
      const defaults = o.defaults as string | undefined;
      if (defaults !== undefined && !TRAINING_DEFAULTS.includes(defaults as TrainingDefaults)) throw new ArgumentError(`--defaults must be ${TRAINING_DEFAULTS.join(' or ')}, got '${defaults}'`);
      targetTensor = o['target-tensor'] as string | undefined;
      targetFiles = (o['target-activations'] as string[] | undefined) ?? [];
      const metadata: Record<string, unknown> = {};
      if (o['hook-name']) metadata.hook_name = o['hook-name'];
      if (o['hook-name-out']) metadata.hook_name_out = o['hook-name-out'];
      training = {
        architecture: arch as TrainSAEConfigInput['architecture'],
        defaults: defaults as TrainingDefaults | undefined,
        matryoshkaWidths,
        dSae: parseIntegerArg(required(o['d-sae'] as string | undefined, 'd-sae', usage), 'd-sae', { min: 1 }),
        trainingTokens: steps * batch,
        trainBatchSizeTokens: batch,
        // batchtopk's k is an average over the batch and may be fractional; the config check enforces whole k where needed
        k: o.k === undefined ? undefined : parseNumberArg(o.k as string, 'k', { min: 0, exclusiveMin: true }),
        lr: o.lr === undefined ? undefined : parseNumberArg(o.lr as string, 'lr', { min: 0, exclusiveMin: true }),
        seed: int(o.seed as string | undefined, 'seed', 0),
        nCheckpoints: int(o.checkpoints as string | undefined, 'checkpoints', 0),
        metadata,
      };
      if (l1 !== undefined) {
        // the architecture's sparsity coefficient (L1; jumprelu: L0)
        const coefficient = Object.values(trainingArchitecture(arch).coefficients)[0];
        if (!coefficient) throw new Error(`--l1: architecture ${arch} has no sparsity coefficient (it is sparse by construction)`);
        (training as Record<string, unknown>)[coefficient.value] = l1;
      }
      for (const k of Object.keys(training) as Array<keyof TrainSAEConfigInput>) if (training[k] === undefined) delete training[k];
    }
    claimFolder(out, 'the --out folder');
    const info = await initBackend();
    if (!o.quiet) console.error(describeBackend(info));
    if (!source) {
      source = new SafetensorsActivationSource(files, tensor);
      if (targetTensor) source = new PairedActivationSource(source, new SafetensorsActivationSource(targetFiles.length ? targetFiles : files, targetTensor));
      else if (targetFiles.length) throw new Error('--target-activations needs --target-tensor (the output hook\'s tensor name)');
    }
    const arch = trainingArchitecture((o.resume ? undefined : training.architecture) ?? DEFAULT_ARCHITECTURE);
    if (!o.resume && arch.target === 'output' && source.dOut === undefined) {
      throw new Error(`${training.architecture} is a transcoder: give the output hook's activations too (--target-tensor, or "targetTensor" / "hookNameOut" in --config)`);
    }
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
      : await SAETrainer.create({ ...training, dIn: training.dIn ?? source.dIn, trainingTokens: training.trainingTokens! } as TrainSAEConfigInput, source, opts);
    const result = await trainer.fit();
    trainer.dispose();
    const m = result.metrics;
    console.log(`trained ${trainer.cfg.architecture} SAE d_in ${trainer.cfg.dIn} x d_sae ${trainer.cfg.dSae}${trainer.cfg.dOut !== undefined ? ` -> d_out ${trainer.cfg.dOut}` : ''}: ${result.steps} steps, ${result.tokens} tokens` +
      (m ? `; MSE ${m.mse_loss.toPrecision(4)}, L0 ${m.l0.toFixed(2)}, explained variance ${m.explained_variance.toFixed(4)}, dead ${m.dead_features}` : '') +
      `\nwrote ${result.saeDir}`);
    return 0;
  },
};
