/**
 * Stand-in SAE folders in SAELens's layout (cfg.json + sae_weights.safetensors [+ sparsity.safetensors]):
 * unit-norm random decoder rows, a tied encoder scaled to the stand-in model's activation scale, and
 * encoder biases spread so feature densities range from a few percent to never (dead features), as
 * trained SAEs have. Written streaming except the decoder itself (d_sae x d_in floats, 1 GiB for
 * Mistral's 65,536 x 4,096).
 */
import * as fs from 'fs';
import * as path from 'path';
import { SafetensorsStreamWriter } from '../io/safetensorsStream';
import { writeSafetensors } from '../io/safetensors';
import { writeJsonAtomic } from '../io/atomic';
import { seededRandom } from '../data/random';
import { streamSeed } from './fill';

export interface SaeFolderSpec {
  cfg: Record<string, unknown>;
  dIn: number;
  dSae: number;
  seed: number;
  /** seed key (release/folder) */
  key: string;
  /**
   * expected squared activation per coordinate at the hook (the encoder divides by its square root,
   * so a feature's pre-activation is ~N(0, 1) minus its threshold); 1 when activations are normalised
   * to norm sqrt(d_in) first (constant_norm_rescale)
   */
  activationVariance: number;
  sparsity: boolean;
}

/**
 * Thresholds t_j (a pre-activation ~N(0,1) fires above t_j): uniform in [2, 5], so densities run from
 * 2.3% to 3e-7 and the mean L0 is d_sae x 0.0028 (about 70 of 24,576); ~8% of features are dead on 256k tokens.
 */
function thresholds(dSae: number, rand: () => number): Float32Array {
  const t = new Float32Array(dSae);
  for (let j = 0; j < dSae; j++) t[j] = 2 + 3 * rand();
  return t;
}

/** log10 P(N(0,1) > t) by the Mills-ratio continued fraction (accurate for t >= 1). */
function log10UpperTail(t: number): number {
  let f = t;
  for (let k = 40; k >= 1; k--) f = t + k / f;
  const p = Math.exp(-t * t / 2) / Math.sqrt(2 * Math.PI) / f;
  return Math.log10(p);
}

/** Write an SAE folder into `dir` (files appear complete or not at all). */
export function writeSaeFolder(dir: string, s: SaeFolderSpec): void {
  fs.mkdirSync(dir, { recursive: true });
  const rand = seededRandom(streamSeed(s.seed, s.key, 'W_dec'));
  const { dIn, dSae } = s;
  const dec = new Float32Array(dSae * dIn);
  for (let j = 0; j < dSae; j++) {
    let n2 = 0;
    const row = dec.subarray(j * dIn, (j + 1) * dIn);
    for (let i = 0; i < dIn; i++) { const v = rand() - 0.5; row[i] = v; n2 += v * v; }
    const inv = 1 / Math.sqrt(n2);
    for (let i = 0; i < dIn; i++) row[i] *= inv;
  }
  // a unit row w gives x.w ~ N(0, var) for activations of per-coordinate variance var
  const c = 1 / Math.sqrt(s.activationVariance);
  const t = thresholds(dSae, seededRandom(streamSeed(s.seed, s.key, 'thresholds')));
  const w = new SafetensorsStreamWriter(path.join(dir, 'sae_weights.safetensors'), [
    { name: 'W_enc', dtype: 'F32', shape: [dIn, dSae] },
    { name: 'b_enc', dtype: 'F32', shape: [dSae] },
    { name: 'W_dec', dtype: 'F32', shape: [dSae, dIn] },
    { name: 'b_dec', dtype: 'F32', shape: [dIn] },
  ]);
  try {
    const row = new Float32Array(dSae);
    for (let i = 0; i < dIn; i++) {
      for (let j = 0; j < dSae; j++) row[j] = c * dec[j * dIn + i];
      w.append(row);
    }
    const bEnc = new Float32Array(dSae);
    for (let j = 0; j < dSae; j++) bEnc[j] = -t[j];
    w.append(bEnc);
    for (let start = 0; start < dSae * dIn; start += 1 << 22) w.append(dec.subarray(start, Math.min(dSae * dIn, start + (1 << 22))));
    w.append(new Float32Array(dIn));
    w.close();
  } catch (e) {
    w.abort();
    throw e;
  }
  if (s.sparsity) {
    const sp = new Float32Array(dSae);
    for (let j = 0; j < dSae; j++) sp[j] = log10UpperTail(t[j]);
    writeSafetensors(path.join(dir, 'sparsity.safetensors'), { sparsity: { dtype: 'F32', shape: [dSae], data: sp } });
  }
  writeJsonAtomic(path.join(dir, 'cfg.json'), s.cfg);
}
