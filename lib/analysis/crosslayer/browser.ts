import { writeFileAtomic } from '../../io/atomic';
import { FeatureGraph } from './graph';

/** One top-activating context of a feature: token strings, the position that fired, the activation. */
export interface BrowserContext {
  tokens: string[];
  position: number;
  activation: number;
}

/** Where a feature lives on Neuronpedia: https://www.neuronpedia.org/<model>/<sae_id(layer)>/<feature>. */
export interface NeuronpediaSource {
  model: string;
  sae_id: (layer: number) => string;
}

/** gpt2-small-res-jb on Neuronpedia (the seed's SAEs): gpt2-small/<L>-res-jb/<feature>. */
export const NEURONPEDIA_GPT2_SMALL_RES_JB: NeuronpediaSource = { model: 'gpt2-small', sae_id: (layer) => `${layer}-res-jb` };

export function neuronpediaUrl(src: NeuronpediaSource, layer: number, feature: number): string {
  return `https://www.neuronpedia.org/${encodeURIComponent(src.model)}/${encodeURIComponent(src.sae_id(layer))}/${feature}`;
}

export interface BrowserOptions {
  title?: string;
  /** set for published SAEs: each node links to its Neuronpedia page */
  neuronpedia?: NeuronpediaSource | null;
  /** top-activating contexts by node id ("L/feature") */
  contexts?: Record<string, BrowserContext[]>;
}

/** JSON safe to embed in a <script> element (no `<`, `>`, `&`, U+2028/2029 left raw). */
function scriptJson(value: unknown): string {
  return JSON.stringify(value).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]!));
}

/**
 * A self-contained static HTML page browsing a feature graph: one column per layer, nodes grouped and
 * coloured by community, edges shaded by weight; clicking a node shows its links, its top activating
 * contexts (the firing token highlighted) and, for published SAEs, a link to Neuronpedia. No network
 * access or external scripts; all text is inserted as text, never as markup.
 */
