/**
 * A trained crosscoder for inference: the shared latents of n models' activations at one token,
 * f = act(sum_m x_m W_enc[m] + b_enc), and each model's reconstruction x^_m = f W_dec[:, m] + b_dec[m].
 */
import * as tf from '@tensorflow/tfjs';
import { CrosscoderConfig, CrosscoderWeights, crosscoderWeightShapes, loadCrosscoderFolder, saveCrosscoderInto } from './format';

export class Crosscoder {
  /** flat encoder [n d_in, d_sae] and decoder [d_sae, n d_in] (views of the published layout) */
  private readonly W_encFlat: tf.Tensor2D;
  private readonly W_decFlat: tf.Tensor2D;
  private readonly b_decFlat: tf.Tensor1D;
  /** [d_sae]: sum over models of each latent's decoder norm (BatchTopK's threshold applies to f x this) */
  readonly latentNormSum: tf.Tensor1D;

  /** Takes ownership of `weights` (shapes checked against cfg). */
  constructor(readonly cfg: CrosscoderConfig, readonly weights: CrosscoderWeights, public log10Density?: Float32Array) {
    for (const [name, shape] of Object.entries(crosscoderWeightShapes(cfg))) {
      if (!weights[name] || !tf.util.arraysEqual(weights[name].shape, shape)) throw new Error(`Crosscoder: ${name} must have shape [${shape}], got ${weights[name] ? `[${weights[name].shape}]` : 'nothing'}`);
    }
    const { n_models: n, d_in: d, d_sae: s } = cfg;
    this.W_encFlat = tf.reshape(weights.W_enc, [n * d, s]);
    this.W_decFlat = tf.reshape(weights.W_dec, [s, n * d]);
    this.b_decFlat = tf.reshape(weights.b_dec, [n * d]);
    this.latentNormSum = tf.tidy(() => tf.sum(this.decoderNormsTensor(), 1) as tf.Tensor1D);
  }

  /** Load a crosscoder folder (cfg.json + crosscoder_weights.safetensors). */
  static load(dir: string): Crosscoder {
    const { cfg, weights, log10Density } = loadCrosscoderFolder(dir);
    return new Crosscoder(cfg, weights, log10Density);
  }

  get nModels(): number {
    return this.cfg.n_models;
  }

  /** Latent activations from the n models' activations at the same tokens. xs: n x [tokens, d_in] -> [tokens, d_sae] */
  encode(xs: tf.Tensor2D[]): tf.Tensor2D {
    if (xs.length !== this.cfg.n_models) throw new Error(`Crosscoder.encode: got ${xs.length} activations, the crosscoder reads ${this.cfg.n_models} (${this.cfg.model_names.join(', ')})`);
    for (const [i, x] of xs.entries()) {
      if (x.rank !== 2 || x.shape[1] !== this.cfg.d_in || x.shape[0] !== xs[0].shape[0]) throw new Error(`Crosscoder.encode: ${this.cfg.model_names[i]}'s activations have shape [${x.shape}], expected [${xs[0].shape[0]}, ${this.cfg.d_in}]`);
    }
    return tf.tidy(() => this.encodeFlat(xs.length === 1 ? xs[0] : tf.concat(xs, 1)));
  }

  /** Latent activations from rows of the n activations side by side [tokens, n d_in] -> [tokens, d_sae]. */
  encodeFlat(x: tf.Tensor2D): tf.Tensor2D {
    return tf.tidy(() => {
      const f = tf.relu(tf.add(tf.matMul(x, this.W_encFlat), this.weights.b_enc)) as tf.Tensor2D;
      if (this.cfg.activation !== 'batchtopk') return f;
      return tf.mul(f, tf.cast(tf.greater(tf.mul(f, this.latentNormSum), this.weights.threshold), 'float32')) as tf.Tensor2D;
    });
  }

  /** Each model's reconstruction. f [tokens, d_sae] -> n x [tokens, d_in] */
  decode(f: tf.Tensor2D): tf.Tensor2D[] {
    return tf.tidy(() => tf.split(this.decodeFlat(f), this.cfg.n_models, 1) as tf.Tensor2D[]);
  }

  /** The reconstructions side by side. f [tokens, d_sae] -> [tokens, n d_in] */
  decodeFlat(f: tf.Tensor2D): tf.Tensor2D {
    return tf.tidy(() => tf.add(tf.matMul(f, this.W_decFlat), this.b_decFlat) as tf.Tensor2D);
  }

  /** |W_dec[j, m]| [d_sae, n] */
  decoderNormsTensor(): tf.Tensor2D {
    return tf.tidy(() => tf.sqrt(tf.sum(tf.square(this.weights.W_dec), 2)) as tf.Tensor2D);
  }

  /** Save into dir as a crosscoder folder (other files there stay). */
  async save(dir: string): Promise<void> {
    await saveCrosscoderInto(dir, this.cfg, this.weights, this.log10Density);
  }

  dispose(): void {
    tf.dispose([this.W_encFlat, this.W_decFlat, this.b_decFlat, this.latentNormSum, ...Object.values(this.weights)]);
  }
}
