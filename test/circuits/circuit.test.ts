/**
 * Edges against central finite differences of the pulled-back downstream scalar, faithfulness with
 * mean ablation against hand-written hooks, circuit selection, the ablation graph, DOT and SVG.
 */
import { before, test } from 'node:test';
import * as assert from 'assert';
import * as tf from '@tensorflow/tfjs';
import { SAE } from '../../lib/sae';
import {
  attributeNodes, disposeAttribution, edgesBetween, circuitEdges, buildCircuit, circuitDot, faithfulnessCurve, metricWithAblations, patchMeans,
  ablationGraph, ablationGraphDot, ablationEffects, renderDotSvg, thinFeatures, saeSet, SAESet, toDot,
  methodAgreement, methodAgreementSpec, faithfulnessSpec,
} from '../../lib/circuits';
import { setupBackend, assertClose } from '../helpers';
import type { GraphSpec } from '../../lib/circuits/graphviz';
import { tinyModel, randomSAE, refEncode, TOKENS, HOOKS, PAIRS } from './tiny';

before(setupBackend);

const saes = (): SAESet => saeSet(HOOKS.map((h, i) => randomSAE(h, 12, 1000 + 10 * i)));

function refDecode(sae: SAE, f: tf.Tensor): tf.Tensor {
  return tf.tidy(() => tf.add(tf.matMul(tf.reshape(f, [-1, sae.cfg.d_sae]), sae.weights.W_dec), sae.weights.b_dec).reshape([...f.shape.slice(0, -1), sae.cfg.d_in]));
}

test('edges equal central finite differences of the kept downstream scalar along the upstream delta', async () => {
  const model = tinyModel();
  const s = saes();
  const attr = await attributeNodes(model, s, PAIRS, { method: 'atp', keepTensors: true });
  const [up, down] = [HOOKS[0], HOOKS[1]];
  const thr = 0.02;
  const block = await edgesBetween(model, s, PAIRS.clean, attr, up, down, { nodeThreshold: thr, nodesPerPass: 3 });
  const D = 12;
  const { N, T } = attr;
  const effD = attr.byHook.get(down)!.effects;
  // kept downstream nodes: |per-position effect| > thr somewhere
  const expectKept = [];
  for (let k = 0; k <= D; k++) {
    let any = false;
    for (let nt = 0; nt < N * T; nt++) if (Math.abs(effD[nt * (D + 1) + k]) > thr) any = true;
    if (any) expectKept.push(k);
  }
  assert.deepStrictEqual(block.downNodes, expectKept);
  assert.ok(block.downNodes.length >= 3 && block.downNodes.includes(D), `several downstream nodes incl. the error node: ${block.downNodes}`);
  const saeU = s.get(up)!;
  const saeD = s.get(down)!;
  const t = attr.tensors!;
  const leftF = t.get(down)!.gradF;
  const leftE = t.get(down)!.gradE;
  const dF = t.get(up)!.deltaF;
  const dE = t.get(up)!.deltaE;
  const tokens = tf.tensor2d(PAIRS.clean, undefined, 'int32');
  /** S_k with upstream activation x_u + eps * v, v [N, T, d]. */
  const S = (k: number, v: tf.Tensor, eps: number) => tf.tidy(() => {
    let y: tf.Tensor | undefined;
    model.forward(tokens, { fwdHooks: [[up, (x) => tf.add(x, tf.mul(eps, v))], [down, (a) => { y = tf.keep(a.clone()); }]] });
    const g = refEncode(saeD, y!);
    const mask = tf.tensor2d(Array.from({ length: N * T }, (_, nt) => (Math.abs(effD[nt * (D + 1) + k]) > thr ? 1 : 0)), [N, T]);
    const val = k < D
      ? tf.sum(tf.mul(mask, tf.squeeze(tf.slice(tf.mul(leftF, g), [0, 0, k], [-1, -1, 1]), [2])))
      : tf.sum(tf.mul(tf.expandDims(mask, 2), tf.mul(leftE, tf.sub(y!, refDecode(saeD, g)))));
    y!.dispose();
    return val.dataSync()[0];
  });
  const eps = 1e-2;
  const dFdata = dF.arraySync() as number[][][];
  let checked = 0;
  for (const [r, k] of block.downNodes.entries()) {
    if (r % 2 === 1 && k !== D) continue; // every other feature row, and the error row
    // upstream: the feature with the largest total |delta|, and the error node
    const score = (j: number) => dFdata.flat().reduce((a, row) => a + Math.abs(row[j]), 0);
    const j = Array.from({ length: D }, (_, i) => i).sort((a, b) => score(b) - score(a))[0];
    const vF = tf.tidy(() => tf.mul(tf.slice(dF, [0, 0, j], [-1, -1, 1]), tf.slice(saeU.weights.W_dec, [j, 0], [1, -1])));
    for (const [col, v] of [[j, vF], [D, dE]] as Array<[number, tf.Tensor]>) {
      const fd = (S(k, v, eps) - S(k, v, -eps)) / (2 * eps) / N;
      const w = block.weights[r * (D + 1) + col];
      assert.ok(Math.abs(w - fd) <= 2e-4 + 5e-3 * Math.abs(fd), `edge ${up}[${col}] -> ${down}[${k}]: ${w} vs finite difference ${fd}`);
      checked++;
    }
  }
  assert.ok(checked >= 4);
  const all = await circuitEdges(model, s, PAIRS.clean, attr, { nodeThreshold: thr });
  assert.deepStrictEqual(all.map((b) => `${b.up}->${b.down}`), [`${HOOKS[0]}->${HOOKS[1]}`, `${HOOKS[1]}->${HOOKS[2]}`]);
  assertClose(all[0].weights, block.weights, 1e-6, 1e-5, 'same block with another chunking');
  disposeAttribution(attr);
});

