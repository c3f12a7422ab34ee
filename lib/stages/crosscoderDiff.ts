/**
 * Stage 13: crosscoder model diffing. Both models run on the same token ids from each of the config's
 * text domains (the demo: English, the base's domain, and JavaScript, the finetune's); a crosscoder is
 * trained on their paired activations at one hook; every latent gets its relative decoder norm, decoder
 * cosine, density in each domain, latent-scaling ratio and class (shared / base-only / finetune-only),
 * and the exclusive latents are listed with their top contexts. Artifacts: crosscoder/ (cfg.json,
 * crosscoder_weights.safetensors, sparsity.safetensors, metrics.jsonl), tokens.safetensors, latents.json.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { StageContext } from '../notebook/stage';
import { Progress } from '../notebook/progress';
import { interruptible } from '../notebook/interrupt';
import { StageOutput, defineStage } from './define';
import { ExperimentConfig } from './config';
import { hookActivations, loadPipelineModels, sampleContexts, saveTokens } from './common';
import { hookLayer } from '../model/hookNames';
import { contextsText } from './featureMatching';
import { featureTransferStage, STAGE_FEATURE_TRANSFER } from './featureTransfer';
import { Row } from '../plots/table';
import { barSpec, histogramSpec } from '../plots/specs';
import { histogram } from '../analysis/histogram';
import { writeJsonAtomic } from '../io/atomic';
import { InMemorySource } from '../train/sources';
import { TrainMetrics } from '../train/trainer';
import { loadTokenizer } from '../tokenizers/tokenizer';
import { trainCrosscoder } from '../crosscoder/train';
import { Crosscoder } from '../crosscoder/crosscoder';
import { LatentClass, countClasses, decoderDiff, latentScalingRatio, latentStats, markNeverFired } from '../crosscoder/diff';
import { topActivatingExamples } from '../features/topExamples';

export const STAGE_CROSSCODER_DIFF = '13_crosscoder_diff';

export interface CrosscoderDiffResult {
  reused: boolean;
  hook: string;
  domains: string[];
  /** tokens per domain (after dropping BOS) */
  tokensPerDomain: number;
  /** per-model scale applied before training (mean norm -> sqrt(d_model)) */
  normScale: { base: number; finetune: number };
  dSae: number;
  activation: string;
  classCounts: Record<LatentClass, number>;
  /** explained variance of each model's activations, per domain */
  explainedVariance: Row[];
  /** per class: mean density in each domain, mean decoder cosine, mean latent-scaling ratio */
  classTable: Row[];
  baseOnlyTable: Row[];
  finetuneOnlyTable: Row[];
  /** finetune-only latents: share of their top examples drawn from the last domain (the finetune's) */
  finetuneOnlyTopExamplesInFinetuneDomain: number | null;
  baseOnlyTopExamplesInFinetuneDomain: number | null;
  sharedCosineMedian: number | null;
  finalMetrics: Record<string, number> | null;
  plots: { relativeNorm: object; sharedCosine: object; classes: object; densityByClass: object };
}

export function crosscoderDiffInputs(c: ExperimentConfig): unknown {
  return { base: c.base, finetune: c.finetune, sae: c.sae, dataset: c.dataset, contextSize: c.contextSize, prependBos: c.prependBos, seed: c.seed, crosscoder: c.crosscoder };
}

/** Stage 13 (see the module comment). */
export const crosscoderDiffStage = defineStage<CrosscoderDiffResult>({
  name: STAGE_CROSSCODER_DIFF,
  inputs: crosscoderDiffInputs,
  run: crosscoderDiffRun,
});

/** Per-latent values saved in latents.json. */
interface LatentRecord {
  latent: number;
  class: LatentClass;
  relative_norm: number;
  cosine: number;
  scaling_ratio: number;
  density: number[];
}

const mean = (xs: number[]): number | null => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null);

