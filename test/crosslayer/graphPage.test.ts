/**
 * The cross-layer graph browser at the published shape of the demo (4 layers x 512 features), opened in
 * headless Chromium: the default view is one community, every node drawn once and labelled with no two
 * labels overlapping; the strongest-links and everything views draw what they say; no script errors.
 * Screenshots of each view go to build/page-check/ for review.
 */
import { after, before, test } from 'node:test';
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { pathToFileURL } from 'url';
import { SparseMatrix, featureGraph, writeFeatureGraphHtml } from '../../lib/analysis/crosslayer';
import { Chromium } from '../../lib/browser/chromium';
import { mulberry32 } from '../../lib/data/random';
import { tmpDir } from '../helpers';
import { PAGE_CHECK_DIR } from '../notebooks/pages';

const L = 4;
const D = 512;
const GROUPS = 48;

/**
 * Pearson-like links between adjacent layers: feature i of layer l links to 1-3 features of layer l+1 in
 * the same planted group (i mod GROUPS), weights in [0.5, 0.95], plus a few weak cross-group links.
 */
function plantedGraph() {
  const rand = mulberry32(7);
  const pairs = [];
  for (let l = 0; l + 1 < L; l++) {
    const t: Array<[number, number, number]> = [];
    for (let i = 0; i < D; i++) {
      if (rand() < 0.3) continue; // not every feature has a partner
      const k = 1 + Math.floor(rand() * 3);
      for (let j = 0; j < k; j++) {
        const target = (i % GROUPS) + GROUPS * Math.floor(rand() * Math.floor(D / GROUPS));
        t.push([i, target, 0.5 + 0.45 * rand()]);
      }
      if (rand() < 0.1) t.push([i, Math.floor(rand() * D), 0.5 + 0.05 * rand()]);
    }
    const dedup = new Map(t.map((x) => [`${x[0]},${x[1]}`, x] as const));
    const s = [...dedup.values()].sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    pairs.push({ pearson_correlation: new SparseMatrix([D, D], Int32Array.from(s, (x) => x[0]), Int32Array.from(s, (x) => x[1]), Float32Array.from(s, (x) => x[2])) });
  }
  return featureGraph(pairs, { min_weight: 0.5, top_k: 3 });
}

let browser: Chromium;
before(async () => { browser = await Chromium.launch(); });
after(async () => { await browser?.close(); });

type ViewInfo = { circles: number; lines: number; labels: number; overlaps: number; showing: string; width: number; height: number };
const VIEW_INFO = `(() => {
  const svg = document.querySelector('#graph svg');
  const boxes = Array.from(svg.querySelectorAll('text.label')).map((t) => t.getBoundingClientRect());
  let overlaps = 0;
  for (let i = 0; i < boxes.length; i++) for (let j = i + 1; j < boxes.length; j++) {
    const a = boxes[i], b = boxes[j];
    if (a.left < b.right - 0.5 && b.left < a.right - 0.5 && a.top < b.bottom - 0.5 && b.top < a.bottom - 0.5) overlaps++;
  }
  return { circles: svg.querySelectorAll('circle').length, lines: svg.querySelectorAll('line').length, labels: boxes.length, overlaps,
    showing: document.getElementById('showing').textContent, width: svg.getBoundingClientRect().width, height: svg.getBoundingClientRect().height };
})()`;

test('the cross-layer graph browser stays readable at 4 layers x 512 features', async () => {
  const g = plantedGraph();
  assert.ok(g.nodes.length > 1000 && g.edges.length > 2000, `a large graph: ${g.nodes.length} nodes, ${g.edges.length} links`);
  const dir = tmpDir('graph-page-');
  const file = path.join(dir, 'graph.html');
  writeFeatureGraphHtml(file, g, { title: 'planted 4x512 graph' });
  fs.mkdirSync(PAGE_CHECK_DIR, { recursive: true });

  // sizes of the communities, largest first, from the graph itself
  const sizes = new Map<number, number>();
  for (const n of g.nodes) sizes.set(n.community, (sizes.get(n.community) ?? 0) + 1);
  const largest = [...sizes.entries()].sort((a, b) => b[1] - a[1] || a[0] - b[0])[0];
  const internal = (c: number) => g.edges.filter((e) => g.nodes.find((n) => n.id === e.source)!.community === c && g.nodes.find((n) => n.id === e.target)!.community === c).length;

  const page = await browser.open(pathToFileURL(file).href, { width: 1400, height: 1000 });
  try {
    const first = await page.evaluate<ViewInfo>(VIEW_INFO);
    assert.strictEqual(first.circles, largest[1], 'the default view draws the largest community, each feature once');
    assert.strictEqual(first.lines, internal(largest[0]), 'and the links inside it');
    assert.strictEqual(first.labels, first.circles, 'every feature labelled');
    assert.strictEqual(first.overlaps, 0, 'no two labels overlap');
    assert.match(first.showing, new RegExp(`community ${largest[0]} \\(#1 by size\\): ${largest[1]} features`));
    await page.screenshot(path.join(PAGE_CHECK_DIR, 'graph-4x512-community.png'), { width: 1400 });
    // clicking a feature shows its links
    const clicked = await page.evaluate<{ id: string; heading: string; links: number }>(`(() => {
      const c = document.querySelector('#graph circle');
      const id = c.querySelector('title').textContent.split(' ')[0];
      c.dispatchEvent(new MouseEvent('click', { bubbles: true }));
      return { id, heading: document.querySelector('#info h3').textContent, links: document.querySelectorAll('#info a.node').length - 1 };
    })()`);
    const [cl, cf] = clicked.id.split('/').map(Number);
    assert.strictEqual(clicked.heading, `Layer ${cl}, feature ${cf}`);
    assert.strictEqual(clicked.links, g.edges.filter((e) => e.source === clicked.id || e.target === clicked.id).length, 'the side panel lists every link of the clicked feature');

    await page.evaluate(`(location.hash = '#top=100', location.reload(), 0)`);
    await browser.waitFor('Page.loadEventFired', page.sessionId, 30_000);
    const top = await page.evaluate<ViewInfo>(VIEW_INFO);
    assert.strictEqual(top.lines, 100, 'the strongest 100 links');
    const strongest = g.edges.slice().sort((a, b) => Math.abs(b.weight) - Math.abs(a.weight)).slice(0, 100);
    assert.strictEqual(top.circles, new Set(strongest.flatMap((e) => [e.source, e.target])).size, 'and only their features');
    assert.strictEqual(top.overlaps, 0, 'no two labels overlap');
    await page.screenshot(path.join(PAGE_CHECK_DIR, 'graph-4x512-top100.png'), { width: 1400 });

    await page.evaluate(`(location.hash = '#all', location.reload(), 0)`);
    await browser.waitFor('Page.loadEventFired', page.sessionId, 30_000);
    const all = await page.evaluate<ViewInfo>(VIEW_INFO);
    assert.deepStrictEqual([all.circles, all.lines], [g.nodes.length, g.edges.length], 'everything drawn');
    assert.ok(all.height < 2600, `the whole graph fits in ${all.height} px of height`);
    await page.setViewport(1400, Math.ceil(all.height) + 40); // the graph scrolls inside the page: show all of it
    await page.screenshot(path.join(PAGE_CHECK_DIR, 'graph-4x512-all.png'), { width: 1400 });
    assert.deepStrictEqual(page.errors, [], 'no script errors');
  } finally {
    await page.close();
  }
});