export function featureGraphHtml(graph: FeatureGraph, options: BrowserOptions = {}): string {
  const title = options.title ?? `Cross-layer feature graph (${graph.stat})`;
  const data = {
    stat: graph.stat, modularity: graph.modularity, communities: graph.communities,
    nodes: graph.nodes.map((n) => ({ ...n, url: options.neuronpedia ? neuronpediaUrl(options.neuronpedia, n.layer, n.feature) : null })),
    edges: graph.edges, contexts: options.contexts ?? {},
  };
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>
<style>
body{font-family:system-ui,sans-serif;margin:0;display:flex;height:100vh}
#graph{flex:1;overflow:auto;border-right:1px solid #ccc}
#side{width:420px;overflow:auto;padding:12px;font-size:14px}
.ctx{font-family:monospace;white-space:pre-wrap;margin:4px 0;padding:4px;background:#f6f6f6}
.hit{background:#fc6;font-weight:bold}
a.node{cursor:pointer;color:#06c;text-decoration:underline}
circle{cursor:pointer;stroke:#333;stroke-width:0.5}
circle.sel{stroke:#000;stroke-width:3}
</style></head><body>
<div id="graph"></div>
<div id="side"><h2>${escapeHtml(title)}</h2>
<p id="summary"></p>
<p><input id="find" placeholder="layer/feature, e.g. 3/1207"> <button id="go">find</button></p>
<div id="info">Click a node.</div></div>
<script type="application/json" id="data">${scriptJson(data)}</script>
<script>
(function () {
  var D = JSON.parse(document.getElementById('data').textContent);
  var byId = {}; D.nodes.forEach(function (n) { byId[n.id] = n; n.out = []; n.inn = []; });
  D.edges.forEach(function (e) { byId[e.source].out.push(e); byId[e.target].inn.push(e); });
  var layers = {}; D.nodes.forEach(function (n) { (layers[n.layer] = layers[n.layer] || []).push(n); });
  var ls = Object.keys(layers).map(Number).sort(function (a, b) { return a - b; });
  var colW = 160, rowH = 14, pad = 40, maxRows = 1;
  ls.forEach(function (l, c) {
    layers[l].sort(function (a, b) { return a.community - b.community || a.feature - b.feature; });
    layers[l].forEach(function (n, r) { n.x = pad + c * colW; n.y = pad + r * rowH; });
    maxRows = Math.max(maxRows, layers[l].length);
  });
  var NS = 'http://www.w3.org/2000/svg';
  var svg = document.createElementNS(NS, 'svg');
  svg.setAttribute('width', String(pad * 2 + colW * Math.max(ls.length - 1, 0) + 40));
  svg.setAttribute('height', String(pad * 2 + rowH * maxRows));
  function color(c) { return 'hsl(' + ((c * 137.508) % 360).toFixed(1) + ',65%,55%)'; }
  ls.forEach(function (l, c) {
    var t = document.createElementNS(NS, 'text'); t.setAttribute('x', String(pad + c * colW - 12)); t.setAttribute('y', '20');
    t.textContent = 'layer ' + l; svg.appendChild(t);
  });
  D.edges.forEach(function (e) {
    var a = byId[e.source], b = byId[e.target], ln = document.createElementNS(NS, 'line');
    ln.setAttribute('x1', a.x); ln.setAttribute('y1', a.y); ln.setAttribute('x2', b.x); ln.setAttribute('y2', b.y);
    ln.setAttribute('stroke', '#555'); ln.setAttribute('stroke-opacity', String(Math.min(1, Math.abs(e.weight))));
    svg.appendChild(ln);
  });
  var circles = {};
  D.nodes.forEach(function (n) {
    var ci = document.createElementNS(NS, 'circle');
    ci.setAttribute('cx', n.x); ci.setAttribute('cy', n.y); ci.setAttribute('r', '5'); ci.setAttribute('fill', color(n.community));
    var tt = document.createElementNS(NS, 'title'); tt.textContent = n.id + ' (community ' + n.community + ')'; ci.appendChild(tt);
    ci.addEventListener('click', function () { show(n.id); });
    svg.appendChild(ci); circles[n.id] = ci;
  });
  document.getElementById('graph').appendChild(svg);
  document.getElementById('summary').textContent = D.nodes.length + ' features, ' + D.edges.length + ' links (' + D.stat + '), ' +
    D.communities + ' communities, modularity ' + D.modularity.toFixed(3);
  function el(tag, text, cls) { var x = document.createElement(tag); if (text != null) x.textContent = text; if (cls) x.className = cls; return x; }
  function nodeLink(id, w) {
    var a = el('a', id + (w != null ? ' (' + w.toFixed(3) + ')' : ''), 'node'); a.addEventListener('click', function () { show(id); }); return a;
  }
  var current = null;
  function show(id) {
    var n = byId[id], info = document.getElementById('info');
    if (!n) { info.textContent = 'No feature ' + id + ' in this graph.'; return; }
    if (current) circles[current].setAttribute('class', '');
    circles[id].setAttribute('class', 'sel'); current = id;
    circles[id].scrollIntoView({ block: 'center', inline: 'center' });
    info.textContent = '';
    info.appendChild(el('h3', 'Layer ' + n.layer + ', feature ' + n.feature));
    info.appendChild(el('p', 'community ' + n.community));
    if (n.url) { var a = el('a', 'Open on Neuronpedia'); a.href = n.url; a.target = '_blank'; a.rel = 'noopener'; info.appendChild(a); }
    [['links from the previous layer', n.inn, 'source'], ['links to the next layer', n.out, 'target']].forEach(function (g) {
      if (!g[1].length) return;
      info.appendChild(el('h4', g[0]));
      g[1].forEach(function (e) { var p = el('div'); p.appendChild(nodeLink(e[g[2]], e.weight)); info.appendChild(p); });
    });
    var ctx = D.contexts[id] || [];
    info.appendChild(el('h4', ctx.length ? 'top activating contexts' : 'no contexts recorded'));
    ctx.forEach(function (c) {
      var box = el('div', null, 'ctx');
      box.appendChild(el('span', c.activation.toFixed(3) + '  '));
      c.tokens.forEach(function (t, k) { box.appendChild(el('span', t, k === c.position ? 'hit' : null)); });
      info.appendChild(box);
    });
  }
  document.getElementById('go').addEventListener('click', function () { show(document.getElementById('find').value.trim()); });
})();
</script></body></html>
`;
}

/** Write the browser page atomically. */
export function writeFeatureGraphHtml(file: string, graph: FeatureGraph, options: BrowserOptions = {}): void {
  writeFileAtomic(file, featureGraphHtml(graph, options));
}
