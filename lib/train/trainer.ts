import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { TrainSAEConfig, TrainSAEConfigInput, checkpointThresholds, resolveTrainConfig, totalSteps } from './config';
import { SAEParams, initParams, namedVariable, normalizeDecoderRows, paramList, removeParallelComponent } from './params';
import { TrainingArchitecture, trainingArchitecture } from '../sae/architectures';
import { Adam } from '../optim/adam';
import { clipGradNorm } from '../optim/clip';
import { ActivationSource } from './sources';
import { ActivationStore } from './store';
import { Rng, hashSeed } from '../data/random';
import { learningRateAt, sparsityCoefficientAt } from './schedules';
import { StepOutputs, explainedVariance, trainingForward } from './losses';
import { geometricMedian } from './geometric-median';
import { exportTrained, saveSAEInto, toSAE } from './export';
import { SAE } from '../sae/sae';
import { TrainProgressReporter, TrainProgress, makeProgressReporter } from './progress';
import { writeDirAtomic, writeFileAtomic } from '../io/atomic';
import { NonFiniteError } from '../io/errors';
import { loadSafetensors, rawToTensor, writeTensorsSafetensors } from '../io/safetensors';
import { interruptible } from '../notebook/interrupt';

/** One metrics record (a line of metrics.jsonl); loss names follow SAELens's wandb keys. */
export interface TrainMetrics {
  step: number;
  tokens: number;
  lr: number;
  /** current value of the architecture's first coefficient (L1 or L0), when it has one */
  sparsity_coefficient?: number;
  overall_loss: number;
  mse_loss: number;
  l1_loss?: number;
  l0_loss?: number;
  ghost_grad_loss?: number;
  auxiliary_reconstruction_loss?: number;
  /** batchtopk / matryoshka_batchtopk: the tracked activation threshold */
  topk_threshold?: number;
  /** mean active features per token */
  l0: number;
  explained_variance: number;
  /** features that have not fired for more than deadFeatureWindow steps */
  dead_features: number;
  /** mean over features of log10(density + 1e-10), density over the current sampling window */
  mean_log10_feature_density: number;
  elapsed_s: number;
}

export interface TrainerOptions {
  /** folder for metrics.jsonl and checkpoints/<tokens>/; nothing is written when absent */
  outDir?: string;
  /** where fit() writes the final SAE folder; default outDir */
  saeDir?: string;
  /** called at every log step (notebooks render their own progress line from it) */
  onProgress?: (p: TrainProgress) => void;
  /** 'auto': a terminal progress bar when stderr is a TTY and no onProgress is given */
  progress?: 'auto' | 'bar' | 'none';
  /** stop after this many steps in total (without the final save): simulates an interruption */
  stopAfterSteps?: number;
}

export interface TrainResult {
  steps: number;
  tokens: number;
  /** the last logged metrics */
  metrics: TrainMetrics | undefined;
  /** final SAE folder, when written */
  saeDir?: string;
  completed: boolean;
}

const STATE_FORMAT = 'saelab-sae-trainer-state';

/**
 * SAELens's SAE training loop in TF.js: per step, unit-norm decoder rows; a batch from the activation
 * store; MSE + sparsity (+ ghost grads / topk aux) loss; gradient clip; decoder-parallel gradient removed;
 * Adam with lr schedule; dead-feature and density tracking; metrics every logEvery steps; evenly spaced
 * checkpoints that resume to the same weights.
 */
export class SAETrainer {
  step = 0;
  tokens = 0;
  readonly totalSteps: number;
  private nSinceFired: tf.Tensor1D;
  private actFreq: tf.Tensor1D;
  private nFracActiveTokens = 0;
  private thresholds: number[];
  private startTime = Date.now();
  private elapsedBefore = 0;
  private lastMetrics: TrainMetrics | undefined;
  /** the last checkpoint folder written (named when training diverges) */
  private lastCheckpoint: string | undefined;
  readonly history: TrainMetrics[] = [];
  /** the architecture's training pieces (lib/sae/architectures) */
  readonly arch: TrainingArchitecture;
  /** the architecture's running values beyond the parameters (BatchTopK's threshold) */
  archState: Record<string, number>;

