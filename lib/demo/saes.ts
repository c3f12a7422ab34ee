import * as fs from 'fs';
import { hookLayer } from '../model/hookNames';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { HookedTransformer } from '../model/hookedTransformer';
import { Tokenizer } from '../tokenizers/tokenizer';
import { writeShippedRepo } from '../hub/cache';
import { TokenWindowSampler } from '../lm/batches';
import { SAETrainer } from '../train/trainer';
import { InMemorySource } from '../train/sources';
import { SAE } from '../sae/sae';
import { ReconstructionAccumulator, L0Accumulator, FeatureDensityAccumulator, logDensity } from '../analysis/saeMetrics';
import { DemoWorldSpec, DemoCorpora, DEMO_REPOS, tokenizeDocs } from './world';
import { SAELAB_VERSION } from '../version';

export interface DemoSaeReport {
  hook: string;
  l1Coefficient: number;
  l0: number;
  explainedVariance: number;
  r2: number;
  deadFraction: number;
  trainingTokens: number;
}

/** Activations at several hooks for contexts [n, ctx] of a token stream, as [tokens, d] Float32Arrays per hook. */
function collectActivations(model: HookedTransformer, sampler: TokenWindowSampler, batches: number, hooks: string[]): Map<string, Float32Array> {
  const { batchSize, contextSize } = sampler;
  const d = model.cfg.d_model;
  const per = batchSize * contextSize * d;
  const out = new Map(hooks.map((h) => [h, new Float32Array(batches * per)]));
  const stop = Math.max(...hooks.map((h) => hookLayer(h, 'the demo SAEs'))) + 1;
  for (let b = 0; b < batches; b++) {
    const tokens = tf.tensor2d(sampler.next(), [batchSize, contextSize], 'int32');
    const { cache } = model.runWithCache(tokens, { namesFilter: hooks, stopAtLayer: stop, returnType: 'none' });
    for (const h of hooks) out.get(h)!.set(cache.get(h).dataSync() as Float32Array, b * per);
    cache.dispose();
    tokens.dispose();
  }
  return out;
}

/** Evaluate an SAE on held-out activations [n, d]: L0, explained variance, R2, dead share, log densities. */
function evaluate(sae: SAE, acts: Float32Array, d: number): { l0: number; ev: number; r2: number; dead: number; logDensity: Float32Array } {
  const n = acts.length / d;
  const l0 = new L0Accumulator();
  const dens = new FeatureDensityAccumulator(sae.cfg.d_sae);
  const rec = new ReconstructionAccumulator(d);
  const chunk = 4096;
  for (let s = 0; s < n; s += chunk) {
    const c = Math.min(chunk, n - s);
    const x = tf.tensor2d(acts.subarray(s * d, (s + c) * d), [c, d]);
    const f = sae.encode(x);
    const xh = sae.decode(f);
    l0.add(f);
    dens.add(f);
    rec.add(x, xh);
    tf.dispose([x, f, xh]);
  }
  const r = rec.summary();
  return { l0: l0.l0(), ev: r.explainedVariance, r2: r.r2, dead: dens.deadFraction(), logDensity: logDensity(dens.densities()) };
}

/**
 * Per-layer residual SAEs (blocks.L.hook_resid_pre, L = 0 .. n_layers-1) on the shipped base model, loaded
 * through the hub code path with TransformerLens's default processing, as the pipeline loads it. For each
 * layer the L1 coefficient is the largest of a short list whose SAE explains >= 85% of the variance on
 * held-out activations. Written as the SAELens-format repo saelab/demo-saes (release saelab-demo-res).
 */
