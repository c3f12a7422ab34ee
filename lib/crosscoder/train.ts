/**
 * Training crosscoders with saelab's SAE trainer (schedules, Adam, checkpoints, resume, progress,
 * metrics.jsonl, non-finite checks): the rows are the n models' activations side by side, and the
 * architecture modules lib/sae/architectures/crosscoder.ts carry the crosscoder's loss and folder format.
 */
import * as tf from '@tensorflow/tfjs';
import { ActivationSource } from '../train/sources';
import { SAETrainer, TrainerOptions, TrainResult } from '../train/trainer';
import { TrainSAEConfigInput } from '../train/config';
import { crosscoderExport } from '../sae/architectures/crosscoder';
import { Crosscoder } from './crosscoder';

/** The crosscoder activations: 'relu' (L1 weighted by decoder norms) or 'batchtopk'. */
export type CrosscoderActivation = 'relu' | 'batchtopk';

/** The registry name of the training architecture for an activation. */
export function crosscoderArchitecture(activation: CrosscoderActivation): string {
  if (activation === 'relu') return 'crosscoder';
  if (activation === 'batchtopk') return 'batchtopk_crosscoder';
  throw new Error(`crosscoder activation '${String(activation)}' is not supported; use relu or batchtopk`);
}

/** A crosscoder training config: TrainSAEConfig's fields (dIn = nModels x d_model) with `activation` instead of `architecture`. */
export type TrainCrosscoderInput = Omit<TrainSAEConfigInput, 'architecture'> & { activation: CrosscoderActivation; nModels: number };

/**
 * n sources read in step, each chunk's rows placed side by side: [x_1 | ... | x_n]. The sources must
 * hand out chunks of equal row counts (the same tokens of n models).
 */
export class ConcatenatedSource implements ActivationSource {
  readonly dIn: number;

  constructor(readonly sources: ActivationSource[], private readonly names: string[] = sources.map((_, i) => `model ${i}`)) {
    if (sources.length === 0) throw new Error('ConcatenatedSource: no sources');
    for (const [i, s] of sources.entries()) if (s.dOut !== undefined) throw new Error(`ConcatenatedSource: ${names[i]} (${s.describe()}) pairs inputs with outputs; crosscoders read plain activations`);
    this.dIn = sources.reduce((a, s) => a + s.dIn, 0);
  }

  async next(): Promise<tf.Tensor2D | null> {
    const chunks = await Promise.all(this.sources.map((s) => s.next()));
    if (chunks.some((c) => c === null)) {
      tf.dispose(chunks.filter((c): c is tf.Tensor2D => c !== null));
      return null;
    }
    const cs = chunks as tf.Tensor2D[];
    const rows = cs[0].shape[0];
    const bad = cs.findIndex((c) => c.shape[0] !== rows);
    if (bad >= 0) {
      tf.dispose(cs);
      throw new Error(`ConcatenatedSource: ${this.names[bad]} gave ${chunks[bad]!.shape[0]} rows where ${this.names[0]} gave ${rows}; the sources must hold the same tokens in the same chunks`);
    }
    const out = tf.concat(cs, 1) as tf.Tensor2D;
    tf.dispose(cs);
    return out;
  }

  getState(): Record<string, unknown> {
    return { kind: 'concatenated', sources: this.sources.map((s) => s.getState()) };
  }

  async restore(state: Record<string, unknown>): Promise<void> {
    const states = state.sources as Record<string, unknown>[];
    if (!Array.isArray(states) || states.length !== this.sources.length) throw new Error(`ConcatenatedSource.restore: the saved state has ${Array.isArray(states) ? states.length : 'no'} sources, this source has ${this.sources.length}`);
    for (const [i, s] of this.sources.entries()) await s.restore(states[i]);
  }

  describe(): string {
    return `${this.sources.length} activations side by side (${this.sources.map((s, i) => `${this.names[i]}: ${s.describe()}`).join('; ')})`;
  }
}

/** The trainer's config input for a crosscoder config. */
export function crosscoderTrainConfig(input: TrainCrosscoderInput): TrainSAEConfigInput {
  const { activation, ...rest } = input;
  return { ...rest, architecture: crosscoderArchitecture(activation) };
}

/** A fresh crosscoder trainer over `source` (rows [x_1 | ... | x_n]); outDir gets metrics.jsonl, checkpoints and the final folder. */
export async function createCrosscoderTrainer(input: TrainCrosscoderInput, source: ActivationSource, opts: TrainerOptions = {}): Promise<SAETrainer> {
  return SAETrainer.create(crosscoderTrainConfig(input), source, opts);
}

/** The trainer's current crosscoder (activation scaling folded in; caller disposes). */
export function crosscoderFromTrainer(trainer: SAETrainer): Crosscoder {
  const { config, weights } = crosscoderExport(trainer.cfg, trainer.params, trainer.archState, trainer.normScalingFactor);
  return new Crosscoder(config, weights, trainer.log10FeatureDensity());
}

/** Train a crosscoder end to end; returns the trainer's result and the crosscoder (caller disposes it). */
export async function trainCrosscoder(input: TrainCrosscoderInput, source: ActivationSource, opts: TrainerOptions = {}): Promise<{ crosscoder: Crosscoder; result: TrainResult; history: SAETrainer['history'] }> {
  const trainer = await createCrosscoderTrainer(input, source, opts);
  try {
    const result = await trainer.fit();
    return { crosscoder: crosscoderFromTrainer(trainer), result, history: trainer.history };
  } finally {
    trainer.dispose();
  }
}
