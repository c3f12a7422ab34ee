module.exports = [
  { md: `# 03 · Outlier norms

A few tokens carry activations with huge norms (in the published models mostly newlines, never BOS). They
dominate squared-error metrics, so the SAE evaluation leaves them out. The norm scalar
\`S = sqrt(d_model) / E|x|\` rescales the base model's activations to an average norm of sqrt(d_model); a
token is an outlier when \`|S x| > multiplier * sqrt(d_model)\` (or \`|x|\` exceeds an absolute threshold,
as for Mistral). The base model's rule is applied to the finetune too.` },
  { code: `import * as saelab from '../dist/lib';
const ctx = await saelab.setupStage('03_find_outlier_norms');
const r = await saelab.findOutlierNormsStage(ctx);
saelab.showTable([
  { what: 'norm scalar S', value: r.norm_scalar },
  { what: 'rule', value: r.rule.kind === 'absolute' ? \`|x| > \${r.norm_threshold}\` : \`|S x| > \${(r.rule as any).multiplier} * sqrt(d_model)\` },
  { what: 'norm threshold |x|', value: r.norm_threshold },
], { title: 'outlier rule (written to outlier_cfg.json)' });
saelab.showTable(r.table, { title: 'outliers' });` },
  { md: `## Norm distribution
Token norms of both models with the threshold (red). Published: 0.24% outliers for Gemma and 0.7% for
Mistral, and never a BOS token; the BOS column above checks that here.` },
  { code: `await saelab.showPlot(r.plots.norms);` },
];
