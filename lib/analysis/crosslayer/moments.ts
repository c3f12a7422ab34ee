import * as tf from '@tensorflow/tfjs';
import { LayerBatch, SparseCodes, isSparseCodes, toSparseCodes } from './sparse';

/**
 * Per-feature max activation over all tokens (the first pass of the two-pass design: the
 * relative-activation bound lb = 0.2 x max needs each feature's max over ALL tokens before any
 * co-activation can be counted against it).
 */
export class MaxActivationCollector {
  tokens = 0;
  /** per layer [d_sae]: max over tokens, -Infinity before any token */
  readonly max: Float32Array[];

  constructor(readonly n_layers: number, readonly d_sae: number) {
    this.max = Array.from({ length: n_layers }, () => new Float32Array(d_sae).fill(-Infinity));
  }

  /** Add one batch: one entry per layer, each `[tokens, d_sae]` (equal token counts). */
  async add(layers: LayerBatch[]): Promise<void> {
    if (layers.length !== this.n_layers) throw new Error(`expected activations of ${this.n_layers} layers, got ${layers.length}`);
    let T = -1;
    for (let L = 0; L < layers.length; L++) {
      const x = layers[L];
      let tokens: number;
      let batchMax: Float32Array;
      if (isSparseCodes(x) || x instanceof Float32Array) {
        const codes: SparseCodes = await toSparseCodes(x, this.d_sae, `layer ${L}`);
        tokens = codes.T;
        batchMax = sparseColumnMax(codes);
      } else {
        if (x.shape[x.shape.length - 1] !== this.d_sae) throw new Error(`layer ${L}: tensor shape [${x.shape.join(', ')}] must end in d_sae ${this.d_sae}`);
        tokens = x.size / this.d_sae;
        const m = tf.tidy(() => tf.max(tf.reshape(x, [-1, this.d_sae]), 0));
        batchMax = (await m.data()) as Float32Array;
        m.dispose();
      }
      if (T === -1) T = tokens;
      else if (tokens !== T) throw new Error(`layer ${L} has ${tokens} tokens in this batch, layer 0 has ${T}: every layer must cover the same tokens`);
      if (tokens === 0) continue;
      const mx = this.max[L];
      for (let f = 0; f < this.d_sae; f++) if (batchMax[f] > mx[f]) mx[f] = batchMax[f];
    }
    this.tokens += Math.max(T, 0);
  }

  /** Max activation per layer `[n_layers][d_sae]` (0 for no tokens). */
  result(): Float32Array[] {
    return this.max.map((m) => m.map((v) => (v === -Infinity ? 0 : v)));
  }
}

/** Column max of sparse codes, counting the implicit zeros. */
export function sparseColumnMax(codes: SparseCodes): Float32Array {
  const out = new Float32Array(codes.d).fill(-Infinity);
  const nz = new Int32Array(codes.d);
  for (let k = 0; k < codes.indices.length; k++) {
    const f = codes.indices[k];
    nz[f]++;
    if (codes.values[k] > out[f]) out[f] = codes.values[k];
  }
  if (codes.T > 0) for (let f = 0; f < codes.d; f++) if (nz[f] < codes.T && out[f] < 0) out[f] = 0;
  return out;
}