  private constructor(readonly cfg: TrainSAEConfig, readonly store: ActivationStore, readonly params: SAEParams, readonly adam: Adam, readonly opts: TrainerOptions) {
    this.arch = trainingArchitecture(cfg.architecture);
    this.archState = this.arch.initState?.(cfg) ?? {};
    this.totalSteps = totalSteps(cfg);
    this.nSinceFired = tf.zeros([cfg.dSae]);
    this.actFreq = tf.zeros([cfg.dSae]);
    this.thresholds = checkpointThresholds(cfg);
  }

  /** A fresh trainer: fills the store, estimates normalization, initialises weights and b_dec. */
  static async create(input: TrainSAEConfigInput, source: ActivationSource, opts: TrainerOptions = {}): Promise<SAETrainer> {
    const cfg = resolveTrainConfig(source.dOut !== undefined && input.dOut === undefined ? { ...input, dOut: source.dOut } : input);
    checkSourceWidths(cfg, source);
    const store = new ActivationStore(source, { batchTokens: cfg.trainBatchSizeTokens, nBatchesInBuffer: cfg.nBatchesInBuffer, seed: hashSeed(cfg.seed, 1) });
    await store.init();
    if (cfg.normalizeActivations === 'expected_average_only_in') store.estimateNormScalingFactor(cfg.normEstimateTokens);
    const params = initParams(cfg, new Rng(hashSeed(cfg.seed, 2)));
    initBDec(cfg, params, store);
    const adam = new Adam(paramList(params), cfg.adamBeta1, cfg.adamBeta2, cfg.adamEps);
    const t = new SAETrainer(cfg, store, params, adam, opts);
    if (opts.outDir) {
      fs.mkdirSync(opts.outDir, { recursive: true });
      writeFileAtomic(t.metricsFile!, '');
    }
    return t;
  }