export async function makeDemoSaes(out: string, spec: DemoWorldSpec, corpora: DemoCorpora, tok: Tokenizer, _tokDir: string, quick: boolean): Promise<Record<string, DemoSaeReport>> {
  const model = await HookedTransformer.fromPretrained(DEMO_REPOS.base, { revision: 'main' });
  const d = model.cfg.d_model;
  const hooks = Array.from({ length: model.cfg.n_layers }, (_, l) => `blocks.${l}.hook_resid_pre`);
  const bos = tok.bosTokenId ?? 0;
  const trainStream = tokenizeDocs(tok, corpora.english.train);
  const heldStream = tokenizeDocs(tok, corpora.english.validation);
  const trainBatches = quick ? 4 : 120;
  const train = collectActivations(model, new TokenWindowSampler(trainStream, spec.contextSize, spec.batchSize, bos, spec.seed + 21), trainBatches, hooks);
  const held = collectActivations(model, new TokenWindowSampler(heldStream, spec.contextSize, spec.batchSize, bos, spec.seed + 22), quick ? 2 : 24, hooks);
  model.dispose();
  const dSae = 8 * d;
  const trainingTokens = quick ? 8192 : 600_000;
  const l1s = quick ? [1] : [2.5, 1.25, 0.6, 0.3];
  const reports: Record<string, DemoSaeReport> = {};
  const files: Record<string, string | Uint8Array> = {};
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'saelab-demo-saes-'));
  try {
    for (const hook of hooks) {
      let chosen: { sae: SAE; l1: number; e: ReturnType<typeof evaluate> } | null = null;
      for (const l1 of l1s) {
        const source = new InMemorySource(train.get(hook)!, d, { chunkTokens: 8192, loop: true });
        const trainer = await SAETrainer.create({
          defaults: 'saelens5', dIn: d, dSae, architecture: 'standard', l1Coefficient: l1, l1WarmUpSteps: quick ? 0 : 50, lr: 1e-3, lrWarmUpSteps: quick ? 0 : 20,
          trainingTokens, trainBatchSizeTokens: 2048, normalizeActivations: 'expected_average_only_in', bDecInitMethod: 'geometric_median',
          useGhostGrads: false, seed: spec.seed, nCheckpoints: 0, logEvery: 50, featureSamplingWindow: quick ? 2 : 200, deadFeatureWindow: quick ? 2 : 200,
          metadata: { model_name: DEMO_REPOS.base, hook_name: hook, hook_head_index: null, context_size: spec.contextSize, prepend_bos: true, dataset_path: DEMO_REPOS.text, model_from_pretrained_kwargs: {} },
        } as never, source, { progress: 'auto' });
        await trainer.fit();
        const sae = trainer.toSAE();
        trainer.dispose();
        const e = evaluate(sae, held.get(hook)!, d);
        console.log(`  ${hook} l1=${l1}: L0 ${e.l0.toFixed(1)}, explained variance ${e.ev.toFixed(3)}, dead ${(100 * e.dead).toFixed(1)}%`);
        if (chosen) chosen.sae.dispose();
        chosen = { sae, l1, e };
        if (e.ev >= 0.85) break;
      }
      const { sae, l1, e } = chosen!;
      const dir = path.join(tmp, hook);
      await sae.save(dir, { sparsity: e.logDensity });
      sae.dispose();
      for (const f of fs.readdirSync(dir)) files[`${hook}/${f}`] = path.join(dir, f);
      reports[hook] = { hook, l1Coefficient: l1, l0: e.l0, explainedVariance: e.ev, r2: e.r2, deadFraction: e.dead, trainingTokens };
    }
    const rows = Object.values(reports).map((r) => `| ${r.hook} | ${dSae} | ${r.l1Coefficient} | ${r.l0.toFixed(2)} | ${r.explainedVariance.toFixed(3)} | ${(100 * r.deadFraction).toFixed(1)}% |`).join('\n');
    files['README.md'] = Buffer.from(`# ${DEMO_REPOS.saes}\n\nSAELens-format residual-stream SAEs (release \`saelab-demo-res\`) for ${DEMO_REPOS.base}, one per layer, trained by saelab ${SAELAB_VERSION} (\`npm run make:demo\`) on ${trainingTokens} activation tokens of English text (standard ReLU SAE, L1 penalty scaled by decoder norm, activations normalised to norm sqrt(d_in) with the factor folded into the weights). Evaluated on held-out English text:\n\n| hook | d_sae | L1 coeff | L0 | explained variance | dead |\n|---|---|---|---|---|---|\n${rows}\n`);
    await writeShippedRepo(out, DEMO_REPOS.saes, 'main', files);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  return reports;
}
