/**
 * A sweep: one SAE per model training checkpoint, same hook, same training config and the same data order
 * for every checkpoint. Each checkpoint is an independent, resumable job in its own folder:
 *
 *   <sweepDir>/<label>/train/      metrics.jsonl, checkpoints/<tokens>/ (exact resume)
 *   <sweepDir>/<label>/sae/        the trained SAE (SAELens folder)
 *   <sweepDir>/<label>/trained.json  written once training finished
 *   <sweepDir>/<label>/eval_feature_acts.safetensors  feature activations on the held-out tokens (shared by all checkpoints)
 *   <sweepDir>/<label>/summary.json  written last: L0, explained variance, CE loss score, dead share
 *
 * A job whose summary.json exists (same job hash) is never recomputed; a job with trained.json only
 * re-evaluates; otherwise training resumes from the latest trainer checkpoint.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { SAE } from '../sae/sae';
import { SAETrainer, TrainerOptions } from '../train/trainer';
import { TrainSAEConfigInput } from '../train/config';
import { ActivationSource } from '../train/sources';
import { L0Accumulator, FeatureDensityAccumulator, ReconstructionAccumulator, CeSummary } from '../analysis/saeMetrics';
import { writeJsonAtomic } from '../io/atomic';
import { SafetensorsStreamWriter } from '../io/safetensorsStream';
import { configHash } from '../config/hash';
import { validatePathName } from '../io/folders';

/** One model checkpoint: a label (folder name), its training step and its hub revision. */
export interface SweepCheckpoint {
  label: string;
  step: number;
  revision?: string;
}

export interface SweepSpec {
  /** hook the SAEs read (cfg.json metadata.hook_name) */
  hook: string;
  checkpoints: SweepCheckpoint[];
  /** trainer config shared by every checkpoint (dIn comes from the activations; nCheckpoints defaults to 4 for resumability) */
  training: Omit<TrainSAEConfigInput, 'dIn'>;
  /** what else identifies the data (model, dataset, token sample seed, ...): part of every job's hash */
  data?: Record<string, unknown>;
}

/** What a job needs for one checkpoint: training activations and held-out activations (and optionally CE). */
export interface CheckpointData {
  /** training activations, in the same order for every checkpoint */
  train: ActivationSource;
  /** held-out activations [n, d_in] (row-major) for L0, explained variance and dead share */
  eval: Float32Array;
  /** clean / spliced / zero-ablated CE with the SAE spliced in (for the CE loss score) */
  ce?: (sae: SAE) => Promise<CeSummary> | CeSummary;
  /** release what the provider holds (a model, buffers) */
  dispose?: () => void;
}

export type CheckpointDataProvider = (c: SweepCheckpoint, spec: SweepSpec) => Promise<CheckpointData>;

/** One checkpoint's summary (summary.json). */
export interface SweepJobSummary {
  label: string;
  step: number;
  revision: string | null;
  hook: string;
  job_hash: string;
  d_in: number;
  d_sae: number;
  training_tokens: number;
  l0: number;
  explained_variance: number;
  dead_fraction: number;
  eval_tokens: number;
  clean_loss: number | null;
  spliced_loss: number | null;
  zero_ablation_loss: number | null;
  ce_loss_score: number | null;
  sae_dir: string;
}

export interface SweepJobResult extends SweepJobSummary {
  /** true when summary.json was already there and nothing was computed */
  reused: boolean;
  /** trainer steps run by this call (0 when reused or only re-evaluated) */
  stepsRun: number;
}

export interface SweepJobOptions {
  progress?: TrainerOptions['progress'];
  onProgress?: TrainerOptions['onProgress'];
  /** stop training after this many steps in total without finishing (simulates an interruption) */
  stopAfterSteps?: number;
  /** a job folder made with another config: delete and recompute it (default: refuse with an error) */
  recomputeStale?: boolean;
}

/** Feature activations [eval tokens, d_sae] of a job's SAE on its held-out activations (tensor `feature_acts`). */
export const EVAL_FEATURE_ACTS = 'eval_feature_acts.safetensors';

/** Folder of one checkpoint's job. */
export function sweepJobDir(sweepDir: string, c: SweepCheckpoint): string {
  validatePathName(c.label, 'sweep checkpoint label');
  return path.join(sweepDir, c.label);
}

/**
 * Training config of every job (nCheckpoints defaults to 4 so an interrupted job resumes; the SAELens 5
 * training defaults of the seed's method unless spec.training sets `defaults`).
 */
export function sweepTrainingConfig(spec: SweepSpec, dIn: number): TrainSAEConfigInput {
  return { defaults: 'saelens5', nCheckpoints: 4, ...spec.training, dIn, metadata: { ...(spec.training.metadata ?? {}), hook_name: spec.hook } } as TrainSAEConfigInput;
}

/** Hash of what determines one checkpoint's SAE: hook, training config, data description and the checkpoint. */
export function sweepJobHash(spec: SweepSpec, c: SweepCheckpoint): string {
  return configHash({ hook: spec.hook, training: spec.training, data: spec.data ?? {}, checkpoint: { label: c.label, step: c.step, revision: c.revision ?? null } });
}