  /** Continue a run from a checkpoint folder written by this trainer (same source, same data order). */
  static async resume(checkpointDir: string, source: ActivationSource, opts: TrainerOptions = {}): Promise<SAETrainer> {
    const stateFile = path.join(checkpointDir, 'trainer_state.json');
    if (!fs.existsSync(stateFile)) throw new Error(`${checkpointDir}: no trainer_state.json; resume needs a checkpoint folder written by saelab's trainer (checkpoints/<tokens>/)`);
    const state = JSON.parse(fs.readFileSync(stateFile, 'utf8'));
    if (state.format !== STATE_FORMAT) throw new Error(`${stateFile}: format ${JSON.stringify(state.format)} is not ${STATE_FORMAT}`);
    // version 1 checkpoints were written before SAELens 6 defaults: fields they lack take SAELens 5's
    const cfg = resolveTrainConfig(state.version === 1 ? { defaults: 'saelens5', ...state.config } : state.config);
    checkSourceWidths(cfg, source, stateFile);
    const { tensors } = loadSafetensors(path.join(checkpointDir, 'trainer_state.safetensors'));
    const get = (name: string): tf.Tensor => {
      const t = tensors[name];
      if (!t) throw new Error(`${checkpointDir}/trainer_state.safetensors: missing tensor '${name}'`);
      return rawToTensor(t, name);
    };
    // parameters in their training order (it fixes the gradient-norm sum); version 1 wrote the SAELens 5 set
    const names: string[] = state.paramNames ?? ['W_enc', 'b_enc', 'W_dec', 'b_dec', 'log_threshold'].filter((n) => tensors[`param.${n}`]);
    const params: SAEParams = {};
    for (const name of names) {
      const t = get(`param.${name}`);
      params[name] = namedVariable(t, name);
      t.dispose();
    }
    const adam = new Adam(paramList(params), cfg.adamBeta1, cfg.adamBeta2, cfg.adamEps);
    adam.step = state.adamStep;
    for (const name of Object.keys(adam.m)) {
      const m = get(`adam_m.${name}`);
      const v = get(`adam_v.${name}`);
      adam.m[name].assign(m);
      adam.v[name].assign(v);
      m.dispose();
      v.dispose();
    }
    const store = new ActivationStore(source, { batchTokens: cfg.trainBatchSizeTokens, nBatchesInBuffer: cfg.nBatchesInBuffer, seed: hashSeed(cfg.seed, 1) });
    await store.restore({
      json: state.store,
      tensors: {
        storage: get('store.storage') as tf.Tensor2D,
        queue: tensors['store.queue'] ? (get('store.queue') as tf.Tensor2D) : null,
        pending: tensors['store.pending'] ? (get('store.pending') as tf.Tensor2D) : null,
      },
    });
    const t = new SAETrainer(cfg, store, params, adam, opts);
    t.step = state.step;
    t.tokens = state.tokens;
    t.nFracActiveTokens = state.nFracActiveTokens;
    t.elapsedBefore = state.elapsedS;
    if (state.archState) t.archState = { ...state.archState };
    t.nSinceFired.dispose();
    t.actFreq.dispose();
    t.nSinceFired = get('n_forward_passes_since_fired') as tf.Tensor1D;
    t.actFreq = get('act_freq_scores') as tf.Tensor1D;
    t.thresholds = checkpointThresholds(cfg).filter((x) => t.tokens <= x);
    if (opts.outDir && t.metricsFile) {
      // keep the log up to the checkpoint: steps after it are about to be redone
      fs.mkdirSync(opts.outDir, { recursive: true });
      const kept = fs.existsSync(t.metricsFile)
        ? fs.readFileSync(t.metricsFile, 'utf8').split('\n').filter((l) => l.trim() && JSON.parse(l).step <= t.step)
        : [];
      writeFileAtomic(t.metricsFile, kept.map((l) => l + '\n').join(''));
    }
    return t;
  }

  get metricsFile(): string | undefined {
    return this.opts.outDir ? path.join(this.opts.outDir, 'metrics.jsonl') : undefined;
  }

  /** Activation norm scaling factor applied to training batches (1 without normalization). */
  get normScalingFactor(): number {
    return this.store.scale;
  }

  /** Train until the configured number of tokens (or opts.stopAfterSteps), then write the final SAE. */
  async fit(): Promise<TrainResult> {
    const reporter: TrainProgressReporter = makeProgressReporter(this.opts, this.totalSteps);
    this.startTime = Date.now();
    const stopAt = Math.min(this.totalSteps, this.opts.stopAfterSteps ?? Infinity);
    const stopPoint = interruptible('SAE training');
    try {
      while (this.step < stopAt) {
        await stopPoint(`at step ${this.step} of ${this.totalSteps}; the last checkpoint is kept`);
        const m = await this.trainStep();
        if (m) reporter.update(this.progressInfo(m));
        if (this.opts.outDir) {
          while (this.thresholds.length && this.tokens > this.thresholds[0]) {
            const ck = path.join(this.opts.outDir, 'checkpoints', String(this.tokens));
            await this.saveCheckpoint(ck);
            this.lastCheckpoint = ck;
            this.thresholds.shift();
          }
        }
      }
    } finally {
      reporter.stop();
    }
    const completed = this.step >= this.totalSteps;
    let saeDir: string | undefined;
    if (completed && (this.opts.saeDir || this.opts.outDir)) {
      saeDir = this.opts.saeDir ?? this.opts.outDir!;
      await this.saveSAE(saeDir);
    }
    return { steps: this.step, tokens: this.tokens, metrics: this.lastMetrics, saeDir, completed };
  }

