/**
 * Feature dashboards for the explorer page, computed ahead of time with lib: each live feature's
 * top activating examples over a text sample (with the feature's activation on the tokens around
 * them) and its measured effects on the next token (zero-ablated at those examples). One JSON per (model, SAE).
 */
import * as tf from '@tensorflow/tfjs';
import { HookedTransformer } from '../model/hookedTransformer';
import { SAE } from '../sae/sae';
import { textsFromDataset } from '../data/sources';
import { tokenizeAndConcatenate } from '../data/concat';
import { topActivatingExamples } from '../features/topExamples';
import { ablationNextTokenEffects } from '../features/logitEffects';

/** A text sample: documents of a hub dataset (a split, or data files inside it), cut into contexts. */
export interface DashboardText {
  /** hub dataset id or local path (textsFromDataset) */
  dataset: string;
  split?: string;
  dataFiles?: string[];
  /** how many contexts to take from it */
  contexts: number;
  /** shown in the page, e.g. "English prose" */
  label: string;
}

export interface DashboardOptions {
  texts: DashboardText[];
  /** tokens per context (default: the SAE's metadata.context_size, else 64) */
  contextSize?: number;
  /** top examples kept per feature (default 8) */
  examples?: number;
  /** examples per feature the logit effects are measured at (default 4; 0 = none) */
  effectExamples?: number;
  /** tokens shown before and after an example's token (default [12, 4]) */
  window?: [number, number];
  /** rows per forward pass over the sample (default 32) */
  batchRows?: number;
  onProgress?: (line: string) => void;
}

/** One top example as shipped: its place, the activation, and the window of tokens around it. */
export interface DashboardExample {
  /** sequence index in the sample and position in it */
  s: number;
  p: number;
  /** activation at (s, p) */
  a: number;
  /** token ids of the window and the feature's activation on each */
  t: number[];
  v: number[];
  /** index of the example's token inside the window */
  c: number;
}

export interface DashboardFeature {
  /** fraction of the sample's tokens it fires on (> 0) */
  frac: number;
  /** its largest activation in the sample */
  max: number;
  examples: DashboardExample[];
  /** mean change of next-token probabilities when it is zero-ablated at its top examples (clean - ablated) */
  effects?: { promoted: Array<[number, number]>; suppressed: Array<[number, number]>; examples: number };
}

/** The JSON of one (model, SAE) dashboard file. */
export interface DashboardJson {
  model: string;
  sae: string;
  hook: string;
  dSae: number;
  sample: { texts: Array<{ dataset: string; split?: string; dataFiles?: string[]; label: string; contexts: number }>; contextSize: number; tokens: number };
  window: [number, number];
  /** features that fire somewhere in the sample, by id */
  features: Record<string, DashboardFeature>;
}

/** Round to 4 significant digits (file size; activations are shown with 3). */
function r4(x: number): number {
  return x === 0 ? 0 : Number(x.toPrecision(4));
}

/** Token contexts of the sample, as the SAE saw them in training (BOS first when prepend_bos). */
export async function sampleContexts(model: HookedTransformer, texts: DashboardText[], contextSize: number, prependBos: boolean): Promise<{ rows: Int32Array[]; counts: number[] }> {
  const tok = model.tokenizer as Parameters<typeof tokenizeAndConcatenate>[1] | null;
  if (!tok) throw new Error(`the model ${model.cfg.model_name} has no tokenizer (tokenizer.json) to cut the sample into contexts`);
  const rows: Int32Array[] = [];
  const counts: number[] = [];
  for (const t of texts) {
    const docs = textsFromDataset(t.dataset, { split: t.split, dataFiles: t.dataFiles });
    let n = 0;
    for await (const c of tokenizeAndConcatenate(docs, tok, { contextSize, prependBos, maxContexts: t.contexts })) {
      rows.push(c);
      n++;
    }
    if (n === 0) throw new Error(`dashboard sample ${t.dataset}${t.split ? ` (${t.split})` : ''}: no context of ${contextSize} tokens`);
    counts.push(n);
  }
  return { rows, counts };
}

/**
 * Dashboards of several SAEs on one model (loaded as the SAEs expect: the caller passes the model).
 * One pass of the model over the sample caches every SAE's hook and the next-token log-probs;
 * then per SAE: top examples (lib/features) and ablation logit effects.
 */
