module.exports = [
  { md: `# 04 · SAE evaluation

How well does the base model's SAE reconstruct each model's activations? On a fresh token sample (the
same ids for both models):
- **L0**: mean number of features with activation > 1e-8 per token;
- **CE loss**: next-token loss clean, and with the SAE reconstruction spliced into the hook at non-outlier
  positions (outliers keep their activation); the delta is the loss the SAE costs, and the CE loss score
  compares it with zero-ablating the hook (1 = perfect, 0 = no better than zeros);
- **R2** as published (one scalar mean over all elements, non-outlier tokens) and SAELens's explained
  variance (per-dimension variances);
- **dead features**: never active on the sample.

inf/NaN batches are counted and listed, never dropped silently.` },
  { code: `import * as saelab from '../dist/lib';
const ctx = await saelab.setupStage('04_sae_eval');
const r = await saelab.saeEvalStage(ctx);
saelab.showTable(r.table, { title: 'SAE evaluation (published layout)' });` },
  { md: `## Feature activations
log10(|a| + 1e-10) over all features and tokens; the zero bin (at -10) holds the inactive features and is
annotated with its count. A finetune that drifted from the base shifts mass between the bins.` },
  { code: `await saelab.showPlot(r.plots.activations.base);
await saelab.showPlot(r.plots.activations.finetune);` },
  { md: `## Feature densities
The fraction of tokens on which each feature fires, as log10(d + 1e-10); dead features (density 0) sit
at -10. Stage 05 compares these two distributions feature by feature.` },
  { code: `await saelab.showPlot(r.plots.densities.base);
await saelab.showPlot(r.plots.densities.finetune);` },
];
