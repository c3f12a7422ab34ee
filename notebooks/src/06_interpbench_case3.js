module.exports = [
  { md: `# 06 · InterpBench case 3: the model, its SAE, and a feature browser (seed 002)

InterpBench case 3 is a 2-layer transformer (4 heads of width 3, d_model 12, d_mlp 48, gelu, no LayerNorm)
that computes the running fraction of \`x\` tokens: at position i >= 1 it outputs (x among tokens 1..i) / i
at \`logits[..., 0]\`. InterpBench publishes its models as PyTorch files (\`ll_model.pth\`, \`ll_model_cfg.pkl\`);
saelab reads them as data only (a pickle can never run code) and ships its own case-3 model in the same
layout. Set \`INTERPBENCH_CASE_DIR\` to a downloaded InterpBench case folder (e.g. from
\`saelab.interpBenchCaseDir(3)\`) to use InterpBench's model instead.` },
  { code: `import * as saelab from '../dist/lib';
const ctx = await saelab.setupStage('06_interpbench_case3');
const modelDir = process.env.INTERPBENCH_CASE_DIR ?? saelab.shippedCase3Dir();
const model = await saelab.HookedTransformer.fromPretrained(modelDir);
const c = model.cfg;
saelab.showTable([
  { field: 'folder', value: modelDir },
  ...(['n_layers', 'n_heads', 'd_head', 'd_model', 'd_mlp', 'act_fn', 'normalization_type', 'd_vocab', 'd_vocab_out', 'n_ctx'] as const)
    .map((k) => ({ field: k, value: String(c[k]) })),
  { field: 'weight processing', value: JSON.stringify(model.processing) },
], { title: 'model config (from ll_model_cfg.pkl)' });` },
  { md: `## The task
All 320 inputs (64 of BOS + 3 letters + PAD, then 256 of BOS + 4 letters, over a < b < c < x). A prediction
is accurate within 0.05 of the label. The scatter plot puts every readout position's prediction against its
label: a model that solves the task keeps every point on the diagonal.` },
  { code: `const inputs = saelab.case3Inputs();
const tokens = saelab.tf.tensor2d(inputs, undefined, 'int32');
const logits = model.forward(tokens).logits as saelab.tf.Tensor3D;
const acc = await saelab.case3Accuracy(logits, inputs);
saelab.showTable([{ readout_positions: acc.total, accurate: acc.correct, accuracy: acc.accuracy, max_error: acc.maxError }], { title: 'case-3 accuracy' });
await saelab.showPlot(saelab.case3PredictionSpec(await saelab.case3Predictions(logits, inputs)));
saelab.tf.dispose([tokens, logits]);` },
  { md: `## The SAE on the residual stream
The seed's configuration: 48 features (expansion 4) on \`blocks.1.hook_resid_pre\`, L1 0.1, lr 3e-4, Adam
(0.9, 0.999), 1.5M tokens in batches of 80 cycling through the 1,600 positions, ghost grads, geometric-median
b_dec, 5 checkpoints. The shipped SAE was trained that way (\`scripts/train-case3-sae.ts\`, about 5 minutes);
set \`SAELAB_RETRAIN_SAE=1\` to train it again here. Explained variance (SAELens's per-token form) and L0 are
measured on the 1,600 positions; an SAE tends to split "token is x" by position, so the check is that
features firing only on x (precision >= 0.95) together cover the x tokens.` },
  { code: `const hook = 'blocks.1.hook_resid_pre';
const sae = process.env.SAELAB_RETRAIN_SAE === '1'
  ? (await saelab.trainCase3Sae(model, hook, {}, { outDir: ctx.stageDir + '/sae-run', saeDir: ctx.stageDir + '/sae' })).sae
  : await saelab.SAE.load(saelab.shippedCase3Dir() + '/saes/' + hook);
const { acts, tokens: ids } = saelab.case3Activations(model, hook);
const { checks, feats } = await saelab.case3SaeChecks(sae, hook, acts, ids);
const xOnly = checks.xOnly;
saelab.showTable([{ hook, d_sae: checks.dSae, explained_variance: checks.explainedVariance, l0: checks.l0, x_only_features: xOnly.features.length, x_tokens_covered: xOnly.coverage }], { title: 'SAE on the 1,600 positions' });
saelab.showTable(xOnly.features.map((f) => ({ feature: f.feature, fires_on: f.firing, precision: f.precision, recall: f.recall })), { title: 'features that fire only on x' });` },
  { md: `## Feature browser
For each live feature, its top-20 activating (sequence, position) pairs with the token there (in brackets in
its sequence) and the histogram of its activations. Pick a feature from the drop-down in JupyterLab; the
static HTML page written next to this notebook's artifacts (\`features.html\`) lists them all.` },
  { code: `const top = await saelab.topActivatingExamples(saelab.tf.reshape(feats, [320, 5, -1]) as saelab.tf.Tensor3D, ids, 20);
const decode = (id: number) => saelab.CASE3_TOKENS[id];
await saelab.showFeatureBrowser(top, { decode, tokens: ids, title: \`\${top.live.length} live of \${top.dSae} features on \${hook}\` });
await saelab.writeFeatureBrowserHtml(ctx.stageDir + '/features.html', top, { decode, tokens: ids });
saelab.writeJsonAtomic(ctx.stageDir + '/results.json', { accuracy: acc.accuracy, explained_variance: checks.explainedVariance, l0: checks.l0, live_features: top.live.length, x_only_features: xOnly.features.map((f) => f.feature), x_coverage: xOnly.coverage });
saelab.tf.dispose([acts, feats]);
sae.dispose();
model.dispose();` },
];
