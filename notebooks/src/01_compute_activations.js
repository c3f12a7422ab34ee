module.exports = [
  { md: `# 01 · Compute activations

Do a base model and its finetune represent the same text the same way at the layer an SAE reads?
This stage runs both models on **the same token ids** (the finetune is fed the base tokenizer's ids, as
in the published study) and saves the activations at the SAE's hook, e.g. \`blocks.2.hook_resid_pre\`.

Artifacts in \`runs/<experiment>/01_compute_activations/\`: \`tokens.safetensors\` (int32 [N, ctx]),
\`base_acts.safetensors\` and \`finetune_acts.safetensors\` (float32 [N, ctx, d_model], tensor \`acts\`),
\`tokenizer_comparison.csv\`, \`results.json\` and a manifest (config, model commits, saelab version).
A rerun with the same config reuses them.` },
  { code: `import * as saelab from '../dist/lib';
const ctx = await saelab.setupStage('01_compute_activations');` },
  { md: `## Tokenizers
Feeding the finetune the base token ids only makes sense when both tokenizers map strings to the same ids.
The table counts strings found in only one vocabulary and shared strings with different ids; \`good\` is the
share of a vocabulary that is neither. A finetune that keeps its base's tokenizer has 100% good.` },
  { code: `const r = await saelab.computeActivationsStage(ctx);
saelab.showTable(r.comparisonTable, { title: 'tokenizer comparison' });
if (r.warning) saelab.showMarkdown(\`**Warning:** \${r.warning}\`);` },
  { md: `## Activations
The shape of the saved activations, the hook, and the model commits they came from.` },
  { code: `saelab.showTable([
  { what: 'hook', value: r.hook },
  { what: 'sequences x context', value: \`\${r.sequences} x \${r.contextSize}\` },
  { what: 'd_model', value: r.dModel },
  { what: 'base commit', value: r.revisions.base ?? 'local' },
  { what: 'finetune commit', value: r.revisions.finetune ?? 'local' },
  { what: 'aligned tokens (text alignment)', value: r.alignment ? \`\${r.alignment.aligned} of \${r.alignment.total}\` : 'n/a (token ids replayed)' },
  { what: 'reused from an earlier run', value: r.reused },
], { title: 'stage 01' });` },
];