async function crosscoderDiffRun(ctx: StageContext): Promise<StageOutput<CrosscoderDiffResult>> {
  const { config, stageDir } = ctx;
  const s = config.crosscoder;
  const m = await loadPipelineModels(config);
  const hook = s.hook ?? m.hook;
  const layer = hookLayer(hook);
  const d = m.dModel;
  const ctxLen = config.contextSize;
  const first = s.dropBos && config.prependBos ? 1 : 0;
  const P = ctxLen - first;
  const n = s.contextsPerDomain;
  // token ids per domain, and both models' activations [n * P, d] per domain
  const tokens: Int32Array[] = [];
  const acts: Float32Array[][] = s.domains.map(() => []);
  try {
    const progress = new Progress('crosscoder activations', s.domains.length * 2 * Math.ceil(n / s.batchSize));
    const stopPoint = interruptible('crosscoder activations');
    for (const [i, dom] of s.domains.entries()) {
      const dc = { ...config, dataset: { ...config.dataset, path: dom.path ?? config.dataset.path, split: dom.split, column: dom.column } };
      tokens.push(await sampleContexts(dc, m.tokenizer, n, 13 + i));
    }
    // one model at a time (loading the finetune releases the base): every domain on the base, then on the finetune
    for (const which of ['base', 'finetune'] as const) {
      const model = await m.model(which);
      for (const [i, t] of tokens.entries()) {
        const out = new Float32Array(n * P * d);
        for (let start = 0; start < n; start += s.batchSize) {
          const b = Math.min(s.batchSize, n - start);
          const ids = tf.tensor2d(t.subarray(start * ctxLen, (start + b) * ctxLen), [b, ctxLen], 'int32');
          const a = hookActivations(model, ids, hook, layer);
          const kept = tf.slice(a, [0, first, 0], [b, P, d]);
          out.set(kept.dataSync() as Float32Array, start * P * d);
          tf.dispose([ids, a, kept]);
          progress.tick();
          await stopPoint();
        }
        acts[i].push(out);
      }
    }
    progress.done();
  } finally {
    m.dispose();
  }
  saveTokens(path.join(stageDir, 'tokens.safetensors'), concat(tokens), ctxLen);

  // per-model normalisation: mean norm sqrt(d) over all domains
  const scale = [0, 1].map((mi) => {
    if (!s.normalize) return 1;
    let total = 0;
    let count = 0;
    for (const dom of acts) {
      const x = dom[mi];
      for (let r = 0; r < x.length / d; r++) {
        let q = 0;
        for (let j = 0; j < d; j++) q += x[r * d + j] ** 2;
        total += Math.sqrt(q);
        count += 1;
      }
    }
    return Math.sqrt(d) / (total / count);
  });
  for (const dom of acts) for (const mi of [0, 1]) if (scale[mi] !== 1) for (let i = 0; i < dom[mi].length; i++) dom[mi][i] *= scale[mi];

  // training rows [x_base | x_finetune] of every domain (the store shuffles them)
  const rows = acts.reduce((a, dom) => a + dom[0].length / d, 0);
  const paired = new Float32Array(rows * 2 * d);
  let r0 = 0;
  for (const dom of acts) {
    const nr = dom[0].length / d;
    for (let r = 0; r < nr; r++) {
      paired.set(dom[0].subarray(r * d, (r + 1) * d), (r0 + r) * 2 * d);
      paired.set(dom[1].subarray(r * d, (r + 1) * d), (r0 + r) * 2 * d + d);
    }
    r0 += nr;
  }
  const ccDir = path.join(stageDir, 'crosscoder');
  const trainProgress = new Progress('crosscoder training', s.steps);
  let reported = 0;
  const { crosscoder: cc, history } = await trainCrosscoder({
    activation: s.activation, nModels: 2, dIn: 2 * d, dSae: s.dSae, k: s.k, l1Coefficient: s.l1Coefficient, lr: s.lr, lrDecaySteps: Math.floor(s.steps / 5),
    trainingTokens: s.steps * s.trainBatchSizeTokens, trainBatchSizeTokens: s.trainBatchSizeTokens, nBatchesInBuffer: 4, seed: config.seed, logEvery: 50, deadFeatureWindow: 100,
    metadata: { model_names: [config.base.label, config.finetune.label], hook_name: hook, base_model: config.base.model, finetune_model: config.finetune.model, activation_scale: scale, domains: s.domains.map((x) => x.label) },
  }, new InMemorySource(paired, 2 * d, { chunkTokens: 4096 }), { outDir: ccDir, progress: 'none', onProgress: (p) => {
      trainProgress.tick(p.step - reported, { mse: p.metrics.mse_loss, l0: p.metrics.l0, ev: p.metrics.explained_variance });
      reported = p.step;
    } });
  trainProgress.done();
  try {
    return await analyse(ctx, cc, { hook, d, P, n, tokens, acts, scale, history });
  } finally {
    cc.dispose();
  }
}

