/**
 * Paired synthetic activations with known crosscoder latents: each true latent has a direction in the
 * base model and one in the finetune, and fires at the same tokens in both. Shared latents have the
 * same direction in both, rotated ones a direction turned to a given cosine, base-only ones none in the
 * finetune and finetune-only ones none in the base. Rows are [x_base | x_finetune] (a crosscoder's input).
 */
import * as tf from '@tensorflow/tfjs';
import { SyntheticSparseData } from '../train/synthetic';
import { GeneratorSource } from '../train/sources';
import { Rng, hashSeed } from '../data/random';
import type { LatentClass } from './diff';

export interface PairedSyntheticOptions {
  /** width of each model's activation */
  dIn: number;
  shared: number;
  rotated: number;
  baseOnly: number;
  finetuneOnly: number;
  /** cosine between a rotated latent's two directions */
  rotatedCosine?: number;
  activePerSample: number;
  noiseStd?: number;
  chunkTokens?: number;
  seed?: number;
}

/** Ground truth of one latent. */
export interface TrueLatent {
  kind: 'shared' | 'rotated' | 'base_only' | 'finetune_only';
  /** the class a crosscoder should give it (rotated latents are shared by norm) */
  expected: LatentClass;
}

export class PairedSyntheticData {
  readonly latents: TrueLatent[] = [];
  private readonly data: SyntheticSparseData;

  constructor(readonly opts: PairedSyntheticOptions) {
    const { dIn: d, shared, rotated, baseOnly, finetuneOnly } = opts;
    const cosine = opts.rotatedCosine ?? 0.3;
    const nLatents = shared + rotated + baseOnly + finetuneOnly;
    this.data = new SyntheticSparseData({ dIn: 2 * d, nFeatures: nLatents, activePerSample: opts.activePerSample, noiseStd: opts.noiseStd ?? 0.01, chunkTokens: opts.chunkTokens ?? 4096, seed: opts.seed ?? 0 });
    const rng = new Rng(hashSeed(opts.seed ?? 0, 0xc055));
    const unit = (): Float64Array => {
      const v = new Float64Array(d);
      let s = 0;
      for (let i = 0; i < d; i++) s += (v[i] = rng.normal()) ** 2;
      for (let i = 0; i < d; i++) v[i] /= Math.sqrt(s);
      return v;
    };
    const dirs = this.data.directions; // [nLatents, 2 d]: [base direction | finetune direction]
    dirs.fill(0);
    let j = 0;
    const put = (base: Float64Array | null, ft: Float64Array | null, kind: TrueLatent['kind']): void => {
      if (base) for (let i = 0; i < d; i++) dirs[j * 2 * d + i] = base[i];
      if (ft) for (let i = 0; i < d; i++) dirs[j * 2 * d + d + i] = ft[i];
      this.latents.push({ kind, expected: kind === 'rotated' ? 'shared' : kind });
      j += 1;
    };
    for (let i = 0; i < shared; i++) {
      const u = unit();
      put(u, u, 'shared');
    }
    for (let i = 0; i < rotated; i++) {
      const u = unit();
      const w = unit();
      let dot = 0;
      for (let t = 0; t < d; t++) dot += u[t] * w[t];
      let s = 0;
      for (let t = 0; t < d; t++) s += (w[t] -= dot * u[t]) ** 2;
      const v = new Float64Array(d);
      for (let t = 0; t < d; t++) v[t] = cosine * u[t] + Math.sqrt(1 - cosine * cosine) * (w[t] / Math.sqrt(s));
      put(u, v, 'rotated');
    }
    for (let i = 0; i < baseOnly; i++) put(unit(), null, 'base_only');
    for (let i = 0; i < finetuneOnly; i++) put(null, unit(), 'finetune_only');
  }

  /** The true latents' directions side by side [nLatents, 2 dIn] (base | finetune). */
  directions(): tf.Tensor2D {
    return tf.tensor2d(this.data.directions, [this.latents.length, 2 * this.opts.dIn]);
  }

  /** Chunk `index` of rows [x_base | x_finetune]. */
  chunk(index: number): tf.Tensor2D {
    return this.data.chunk(index);
  }

  /** An endless source of [x_base | x_finetune] rows. */
  source(): GeneratorSource {
    const o = this.opts;
    return new GeneratorSource(2 * o.dIn, (i) => this.chunk(i), `paired synthetic activations (d_in ${o.dIn} per model; ${o.shared} shared, ${o.rotated} rotated, ${o.baseOnly} base-only, ${o.finetuneOnly} finetune-only)`);
  }
}
