module.exports = [
  { md: `# 10 · SAEs across training checkpoints

Seed 004 asks how the features of a model develop while it trains. The first step: train **one SAE per
model training checkpoint** (hub revisions: the demo model's \`step0\` ... \`step300\`, Pythia's
\`step0\` ... \`step143000\`), with the same hook, the same trainer config and the same token windows for
every checkpoint, so that differences between the SAEs come from the model, not from the setup.

Each checkpoint is an independent, resumable job in \`sweep/<label>/\` of this stage's folder (trainer
checkpoints for an exact resume, the SAE in SAELens format, \`summary.json\` written last): a rerun skips
finished jobs, and a SLURM array can run the checkpoints in parallel (\`saelab stage 10 --shard i/n\`, then
\`saelab merge 10\`). Every SAE is evaluated on the same held-out windows (\`eval_tokens.safetensors\`):
- **L0**: mean number of active features per token;
- **explained variance**: 1 - E|x - x̂|² / Σ_d Var(x_d);
- **CE loss score**: (CE_zero - CE_sae) / (CE_zero - CE_clean) with the SAE spliced into the hook at every
  position (1 = the SAE loses nothing, 0 = no better than zeroing the hook);
- **dead share**: features that never fire on the held-out windows.` },
  { code: `import * as saelab from '../dist/lib';
const ctx = await saelab.setupStage('10_checkpoint_saes');
const cc = ctx.config.checkpoints;
saelab.showMarkdown(\`model **\${cc.model}**, hook \\\`\${cc.hook}\\\`, \${cc.checkpoints.length} checkpoints (\${cc.checkpoints.map((c) => c.label).join(', ')}); SAE expansion \${cc.training.expansionFactor}, L1 \${cc.training.l1Coefficient}, \${cc.training.trainingTokens} training tokens each\`);
const r = await saelab.checkpointSaesStage(ctx);
saelab.showTable(r.table, { title: 'one SAE per checkpoint' });` },
  { md: `## SAE quality against training step
The same SAE budget at every checkpoint. Early checkpoints are close to their random initialisation: their
activations have little sparse structure for the SAE to find, so at a fixed L1 coefficient the SAE either
stays dense or explains less of the variance. As the model learns, its residual stream becomes more
compressible into sparse features and the CE loss score shows how much of the model's (growing) use of the
hook the SAE preserves.` },
  { code: `await saelab.showPlot(r.plots.l0);
await saelab.showPlot(r.plots.explainedVariance);
await saelab.showPlot(r.plots.ceLossScore);
await saelab.showPlot(r.plots.deadShare);` },
  { code: `const s = r.summaries;
const first = s[0], last = s[s.length - 1];
saelab.showMarkdown(\`From \${first.label} to \${last.label}: L0 \${first.l0.toFixed(1)} → \${last.l0.toFixed(1)}, explained variance \${first.explained_variance.toFixed(3)} → \${last.explained_variance.toFixed(3)}, CE loss score \${(first.ce_loss_score ?? NaN).toFixed(3)} → \${(last.ce_loss_score ?? NaN).toFixed(3)}, clean CE of the model \${(first.clean_loss ?? NaN).toFixed(2)} → \${(last.clean_loss ?? NaN).toFixed(2)}. Notebook 11 matches these SAEs' features between consecutive checkpoints.\`);
const odd = s.filter((x) => x.zero_ablation_loss !== null && x.clean_loss !== null && x.zero_ablation_loss <= x.clean_loss);
if (odd.length) saelab.showMarkdown(\`At \${odd.map((x) => x.label).join(', ')} zeroing the hook gives a loss no higher than the clean model's (an untrained model is worse than uniform guessing), so the CE loss score, which divides by CE_zero - CE_clean, means nothing there.\`);` },
];
