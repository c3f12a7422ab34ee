import { before, describe, it } from 'node:test';
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { setupBackend, tmpDir } from '../helpers';
import {
  SparseMatrix, TopActivations, featureGraph, featureGraphHtml, louvain, modularity, passThrough, sparseFromLists, writeFeatureGraphHtml,
  NEURONPEDIA_GPT2_SMALL_RES_JB, neuronpediaUrl,
} from '../../lib/analysis/crosslayer';

before(setupBackend);

/** Sparse matrix from (i, j, v) triples (sorted row-major here). */
function sm(d: number, triples: Array<[number, number, number]>): SparseMatrix {
  const t = triples.slice().sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  return new SparseMatrix([d, d], Int32Array.from(t, (x) => x[0]), Int32Array.from(t, (x) => x[1]), Float32Array.from(t, (x) => x[2]));
}

describe('Louvain', () => {
  it('modularity matches the definition computed by hand', () => {
    // two triangles joined by one edge: m = 7, each community has 3 internal edges, degree total 7
    const edges: Array<[number, number, number]> = [[0, 1, 1], [1, 2, 1], [0, 2, 1], [3, 4, 1], [4, 5, 1], [3, 5, 1], [2, 3, 1]];
    const q = modularity({ n: 6, edges }, [0, 0, 0, 1, 1, 1]);
    assert.ok(Math.abs(q - 2 * (3 / 7 - (7 / 14) ** 2)) < 1e-12, `Q ${q}`);
    assert.ok(Math.abs(modularity({ n: 6, edges }, [0, 0, 0, 0, 0, 0])) < 1e-12);
  });

  it('recovers planted cliques in a ring and reports their modularity', () => {
    // 5 cliques of 6 nodes; neighbouring cliques joined by one weak edge
    const edges: Array<[number, number, number]> = [];
    const K = 5, S = 6;
    for (let c = 0; c < K; c++) {
      for (let a = 0; a < S; a++) for (let b = a + 1; b < S; b++) edges.push([c * S + a, c * S + b, 1]);
      edges.push([c * S, ((c + 1) % K) * S + 1, 0.2]);
    }
    const res = louvain({ n: K * S, edges });
    assert.strictEqual(res.count, K);
    for (let v = 0; v < K * S; v++) assert.strictEqual(res.communities[v], res.communities[Math.floor(v / S) * S]);
    const m = K * 15 + K * 0.2;
    const expected = K * (15 / m - ((15 * 2 + 0.4) / (2 * m)) ** 2);
    assert.ok(Math.abs(res.modularity - expected) < 1e-12, `${res.modularity} vs ${expected}`);
  });

  it('handles isolated nodes and empty graphs', () => {
    const r = louvain({ n: 3, edges: [] });
    assert.deepStrictEqual(Array.from(r.communities), [0, 1, 2]);
    assert.strictEqual(r.modularity, 0);
    assert.throws(() => louvain({ n: 2, edges: [[0, 5, 1]] }), /outside nodes 0..1/);
  });
});