function concat(xs: Int32Array[]): Int32Array {
  const out = new Int32Array(xs.reduce((a, x) => a + x.length, 0));
  let at = 0;
  for (const x of xs) {
    out.set(x, at);
    at += x.length;
  }
  return out;
}

interface Collected {
  hook: string;
  d: number;
  P: number;
  n: number;
  tokens: Int32Array[];
  acts: Float32Array[][];
  scale: number[];
  history: TrainMetrics[];
}

async function analyse(ctx: StageContext, cc: Crosscoder, c: Collected): Promise<StageOutput<CrosscoderDiffResult>> {
  const { config, stageDir } = ctx;
  const s = config.crosscoder;
  const { d, P, n } = c;
  const diff = decoderDiff(cc, { thresholds: s.thresholds });
  const batchesOf = function* (dom: Float32Array[]): Generator<tf.Tensor2D[]> {
    const rows = dom[0].length / d;
    for (let r = 0; r < rows; r += 2048) {
      const b = Math.min(2048, rows - r);
      const xs = dom.map((x) => tf.tensor2d(x.subarray(r * d, (r + b) * d), [b, d]));
      yield xs;
      tf.dispose(xs);
    }
  };
  const perDomain = c.acts.map((dom) => latentStats(cc, batchesOf(dom)));
  const all = latentStats(cc, (function* () { for (const dom of c.acts) yield* batchesOf(dom); })());
  diff.classes = markNeverFired(diff.classes, all.density);
  const ratio = latentScalingRatio(all, diff);
  const latents: LatentRecord[] = Array.from({ length: cc.cfg.d_sae }, (_, j) => ({
    latent: j, class: diff.classes[j], relative_norm: diff.relativeNorm[j], cosine: diff.cosine[j], scaling_ratio: ratio[j], density: perDomain.map((st) => st.density[j]),
  }));
  writeJsonAtomic(path.join(stageDir, 'latents.json'), latents);

  // top contexts over all domains (sequence index = domain * n + context)
  const tokensAll = concat(c.tokens);
  const ctxLen = config.contextSize;
  const first = ctxLen - P;
  const featureActs = tf.tidy(() => {
    const parts = c.acts.map((dom) => cc.encode(dom.map((x) => tf.tensor2d(x, [x.length / d, d]))));
    return tf.reshape(tf.concat(parts, 0), [c.acts.length * n, P, cc.cfg.d_sae]) as tf.Tensor3D;
  });
  const tokenRows = Array.from({ length: c.acts.length * n }, (_, i) => Array.from(tokensAll.subarray(i * ctxLen + first, (i + 1) * ctxLen)));
  const k = Math.max(s.examplesPerLatent, 10);
  const top = await topActivatingExamples(featureActs, tokenRows, k);
  featureActs.dispose();
  const tok = await loadTokenizer(config.base.tokenizer ?? config.base.model, { revision: config.base.revision });
  const decode = (ids: number[]) => (ids.length ? tok.decode(ids) : '');
  const shiftedTokens = new Int32Array(tokenRows.flat());
  const lastDomain = c.acts.length - 1;
  const shareInLast = (j: number): number | null => {
    const ex = top.examples.get(j) ?? [];
    return ex.length ? ex.filter((e) => Math.floor(e.sequence / n) === lastDomain).length / ex.length : null;
  };
  const exclusiveTable = (cls: LatentClass): Row[] => latents
    .filter((l) => l.class === cls && l.density.some((x) => x > 0))
    .sort((a, b) => Math.max(...b.density) - Math.max(...a.density))
    .slice(0, s.topLatents)
    .map((l) => ({
      latent: l.latent,
      'relative norm': l.relative_norm,
      ...Object.fromEntries(s.domains.map((dom, i) => [`density ${dom.label}`, l.density[i]])),
      'scaling ratio': l.scaling_ratio,
      [`top examples in ${s.domains[lastDomain].label}`]: shareInLast(l.latent) ?? 0,
      'top contexts': contextsText(top.examples.get(l.latent) ?? [], shiftedTokens, P, decode, s.examplesPerLatent),
    }));
  const meanShare = (cls: LatentClass): number | null => mean(latents.filter((l) => l.class === cls).map((l) => shareInLast(l.latent)).filter((x): x is number => x !== null));
  const classes: LatentClass[] = ['shared', 'base_only', 'finetune_only', 'other', 'dead'];
  const classCounts = countClasses(diff.classes);
  const classTable: Row[] = classes.filter((cl) => classCounts[cl] > 0).map((cl) => {
    const ls = latents.filter((l) => l.class === cl);
    return {
      class: cl, latents: ls.length,
      ...Object.fromEntries(s.domains.map((dom, i) => [`mean density ${dom.label}`, mean(ls.map((l) => l.density[i])) ?? 0])),
      'mean decoder cosine': mean(ls.map((l) => l.cosine)) ?? 0,
      'mean scaling ratio': mean(ls.map((l) => l.scaling_ratio)) ?? 0,
    };
  });
  const sharedCos = latents.filter((l) => l.class === 'shared').map((l) => l.cosine).sort((a, b) => a - b);
  const relHist = histogram(Float32Array.from(latents.filter((l) => l.class !== 'dead').map((l) => l.relative_norm)), { bins: 40, range: [0, 1] });
  const cosHist = histogram(Float32Array.from(sharedCos.length ? sharedCos : [0]), { bins: 40, range: [-1, 1] });
  const opts = { width: 480, height: 260 };
  const last = c.history.at(-1) as unknown as Record<string, number> | undefined;
  const result: Omit<CrosscoderDiffResult, 'reused'> = {
    hook: c.hook,
    domains: s.domains.map((x) => x.label),
    tokensPerDomain: n * P,
    normScale: { base: c.scale[0], finetune: c.scale[1] },
    dSae: cc.cfg.d_sae,
    activation: cc.cfg.activation,
    classCounts,
    explainedVariance: s.domains.map((dom, i) => ({ domain: dom.label, [config.base.label]: perDomain[i].explainedVariance[0], [config.finetune.label]: perDomain[i].explainedVariance[1] })),
    classTable,
    baseOnlyTable: exclusiveTable('base_only'),
    finetuneOnlyTable: exclusiveTable('finetune_only'),
    finetuneOnlyTopExamplesInFinetuneDomain: meanShare('finetune_only'),
    baseOnlyTopExamplesInFinetuneDomain: meanShare('base_only'),
    sharedCosineMedian: sharedCos.length ? sharedCos[Math.floor(sharedCos.length / 2)] : null,
    finalMetrics: last ? Object.fromEntries(Object.entries(last).filter(([, v]) => typeof v === 'number')) : null,
    plots: {
      relativeNorm: histogramSpec(relHist, { ...opts, title: `Relative decoder norm |d_${config.finetune.label}| / (|d_${config.base.label}| + |d_${config.finetune.label}|)`, xTitle: 'relative norm (0: base only, 1: finetune only)', yTitle: 'latents' }),
      sharedCosine: histogramSpec(cosHist, { ...opts, title: 'Decoder cosine of the shared latents (base vs finetune direction)', xTitle: 'cosine', yTitle: 'latents' }),
      classes: barSpec(classes.map((cl) => ({ label: cl, value: classCounts[cl] })), { ...opts, title: 'Latents per class', xTitle: 'class', yTitle: 'latents' }),
      densityByClass: barSpec(classes.filter((cl) => classCounts[cl] > 0 && cl !== 'dead').flatMap((cl) => s.domains.map((dom, i) => ({ label: cl, group: dom.label, value: mean(latents.filter((l) => l.class === cl).map((l) => l.density[i])) ?? 0 }))), { ...opts, title: 'Mean latent density per class, by domain', xTitle: 'class', yTitle: 'mean density', groupTitle: 'domain' }),
    },
  };
  const artifacts = ['tokens.safetensors', 'latents.json', 'crosscoder/cfg.json', 'crosscoder/crosscoder_weights.safetensors', 'crosscoder/sparsity.safetensors', 'crosscoder/metrics.jsonl'];
  return { result: result as CrosscoderDiffResult, artifacts, provenance: {} };
}