  private progressInfo(m: TrainMetrics): TrainProgress {
    return { step: this.step, totalSteps: this.totalSteps, tokens: this.tokens, totalTokens: this.totalSteps * this.cfg.trainBatchSizeTokens, elapsedS: this.elapsed(), metrics: m };
  }

  private elapsed(): number {
    return this.elapsedBefore + (Date.now() - this.startTime) / 1000;
  }

  /**
   * Replace the parameters' values (a warm start, or another implementation's initialisation): every
   * trainable parameter by name, shapes checked. The optimizer state is left as it is.
   */
  loadParams(values: Record<string, tf.Tensor>): void {
    const missing = Object.keys(this.params).filter((n) => !values[n]);
    if (missing.length) throw new Error(`SAETrainer.loadParams: missing ${missing.join(', ')} (a ${this.cfg.architecture} SAE trains ${Object.keys(this.params).join(', ')})`);
    for (const [name, v] of Object.entries(this.params)) {
      if (!tf.util.arraysEqual(values[name].shape, v.shape)) throw new Error(`SAETrainer.loadParams: ${name} has shape [${values[name].shape}], the parameter is [${v.shape}]`);
    }
    for (const [name, v] of Object.entries(this.params)) v.assign(values[name].dtype === 'float32' ? values[name] : tf.cast(values[name], 'float32'));
  }