export async function featureDashboards(model: HookedTransformer, modelId: string, saes: Array<{ spec: string; sae: SAE }>, opts: DashboardOptions): Promise<DashboardJson[]> {
  if (!saes.length) return [];
  const log = opts.onProgress ?? (() => undefined);
  const ctx = opts.contextSize ?? saes[0].sae.cfg.metadata.context_size ?? 64;
  const prependBos = saes[0].sae.cfg.metadata.prepend_bos ?? true;
  const k = opts.examples ?? 8;
  const effectExamples = opts.effectExamples ?? 4;
  const [before, after] = opts.window ?? [12, 4];
  const batchRows = opts.batchRows ?? 32;
  const { rows, counts } = await sampleContexts(model, opts.texts, ctx, prependBos);
  const N = rows.length;
  const V = model.cfg.d_vocab_out;
  const hooks = [...new Set(saes.map((s) => s.sae.cfg.metadata.hook_name))];
  // one pass: next-token log-probs [N, ctx, V] and every SAE's feature activations [N, ctx, d_sae]
  const logProbs = new Float32Array(N * ctx * V);
  const acts = saes.map((s) => new Float32Array(N * ctx * s.sae.cfg.d_sae));
  for (let r0 = 0; r0 < N; r0 += batchRows) {
    const n = Math.min(batchRows, N - r0);
    const ids = new Int32Array(n * ctx);
    for (let i = 0; i < n; i++) ids.set(rows[r0 + i], i * ctx);
    const tokT = tf.tensor2d(ids, [n, ctx], 'int32');
    const { logits, cache } = model.runWithCache(tokT, { namesFilter: hooks });
    try {
      const lp = tf.tidy(() => tf.logSoftmax(logits!));
      logProbs.set(await lp.data() as Float32Array, r0 * ctx * V);
      lp.dispose();
      for (let j = 0; j < saes.length; j++) {
        const { sae } = saes[j];
        const f = sae.encode(cache.get(sae.cfg.metadata.hook_name));
        acts[j].set(await f.data() as Float32Array, r0 * ctx * sae.cfg.d_sae);
        f.dispose();
      }
    } finally {
      tf.dispose([tokT, logits!]);
      cache.dispose();
    }
    log(`${modelId}: sample pass ${Math.min(N, r0 + n)}/${N} contexts`);
  }
  const clean = (s: number, p: number) => logProbs.subarray((s * ctx + p) * V, (s * ctx + p + 1) * V);
  const tokenRows = rows.map((r) => Array.from(r));
  const out: DashboardJson[] = [];
  for (let j = 0; j < saes.length; j++) {
    const { spec, sae } = saes[j];
    const d = sae.cfg.d_sae;
    const a = acts[j];
    const actT = tf.tensor3d(a, [N, ctx, d]);
    const top = await topActivatingExamples(actT, tokenRows, k, 1);
    actT.dispose();
    const features: Record<string, DashboardFeature> = {};
    for (const f of top.live) {
      const examples = top.examples.get(f)!.map((ex) => {
        const lo = Math.max(0, ex.position - before);
        const hi = Math.min(ctx, ex.position + after + 1);
        const t: number[] = [];
        const v: number[] = [];
        for (let p = lo; p < hi; p++) {
          t.push(tokenRows[ex.sequence][p]);
          v.push(r4(a[(ex.sequence * ctx + p) * d + f]));
        }
        return { s: ex.sequence, p: ex.position, a: r4(ex.activation), t, v, c: ex.position - lo };
      });
      const h = top.histograms.get(f)!;
      features[f] = { frac: r4(h.firing / (N * ctx)), max: r4(examples[0].a), examples };
    }
    if (effectExamples > 0) {
      const effects = await ablationNextTokenEffects(model, sae, tokenRows, top.examples, clean, {
        examplesPerFeature: effectExamples, k: 10,
        onProgress: (done, total) => log(`${spec} on ${modelId}: logit effects ${done}/${total} ablations`),
      });
      for (const e of effects) {
        features[e.feature].effects = {
          promoted: e.promoted.map(([id, v]) => [id, r4(v)]), suppressed: e.suppressed.map(([id, v]) => [id, r4(v)]), examples: e.examples,
        };
      }
    }
    out.push({
      model: modelId, sae: spec, hook: sae.cfg.metadata.hook_name, dSae: d,
      sample: { texts: opts.texts.map((t, i) => ({ dataset: t.dataset, split: t.split, dataFiles: t.dataFiles, label: t.label, contexts: counts[i] })), contextSize: ctx, tokens: N * ctx },
      window: [before, after], features,
    });
  }
  return out;
}
