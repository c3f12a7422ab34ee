module.exports = [
  { md: `# 00 · Environment

Which TensorFlow.js backend this run uses, the versions of everything that computes a number, the
experiment config every later notebook reads, and a check that plots and tables display.

saelab picks the best backend present: **tfjs-node-gpu** (with a GPU), **tfjs-node**, saelab's own
**native** CPU backend, **wasm**, then the pure-JS **cpu** backend. \`SAELAB_BACKEND\` forces one.` },
  { code: `import * as saelab from '../dist/lib';
const ctx = await saelab.setupStage('00_environment');` },
  { md: `## Versions and config
The table lists the backend chosen, why better ones were skipped, and the config file's key settings.` },
  { code: `const rows: saelab.Row[] = Object.entries(ctx.backend.versions).map(([pkg, version]) => ({ what: pkg, value: version }));
rows.push({ what: 'backend', value: ctx.backend.kind });
for (const [kind, why] of Object.entries(ctx.backend.skipped)) rows.push({ what: \`skipped \${kind}\`, value: why });
rows.push({ what: 'experiment', value: ctx.config.name });
rows.push({ what: 'base model', value: \`\${ctx.config.base.model}@\${ctx.config.base.revision}\` });
rows.push({ what: 'finetune model', value: \`\${ctx.config.finetune.model}@\${ctx.config.finetune.revision}\` });
rows.push({ what: 'SAE', value: \`\${ctx.config.sae.release} / \${ctx.config.sae.id}\` });
saelab.showTable(rows, { title: 'environment' });` },
  { md: `## A demo plot
A histogram of 10,000 standard-normal samples drawn with TensorFlow.js on the chosen backend. Every plot
in saelab is one output carrying the Vega-Lite spec (interactive in JupyterLab and VS Code) and a static
PNG image drawn in Node (nbconvert's HTML export, GitHub). The bars should follow the bell curve, centred on 0 with most mass in [-2, 2].` },
  { code: `// seeded from the config, so every run draws the same samples (tfjs treats seed 0 as "no seed", hence + 1)
const samples = Array.from(saelab.tf.tidy(() => saelab.tf.randomNormal([10000], 0, 1, 'float32', ctx.config.seed + 1)).dataSync());
const bins = 30, lo = -4, hi = 4;
const counts = new Array(bins).fill(0);
for (const s of samples) if (s >= lo && s < hi) counts[Math.floor(((s - lo) / (hi - lo)) * bins)]++;
const values = counts.map((count, i) => ({ start: lo + (i * (hi - lo)) / bins, end: lo + ((i + 1) * (hi - lo)) / bins, count }));
await saelab.showPlot({
  title: 'standard normal samples',
  width: 400, height: 200,
  data: { values },
  mark: 'bar',
  encoding: {
    x: { field: 'start', type: 'quantitative', bin: { binned: true, step: (hi - lo) / bins }, title: 'value' },
    x2: { field: 'end' },
    y: { field: 'count', type: 'quantitative' },
  },
});
saelab.writeJsonAtomic(ctx.stageDir + '/results.json', { backend: ctx.backend.kind, sampleMean: samples.reduce((a, b) => a + b, 0) / samples.length });` },
];