describe('pass-through and feature graph', () => {
  const d = 4;
  // layer 0 -> 1: f0 -> f0 (0.9), f1 -> f2 (0.45), f2 -> f1 (-0.8: negative, not a pass-through), f3 none
  // layer 1 -> 2: f0 -> f3 (0.6), f0 -> f1 (0.55), f1 -> f1 (0.3)
  const p01 = sm(d, [[0, 0, 0.9], [1, 2, 0.45], [2, 1, -0.8], [0, 3, 0.2]]);
  const p12 = sm(d, [[0, 3, 0.6], [0, 1, 0.55], [1, 1, 0.3]]);

  it('pass-through share: max Pearson with the next layer >= 0.4 / 0.5', () => {
    const rows = passThrough([p01, p12], [0.4, 0.5], [Float32Array.of(1, 1, 1, 0), Float32Array.of(1, 1, 1, 1), Float32Array.of(1, 1, 1, 1)]);
    assert.deepStrictEqual(rows, [
      { layer: 0, threshold: 0.4, count: 2, share: 0.5, share_of_alive: 2 / 3 },
      { layer: 0, threshold: 0.5, count: 1, share: 0.25, share_of_alive: 1 / 3 },
      { layer: 1, threshold: 0.4, count: 1, share: 0.25, share_of_alive: 0.25 },
      { layer: 1, threshold: 0.5, count: 1, share: 0.25, share_of_alive: 0.25 },
    ]);
  });

  it('graph keeps the top-k links above the threshold; communities by Louvain', () => {
    const g = featureGraph([{ pearson_correlation: p01 }, { pearson_correlation: p12 }], { min_weight: 0.5, top_k: 1 });
    assert.deepStrictEqual(g.edges.map((e) => [e.source, e.target, Math.fround(e.weight)]), [['0/0', '1/0', Math.fround(0.9)], ['1/0', '2/3', Math.fround(0.6)]]);
    assert.deepStrictEqual(g.nodes.map((n) => n.id), ['0/0', '1/0', '2/3']);
    assert.strictEqual(g.communities, 1);
    const g2 = featureGraph([{ pearson_correlation: p01 }, { pearson_correlation: p12 }], { min_weight: 0.4, top_k: 2 });
    assert.strictEqual(g2.edges.length, 4);
    assert.throws(() => featureGraph([{ sufficiency: p01 }]), /no statistic 'pearson_correlation'/);
  });

  it('HTML browser: self-contained, escaped, Neuronpedia links and contexts', () => {
    const g = featureGraph([{ pearson_correlation: p01 }, { pearson_correlation: p12 }], { min_weight: 0.5, top_k: 1 });
    const html = featureGraphHtml(g, {
      title: 'demo <world>', neuronpedia: NEURONPEDIA_GPT2_SMALL_RES_JB,
      contexts: { '0/0': [{ tokens: ['a', '</script><script>alert(1)</script>', 'c'], position: 1, activation: 2.5 }] },
    });
    assert.ok(html.startsWith('<!DOCTYPE html>'));
    assert.ok(html.includes('<title>demo &lt;world&gt;</title>'));
    assert.ok(!/<script[^>]*\ssrc=/.test(html), 'no external scripts');
    assert.strictEqual(html.split('</script>').length - 1, 2, 'the context text cannot close the data script');
    const json = JSON.parse(/<script type="application\/json" id="data">([\s\S]*?)<\/script>/.exec(html)![1]);
    assert.strictEqual(json.nodes[0].url, 'https://www.neuronpedia.org/gpt2-small/0-res-jb/0');
    assert.strictEqual(json.contexts['0/0'][0].tokens[1], '</script><script>alert(1)</script>');
    assert.strictEqual(neuronpediaUrl(NEURONPEDIA_GPT2_SMALL_RES_JB, 11, 24575), 'https://www.neuronpedia.org/gpt2-small/11-res-jb/24575');
    const file = path.join(tmpDir('crosslayer-html-'), 'graph.html');
    writeFeatureGraphHtml(file, g);
    assert.ok(fs.readFileSync(file, 'utf8').includes('"url":null'));
  });

  it('top activations per tracked feature across batches', () => {
    const top = new TopActivations([[1], [0]], 2);
    top.add([sparseFromLists(3, [[[1, 0.5]], [[1, 2]], []]), sparseFromLists(3, [[[0, 1]], [], [[0, 3]]])]);
    top.add([sparseFromLists(3, [[[1, 1]], [[2, 9]]]), sparseFromLists(3, [[[0, 0.1]], [[0, 4]]])]);
    assert.deepStrictEqual(top.top(0, 1), [{ activation: 2, token: 1 }, { activation: 1, token: 3 }]);
    assert.deepStrictEqual(top.top(1, 0), [{ activation: 4, token: 4 }, { activation: 3, token: 2 }]);
    assert.deepStrictEqual(top.top(0, 2), []);
  });
});