  /**
   * One optimisation step; returns the metrics when this step is a log step. `batch` [trainBatchSizeTokens, d_in]
   * (transcoders: [.., d_in + d_out]) trains on those rows instead of the store's next batch (the caller keeps it).
   */
  async trainStep(batch?: tf.Tensor2D): Promise<TrainMetrics | undefined> {
    const cfg = this.cfg;
    if (batch && (batch.rank !== 2 || batch.shape[0] !== cfg.trainBatchSizeTokens || batch.shape[1] !== this.store.dIn)) {
      throw new Error(`SAETrainer.trainStep: batch has shape [${batch.shape}], expected [${cfg.trainBatchSizeTokens}, ${this.store.dIn}]`);
    }
    if (cfg.normalizeSaeDecoder) normalizeDecoderRows(this.params);
    if ((this.step + 1) % cfg.featureSamplingWindow === 0) {
      this.actFreq.dispose();
      this.actFreq = tf.zeros([cfg.dSae]);
      this.nFracActiveTokens = 0;
    }
    batch = batch ? tf.clone(batch) : await this.store.nextBatch();
    // transcoders train on [input | output] rows: the encoder reads the first dIn columns, the loss targets the rest
    const paired = cfg.dOut !== undefined;
    const x = paired ? tf.slice(batch, [0, 0], [-1, cfg.dIn]) as tf.Tensor2D : batch;
    const target = paired ? tf.slice(batch, [0, cfg.dIn], [-1, cfg.dOut!]) as tf.Tensor2D : batch;
    const lr = learningRateAt(cfg, this.step);
    const coefficients: Record<string, number> = {};
    for (const [name, f] of Object.entries(this.arch.coefficients)) coefficients[name] = sparsityCoefficientAt(cfg[f.value] as number, cfg[f.warmUp] as number, this.step);
    const coef: number | undefined = Object.values(coefficients)[0];
    const needDead = this.arch.usesDeadFeatures(cfg);
    let dead: { mask: tf.Tensor1D; count: number } | undefined;
    if (needDead) {
      const mask = tf.tidy(() => tf.cast(tf.greater(this.nSinceFired, cfg.deadFeatureWindow), 'float32')) as tf.Tensor1D;
      const count = tf.tidy(() => tf.sum(mask).dataSync()[0]);
      dead = { mask, count };
    }
    const noise = cfg.noiseScale > 0 ? tf.randomNormal([cfg.trainBatchSizeTokens, cfg.dSae], 0, cfg.noiseScale, 'float32', hashSeed(cfg.seed, 3, this.step)) as tf.Tensor2D : undefined;
    const vars = paramList(this.params);
    const byVarName: Record<string, string> = {};
    for (const [k, v] of Object.entries(vars)) byVarName[v.name] = k;
    let out: StepOutputs | undefined;
    const { value, grads: rawGrads } = tf.variableGrads(() => {
      const o = trainingForward(cfg, this.params, { x, target, coefficients, dead, noise });
      out = { loss: o.loss, losses: o.losses, featureActs: tf.keep(o.featureActs), saeOut: tf.keep(o.saeOut) };
      for (const l of Object.values(o.losses)) tf.keep(l);
      return o.loss;
    }, Object.values(vars));
    const o = out!;
    // stop at the first non-finite loss, before the update: the parameters (and the architecture's state) stay those of the last good step
    const lossValue = value.dataSync()[0];
    if (!Number.isFinite(lossValue)) {
      tf.dispose([batch, x, target, value, o.featureActs, o.saeOut, ...Object.values(o.losses), ...Object.values(rawGrads)]);
      if (dead) dead.mask.dispose();
      noise?.dispose();
      throw this.divergedError(`non-finite loss (${lossValue})`);
    }
    this.arch.afterStep?.(cfg, this.archState, o);
    const isLogStep = (this.step + 1) % cfg.logEvery === 0 || this.step + 1 === this.totalSteps;

    // dead-feature and density bookkeeping (SAELens: fired = any activation > 0 in the batch)
    const [since, freq] = tf.tidy(() => {
      const firedCount = tf.sum(tf.cast(tf.greater(o.featureActs, 0), 'float32'), 0);
      const fired = tf.greater(firedCount, 0);
      return [tf.where(fired, tf.zerosLike(this.nSinceFired), tf.add(this.nSinceFired, 1)), tf.add(this.actFreq, firedCount)] as tf.Tensor1D[];
    });
    this.nSinceFired.dispose();
    this.actFreq.dispose();
    this.nSinceFired = since;
    this.actFreq = freq;
    this.nFracActiveTokens += cfg.trainBatchSizeTokens;

    // gradients: rename, clip, remove the decoder-parallel part, Adam
    const named: Record<string, tf.Tensor> = {};
    for (const [vn, g] of Object.entries(rawGrads)) named[byVarName[vn]] = g;
    let grads = named;
    if (cfg.gradClipNorm > 0) {
      const clipped = clipGradNorm(named, cfg.gradClipNorm);
      clipped.norm.dispose();
      tf.dispose(Object.values(named));
      grads = clipped.grads;
    }
    if (cfg.normalizeSaeDecoder) {
      const g = removeParallelComponent(grads.W_dec as tf.Tensor2D, this.params.W_dec as tf.Tensor2D);
      grads.W_dec.dispose();
      grads.W_dec = g;
    }

    let metrics: TrainMetrics | undefined;
    if (isLogStep) metrics = this.computeMetrics(target, o, lr, coef);
    this.adam.apply(grads, lr);

    tf.dispose([batch, x, target, value, o.featureActs, o.saeOut, ...Object.values(o.losses), ...Object.values(grads)]);
    if (dead) dead.mask.dispose();
    noise?.dispose();
    this.step += 1;
    this.tokens += cfg.trainBatchSizeTokens;
    if (metrics) {
      this.lastMetrics = metrics;
      this.history.push(metrics);
      if (this.metricsFile) fs.appendFileSync(this.metricsFile, JSON.stringify(metrics) + '\n');
    }
    return metrics;
  }

