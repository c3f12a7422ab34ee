module.exports = [
  { md: `# 13 · Crosscoder model diffing

Notebooks 01-05 ask whether the base model's SAE still works on the finetune. A **crosscoder** asks the
sharper question directly: which features the finetune shares with the base, which it dropped and which
it gained. One dictionary is trained on the *paired* activations of both models at the same hook and the
same tokens: an encoder per model, summed into shared latents, and a decoder per model
(W_enc [2, d, d_sae], W_dec [d_sae, 2, d]). For each latent j:

- **relative decoder norm** r = |d_ft| / (|d_base| + |d_ft|): r ≈ 0 base-only, r ≈ 0.5 shared, r ≈ 1 finetune-only
  (classes: r < 0.1, 0.3 ≤ r ≤ 0.7, r > 0.9; latents that never fire are *dead*);
- **decoder cosine** between its two directions: a shared latent with a low cosine is a feature the finetune moved;
- **density** on each text domain, and **latent scaling** (the least-squares scale of the latent's
  contribution in each model): the scaling ratio ν = β_other / β_own is ≈ 0 for a truly exclusive latent and
  ≈ 1 when the other model carries it too (an exclusive latent invented by L1 shrinkage).

The demo crosscoder is a **BatchTopK** crosscoder (the fix published for L1's shrinkage artefacts); each
model's activations are scaled to mean norm √d first. Both models see the same token ids from English
text (the base's domain) and JavaScript (the finetune's).` },
  { code: `import * as saelab from '../dist/lib';
const ctx = await saelab.setupStage('13_crosscoder_diff');
const r = await saelab.crosscoderDiffStage(ctx);
saelab.showMarkdown(saelab.crosscoderHeadline(r));
saelab.showTable(r.explainedVariance, { title: 'explained variance of each model, per domain' });` },
  { md: `## Relative decoder norms
The histogram of r over the latents that fire: mass at 0.5 is what both models share; mass near 0 or 1
is what one model has alone.` },
  { code: `await saelab.showPlot(r.plots.relativeNorm);
await saelab.showPlot(r.plots.classes);
saelab.showTable(r.classTable, { title: 'latents per class' });` },
  { md: `## Shared latents that moved
For the shared latents, the cosine between the base and finetune decoder directions: near 1 the finetune
uses the feature as the base does; lower values mark features it rotated.` },
  { code: `await saelab.showPlot(r.plots.sharedCosine);
await saelab.showPlot(r.plots.densityByClass);` },
  { md: `## The exclusive latents and what they fire on
The most frequent finetune-only and base-only latents with their densities on each domain, their scaling
ratio and their top contexts (the firing token in [brackets]). The column "top examples in JavaScript"
is the share of each latent's 10 strongest examples that come from the JavaScript text: the finetune-only
latents should be code.` },
  { code: `for (const [name, rows] of [['finetune-only', r.finetuneOnlyTable], ['base-only', r.baseOnlyTable]]) {
  if (rows.length) saelab.showTable(rows, { title: \`\${name} latents\` });
  else saelab.showMarkdown(\`*No \${name} latents at these thresholds.*\`);
}` },
  { md: `## Compared with the transfer metrics of notebook 05
Notebook 05 scores how well the *base SAE's* features carry over to the finetune; the crosscoder measures
the same question on a dictionary trained on both models.` },
  { code: `saelab.showTable(saelab.crosscoderVsTransfer(ctx, r), { title: 'crosscoder vs feature transfer (05)' });
saelab.showMarkdown(saelab.crosscoderSummary(r));` },
];
