module.exports = [
  { md: `# 07 · Cross-layer feature evolution (seed 000)

How do the SAE features of one layer relate to those of the next? For every adjacent pair of per-layer SAEs
(feature i of layer L, feature j of layer L+1) this stage computes, over the same tokens:
- **dead features** (never active) and **dead feature pairs** (never co-active), recorded every
  \`checkpointTokens\` tokens to see how they shrink as more tokens are seen;
- the seed's similarity measures: \`pearson_correlation\`, \`activation_cosine_similarity\`,
  \`jaccard_similarity\`, \`sufficiency\` (c / n_i), \`necessity\` (c / n_j), the last three also with
  "active" meaning above 0.2 x the feature's max activation (\`_relative_activation\`), binary
  \`mutual_information\`, and the decoder \`cosine_similarity\` of W_dec rows.

Everything is streamed straight from the model and its SAEs, in one pass for all measures and layer pairs
(plus a cheap first pass for the max activations). Only co-active pairs are accumulated; every other pair's
value follows exactly from per-feature moments, so each stored number equals the dense definition. Values
below 0.1 in magnitude (0.4 for decoder cosine) are stored as 0, as in the seed.

The demo config runs the shipped 4-layer model with its four residual SAEs (512 features each) on 32,768
tokens; \`configs/gpt2-small-crosslayer.json\` is the published setting (GPT-2 small, gpt2-small-res-jb,
NeelNanda/pile-10k, 17.5M tokens). With \`--scheduler slurm --shards N\` the statistics run as N row shards
(each reads every token and pairs a range of layer L's features) whose merge equals a single run bit for bit.` },
  { code: `import * as saelab from '../dist/lib';
const ctx = await saelab.setupStage('07_crosslayer_features');
const cl = ctx.config.crosslayer;
const r = await saelab.crossLayerStage(ctx);
saelab.showTable(r.tables.summary, { title: \`\${cl.model} with \${cl.saeRelease}: \${r.hooks.length} layers\` });
saelab.showTable([
  { what: 'pass 1 (max activations) s', value: r.seconds.max }, { what: 'pass 2 (all statistics) s', value: r.seconds.collect },
  { what: 'pass 2 tokens / s (model included)', value: r.tokens_per_second }, { what: 'writing files s', value: r.seconds.write },
  { what: 'graph contexts s', value: r.seconds.contexts }, { what: 'stage reused from an earlier run', value: r.reused },
  { what: 'statistics reused (only graph settings changed)', value: r.statistics_reused ?? false },
  { what: 'peak pair entries in memory (sharded: the largest shard)', value: r.peak_pairs_in_memory },
  { what: 'spills to disk (sharded: all shards)', value: r.spills },
], { title: 'timing and memory' });` },
  { md: `## Dead features against tokens
A feature is dead at a checkpoint when it has not fired on any token so far. Counts fall as more tokens are
seen (rare features get their first activation); where a curve flattens, the remaining dead features are
likely dead for good. The table gives the final counts at every threshold of the seed (count <= thr), and
the features that never fired on all tokens of the run.` },
  { code: `await saelab.showPlot(r.plots.deadFeatures);
saelab.showTable(r.tables.dead, { title: 'dead features per layer' });` },
  { md: `## Dead feature pairs against tokens
The share of (i, j) pairs that were never active on the same token, per layer pair. A dead feature makes
all of its pairs dead, so d^2 - (d - dead_L)(d - dead_L+1) pairs are dead from single dead features alone
(the "from dead features" lines). The gap between the two lines is the pairs of live features that simply
never fired together.` },
  { code: `await saelab.showPlot(r.plots.deadPairs);
const dead = saelab.crosslayer.loadDeadFeatures(ctx.stageDir + '/dead_features.safetensors');
const last = dead.tokens.length - 1;
const expected = saelab.crosslayer.expectedDeadPairs(dead.dead_features, r.d_sae, 0)[last];
saelab.showTable(expected.map((e, P) => ({
  pair: \`\${P}->\${P + 1}\`, 'dead pairs': dead.dead_feature_pairs[0][P][last], 'from dead features': e,
  'share explained by dead features': dead.dead_feature_pairs[0][P][last] > 0 ? e / dead.dead_feature_pairs[0][P][last] : null,
})), { title: \`dead pairs (never co-active) after \${dead.tokens[last]} tokens\` });` },
  { md: `## Distributions of the statistics
Each statistic's stored values (those at or above the clamp in magnitude), counted on a log scale per layer
pair. Pearson and cosine can be negative; Jaccard, sufficiency, necessity and mutual information cannot.
Almost all of the d^2 pairs are 0 after clamping: the table gives how many pairs each statistic keeps.` },
  { code: `for (const [name, spec] of Object.entries(r.plots)) if (name.startsWith('hist_')) await saelab.showPlot(spec);
saelab.showTable(r.tables.stats, { title: 'stored (nonzero) pairs and the largest value per layer pair' });` },
  { md: `## Pass-through
The share of layer-L features whose best Pearson correlation with any layer-(L+1) feature reaches 0.4 or
0.5: features that are carried to the next layer almost unchanged. The seed reports 66-86% per layer for
GPT-2 small; small SAEs on a tiny model need not match that.` },
  { code: `await saelab.showPlot(r.plots.passThrough);
saelab.showTable(r.tables.pass_through, { title: 'pass-through' });` },
  { md: `## Feature graph
Links (L/i -> L+1/j) with Pearson >= \`graph.minWeight\`, each feature keeping its \`graph.topK\` strongest, and
communities by Louvain (nodes ordered and coloured by community). The static browser \`graph.html\` in the
stage folder shows each feature's links and top-activating contexts (and links to Neuronpedia for the
published SAEs); open it in a web browser.` },
  { code: `await saelab.showPlot(r.plots.graph);
const rel = ctx.stage + '/' + r.graph.html; // relative to the executed notebook in the run folder
saelab.showMarkdown(\`Browser: [\${rel}](\${rel}) (\${r.graph.nodes} features, \${r.graph.edges} links, \${r.graph.communities} communities, modularity \${r.graph.modularity.toFixed(3)}).

Files in \\\`\${ctx.stageDir}\\\`: \${r.files.join(', ')}.\`);` },
];