/** The summary of a finished job, or null when it has not finished; throws when it was made with another config. */
export function readJobSummary(sweepDir: string, spec: SweepSpec, c: SweepCheckpoint): SweepJobSummary | null {
  const file = path.join(sweepJobDir(sweepDir, c), 'summary.json');
  if (!fs.existsSync(file)) return null;
  const s = JSON.parse(fs.readFileSync(file, 'utf8')) as SweepJobSummary;
  const want = sweepJobHash(spec, c);
  if (s.job_hash !== want) {
    throw new Error(`${file}: made with a different sweep config (job hash ${s.job_hash}, now ${want}); use a new sweep folder or delete ${path.dirname(file)} to recompute`);
  }
  return s;
}

/** The job hash a job folder was started with (job.json, else summary.json or trained.json), or null for a fresh folder. */
function storedJobHash(jobDir: string): string | null {
  for (const f of ['job.json', 'summary.json', 'trained.json']) {
    const file = path.join(jobDir, f);
    if (fs.existsSync(file)) return (JSON.parse(fs.readFileSync(file, 'utf8')) as { job_hash?: string }).job_hash ?? null;
  }
  return null;
}

/** The latest trainer checkpoint folder under trainDir/checkpoints (by tokens), or null. */
function latestTrainerCheckpoint(trainDir: string): string | null {
  const dir = path.join(trainDir, 'checkpoints');
  if (!fs.existsSync(dir)) return null;
  const done = fs.readdirSync(dir).filter((d) => /^\d+$/.test(d) && fs.existsSync(path.join(dir, d, 'trainer_state.json'))).sort((a, b) => Number(b) - Number(a));
  return done.length ? path.join(dir, done[0]) : null;
}

/** L0, explained variance and dead share of an SAE on held-out activations [n, d] (chunked, tfjs); `onFeatureActs` sees each chunk's feature activations [rows, d_sae] in order. */
export function evaluateOnActivations(sae: SAE, acts: Float32Array, chunk = 4096, onFeatureActs?: (f: Float32Array) => void): { l0: number; explainedVariance: number; deadFraction: number; tokens: number } {
  const d = sae.cfg.d_in;
  if (acts.length % d !== 0 || acts.length === 0) throw new Error(`evaluateOnActivations: ${acts.length} values is not a positive multiple of d_in ${d}`);
  const n = acts.length / d;
  const l0 = new L0Accumulator();
  const dens = new FeatureDensityAccumulator(sae.cfg.d_sae);
  const rec = new ReconstructionAccumulator(d);
  for (let s = 0; s < n; s += chunk) {
    const c = Math.min(chunk, n - s);
    const x = tf.tensor2d(acts.subarray(s * d, (s + c) * d), [c, d]);
    const f = sae.encode(x);
    const xh = sae.decode(f);
    if (onFeatureActs) onFeatureActs(f.dataSync() as Float32Array);
    l0.add(f);
    dens.add(f);
    rec.add(x, xh);
    tf.dispose([x, f, xh]);
  }
  return { l0: l0.l0(), explainedVariance: rec.summary().explainedVariance, deadFraction: dens.deadFraction(), tokens: n };
}

/**
 * Run (or reuse, or resume) the job of checkpoint `index`: train the SAE on `provide`'s activations,
 * evaluate it, write summary.json. Independent of the other checkpoints' jobs, so a scheduler can run
 * them in parallel.
 */