test('faithfulness: F(M) is the clean metric, F(empty) and a one-feature circuit match hand-written mean ablations', async () => {
  const model = tinyModel();
  const hook = HOOKS[1];
  const sae = randomSAE(hook, 12, 77);
  const set = saeSet([sae]);
  const T = 6;
  const x = (tokens: number[][]) => tf.tidy(() => { const { cache } = model.runWithCache(tf.tensor2d(tokens, undefined, 'int32'), { namesFilter: [hook] }); return cache.get(hook).clone(); });
  const metric = (hooks: Array<[string, (a: tf.Tensor) => tf.Tensor]>) => tf.tidy(() => {
    const l = model.forward(tf.tensor2d(PAIRS.clean, undefined, 'int32'), { fwdHooks: hooks }).logits!.arraySync() as number[][][];
    return l.map((row, n) => row[T - 1][PAIRS.cleanAnswers[n]] - row[T - 1][PAIRS.patchAnswers[n]]);
  });
  const meanOf = (a: number[]) => a.reduce((p, v) => p + v, 0) / a.length;
  const xp = x(PAIRS.patch);
  const fp = refEncode(sae, xp);
  const ep = tf.sub(xp, refDecode(sae, fp));
  const meanF = tf.mean(fp, 0);
  const meanE = tf.mean(ep, 0);
  const means = patchMeans(model, set, PAIRS.patch);
  assertClose(means.get(hook)!.f.dataSync(), meanF.dataSync(), 1e-5, 1e-5, 'mean f');
  // keep everything: the clean model
  const all = new Map([[hook, new Uint8Array(13).fill(1)]]);
  assertClose(metricWithAblations(model, set, PAIRS, all, means), metric([]), 1e-4, 1e-4, 'F(M)');
  // keep nothing: the activation becomes decode(mean f) + mean e
  const empty = metric([[hook, () => tf.add(tf.expandDims(refDecode(sae, meanF), 0), tf.expandDims(meanE, 0)).tile([3, 1, 1])]]);
  assertClose(metricWithAblations(model, set, PAIRS, new Map([[hook, new Uint8Array(13)]]), means), empty, 1e-4, 1e-4, 'F(empty)');
  // keep feature 4 and the error node
  const keep = new Uint8Array(13);
  keep[4] = 1;
  keep[12] = 1;
  const one = metric([[hook, (a) => {
    const f = refEncode(sae, a);
    const m = tf.oneHot(tf.tensor1d([4], 'int32'), 12).reshape([12]);
    const fm = tf.add(tf.mul(f, m), tf.mul(tf.expandDims(meanF, 0), tf.sub(1, m)));
    return tf.add(refDecode(sae, fm), tf.sub(a, refDecode(sae, f)));
  }]]);
  assertClose(metricWithAblations(model, set, PAIRS, new Map([[hook, keep]]), means), one, 1e-4, 1e-4, 'F(C)');
  // the curve: a threshold below every |node| keeps all (faithfulness 1, completeness 0), above every |node| keeps none
  const nodes = new Map([[hook, Float32Array.from({ length: 13 }, (_, i) => (i === 4 || i === 12 ? 1 : 0.1))]]);
  const curve = await faithfulnessCurve(model, set, PAIRS, nodes, [-1, 0.5, 10]);
  assert.ok(Math.abs(curve.fModel - meanOf(metric([]))) < 1e-4);
  assert.ok(Math.abs(curve.fEmpty - meanOf(empty)) < 1e-4);
  const [lo, mid, hi] = curve.points;
  assert.ok(Math.abs(lo.faithfulness - 1) < 1e-4 && Math.abs(lo.completeness) < 1e-4, JSON.stringify(lo));
  assert.ok(Math.abs(hi.faithfulness) < 1e-4 && Math.abs(hi.completeness - 1) < 1e-4, JSON.stringify(hi));
  assert.strictEqual(mid.nNodes, 2);
  assert.ok(Math.abs(mid.faithfulness - (meanOf(one) - meanOf(empty)) / (meanOf(metric([])) - meanOf(empty))) < 1e-3, JSON.stringify(mid));
});