  private computeMetrics(x: tf.Tensor2D, o: StepOutputs, lr: number, coef: number | undefined): TrainMetrics {
    const cfg = this.cfg;
    const vals = tf.tidy(() => {
      const ev = explainedVariance(x, o.saeOut);
      const l0 = tf.mean(tf.sum(tf.cast(tf.greater(o.featureActs, 0), 'float32'), 1));
      const deadCount = tf.sum(tf.cast(tf.greater(this.nSinceFired, cfg.deadFeatureWindow), 'float32'));
      const density = tf.mean(tf.div(tf.log(tf.add(tf.div(this.actFreq, Math.max(1, this.nFracActiveTokens)), 1e-10)), Math.LN10));
      const names = Object.keys(o.losses);
      const packed = tf.stack([o.loss, ev, l0, deadCount, density, ...names.map((n) => o.losses[n])]).dataSync();
      return { packed: Array.from(packed), names };
    });
    const [overall, ev, l0, deadCount, density, ...parts] = vals.packed;
    const m: TrainMetrics = {
      step: this.step + 1,
      tokens: this.tokens + cfg.trainBatchSizeTokens,
      lr,
      ...(coef === undefined ? {} : { sparsity_coefficient: coef }),
      overall_loss: overall,
      mse_loss: 0,
      l0,
      explained_variance: ev,
      dead_features: deadCount,
      mean_log10_feature_density: density,
      elapsed_s: this.elapsed(),
    };
    vals.names.forEach((n, i) => ((m as unknown as Record<string, number>)[n] = parts[i]));
    Object.assign(m, this.archState);
    return m;
  }

  /** log10 feature density over the current sampling window [d_sae] (SAELens's sparsity.safetensors). */
  log10FeatureDensity(): Float32Array {
    return tf.tidy(() => tf.div(tf.log(tf.add(tf.div(this.actFreq, Math.max(1, this.nFracActiveTokens)), 1e-10)), Math.LN10).dataSync() as Float32Array);
  }

  /** Inference weights with normalization folded in (caller disposes). */
  exportWeights(): Record<string, tf.Tensor> {
    return exportTrained(this.cfg, this.params, this.archState, this.store.scale).weights;
  }

  /** The current SAE (lib/sae) with normalization folded in and the window's log10 densities as sparsity (caller disposes). */
  toSAE(): SAE {
    const sae = toSAE(this.cfg, this.params, this.store.scale, this.archState);
    sae.sparsity = this.log10FeatureDensity();
    return sae;
  }

  /** The error of a run that went non-finite at the current step: names the step, the last good checkpoint and what to try. */
  private divergedError(what: string, step = this.step + 1): NonFiniteError {
    const last = this.lastCheckpoint ? `the last good checkpoint is ${this.lastCheckpoint} (resume from it with a lower lr)` : 'no checkpoint was written before it';
    return new NonFiniteError(`training diverged: ${what} at step ${step} of ${this.totalSteps} (lr ${this.cfg.lr}); no SAE was written; ${last}`);
  }

  /** Refuse to save parameters that hold NaN or inf (an update can overflow before the next loss shows it). */
  private assertParamsFinite(): void {
    const bad = Object.entries(paramList(this.params)).filter(([, v]) => tf.tidy(() => tf.any(tf.logicalNot(tf.isFinite(v))).dataSync()[0] === 1)).map(([k]) => k);
    if (bad.length) throw this.divergedError(`non-finite parameters (${bad.join(', ')}) after the update`, this.step);
  }

  /** Write the current SAE (SAELens folder: cfg.json, sae_weights.safetensors, sparsity.safetensors) into dir, keeping other files there. */
  async saveSAE(dir: string): Promise<void> {
    this.assertParamsFinite();
    if (this.arch.save) {
      await this.arch.save(this.cfg, this.params, this.archState, this.store.scale, dir, this.log10FeatureDensity());
      return;
    }
    const sae = this.toSAE();
    try {
      await saveSAEInto(sae, dir, sae.sparsity);
    } finally {
      sae.dispose();
    }
  }

