import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { TrainSAEConfig, TrainSAEConfigInput, checkpointThresholds, resolveTrainConfig, totalSteps } from './config';
import { SAEParams, initParams, namedVariable, normalizeDecoderRows, paramList, removeParallelComponent } from './params';
import { Adam } from '../optim/adam';
import { clipGradNorm } from '../optim/clip';
import { ActivationSource } from './sources';
import { ActivationStore } from './store';
import { Rng, hashSeed } from '../data/random';
import { learningRateAt, sparsityCoefficientAt } from './schedules';
import { StepOutputs, explainedVariance, trainingForward } from './losses';
import { geometricMedian } from './geometric-median';
import { exportWeights, saveSAEInto, toSAE } from './export';
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
  sparsity_coefficient: number;
  overall_loss: number;
  mse_loss: number;
  l1_loss?: number;
  l0_loss?: number;
  ghost_grad_loss?: number;
  auxiliary_reconstruction_loss?: number;
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

  private constructor(readonly cfg: TrainSAEConfig, readonly store: ActivationStore, readonly params: SAEParams, readonly adam: Adam, readonly opts: TrainerOptions) {
    this.totalSteps = totalSteps(cfg);
    this.nSinceFired = tf.zeros([cfg.dSae]);
    this.actFreq = tf.zeros([cfg.dSae]);
    this.thresholds = checkpointThresholds(cfg);
  }

  /** A fresh trainer: fills the store, estimates normalization, initialises weights and b_dec. */
  static async create(input: TrainSAEConfigInput, source: ActivationSource, opts: TrainerOptions = {}): Promise<SAETrainer> {
    const cfg = resolveTrainConfig(input);
    if (source.dIn !== cfg.dIn) throw new Error(`train config: dIn ${cfg.dIn} does not match the activations' width ${source.dIn} (${source.describe()})`);
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
    const cfg = resolveTrainConfig(state.config);
    if (source.dIn !== cfg.dIn) throw new Error(`${stateFile}: checkpoint d_in ${cfg.dIn} does not match the source width ${source.dIn}`);
    const { tensors } = loadSafetensors(path.join(checkpointDir, 'trainer_state.safetensors'));
    const get = (name: string): tf.Tensor => {
      const t = tensors[name];
      if (!t) throw new Error(`${checkpointDir}/trainer_state.safetensors: missing tensor '${name}'`);
      return rawToTensor(t, name);
    };
    const params: SAEParams = {
      W_enc: namedVariable(get('param.W_enc') as tf.Tensor2D, 'W_enc'),
      b_enc: namedVariable(get('param.b_enc') as tf.Tensor1D, 'b_enc'),
      W_dec: namedVariable(get('param.W_dec') as tf.Tensor2D, 'W_dec'),
      b_dec: namedVariable(get('param.b_dec') as tf.Tensor1D, 'b_dec'),
    };
    if (cfg.architecture === 'jumprelu') params.log_threshold = namedVariable(get('param.log_threshold') as tf.Tensor1D, 'log_threshold');
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

  /** One optimisation step; returns the metrics when this step is a log step. */
  async trainStep(): Promise<TrainMetrics | undefined> {
    const cfg = this.cfg;
    if (cfg.normalizeSaeDecoder) normalizeDecoderRows(this.params);
    if ((this.step + 1) % cfg.featureSamplingWindow === 0) {
      this.actFreq.dispose();
      this.actFreq = tf.zeros([cfg.dSae]);
      this.nFracActiveTokens = 0;
    }
    const x = await this.store.nextBatch();
    const lr = learningRateAt(cfg, this.step);
    const coef = cfg.architecture === 'jumprelu'
      ? sparsityCoefficientAt(cfg.l0Coefficient, cfg.l0WarmUpSteps, this.step)
      : sparsityCoefficientAt(cfg.l1Coefficient, cfg.l1WarmUpSteps, this.step);
    const needDead = (cfg.architecture === 'standard' && cfg.useGhostGrads) || (cfg.architecture === 'topk' && cfg.auxCoefficient > 0);
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
      const o = trainingForward(cfg, this.params, { x, sparsityCoefficient: coef, dead, noise });
      out = { loss: o.loss, losses: o.losses, featureActs: tf.keep(o.featureActs), saeOut: tf.keep(o.saeOut) };
      for (const l of Object.values(o.losses)) tf.keep(l);
      return o.loss;
    }, Object.values(vars));
    const o = out!;
    // stop at the first non-finite loss, before the update: the parameters stay those of the last good step
    const lossValue = value.dataSync()[0];
    if (!Number.isFinite(lossValue)) {
      tf.dispose([x, value, o.featureActs, o.saeOut, ...Object.values(o.losses), ...Object.values(rawGrads)]);
      if (dead) dead.mask.dispose();
      noise?.dispose();
      throw this.divergedError(`non-finite loss (${lossValue})`);
    }
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
      const g = removeParallelComponent(grads.W_dec as tf.Tensor2D, this.params.W_dec);
      grads.W_dec.dispose();
      grads.W_dec = g;
    }

    let metrics: TrainMetrics | undefined;
    if (isLogStep) metrics = this.computeMetrics(x, o, lr, coef);
    this.adam.apply(grads, lr);

    tf.dispose([x, value, o.featureActs, o.saeOut, ...Object.values(o.losses), ...Object.values(grads)]);
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

  private computeMetrics(x: tf.Tensor2D, o: StepOutputs, lr: number, coef: number): TrainMetrics {
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
      sparsity_coefficient: coef,
      overall_loss: overall,
      mse_loss: 0,
      l0,
      explained_variance: ev,
      dead_features: deadCount,
      mean_log10_feature_density: density,
      elapsed_s: this.elapsed(),
    };
    vals.names.forEach((n, i) => ((m as unknown as Record<string, number>)[n] = parts[i]));
    return m;
  }

  /** log10 feature density over the current sampling window [d_sae] (SAELens's sparsity.safetensors). */
  log10FeatureDensity(): Float32Array {
    return tf.tidy(() => tf.div(tf.log(tf.add(tf.div(this.actFreq, Math.max(1, this.nFracActiveTokens)), 1e-10)), Math.LN10).dataSync() as Float32Array);
  }

  /** Inference weights with normalization folded in (caller disposes). */
  exportWeights(): Record<string, tf.Tensor> {
    return exportWeights(this.params, this.store.scale);
  }

  /** The current SAE (lib/sae) with normalization folded in and the window's log10 densities as sparsity (caller disposes). */
  toSAE(): SAE {
    const sae = toSAE(this.cfg, this.params, this.store.scale);
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
      version: 1,
      config: this.cfg,
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

/** b_dec initialisation from the store's first buffer half (scaled like training batches). */
function initBDec(cfg: TrainSAEConfig, params: SAEParams, store: ActivationStore): void {
  if (cfg.bDecInitMethod === 'zeros') return;
  const buf = store.storageBuffer();
  const pts = tf.tidy(() => (store.scale === 1 ? tf.clone(buf) : tf.mul(buf, store.scale)) as tf.Tensor2D);
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
