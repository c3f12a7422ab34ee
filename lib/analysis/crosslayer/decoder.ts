import * as tf from '@tensorflow/tfjs';
import { SparseStat, SparseStatBuilder } from './finalize';
import { DECODER_CLAMP, storeValue } from './stats';

/**
 * Decoder cosine similarity of W_dec rows: cos(W_L[i], W_{L+1}[j]) for i in rows, all j, kept where
 * |cos| >= 0.4 (the seed's clamp, compared in float32). Computed in tfjs as blocks of normalised-row
 * matmuls `[block, d_model] x [d_model, d_sae]`; a zero row gives 0 (0/0 -> 0).
 * @param wA W_dec of layer L `[d_sae, d_model]`
 * @param wB W_dec of layer L+1 `[d_sae, d_model]`
 */
export async function decoderCosinePairs(wA: tf.Tensor2D, wB: tf.Tensor2D, options: { rows?: [number, number]; block_rows?: number } = {}): Promise<SparseStat> {
  if (wA.rank !== 2 || wB.rank !== 2) throw new Error(`W_dec must be 2-D [d_sae, d_model]; got shapes [${wA.shape}] and [${wB.shape}]`);
  if (wA.shape[1] !== wB.shape[1]) throw new Error(`W_dec d_model differs between layers: ${wA.shape[1]} vs ${wB.shape[1]}`);
  const [r0, r1] = options.rows ?? [0, wA.shape[0]];
  const block = options.block_rows ?? 512;
  const dB = wB.shape[0];
  const out = new SparseStatBuilder();
  const normB = tf.tidy(() => tf.transpose(normaliseRows(wB))); // [d_model, dB]
  try {
    for (let s = r0; s < r1; s += block) {
      const e = Math.min(r1, s + block);
      const cos = tf.tidy(() => tf.matMul(normaliseRows(tf.slice(wA, [s, 0], [e - s, -1])), normB)); // [e - s, dB]
      const v = (await cos.data()) as Float32Array;
      cos.dispose();
      for (let r = 0; r < e - s; r++) {
        const base = r * dB;
        for (let j = 0; j < dB; j++) {
          const x = v[base + j];
          if (x >= 0.39 || x <= -0.39) {
            const st = storeValue(x, DECODER_CLAMP);
            if (st !== 0) out.push(s + r, j, st);
          }
        }
      }
    }
  } finally {
    normB.dispose();
  }
  return out.build();
}

/** Rows divided by their L2 norm; zero rows stay zero. `[n, d_model]` */
function normaliseRows(w: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => tf.divNoNan(w, tf.norm(w, 'euclidean', 1, true)) as tf.Tensor2D);
}
