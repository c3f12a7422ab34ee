module.exports = [
  { md: `# 12 · Circuits over training

At every checkpoint, the sparse feature circuit (lib/circuits, as in Marks et al.) is computed with that
checkpoint's model and its stage-10 SAE: node effects by attribution patching (effect of moving a feature
from its clean to its patch value on the metric logit[patch answer] - logit[clean answer]), nodes with
|effect| above \`circuit.nodeThreshold\`, and faithfulness (F(C) - F(∅)) / (F(M) - F(∅)) with every node outside
the circuit mean-ablated.

**Design.** The sweep trains one SAE per checkpoint at one hook, so each circuit lives at that hook: its
SAE features plus the hook's **error node** (whatever the SAE does not reconstruct), and the faithfulness
ablates nodes there. Nodes are carried to the next checkpoint through notebook 11's optimal matching (an
error node maps to the error node); a node **persists** when its partner is in the next circuit.

**Task.** The demo model is too small to learn subject-verb agreement (its clean and patch prompts get the
same answer preference at every checkpoint), so the demo uses next-token contrast pairs drawn from its own
text (\`data/circuits/bigram_demo.jsonl\`: a context ending in one word vs the same context ending in
another, answers their most frequent successors), in the same JSON-lines layout as the agreement data. The
Pythia preset uses agreement pairs.` },
  { code: `import * as saelab from '../dist/lib';
const ctx = await saelab.setupStage('12_circuits_over_time');
const r = await saelab.circuitsOverTimeStage(ctx);
const cc = ctx.config.checkpoints.circuit;
saelab.showMarkdown(\`\${r.examples} prompt pairs of \${r.prefixLength} tokens from \\\`\${cc.dataset || 'generated agreement pairs'}\\\`; node threshold \${cc.nodeThreshold}; the circuit counts as present when faithfulness > \${cc.appearThreshold} and the model does the task (F(M) - F(∅) > \${cc.minModelEffect}).\`);
saelab.showTable(r.table, { title: \`circuit at each checkpoint (\${r.hook})\` });` },
  { md: `## Faithfulness and circuit nodes over training
F(M) - F(∅) measures how much the model does the task at all; faithfulness is only meaningful once it is
clearly positive. The second plot shows the circuit's size, how many of its nodes persist into the next
checkpoint's circuit, and how many are new (no node of the previous circuit maps onto them).` },
  { code: `await saelab.showPlot(r.plots.faithfulness);
await saelab.showPlot(r.plots.persistence);
saelab.showMarkdown(r.appearedAt === null
  ? 'The circuit never becomes faithful at this threshold on these checkpoints.'
  : \`The circuit appears at **\${r.overTime.labels[r.appearedAt]}** (step \${r.appearedAtStep}): the first checkpoint whose circuit has faithfulness above the threshold while the model does the task.\`);` },
  { md: `## The final circuit and where its nodes come from
For each node of the final checkpoint's circuit: its effect, and the step since which its chain of matched
partners has been in every circuit (a node "in circuit since" an early step has kept its role through
training; one since the final step is new).` },
  { code: `saelab.showTable(r.finalNodesTable, { title: 'final circuit nodes', maxRows: 30 });
saelab.showSvg(r.finalCircuitSvg, { text: '<final circuit (graphviz)>' });` },
];