/**
 * Rows comparing the crosscoder's view with stage 05's transfer metrics of the same run, when notebook 05
 * has results for this config (else one row saying so): the share of shared latents and their decoder
 * cosine next to the base SAE's dense-feature activation and logit similarity on the finetune.
 */
export function crosscoderVsTransfer(ctx: StageContext, r: CrosscoderDiffResult): Row[] {
  const dir = ctx.stageDirOf(STAGE_FEATURE_TRANSFER);
  const file = path.join(dir, featureTransferStage.resultFile);
  const live = Object.entries(r.classCounts).filter(([k]) => k !== 'dead').reduce((a, [, v]) => a + v, 0);
  const rows: Row[] = [
    { measure: 'crosscoder: share of live latents shared (relative norm 0.3-0.7)', value: live ? r.classCounts.shared / live : 0 },
    { measure: 'crosscoder: median decoder cosine of shared latents', value: r.sharedCosineMedian ?? 0 },
    { measure: 'crosscoder: share of live latents finetune-only', value: live ? r.classCounts.finetune_only / live : 0 },
  ];
  if (!featureTransferStage.reusable(dir, ctx.config) || !fs.existsSync(file)) {
    rows.push({ measure: `stage ${STAGE_FEATURE_TRANSFER}: no results for this config (run notebook 05 to compare)`, value: 0 });
    return rows;
  }
  const t = JSON.parse(fs.readFileSync(file, 'utf8'));
  rows.push({ measure: '05: dense SAE features, mean activation similarity base vs finetune', value: t.dense_activation_similarity_mean });
  rows.push({ measure: '05: dense SAE features, mean logit similarity', value: t.dense_logit_similarity_mean });
  rows.push({ measure: '05: density Pearson r (base vs finetune)', value: t.density_pearson_r });
  return rows;
}

