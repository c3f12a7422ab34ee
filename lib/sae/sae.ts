/**
 * A sparse autoencoder with SAELens semantics: encode, decode, forward, error term, save to a
 * SAELens 6 folder, load from folders (v6 and pre-6.0) and pretrained releases.
 */
import * as tf from '@tensorflow/tfjs';
import { SAEConfig, defaultSAEConfig, toCfgJson, validateSAEConfig } from './config';
import { InferenceArchitecture, inferenceArchitecture } from './architectures';
import { NormState, isStateful, normalizeIn, normalizeOut } from './normalize';
import { ConfigError } from '../io/errors';
import { TensorToWrite } from '../io/safetensorsCore';
import { Dtype } from '../io/dtypes';
import { loadSAEFolder, loadPretrainedSAE, writeSAEFolder, FolderLoadOptions } from './loading';
import { LoadedSAE } from './loadingCore';

export { SAE_CFG_FILENAME, SAE_WEIGHTS_FILENAME, SPARSITY_FILENAME } from './loadingCore';

const SAFETENSORS_DTYPE: Record<string, Dtype> = {
  float32: 'F32', 'torch.float32': 'F32', float64: 'F64', 'torch.float64': 'F64',
  float16: 'F16', 'torch.float16': 'F16', bfloat16: 'BF16', 'torch.bfloat16': 'BF16',
};

export class SAE {
  readonly cfg: SAEConfig;
  /**
   * By SAELens name, as the architecture defines them (lib/sae/architectures): W_enc [d_in, d_sae],
   * W_dec [d_sae, d_out], b_enc [d_sae], b_dec [d_out]; jumprelu + threshold [d_sae]; gated: b_gate,
   * b_mag, r_mag (no b_enc); skip_transcoder + W_skip [d_out, d_in]. d_out = d_in except for transcoders.
   */
  readonly weights: Record<string, tf.Tensor>;
  /** the architecture's encode, decode and folding */
  readonly arch: InferenceArchitecture;
  /** log10 feature density [d_sae] when the folder had sparsity.safetensors (or the trainer set it) */
  sparsity?: Float32Array;
  /** normalisation state of the last encode(), used by the next decode() (as SAELens does) */
  private normState: NormState = {};
  /** d_head of the last hook_z input, to reshape decode() output back to [..., n_heads, d_head] */
  private dHead?: number;
  private disposed = false;

  /** Validates tensor names and shapes against cfg and keeps its own references (the caller may dispose its tensors). */
  constructor(cfg: SAEConfig, weights: Record<string, tf.Tensor>) {
    validateSAEConfig(cfg);
    this.cfg = { ...cfg, metadata: { ...cfg.metadata } };
    this.arch = inferenceArchitecture(cfg.architecture);
    const shapes = this.arch.weightShapes(this.cfg);
    const required = Object.keys(shapes);
    const found = Object.keys(weights);
    const missing = required.filter((n) => !(n in weights));
    if (missing.length) {
      throw new ConfigError(`SAE (${cfg.architecture}, hook ${cfg.metadata.hook_name}): missing tensors ${missing.join(', ')}; found ${found.join(', ') || 'none'}; a ${cfg.architecture} SAE needs ${required.join(', ')}`);
    }
    const extra = found.filter((n) => !required.includes(n));
    if (extra.length) {
      throw new ConfigError(`SAE (${cfg.architecture}, hook ${cfg.metadata.hook_name}): unexpected tensors ${extra.join(', ')}; a ${cfg.architecture} SAE has exactly ${required.join(', ')} (is the architecture in cfg.json right?)`);
    }
    for (const n of required) {
      const want = shapes[n];
      const got = weights[n].shape;
      if (got.length !== want.length || got.some((d, i) => d !== want[i])) {
        const dims = `d_in=${cfg.d_in}, d_sae=${cfg.d_sae}${this.arch.target === 'output' ? `, d_out=${cfg.d_out}` : ''}`;
        throw new ConfigError(`SAE (${cfg.architecture}, hook ${cfg.metadata.hook_name}): tensor ${n} has shape [${got.join(', ')}], expected [${want.join(', ')}] for ${dims}`);
      }
    }
    const own: Record<string, tf.Tensor> = {};
    for (const n of required) own[n] = tf.keep(weights[n].dtype === 'float32' ? weights[n].clone() : tf.cast(weights[n], 'float32'));
    this.weights = own;
  }

  /** A new SAE from a config (defaults filled) and weights. */
  static create(cfg: Partial<SAEConfig> & { d_in: number; d_sae: number; metadata: SAEConfig['metadata'] }, weights: Record<string, tf.Tensor>): SAE {
    return new SAE(defaultSAEConfig(cfg), weights);
  }

