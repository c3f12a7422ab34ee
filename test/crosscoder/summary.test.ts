/** Notebook 13's headline and closing paragraph, from a hand-made result. */
import { test } from 'node:test';
import * as assert from 'assert';
import { CrosscoderDiffResult, crosscoderHeadline, crosscoderSummary } from '../../lib/stages/crosscoderDiff';

const base = {
  activation: 'batchtopk', dSae: 100, hook: 'blocks.2.hook_resid_pre', tokensPerDomain: 4032, domains: ['English', 'JavaScript'],
  finalMetrics: { mse_loss: 3.34012, l0: 7.96 },
  classCounts: { shared: 30, base_only: 5, finetune_only: 15, other: 10, dead: 40 },
  sharedCosineMedian: 0.6049,
  finetuneOnlyTopExamplesInFinetuneDomain: 0.875,
  baseOnlyTopExamplesInFinetuneDomain: 0.1,
} as unknown as CrosscoderDiffResult;

test('crosscoder headline and summary state the counts, shares and cosine of the result', () => {
  assert.strictEqual(crosscoderHeadline(base), 'batchtopk crosscoder with 100 latents at `blocks.2.hook_resid_pre`, trained on 4032 tokens per domain (English, JavaScript); final training MSE 3.340, L0 8.0.');
  const s = crosscoderSummary(base);
  // 60 live latents (100 - 40 dead); 30 shared = 50%
  assert.ok(s.includes('Of 60 live latents, 30 (50%) are shared, 15 finetune-only and 5 base-only'), s);
  assert.ok(s.includes('median decoder cosine of the shared latents is 0.60'), s);
  assert.ok(s.includes("88% of the finetune-only latents' top examples are from the finetune's domain (base-only latents: 10%)."), s);
  assert.ok(!s.includes('keeps the base model'), s);
  const none = crosscoderSummary({ ...base, classCounts: { shared: 60, base_only: 0, finetune_only: 0, other: 0, dead: 40 }, finetuneOnlyTopExamplesInFinetuneDomain: null, baseOnlyTopExamplesInFinetuneDomain: null } as unknown as CrosscoderDiffResult);
  assert.ok(none.includes('Of 60 live latents, 60 (100%) are shared') && none.includes('No latent is finetune-only at these thresholds.') && none.includes("keeps the base model's dictionary"), none);
});