export async function runSweepJob(sweepDir: string, spec: SweepSpec, index: number, provide: CheckpointDataProvider, opts: SweepJobOptions = {}): Promise<SweepJobResult> {
  const c = spec.checkpoints[index];
  if (!c) throw new Error(`sweep: no checkpoint ${index} (the spec has ${spec.checkpoints.length})`);
  const jobDir = sweepJobDir(sweepDir, c);
  const hash = sweepJobHash(spec, c);
  const stored = storedJobHash(jobDir);
  if (stored !== null && stored !== hash) {
    // trainer checkpoints of another config must not be resumed
    if (!opts.recomputeStale) throw new Error(`${jobDir}: made with a different sweep config (job hash ${stored}, now ${hash}); use a new sweep folder or delete ${jobDir} to recompute`);
    fs.rmSync(jobDir, { recursive: true, force: true });
  }
  const done = readJobSummary(sweepDir, spec, c);
  if (done) return { ...done, reused: true, stepsRun: 0 };
  fs.mkdirSync(jobDir, { recursive: true });
  if (stored !== hash) writeJsonAtomic(path.join(jobDir, 'job.json'), { job_hash: hash, checkpoint: c, hook: spec.hook });
  const trainDir = path.join(jobDir, 'train');
  const saeDir = path.join(jobDir, 'sae');
  const trainedFile = path.join(jobDir, 'trained.json');
  const data = await provide(c, spec);
  try {
    let stepsRun = 0;
    let trainingTokens: number;
    const trained = fs.existsSync(trainedFile) ? JSON.parse(fs.readFileSync(trainedFile, 'utf8')) : null;
    if (trained && trained.job_hash === hash) {
      trainingTokens = trained.tokens;
    } else {
      const topts: TrainerOptions = { outDir: trainDir, saeDir, progress: opts.progress ?? 'none', onProgress: opts.onProgress, stopAfterSteps: opts.stopAfterSteps };
      const from = latestTrainerCheckpoint(trainDir);
      const trainer = from ? await SAETrainer.resume(from, data.train, topts) : await SAETrainer.create(sweepTrainingConfig(spec, data.train.dIn), data.train, topts);
      const before = trainer.step;
      try {
        const r = await trainer.fit();
        stepsRun = r.steps - before;
        if (!r.completed) {
          return { ...emptySummary(c, spec, hash, saeDir), reused: false, stepsRun };
        }
        trainingTokens = r.tokens;
      } finally {
        trainer.dispose();
      }
      writeJsonAtomic(trainedFile, { job_hash: hash, tokens: trainingTokens });
    }
    const sae = await SAE.load(saeDir);
    try {
      // the held-out tokens are the same for every checkpoint: these feature activations feed activation
      // matching; streamed to the file chunk by chunk ([262,144 x 8,192] float32 is 8.6 GB at the published size)
      const evalTokens = data.eval.length / sae.cfg.d_in;
      const writer = new SafetensorsStreamWriter(path.join(jobDir, EVAL_FEATURE_ACTS), [{ name: 'feature_acts', dtype: 'F32', shape: [evalTokens, sae.cfg.d_sae] }], { checkpoint: c.label, hook: spec.hook });
      let e: ReturnType<typeof evaluateOnActivations>;
      try {
        e = evaluateOnActivations(sae, data.eval, 4096, (f) => writer.append(f));
        writer.close();
      } catch (err) {
        writer.abort();
        throw err;
      }
      const ce = data.ce ? await data.ce(sae) : undefined;
      const summary: SweepJobSummary = {
        label: c.label, step: c.step, revision: c.revision ?? null, hook: spec.hook, job_hash: hash,
        d_in: sae.cfg.d_in, d_sae: sae.cfg.d_sae, training_tokens: trainingTokens,
        l0: e.l0, explained_variance: e.explainedVariance, dead_fraction: e.deadFraction, eval_tokens: e.tokens,
        clean_loss: ce ? ce.cleanLoss : null, spliced_loss: ce ? ce.splicedLoss : null,
        zero_ablation_loss: ce?.zeroLoss ?? null, ce_loss_score: ce?.ceLossScore ?? null,
        sae_dir: path.relative(sweepDir, saeDir),
      };
      writeJsonAtomic(path.join(jobDir, 'summary.json'), summary);
      return { ...summary, reused: false, stepsRun };
    } finally {
      sae.dispose();
    }
  } finally {
    data.dispose?.();
  }
}

function emptySummary(c: SweepCheckpoint, spec: SweepSpec, hash: string, saeDir: string): SweepJobSummary {
  return {
    label: c.label, step: c.step, revision: c.revision ?? null, hook: spec.hook, job_hash: hash, d_in: NaN, d_sae: NaN, training_tokens: NaN,
    l0: NaN, explained_variance: NaN, dead_fraction: NaN, eval_tokens: 0, clean_loss: null, spliced_loss: null, zero_ablation_loss: null, ce_loss_score: null, sae_dir: saeDir,
  };
}

/** Run every checkpoint's job in order (finished ones are reused). */
export async function runSweep(sweepDir: string, spec: SweepSpec, provide: CheckpointDataProvider, opts: SweepJobOptions & { onJob?: (r: SweepJobResult) => void } = {}): Promise<SweepJobResult[]> {
  const out: SweepJobResult[] = [];
  for (let i = 0; i < spec.checkpoints.length; i++) {
    const r = await runSweepJob(sweepDir, spec, i, provide, opts);
    opts.onJob?.(r);
    out.push(r);
  }
  return out;
}

/** Summaries of the finished jobs, in checkpoint order (unfinished ones left out). */
export function sweepSummaries(sweepDir: string, spec: SweepSpec): SweepJobSummary[] {
  return spec.checkpoints.map((c) => readJobSummary(sweepDir, spec, c)).filter((s): s is SweepJobSummary => s !== null);
}

/** Load the SAE of a finished job. */
export async function loadSweepSAE(sweepDir: string, spec: SweepSpec, c: SweepCheckpoint | string): Promise<SAE> {
  const cp = typeof c === 'string' ? spec.checkpoints.find((x) => x.label === c) : c;
  if (!cp) throw new Error(`sweep: no checkpoint labelled '${c}' (have ${spec.checkpoints.map((x) => x.label).join(', ')})`);
  if (!readJobSummary(sweepDir, spec, cp)) throw new Error(`sweep: checkpoint ${cp.label} has not finished in ${sweepDir}; run its job first`);
  return SAE.load(path.join(sweepJobDir(sweepDir, cp), 'sae'));
}
