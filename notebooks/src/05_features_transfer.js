module.exports = [
  { md: `# 05 · Feature transfer

Do the base SAE's features mean the same thing in the finetune? Stage 04's feature densities are compared
feature by feature (a feature that transfers fires about as often in both), then samples of features are
scored on fresh tokens (the same ids for both models):
- **dense** features (log density in [-5, -1] in both), and features **exclusively dead** in one model;
- **activation similarity**: Pearson correlation of a feature's activations over tokens, base vs finetune
  (features constant on the sample are skipped, as np.corrcoef gives NaN);
- **activation error** (dead families): mean |log10(f + 1e-10) - log10(f' + 1e-10)|;
- **logit similarity**: the feature's direct effect on the logits, W_dec[i] W_U, correlated over the
  vocabulary between the two models' unembeddings.

Published: Gemma dense activation similarity 0.39 and logit similarity 0.95; Mistral 0.96 and 0.9996.

The first plot puts every feature's log density in the finetune against the base (dead features at -10) with
the least-squares line in red and the Pearson r in its title; features on the diagonal fire as often in both.` },
  { code: `import * as saelab from '../dist/lib';
const ctx = await saelab.setupStage('05_features_transfer');
const r = await saelab.featureTransferStage(ctx);
await saelab.showPlot(r.plots.densityScatter);` },
  { md: `## Scores per family
Mean scores (NaN-skipping), the share of dense features above 0.8, and how many were constant (skipped).` },
  { code: `saelab.showTable(r.table, { title: 'feature transfer' });
saelab.showTable([
  { what: 'density Pearson r', value: r.density_pearson_r },
  { what: '|W_U|_F ratio (finetune / base)', value: r.wu_frobenius_ratio },
  { what: '|W_U - W_U\\'|_F', value: r.wu_frobenius_diff },
  { what: 'dead features base / finetune', value: \`\${r.dead_base} / \${r.dead_finetune}\` },
], { title: 'summary' });` },
  { md: `## Score distributions
Histograms of the per-feature scores of each family.` },
  { code: `for (const [name, spec] of Object.entries(r.plots)) if (name !== "densityScatter") await saelab.showPlot(spec);` },
];