  /** Whether this is a transcoder (it predicts metadata.hook_name_out rather than reconstructing its input). */
  get isTranscoder(): boolean {
    return this.arch.target === 'output';
  }

  /** Width of the output: d_in for an SAE, d_out for a transcoder. */
  get dOut(): number {
    return this.isTranscoder ? (this.cfg.d_out as number) : this.cfg.d_in;
  }

  /** The hook whose activation the output replaces: hook_name for an SAE, hook_name_out for a transcoder. */
  get outputHook(): string {
    if (!this.isTranscoder) return this.cfg.metadata.hook_name;
    const out = this.cfg.metadata.hook_name_out;
    if (typeof out !== 'string' || !out) throw new Error(`${this.cfg.architecture} on ${this.cfg.metadata.hook_name}: cfg.json metadata has no hook_name_out (the hook it predicts); set it to splice the transcoder into a model`);
    return out;
  }

  /** Whether inputs are [..., n_heads, d_head] and flattened (hook_z SAEs; SAELens ignores reshape_activations for transcoders). */
  get readsHookZ(): boolean {
    return this.cfg.reshape_activations === 'hook_z' && !this.isTranscoder;
  }

  /** SAELens's input processing: cast, hook_z flatten, normalise, subtract b_dec. x [..., d_in] -> [n, d_in] (raw: before normalising) */
  private processIn(x: tf.Tensor): { xIn: tf.Tensor2D; raw: tf.Tensor2D; lead: number[]; state: NormState; dHead?: number } {
    this.assertAlive();
    let t = x.dtype === 'float32' ? x : tf.cast(x, 'float32');
    let dHead: number | undefined;
    if (this.readsHookZ) {
      if (t.rank < 2) throw new Error(`SAE on ${this.cfg.metadata.hook_name}: hook_z input must be [..., n_heads, d_head], got shape [${t.shape.join(', ')}]`);
      dHead = t.shape[t.rank - 1];
      t = tf.reshape(t, [...t.shape.slice(0, -2), t.shape[t.rank - 2] * dHead]);
    }
    const dLast = t.shape[t.rank - 1];
    if (t.rank < 1 || dLast !== this.cfg.d_in) {
      throw new Error(`SAE on ${this.cfg.metadata.hook_name}: input width ${dLast} (shape [${x.shape.join(', ')}]) does not match the SAE's d_in=${this.cfg.d_in}; is it the right hook / model?`);
    }
    const lead = t.shape.slice(0, -1);
    const flat = tf.reshape(t, [-1, this.cfg.d_in]) as tf.Tensor2D;
    const { x: normed, state } = normalizeIn(this.cfg.normalize_activations, flat);
    const xIn = this.cfg.apply_b_dec_to_input ? tf.sub(normed, this.weights.b_dec) as tf.Tensor2D : normed;
    return { xIn, raw: flat, lead, state, dHead };
  }

  /**
   * Output from flat features with a given normalisation state: f [n, d_sae] -> [n, d_out]. SAEs undo the
   * input normalisation; transcoders do not (as SAELens), and add their skip term when `raw` is given.
   */
  private decodeFlat(f: tf.Tensor2D, state: NormState, raw?: tf.Tensor2D): tf.Tensor2D {
    const y = this.arch.decode(this.cfg, this.weights, f);
    if (!this.isTranscoder) return normalizeOut(this.cfg.normalize_activations, y, state);
    return raw && this.arch.skip ? tf.add(y, this.arch.skip(this.cfg, this.weights, raw)) as tf.Tensor2D : y;
  }

  private reshapeOut(y: tf.Tensor2D, lead: number[], dHead?: number): tf.Tensor {
    if (this.readsHookZ && dHead !== undefined) return tf.reshape(y, [...lead, this.cfg.d_in / dHead, dHead]);
    return tf.reshape(y, [...lead, this.dOut]);
  }

  /**
   * Feature activations. x [..., d_in] (hook_z SAEs: [..., n_heads, d_head]) -> [..., d_sae].
   * With constant_norm_rescale / layer_norm the norm is remembered for the next decode(), as in SAELens.
   */
  encode(x: tf.Tensor): tf.Tensor {
    const { f, state, dHead } = tf.tidy(() => {
      const p = this.processIn(x);
      const feats = this.arch.encode(this.cfg, this.weights, p.xIn);
      return { f: tf.reshape(feats, [...p.lead, this.cfg.d_sae]), state: p.state, dHead: p.dHead } as unknown as tf.TensorContainer;
    }) as unknown as { f: tf.Tensor; state: NormState; dHead?: number };
    this.setNormState(state);
    if (dHead !== undefined) this.dHead = dHead;
    return f;
  }

