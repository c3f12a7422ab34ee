module.exports = [
  { md: `# 08 · Feature-ablation graph (seed 003, corrected)

How does switching off one SAE feature change the features of the next SAE and the next-token
distribution? For a feature j of the SAE at hook A, at **every position** the activation becomes
x_A + decode(f with f_j = 0) - decode(f), f = encode(x_A): only f_j W_dec[j] is removed (b_dec and the other
features stay, and only hook A is edited; the downstream SAE only reads). The effect is **ablated minus clean
at the last position, averaged over sequences**, on every feature of the next hook's SAE and on the
log-probabilities of the next token.

The graph follows seed 003's procedure over the config's layer range (\`circuits.hooks\`): pick features at
the first hook (a seeded fraction \`circuits.ablation.thinning\`, or the ids in \`pinned\`), ablate each, keep
the \`branching\` downstream features with the largest |effect| as edges and as the next hook's picks, and so
on to the last hook. Seed 003's code applied each SAE one layer late, removed b_dec and (at all but the last
position) the whole reconstruction, and read one position of one sequence as probability differences; none of
that is repeated here.` },
  { code: `import * as saelab from '../dist/lib';
const ctx = await saelab.setupStage('08_ablation_graph');
const a = ctx.config.circuits.ablation;
const r = await saelab.ablationGraphStage(ctx);
saelab.showTable([{
  model: ctx.config.base.model, 'SAE release': ctx.config.circuits.saeRelease, hooks: r.hooks.join(', '),
  sequences: r.sequences, 'context tokens': r.contextSize, thinning: a.thinning, pinned: a.pinned.join(',') || '-',
  branching: a.branching, nodes: r.nodes, edges: r.edges, reused: r.reused,
}], { title: 'ablation graph setup' });
saelab.showTable(r.picks.map((p) => ({ hook: p.hook, 'features ablated': p.features.length, ids: p.features.join(', ') })), { title: 'features ablated per hook' });` },
  { md: `## The graph
One dashed box per hook: a row each with the first hook at the bottom, or, when a hook has more than 8
features, a column each with the first hook at the left. A node id names the hook and the feature: "L.j" is
feature j of the SAE at \`blocks.L.hook_resid_pre\`, and \`L.<point>.j\` feature j at another hook of block L
(e.g. "0.resid_post.12" at \`blocks.0.hook_resid_post\`, so two hooks of one block never share an id). Its label
lists its top activating contexts (the token where it fires most in brackets, with the tokens before it) and the
next tokens whose log-probability goes **up** and **down** most when it is ablated.
An edge from a node to feature k of the next hook's SAE (e.g. L.j -> (L+1).k) means that ablating the node changed
feature k of the next SAE: **blue** = the feature's
activation increased, **red** = it decreased; opacity and width grow with |effect| relative to the graph's
largest edge. Edges are mean changes of an activation, in the downstream SAE's units; compare them with the
"clean mean" column of the table below.` },
  { code: `saelab.showSvg(r.svg, { text: \`<ablation graph: \${r.nodes} nodes, \${r.edges} edges; graph.svg / graph.dot in \${ctx.stageDir}>\` });` },
  { md: `## The strongest effects
The edges with the largest |effect|, with the downstream feature's clean mean activation at the last position
(the scale the effect is a change of) and the ablated feature's top context.` },
  { code: `saelab.showTable(r.strongest, { title: 'strongest downstream effects (ablated - clean, last position, mean over sequences)', digits: 4 });
saelab.showTable(r.nodeTable, { title: 'nodes: top contexts and next-token log-prob effects', maxRows: 40 });` },
  { md: `## Artifacts
In \`runs/<name>/08_ablation_graph/\`: \`graph.svg\` and \`graph.dot\` (Graphviz), \`graph.json\` (nodes with
contexts and token effects, edges), \`effects.safetensors\` with, for every hook A of the range,
\`features.<A>\` (int32 ablated ids), \`logprob_effects.<A>\` [n, d_vocab] and, when a next hook B exists,
\`feature_effects.<A>.<B>\` [n, d_sae_B] (every downstream feature, not only the kept edges) and \`clean_mean.<B>\`
[d_sae_B]; \`tokens.safetensors\` (the sequences). \`saelab ablate\` computes one row of these from the command line.` },
];