/** One line describing the trained crosscoder: architecture, width, hook, tokens, final MSE and L0. */
export function crosscoderHeadline(r: CrosscoderDiffResult): string {
  const m = r.finalMetrics;
  const fit = m ? `; final training MSE ${m.mse_loss.toFixed(3)}, L0 ${m.l0.toFixed(1)}` : '';
  return `${r.activation} crosscoder with ${r.dSae} latents at \`${r.hook}\`, trained on ${r.tokensPerDomain} tokens per domain (${r.domains.join(', ')})${fit}.`;
}

/** The closing paragraph of notebook 13: class counts, shared latents' rotation, and what the exclusive latents fire on. */
export function crosscoderSummary(r: CrosscoderDiffResult): string {
  const c = r.classCounts;
  const live = r.dSae - c.dead;
  const pct = (x: number) => `${(100 * x).toFixed(0)}%`;
  let text = `**What the crosscoder found.** Of ${live} live latents, ${c.shared} (${pct(c.shared / Math.max(1, live))}) are shared, ` +
    `${c.finetune_only} finetune-only and ${c.base_only} base-only; the median decoder cosine of the shared latents is ${(r.sharedCosineMedian ?? 0).toFixed(2)}. `;
  text += r.finetuneOnlyTopExamplesInFinetuneDomain === null
    ? 'No latent is finetune-only at these thresholds'
    : `${pct(r.finetuneOnlyTopExamplesInFinetuneDomain)} of the finetune-only latents' top examples are from the finetune's domain`;
  text += r.baseOnlyTopExamplesInFinetuneDomain === null ? '.' : ` (base-only latents: ${pct(r.baseOnlyTopExamplesInFinetuneDomain)}).`;
  if (c.finetune_only + c.base_only === 0) {
    text += " Here the finetune keeps the base model's dictionary: every live latent is shared by norm, and what finetuning changed shows as rotated decoder directions (cosines well below 1), not as exclusive latents.";
  }
  return text;
}