test('circuit: nodes above the threshold, edges between kept nodes, y edges; DOT and SVG', async () => {
  const model = tinyModel();
  const s = saes();
  const attr = await attributeNodes(model, s, PAIRS, { method: 'ig', steps: 4, keepTensors: true });
  const edges = await circuitEdges(model, s, PAIRS.clean, attr, { nodeThreshold: 0.02 });
  const thr = 0.05;
  const c = buildCircuit(attr, edges, { nodeThreshold: thr, edgeThreshold: 0.001 });
  disposeAttribution(attr);
  let expectNodes = 0;
  for (const h of HOOKS) expectNodes += Array.from(attr.byHook.get(h)!.nodes).filter((v) => Math.abs(v) > thr).length;
  assert.strictEqual(c.nodes.length, expectNodes + 1);
  assert.ok(expectNodes >= 3, `a few nodes: ${expectNodes}`);
  const ids = new Set(c.nodes.map((n) => n.id));
  for (const e of c.edges) assert.ok(ids.has(e.from) && ids.has(e.to), `${e.from} -> ${e.to}`);
  const lastNodes = c.nodes.filter((n) => n.hook === HOOKS[2]);
  for (const n of lastNodes) assert.strictEqual(c.edges.find((e) => e.from === n.id && e.to === 'y')!.weight, n.effect);
  const errNode = c.nodes.find((n) => n.isError);
  if (errNode) assert.match(errNode.id, /^\d\.err$/);
  const dot = circuitDot(c, { title: 'tiny circuit' });
  assert.match(dot, /^digraph G \{/);
  for (const n of c.nodes) assert.ok(dot.includes(`"${n.id}"`), `node ${n.id} in DOT`);
  const svg = await renderDotSvg(dot);
  assert.match(svg, /^<svg[\s\S]*<\/svg>\s*$/, 'starts at <svg> (no XML declaration: embeds in HTML)');
  assert.ok(svg.includes('tiny circuit'));
  assert.throws(() => toDot({ nodes: [{ id: 'a', label: 'a' }], edges: [{ from: 'a', to: 'b', weight: 1 }] }), /names a node that is not in the graph/);
});

test('ablation graph: pinned feature, top-k downstream effects as the next picks, rendered to SVG', async () => {
  const model = tinyModel();
  const s = saes();
  const tokens = TOKENS;
  const g = await ablationGraph(model, s, tokens, { hooks: HOOKS, pinned: [3], branching: 2, decodeToken: (id) => `t${id}`, contexts: TOKENS, contextsPerNode: 2 });
  const r0 = await ablationEffects(model, s, tf.tensor2d(tokens, undefined, 'int32'), { layerHook: HOOKS[0], downstreamHook: HOOKS[1], features: [3] });
  const top = Array.from(r0.featureEffects.keys()).sort((a, b) => Math.abs(r0.featureEffects[b]) - Math.abs(r0.featureEffects[a])).slice(0, 2);
  const first = g.edges.filter((e) => e.from === '0.3');
  assert.deepStrictEqual(first.map((e) => e.to).sort(), top.map((k) => `1.${k}`).sort());
  for (const e of first) assert.strictEqual(e.effect, r0.featureEffects[Number(e.to.split('.')[1])]);
  assert.deepStrictEqual(g.nodes.filter((n) => n.hook === HOOKS[1]).map((n) => n.feature), [...top].sort((a, b) => a - b));
  assert.ok(g.nodes.filter((n) => n.hook === HOOKS[2]).length >= 1);
  const n0 = g.nodes[0];
  const lp = r0.logprobEffects;
  assert.strictEqual(n0.upTokens[0].effect, Math.max(...lp));
  assert.strictEqual(n0.downTokens[0].effect, Math.min(...lp));
  assert.strictEqual(n0.upTokens[0].token, `t${n0.upTokens[0].id}`);
  const dot = ablationGraphDot(g, 'ablation graph');
  const svg = await renderDotSvg(dot);
  assert.match(svg, /<svg/);
  for (const n of g.nodes) assert.ok(svg.includes(n.id), `node ${n.id} in SVG`);
  assert.deepStrictEqual(thinFeatures(100, 0.05, 1), thinFeatures(100, 0.05, 1));
  assert.strictEqual(thinFeatures(100, 0.05, 1).length, 5);
  assert.strictEqual(new Set(thinFeatures(100, 0.5, 2)).size, 50);
});

test('method agreement pairs effects hook by hook (r by hand); faithfulness spec has both curves', async () => {
  const mk = (method: 'atp' | 'exact', nodes: number[][]) => ({
    method, N: 1, T: 1, hooks: ['h0', 'h1'], metricClean: new Float32Array(1), metricPatch: new Float32Array(1),
    byHook: new Map(nodes.map((v, i) => [`h${i}`, { hook: `h${i}`, dSae: v.length - 1, effects: Float32Array.from(v), nodes: Float32Array.from(v) }])),
  });
  const a = mk('atp', [[1, 2, 3], [4, 5]]);
  const b = mk('exact', [[2, 4, 6], [8, 10.5]]);
  const m = methodAgreement(a, b);
  assert.deepStrictEqual(Array.from(m.a), [1, 2, 3, 4, 5]);
  // y = 2x except the last (+0.5): r from the textbook formula
  const xs = [1, 2, 3, 4, 5];
  const ys = [2, 4, 6, 8, 10.5];
  const mx = 3;
  const my = ys.reduce((s, v) => s + v, 0) / 5;
  const sxy = xs.reduce((s, x, i) => s + (x - mx) * (ys[i] - my), 0);
  const r = sxy / Math.sqrt(xs.reduce((s, x) => s + (x - mx) ** 2, 0) * ys.reduce((s, y) => s + (y - my) ** 2, 0));
  assert.ok(Math.abs(m.line.r - r) < 1e-5);
  const spec = methodAgreementSpec(a, b) as unknown as { title: { text: string } | string };
  assert.match(JSON.stringify(spec), /exact vs atp node effects/);
  const curve = { fModel: 2, fEmpty: 0, points: [{ threshold: 0.1, nNodes: 5, fCircuit: 1, fComplement: 1, faithfulness: 0.5, completeness: 0.5 }, { threshold: 0.01, nNodes: 9, fCircuit: 2, fComplement: 0, faithfulness: 1, completeness: 0 }] };
  const fs = JSON.stringify(faithfulnessSpec(curve));
  assert.match(fs, /"series":"faithfulness"/);
  assert.match(fs, /"series":"completeness"/);
});

test('a hook with many circuit nodes wraps into rows inside its box, y above them', async () => {
  const nodes: GraphSpec['nodes'] = Array.from({ length: 25 }, (_, j) => ({ id: `1.${j}`, label: `1.${j}`, group: 'blocks.1.hook_resid_pre' }));
  nodes.push({ id: 'y', label: 'y', group: 'y' });
  const spec: GraphSpec = { nodes, edges: nodes.slice(0, 25).map((n, j) => ({ from: n.id, to: 'y', weight: j - 12 })), groups: ['blocks.1.hook_resid_pre', 'y'], maxPerRow: 12 };
  const dot = toDot(spec);
  assert.strictEqual(dot.match(/rank=same/g)?.length, 4, '25 nodes in rows of 12, 12, 1, and y');
  const svg = await renderDotSvg(dot);
  // node centres from the SVG: one distinct height per row, rows stacked (BT: later rows higher up)
  const centre = new Map<string, { x: number; y: number }>();
  for (const m of svg.matchAll(/<title>([^<]+)<\/title>\s*<path[^>]*d="M([-\d.]+),([-\d.]+)/g)) centre.set(m[1], { x: Number(m[2]), y: Number(m[3]) });
  for (const m of svg.matchAll(/<title>([^<]+)<\/title>\s*<polygon[^>]*points="([-\d.]+),([-\d.]+)/g)) centre.set(m[1], { x: Number(m[2]), y: Number(m[3]) });
  const rowY = (ids: string[]) => new Set(ids.map((id) => Math.round(centre.get(id)!.y)));
  const ids = (from: number, to: number) => Array.from({ length: to - from }, (_, k) => `1.${from + k}`);
  assert.strictEqual(rowY(ids(0, 12)).size, 1, 'the first 12 share a row');
  assert.strictEqual(rowY(ids(12, 24)).size, 1, 'the next 12 share a row');
  const [y0, y1, y2, yy] = [centre.get('1.0')!.y, centre.get('1.12')!.y, centre.get('1.24')!.y, centre.get('y')!.y];
  assert.ok(y0 > y1 && y1 > y2 && y2 > yy, `rows stacked upwards, y on top (SVG y: ${y0}, ${y1}, ${y2}, ${yy})`);
  const width = Number(/<svg width="([\d.]+)pt"/.exec(svg)![1]);
  const oneRow = Number(/<svg width="([\d.]+)pt"/.exec(await renderDotSvg(toDot({ ...spec, maxPerRow: undefined })))![1]);
  assert.ok(width < oneRow / 1.8 && width < 12 * 72 + 200, `wrapped ${width} pt wide vs ${oneRow} pt in one row`);
});

test('node ids are unique per hook: blocks.0.hook_resid_pre and blocks.0.hook_resid_post keep their own features and error nodes', () => {
  const pre = 'blocks.0.hook_resid_pre';
  const post = 'blocks.0.hook_resid_post';
  // two features + an error node per hook, every node above the threshold; one edge block pre -> post
  const byHook = new Map([pre, post].map((h) => [h, { hook: h, dSae: 2, effects: Float32Array.from([1, 2, 3]), nodes: Float32Array.from([1, 2, 3]) }]));
  const attr = { method: 'atp' as const, N: 1, T: 1, hooks: [pre, post], byHook, metricClean: new Float32Array(1), metricPatch: Float32Array.from([6]) };
  const edges = [{ up: pre, down: post, downNodes: [0, 2], dUp: 2, weights: Float32Array.from([0.5, 0, 0.7, 0, 0, 0.9]) }];
  const c = buildCircuit(attr, edges, { nodeThreshold: 0.5, edgeThreshold: 0.1 });
  const ids = c.nodes.map((n) => n.id);
  assert.deepStrictEqual(ids, ['0.0', '0.1', '0.err', '0.resid_post.0', '0.resid_post.1', '0.resid_post.err', 'y']);
  assert.strictEqual(new Set(ids).size, ids.length, 'no two nodes share an id');
  // the pre -> post edges by hand: (pre 0 -> post 0) 0.5, (pre err -> post 0) 0.7, (pre err -> post err) 0.9; no self-loops
  const prePost = c.edges.filter((e) => e.to !== 'y').map((e) => [e.from, e.to, e.weight]);
  assert.deepStrictEqual(prePost.map(([f, t]) => [f, t]).sort(), [['0.0', '0.resid_post.0'], ['0.err', '0.resid_post.0'], ['0.err', '0.resid_post.err']].sort());
  assert.ok(c.edges.every((e) => e.from !== e.to));
});
