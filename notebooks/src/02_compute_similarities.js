module.exports = [
  { md: `# 02 · Similarities

How far apart are the base and finetune activations token by token? For each token,
\`cos = <a/|a|, a'/|a'|>\` and \`eucl = |a - a'|\` between the base (\`a\`) and finetune (\`a'\`)
activations saved by stage 01. A finetune that barely changed the model gives cosines near 1 and small
distances; the published study found a global mean cosine of 0.97 for Mistral vs MetaMath and 0.67 for
Gemma vs its python finetune.` },
  { code: `import * as saelab from '../dist/lib';
const ctx = await saelab.setupStage('02_compute_similarities');
const r = await saelab.computeSimilaritiesStage(ctx);
saelab.showTable([{ metric: 'cosine similarity', 'global mean': r.cosine_mean }, { metric: 'euclidean distance', 'global mean': r.euclidean_mean }], { title: \`over \${r.tokens} tokens\` });` },
  { md: `## Cosine similarity
The heatmap shows every token (x: position, y: sequence). In the published models the similarity starts
near 1 at the first token (BOS) and settles within a few tokens. Position 0 sees only BOS, so whatever
differs there comes from the finetune's changed weights alone (its embeddings and first layers), not from
context. The line gives the mean per position, the histograms the per-sequence means and all tokens.` },
  { code: `await saelab.showPlot(r.cosine.plots.heatmap);
await saelab.showPlot(r.cosine.plots.perPosition);
await saelab.showPlot(r.cosine.plots.perSequence);
await saelab.showPlot(r.cosine.plots.allTokens);` },
  { md: `## Euclidean distance
The same four views of the distance. Distances grow with the activations' norms, so compare positions
and sequences within a model pair rather than across model families.` },
  { code: `await saelab.showPlot(r.euclidean.plots.heatmap);
await saelab.showPlot(r.euclidean.plots.perPosition);
await saelab.showPlot(r.euclidean.plots.perSequence);
await saelab.showPlot(r.euclidean.plots.allTokens);` },
];