  /**
   * Reconstruction. f [..., d_sae] -> [..., d_in] (hook_z SAEs: [..., n_heads, d_head] once an input was seen);
   * transcoders: f W_dec + b_dec [..., d_out] (without a skip_transcoder's skip term, which needs the input: use forward).
   */
  decode(f: tf.Tensor): tf.Tensor {
    this.assertAlive();
    if (f.shape[f.rank - 1] !== this.cfg.d_sae) throw new Error(`SAE.decode: feature tensor has width ${f.shape[f.rank - 1]}, expected d_sae=${this.cfg.d_sae}`);
    // transcoders do not de-normalise their output, so they need no state from encode()
    const stateful = isStateful(this.cfg.normalize_activations) && !this.isTranscoder;
    if (stateful && !this.normState.scale) {
      throw new Error(`SAE.decode: normalize_activations=${this.cfg.normalize_activations} needs the norm of the input; call encode() first or use forward()`);
    }
    return tf.tidy(() => {
      const lead = f.shape.slice(0, -1);
      const flat = tf.reshape(f, [-1, this.cfg.d_sae]) as tf.Tensor2D;
      if (stateful && this.normState.scale!.shape[0] !== flat.shape[0]) {
        throw new Error(`SAE.decode: ${flat.shape[0]} rows but the last encode() had ${this.normState.scale!.shape[0]} (normalisation state is per row)`);
      }
      return this.reshapeOut(this.decodeFlat(flat, this.normState), lead, this.dHead);
    });
  }

