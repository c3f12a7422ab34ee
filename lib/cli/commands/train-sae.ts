import * as fs from 'fs';
import * as path from 'path';
import { CliCommand } from '../types';
import { parseOptions, required } from '../args';
import { initBackend, describeBackend } from '../../backend';
import { SAETrainer, TrainerOptions } from '../../train/trainer';
import { SafetensorsActivationSource } from '../../train/sources';
import { TrainSAEConfigInput } from '../../train/config';
import { formatProgressLine } from '../../train/progress';

const usage = `usage: saelab train-sae --activations <file.safetensors> --tensor <name> --d-sae <n> --steps <n> --batch <tokens> --out <dir>
                        [--architecture standard|topk|jumprelu] [--l1 <coeff>] [--k <k>] [--lr <lr>] [--seed <s>]
                        [--hook-name <name>] [--checkpoints <n>] [--resume <checkpoint dir>]
       saelab train-sae --config <file.json> --out <dir> [--resume <checkpoint dir>]

Trains a sparse autoencoder with SAELens's training method on cached activations and writes the
trained SAE folder (cfg.json, sae_weights.safetensors, sparsity.safetensors) to --out, with
metrics.jsonl and checkpoints/<tokens>/ beside it.

  --activations <file>   safetensors file of activations [n, d_in] or [batch, pos, d_in]; repeat for more files
  --tensor <name>        tensor name inside the files
  --d-sae <n>            number of features
  --steps <n>            training steps (training tokens = steps x batch)
  --batch <tokens>       tokens per training batch
  --architecture         standard (default), topk or jumprelu
  --l1 <coeff>           L1 coefficient (standard; jumprelu: L0 coefficient)
  --k <k>                active features per token (topk)
  --lr <lr>              learning rate (default 3e-4)
  --seed <s>             seed for initialisation and data order (default 42)
  --hook-name <name>     hook the activations came from (written to cfg.json metadata.hook_name)
  --checkpoints <n>      SAELens n_checkpoints: n - 1 evenly spaced checkpoints plus the final SAE
  --resume <dir>         continue from a checkpoint folder (same activations)
  --config <file.json>   {"training": {camelCase SAELens runner fields: dIn, dSae, l1Coefficient, lr, trainingTokens,
                          trainBatchSizeTokens, architecture, k, useGhostGrads, ...},
                          "activations": {"files": [...], "tensor": "name"}}`;

/** The --config file's shape. */
export interface TrainSAEConfigFile {
  training: Partial<TrainSAEConfigInput>;
  activations?: { files: string[]; tensor: string };
  model?: unknown;
  dataset?: unknown;
}

function num(v: string | undefined, flag: string): number | undefined {
  if (v === undefined) return undefined;
  const x = Number(v);
  if (!Number.isFinite(x)) throw new Error(`--${flag} must be a number, got '${v}'\n\n${usage}`);
  return x;
}

export const command: CliCommand = {
  name: 'train-sae',
  summary: 'train an SAE (SAELens method) on cached activations; writes a SAELens SAE folder',
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
      lr: { type: 'string' },
      seed: { type: 'string' },
      'hook-name': { type: 'string' },
      checkpoints: { type: 'string' },
      resume: { type: 'string' },
      config: { type: 'string' },
      quiet: { type: 'boolean' },
    }, usage);
    const out = required(o.out as string | undefined, 'out', usage);
    let files: string[];
    let tensor: string;
    let training: Partial<TrainSAEConfigInput>;
    if (o.config) {
      const file = o.config as string;
      if (!fs.existsSync(file)) throw new Error(`--config ${file}: no such file`);
      let parsed: TrainSAEConfigFile;
      try {
        parsed = JSON.parse(fs.readFileSync(file, 'utf8'));
      } catch (e) {
        throw new Error(`--config ${file}: not valid JSON (${(e as Error).message})`);
      }
      if (!parsed.training || typeof parsed.training !== 'object') throw new Error(`--config ${file}: needs a "training" object of trainer fields (dSae, l1Coefficient, trainingTokens, ...)`);
      if (!parsed.activations) {
        throw new Error(`--config ${file}: streaming from "model" + "dataset" is not available in this build; give "activations": {"files": [...], "tensor": "..."} (cache activations first)`);
      }
      files = parsed.activations.files.map((f) => path.resolve(path.dirname(file), f));
      tensor = parsed.activations.tensor;
      training = parsed.training;
    } else {
      files = required(o.activations as string[] | undefined, 'activations', usage);
      tensor = required(o.tensor as string | undefined, 'tensor', usage);
      const steps = num(required(o.steps as string | undefined, 'steps', usage), 'steps')!;
      const batch = num(required(o.batch as string | undefined, 'batch', usage), 'batch')!;
      const arch = (o.architecture as string | undefined) ?? 'standard';
      const l1 = num(o.l1 as string | undefined, 'l1');
      training = {
        architecture: arch as TrainSAEConfigInput['architecture'],
        dSae: num(required(o['d-sae'] as string | undefined, 'd-sae', usage), 'd-sae'),
        trainingTokens: steps * batch,
        trainBatchSizeTokens: batch,
        k: num(o.k as string | undefined, 'k'),
        lr: num(o.lr as string | undefined, 'lr'),
        seed: num(o.seed as string | undefined, 'seed'),
        nCheckpoints: num(o.checkpoints as string | undefined, 'checkpoints'),
        metadata: o['hook-name'] ? { hook_name: o['hook-name'] as string } : {},
      };
      if (l1 !== undefined) {
        if (arch === 'jumprelu') training.l0Coefficient = l1;
        else training.l1Coefficient = l1;
      }
      for (const k of Object.keys(training) as Array<keyof TrainSAEConfigInput>) if (training[k] === undefined) delete training[k];
    }
    const info = await initBackend();
    if (!o.quiet) console.error(describeBackend(info));
    const source = new SafetensorsActivationSource(files, tensor);
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
    console.log(`trained ${trainer.cfg.architecture} SAE d_in ${trainer.cfg.dIn} x d_sae ${trainer.cfg.dSae}: ${result.steps} steps, ${result.tokens} tokens` +
      (m ? `; MSE ${m.mse_loss.toPrecision(4)}, L0 ${m.l0.toFixed(2)}, explained variance ${m.explained_variance.toFixed(4)}, dead ${m.dead_features}` : '') +
      `\nwrote ${result.saeDir}`);
    return 0;
  },
};