  /** Write a checkpoint folder: the SAE as it is now plus everything needed to resume exactly. */
  async saveCheckpoint(dir: string): Promise<void> {
    this.assertParamsFinite();
    const storeState = this.store.getState();
    const tensors: Record<string, tf.Tensor> = {
      n_forward_passes_since_fired: this.nSinceFired,
      act_freq_scores: this.actFreq,
      'store.storage': storeState.tensors.storage,
    };
    if (storeState.tensors.queue) tensors['store.queue'] = storeState.tensors.queue;
    if (storeState.tensors.pending) tensors['store.pending'] = storeState.tensors.pending;
    for (const [k, v] of Object.entries(paramList(this.params))) {
      tensors[`param.${k}`] = v;
      tensors[`adam_m.${k}`] = this.adam.m[k];
      tensors[`adam_v.${k}`] = this.adam.v[k];
    }
    const json = {
      format: STATE_FORMAT,
      version: 2,
      config: this.cfg,
      paramNames: Object.keys(this.params),
      archState: this.archState,
      step: this.step,
      tokens: this.tokens,
      adamStep: this.adam.step,
      nFracActiveTokens: this.nFracActiveTokens,
      elapsedS: this.elapsed(),
      store: storeState.json,
    };
    try {
      await writeDirAtomic(dir, async (tmp) => {
        await this.saveSAE(tmp);
        await writeTensorsSafetensors(path.join(tmp, 'trainer_state.safetensors'), tensors);
        writeFileAtomic(path.join(tmp, 'trainer_state.json'), JSON.stringify(json, null, 2) + '\n');
      });
    } finally {
      tf.dispose([storeState.tensors.storage, storeState.tensors.queue, storeState.tensors.pending].filter((t): t is tf.Tensor2D => t !== null));
    }
  }

  dispose(): void {
    tf.dispose(Object.values(paramList(this.params)));
    this.adam.dispose();
    this.store.dispose();
    this.nSinceFired.dispose();
    this.actFreq.dispose();
  }
}

/** The source's row widths must be the config's: dIn, plus dOut for a transcoder's paired rows. */
function checkSourceWidths(cfg: TrainSAEConfig, source: ActivationSource, where = 'train config'): void {
  if (source.dIn !== cfg.dIn) throw new Error(`${where}: dIn ${cfg.dIn} does not match the activations' width ${source.dIn} (${source.describe()})`);
  if (source.dOut !== cfg.dOut) {
    if (cfg.dOut === undefined) throw new Error(`${where}: ${cfg.architecture} reconstructs its input, but ${source.describe()} pairs inputs with outputs (for transcoders)`);
    throw new Error(`${where}: ${cfg.architecture} predicts an output of width ${cfg.dOut}; ${source.describe()} ${source.dOut === undefined ? 'has no outputs (pair an input and an output hook)' : `has outputs of width ${source.dOut}`}`);
  }
}

/** b_dec initialisation from the store's first buffer half (scaled like training batches); transcoders: from the output columns. */
function initBDec(cfg: TrainSAEConfig, params: SAEParams, store: ActivationStore): void {
  if (cfg.bDecInitMethod === 'zeros') return;
  const buf = store.storageBuffer();
  const pts = tf.tidy(() => {
    const target = cfg.dOut !== undefined ? tf.slice(buf, [0, cfg.dIn], [-1, cfg.dOut]) : buf;
    return (store.scale === 1 ? tf.clone(target) : tf.mul(target, store.scale)) as tf.Tensor2D;
  });
  try {
    if (cfg.bDecInitMethod === 'mean') {
      tf.tidy(() => params.b_dec.assign(tf.mean(pts, 0)));
    } else {
      const { median } = geometricMedian(pts, { maxIter: 100 });
      params.b_dec.assign(median);
      median.dispose();
    }
  } finally {
    pts.dispose();
  }
}

/** Train an SAE end to end: create a trainer over `source`, fit, and return the result and the trainer. */
export async function trainSAE(input: TrainSAEConfigInput, source: ActivationSource, opts: TrainerOptions = {}): Promise<{ trainer: SAETrainer; result: TrainResult }> {
  const trainer = await SAETrainer.create(input, source, opts);
  try {
    return { trainer, result: await trainer.fit() };
  } catch (e) {
    trainer.dispose(); // interrupted or failed: free the parameters and optimizer state now
    throw e;
  }
}
