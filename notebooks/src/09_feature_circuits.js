module.exports = [
  { md: `# 09 · Sparse feature circuits (seed 004, Marks et al.)

Which SAE features carry a behaviour? The task is subject-verb agreement: pairs of a **clean** prefix and a
**patch** prefix that differ only in the subject's number ("Then he" / "Then they"), with one-token answers
(" was" / " were"). Per example the metric is m = logit(patch answer) - logit(clean answer) at the last
position. At every SAE hook the activation is split into features f = encode(x) and an **error node**
e = x - decode(f), and each node's effect on m is estimated three ways:
- **atp** (attribution patching): one backward pass on the clean run; effect = (patch - clean) x gradient;
- **ig** (integrated gradients, \`igSteps\` steps): one hook at a time, the mean gradient along the straight
  line from clean to patch values, times (patch - clean);
- **exact**: patch one feature at one position (or one error node) to its patch value and rerun.

Node effects are summed over positions and averaged over examples. The circuit keeps the nodes with
|effect| above \`nodeThreshold\` and the edges between consecutive hooks with |weight| above \`edgeThreshold\`.` },
  { code: `import * as saelab from '../dist/lib';
const ctx = await saelab.setupStage('09_feature_circuits');
const at = ctx.config.circuits.attribution;
const r = await saelab.featureCircuitsStage(ctx);
saelab.showTable([{
  model: ctx.config.base.model, 'SAE release': ctx.config.circuits.saeRelease, hooks: ctx.config.circuits.hooks.join(', '),
  pairs: r.examples.n, 'prefix tokens': r.examples.tokens, data: r.examples.source,
  cases: Object.entries(r.examples.cases).map(([k, v]) => \`\${k}: \${v}\`).join(', '),
  'm clean (mean)': r.metric.clean_mean, 'm patch (mean)': r.metric.patch_mean, 'total effect': r.metric.total_effect, reused: r.reused,
}], { title: 'examples and metric' });
saelab.showTable(Object.entries(r.methods).map(([k, v]) => ({ step: k, seconds: v.seconds })), { title: 'time per step' });` },
  { md: `**m clean** should be negative and **m patch** positive for a model that gets agreement right; the
total effect m_patch - m_clean is what the nodes share out. For ig, the node effects at each single hook
add up to about the total effect (patching a whole residual-stream hook from clean to patch turns the clean
run into the patch run; ig integrates that path), so its row sums below are a check of the attribution; atp
is a first-order estimate of the same sum, and exact effects of single nodes need not add up.` },
  { code: `saelab.showTable(r.effectSums, { title: 'sum of node effects per hook (features + error) vs the total effect' });` },
  { md: `## atp, ig and exact side by side
Each point is one node (a feature or an error node of one hook): its effect by one method against another.
On the diagonal the methods agree. atp is exact for a node whose effect is linear in its value; it misses
where the metric saturates or a ReLU switches, which ig follows better. The table gives Pearson r and the
least-squares line at node level (aggregated effects) and at position level (every example, position and node).` },
  { code: `for (const spec of Object.values(r.plots.agreement)) await saelab.showPlot(spec);
saelab.showTable(r.agreement, { title: 'agreement between methods (x -> y)' });
saelab.showTable(r.topNodes, { title: \`strongest nodes per hook by \${r.circuit.method} (all methods side by side)\` });` },
  { md: `## The circuit
Nodes of the circuit (by the config's \`circuits.attribution.method\`), one dashed box per hook (a row, or rows of 12 when a hook keeps more nodes), inputs at the bottom and the metric node **y** on top.
A node "L.j" is feature j of the SAE at \`blocks.L.hook_resid_pre\`, "L.err" its error node; at another hook of block L
the ids name the hook point: \`L.<point>.j\` and \`L.<point>.err\` (e.g. "0.resid_post.12" at \`blocks.0.hook_resid_post\`).
The label gives its effect and the
position where it acts most (with the clean token there). Fill: **blue** = patching the node moves the prediction towards the
patch answer (it carries the subject's number), **red** = towards the clean answer; stronger colour = larger |effect|. Edges are the effect of an upstream
node on the metric through a downstream node (gradients pulled back through the model with the SAE hooks in
between held fixed, times the upstream patch - clean delta): **blue** positive, **red** negative, opacity by
|weight|. Edges into y are the last hook's node effects.` },
  { code: `saelab.showTable([r.circuit], { title: 'circuit at the config thresholds' });
saelab.showSvg(r.svg, { text: \`<circuit graph: \${r.circuit.nodes} nodes, \${r.circuit.edges} edges; circuit.svg / circuit.dot in \${ctx.stageDir}>\` });` },
  { md: `## Faithfulness and completeness
Mean ablation (feature-circuits): on the clean prompts, every node **outside** the circuit is replaced by its
mean over the patch prompts, at every hook; F is the mean of logit(clean answer) - logit(patch answer).
**Faithfulness** = (F(circuit) - F(empty)) / (F(model) - F(empty)): 1 when the circuit alone recovers the
model's behaviour, 0 when it does no better than ablating everything. **Completeness** is the same with the
circuit's complement kept (the circuit ablated): near 0 when nothing outside the circuit matters. The first
and last rows are the two ends, computed through the same ablation code (1 and 0 by definition). Neither is
bounded by [0, 1]: a circuit can beat the full model (its ablated nodes were working against the answer), and
ablating a circuit can push the metric past the empty circuit. Read the curve from the right (few nodes) to the
left: the threshold where faithfulness reaches about 1 tells how many nodes the behaviour needs.` },
  { code: `await saelab.showPlot(r.plots.faithfulness);
saelab.showTable(r.faithfulnessTable, { title: \`faithfulness (F(model) = \${r.faithfulness.fModel.toFixed(4)}, F(empty) = \${r.faithfulness.fEmpty.toFixed(4)})\` });` },
  { md: `## Artifacts
In \`runs/<name>/09_feature_circuits/\`: \`results.json\` (the numbers above), \`node_effects.safetensors\`
(\`nodes.<method>.<hook>\` [d_sae + 1], last entry the error node; \`effects.<method>.<hook>\` [N, T, d_sae + 1]
when they fit in 128 MiB; \`metric_clean\`, \`metric_patch\` [N]), \`edges.safetensors\` (\`edges.<up>.<down>\`
[K, d_sae_up + 1] for the K kept downstream nodes listed in \`edge_down_nodes.<up>.<down>\`), \`circuit.json\`,
\`circuit.dot\`, \`circuit.svg\` and \`examples.jsonl\` (the pairs used). \`saelab attribute\` computes the node
effects of one method from the command line.` },
];
