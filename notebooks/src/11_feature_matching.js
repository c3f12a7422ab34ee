module.exports = [
  { md: `# 11 · Matching features across checkpoints

Which features of one checkpoint's SAE are "the same" as features of the next checkpoint's SAE? For each
pair of consecutive checkpoints:
- **similarity** of every feature pair: by default the cosine of their activation vectors on the shared
  held-out tokens (stage 10 evaluated every SAE on the same windows); \`checkpoints.matchMethod: "decoder"\`
  uses the cosine of decoder rows instead;
- the **optimal one-to-one assignment** maximising total similarity (Hungarian algorithm, munkres), saved as
  \`matching_<a>_<b>.safetensors\` in the layout of \`saelab match-features\` (\`assignment\` int32,
  \`similarity\` float32 per feature of a).

Matched pairs at or above \`matchThreshold\` continue a feature; chains of such links follow a feature
through training. A feature with no predecessor is **born**, one with no successor **dies**; a feature with
several strong partners (>= \`strongThreshold\`) in the next checkpoint **splits**, and several in the previous
one **merge** into it. **Drift**: similarity of each checkpoint's features to their optimal partners in the
final checkpoint.` },
  { code: `import * as saelab from '../dist/lib';
const ctx = await saelab.setupStage('11_feature_matching');
const r = await saelab.featureMatchingStage(ctx);
saelab.showTable(r.transitionTable, { title: \`optimal matching between consecutive checkpoints (\${r.method} cosine)\` });
saelab.showTable(r.eventsTable, { title: 'births, deaths, splits, merges per checkpoint' });` },
  { md: `## Events and drift over training
Early in training the model changes fast, so few features survive from one checkpoint to the next (many
births and deaths); as training settles, consecutive SAEs agree more and more and features drift less.` },
  { code: `await saelab.showPlot(r.plots.events);
await saelab.showPlot(r.plots.drift);
await saelab.showPlot(r.plots.age);` },
  { md: `## The most stable and the latest-born features
Chains that reach the final checkpoint: the longest and most similar ones first, then those born latest. The
chain column lists step:feature along the chain; the contexts are the final checkpoint feature's strongest
activations on the held-out windows (the active token in brackets).` },
  { code: `saelab.showTable(r.stableTable, { title: 'most stable features (chains reaching the final checkpoint)' });
saelab.showTable(r.latestBornTable, { title: 'latest-born features' });
saelab.showMarkdown(\`\${r.chains} chains in all; \${r.fullChains} run from the first checkpoint to the last. Notebook 12 carries the nodes of a circuit through these matchings.\`);` },
];