  /** decode(encode(x)), same shape as x; transcoders: their prediction of the output hook [..., d_out] (skip term included). */
  forward(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      const p = this.processIn(x);
      const f = this.arch.encode(this.cfg, this.weights, p.xIn);
      return this.reshapeOut(this.decodeFlat(f, p.state, p.raw), p.lead, p.dHead);
    });
  }

  /**
   * Features and output in one pass, with an optional edit of the features before decoding.
   * Returns feature_acts [..., d_sae], sae_out (of the edited features; transcoders: [..., d_out] with the
   * skip term) and, with `withError`, the error term truth - output(clean features) (SAELens use_error_term
   * semantics), where the truth is x for an SAE and `target` (the output hook's activation) for a transcoder.
   */
  run(x: tf.Tensor, opts: { editFeatures?: (f: tf.Tensor2D) => tf.Tensor2D; withError?: boolean; target?: tf.Tensor } = {}): { featureActs: tf.Tensor; saeOut: tf.Tensor; error?: tf.Tensor } {
    if (opts.withError && this.isTranscoder && !opts.target) {
      throw new Error(`${this.cfg.architecture} on ${this.cfg.metadata.hook_name}: the error term of a transcoder is output - prediction; pass the output hook's activation as target`);
    }
    return tf.tidy(() => {
      const p = this.processIn(x);
      const clean = this.arch.encode(this.cfg, this.weights, p.xIn);
      const edited = opts.editFeatures ? opts.editFeatures(clean) : clean;
      const out = this.reshapeOut(this.decodeFlat(edited, p.state, p.raw), p.lead, p.dHead);
      const res: { featureActs: tf.Tensor; saeOut: tf.Tensor; error?: tf.Tensor } = {
        featureActs: tf.reshape(edited, [...p.lead, this.cfg.d_sae]),
        saeOut: out,
      };
      if (opts.withError) {
        const cleanOut = edited === clean ? out : this.reshapeOut(this.decodeFlat(clean, p.state, p.raw), p.lead, p.dHead);
        const truth = this.isTranscoder ? opts.target! : x;
        if (this.isTranscoder && !tf.util.arraysEqual(truth.shape, cleanOut.shape)) {
          throw new Error(`${this.cfg.architecture}: target shape [${truth.shape.join(', ')}] does not match the prediction's [${cleanOut.shape.join(', ')}] (d_out=${this.dOut})`);
        }
        res.error = tf.sub(truth.dtype === 'float32' ? truth : tf.cast(truth, 'float32'), cleanOut);
      }
      return res;
    }) as unknown as { featureActs: tf.Tensor; saeOut: tf.Tensor; error?: tf.Tensor };
  }

  /** truth - forward(x): what the SAE fails to reconstruct (same shape as x); transcoders need the output hook's activation `target`. */
  errorTerm(x: tf.Tensor, target?: tf.Tensor): tf.Tensor {
    if (this.isTranscoder && !target) throw new Error(`${this.cfg.architecture}.errorTerm needs the output hook's activation (error = output - prediction)`);
    const truth = this.isTranscoder ? target! : x;
    return tf.tidy(() => tf.sub(truth.dtype === 'float32' ? truth : tf.cast(truth, 'float32'), this.forward(x)));
  }

  /** Fold decoder row norms into the encoder (SAELens fold_W_dec_norm); features rescale, reconstructions stay. */
  foldWDecNorm(): void {
    this.assertAlive();
    const folded = this.arch.foldDecoderNorms(this.cfg, this.weights);
    this.replaceWeights(folded);
  }

  /** Fold an activation scaling factor s (expected_average_only_in): W_enc *= s, W_dec /= s, b_dec /= s; normalize_activations becomes none. */
  foldActivationNormScalingFactor(s: number): void {
    this.assertAlive();
    const w = this.weights;
    const folded = tf.tidy(() => ({ ...w, W_enc: tf.mul(w.W_enc, s), W_dec: tf.div(w.W_dec, s), b_dec: tf.div(w.b_dec, s) }));
    this.replaceWeights(folded);
    this.cfg.normalize_activations = 'none';
  }

  private replaceWeights(next: Record<string, tf.Tensor>): void {
    for (const n of Object.keys(this.weights)) {
      if (next[n] !== this.weights[n]) {
        this.weights[n].dispose();
        this.weights[n] = tf.keep(next[n]);
      }
    }
  }

  private setNormState(state: NormState): void {
    if (this.normState.scale) this.normState.scale.dispose();
    if (this.normState.mu) this.normState.mu.dispose();
    this.normState = {};
    if (state.scale) this.normState.scale = tf.keep(state.scale);
    if (state.mu) this.normState.mu = tf.keep(state.mu);
  }

  private assertAlive(): void {
    if (this.disposed) throw new Error(`SAE on ${this.cfg.metadata.hook_name} was disposed`);
  }

  /**
   * Write a SAELens 6 folder: cfg.json, sae_weights.safetensors (in cfg.dtype) and, when known,
   * sparsity.safetensors (tensor `sparsity`, log10 density [d_sae]). Atomic: the folder appears complete or not at all.
   */
  async save(dir: string, opts: { sparsity?: Float32Array } = {}): Promise<void> {
    this.assertAlive();
    const sparsity = opts.sparsity ?? this.sparsity;
    if (sparsity && sparsity.length !== this.cfg.d_sae) throw new Error(`SAE.save: sparsity has ${sparsity.length} values, expected d_sae=${this.cfg.d_sae}`);
    const dtype = SAFETENSORS_DTYPE[this.cfg.dtype] ?? 'F32';
    const tensors: Record<string, TensorToWrite> = {};
    for (const [name, t] of Object.entries(this.weights)) tensors[name] = { dtype, shape: t.shape, data: (await t.data()) as Float32Array };
    await writeSAEFolder(dir, toCfgJson(this.cfg), tensors, sparsity);
  }

  private static fromLoaded(loaded: LoadedSAE): SAE {
    try {
      let sae: SAE;
      try {
        sae = new SAE(loaded.cfg, loaded.weights);
      } catch (e) {
        if (e instanceof ConfigError && loaded.source) throw new ConfigError(`${loaded.source}: ${e.message}`);
        throw e;
      }
      if (loaded.sparsity) sae.sparsity = loaded.sparsity;
      if (loaded.normScalingFactor !== undefined) sae.foldActivationNormScalingFactor(loaded.normScalingFactor);
      return sae;
    } finally {
      for (const t of Object.values(loaded.weights)) t.dispose();
    }
  }

  /** Load a folder: SAELens v6 or pre-6.0 cfg.json + sae_weights.safetensors (+ sparsity.safetensors), or a Gemma Scope params.npz folder. */
  static async load(dir: string, opts: FolderLoadOptions = {}): Promise<SAE> {
    return SAE.fromLoaded(await loadSAEFolder(dir, opts));
  }

  /**
   * Load a pretrained SAE by SAELens release name and SAE id (registry in registry.ts, config_overrides applied),
   * or by `owner/repo` with the SAE id as the folder inside the repo.
   */
  static async fromPretrained(release: string, saeId: string): Promise<SAE> {
    return SAE.fromLoaded(await loadPretrainedSAE(release, saeId));
  }

  dispose(): void {
    if (this.disposed) return;
    for (const t of Object.values(this.weights)) t.dispose();
    this.setNormState({});
    this.disposed = true;
  }
}
