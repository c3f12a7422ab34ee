import { writeFileAtomic } from '../../io/atomic';
import { escapeHtml } from '../../plots/table';
import { FeatureGraph } from './graph';
import { communityRanks, laneLayout } from './graphLayout';

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

/**
 * A self-contained static HTML page browsing a feature graph, readable at any size: one community at a
 * time (the default view: the largest community, its layers as columns, nodes labelled and ordered to
 * cross few links), the strongest links alone, or everything (nodes ordered by community and by their
 * neighbours, so communities form bands). Clicking a node shows its links, its top activating contexts
 * (the firing token highlighted) and, for published SAEs, a link to Neuronpedia. The view is kept in the
 * address (#community=3, #top=100, #all, #node=2/17) for sharing. No network access or external
 * scripts; all text is inserted as text, never as markup.
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
#side{width:440px;overflow:auto;padding:12px;font-size:14px}
#views button{margin-right:4px}
#views button.on{font-weight:bold;background:#def}
#communities{max-height:260px;overflow:auto;border:1px solid #ddd;margin:6px 0}
#communities div{padding:2px 6px;cursor:pointer;display:flex;gap:8px;align-items:center}
#communities div.on{background:#def;font-weight:bold}
.swatch{display:inline-block;width:10px;height:10px;border-radius:5px}
.ctx{font-family:monospace;white-space:pre-wrap;margin:4px 0;padding:4px;background:#f6f6f6}
.hit{background:#fc6;font-weight:bold}
a.node{cursor:pointer;color:#06c;text-decoration:underline}
circle{cursor:pointer;stroke:#333;stroke-width:0.5}
circle.sel{stroke:#000;stroke-width:3}
text.label{font-size:11px;fill:#222;cursor:pointer;paint-order:stroke;stroke:#fff;stroke-width:3px;stroke-linejoin:round}
text.layer{font-size:13px;font-weight:bold}
</style></head><body>
<div id="graph"></div>
<div id="side"><h2>${escapeHtml(title)}</h2>
<p id="summary"></p>
<p id="views"><button data-view="community">one community</button><button data-view="top">strongest links</button><button data-view="all">everything</button></p>
<div id="viewopts"></div>
<p id="showing"></p>
<p><input id="find" placeholder="layer/feature, e.g. 3/1207"> <button id="go">find</button></p>
<div id="info">Click a node.</div></div>
<script type="application/json" id="data">${scriptJson(data)}</script>
<script>
(function () {
  var D = JSON.parse(document.getElementById('data').textContent);
  var byId = {}; D.nodes.forEach(function (n) { byId[n.id] = n; n.out = []; n.inn = []; });
  D.edges.forEach(function (e) { byId[e.source].out.push(e); byId[e.target].inn.push(e); });
  // the same layout and community order as the notebook's plot (lib/analysis/crosslayer/graphLayout.ts, embedded)
  var communityRanks = ${communityRanks.toString()};
  var laneLayout = ${laneLayout.toString()};
  // communities, largest first: members and layers spanned
  var commRank = communityRanks(D.nodes, D.edges);
  var comms = {};
  D.nodes.forEach(function (n) { (comms[n.community] = comms[n.community] || { id: n.community, nodes: [], layers: {} }).nodes.push(n.id); comms[n.community].layers[n.layer] = 1; });
  var commList = Object.keys(comms).map(function (k) { return comms[k]; }).sort(function (a, b) { return commRank[a.id] - commRank[b.id]; });
  function color(c) { return 'hsl(' + ((commRank[c] * 137.508) % 360).toFixed(1) + ',65%,50%)'; }
  var NS = 'http://www.w3.org/2000/svg';
  function el(tag, text, cls) { var x = document.createElement(tag); if (text != null) x.textContent = text; if (cls) x.className = cls; return x; }
  function sv(tag, attrs) { var x = document.createElementNS(NS, tag); for (var k in attrs) x.setAttribute(k, String(attrs[k])); return x; }

  var circles = {}, current = null, view = null;
  // how: { labels, edges (only these links), text }
  function draw(ids, how) {
    var nodes = ids.map(function (id) { return byId[id]; });
    var set = {}; ids.forEach(function (id) { set[id] = 1; });
    var edges = how.edges || D.edges.filter(function (e) { return set[e.source] && set[e.target]; });
    var LL = laneLayout(nodes, edges, commRank);
    var labels = how.labels, pad = 40, top = pad + 20, rows = Math.max(1, LL.rows + 1);
    var colW = labels ? 230 : 150, rowH = labels ? 22 : Math.max(2, Math.min(14, Math.floor(2000 / rows)));
    var r = labels ? 6 : Math.max(1, Math.min(5, rowH / 2 - 0.25));
    nodes.forEach(function (n) { var p = LL.pos[n.id]; n.x = pad + p.col * colW; n.y = top + p.row * rowH; });
    var L = { layers: LL.layers, edges: edges, cols: LL.layers };
    var lane = {}; LL.lanes.forEach(function (ln) { lane[ln.community] = ln; });
    var width = pad * 2 + colW * Math.max(L.cols.length - 1, 0) + (labels ? 120 : 40);
    var svg = sv('svg', { width: width, height: top + pad + rowH * rows });
    if (LL.lanes.length > 1) Object.keys(lane).forEach(function (k) {
      var ln = lane[k];
      var bg = sv('rect', { x: pad - 12, y: top + (ln.start - 0.5) * rowH, width: colW * Math.max(L.cols.length - 1, 0) + 24, height: ln.height * rowH, fill: color(Number(k)), 'fill-opacity': 0.09 });
      var tt = sv('title', {}); tt.textContent = 'community ' + k; bg.appendChild(tt);
      svg.appendChild(bg);
    });
    L.layers.forEach(function (l, ci) { var t = sv('text', { x: pad + ci * colW - 16, y: 24, 'class': 'layer' }); t.textContent = 'layer ' + l; svg.appendChild(t); });
    var maxW = Math.max.apply(null, L.edges.map(function (e) { return Math.abs(e.weight); }).concat([1e-9]));
    L.edges.forEach(function (e) {
      var a = byId[e.source], b = byId[e.target], w = Math.abs(e.weight) / maxW;
      var ln = sv('line', { x1: a.x, y1: a.y, x2: b.x, y2: b.y, stroke: e.weight >= 0 ? '#2458a8' : '#c0392b', 'stroke-opacity': (0.25 + 0.65 * w).toFixed(3), 'stroke-width': (labels ? 0.8 + 3 * w : 0.4 + 1.2 * w).toFixed(2) });
      var tt = sv('title', {}); tt.textContent = e.source + ' -> ' + e.target + ': ' + e.weight.toFixed(3); ln.appendChild(tt);
      svg.appendChild(ln);
    });
    circles = {};
    nodes.forEach(function (n) {
      var ci = sv('circle', { cx: n.x, cy: n.y, r: r, fill: color(n.community) });
      var tt = sv('title', {}); tt.textContent = n.id + ' (community ' + n.community + ')'; ci.appendChild(tt);
      ci.addEventListener('click', function () { show(n.id); });
      svg.appendChild(ci); circles[n.id] = ci;
      if (labels) { var t = sv('text', { x: n.x + r + 3, y: n.y + 4, 'class': 'label' }); t.textContent = n.id; t.addEventListener('click', function () { show(n.id); }); svg.appendChild(t); }
    });
    var g = document.getElementById('graph'); g.textContent = ''; g.appendChild(svg);
    document.getElementById('showing').textContent = how.text + ': ' + ids.length + ' features, ' + L.edges.length + ' links.';
    if (current && circles[current]) circles[current].setAttribute('class', 'sel');
  }

  function setView(v, arg, keepHash) {
    view = { v: v, arg: arg };
    Array.prototype.forEach.call(document.querySelectorAll('#views button'), function (b) { b.className = b.getAttribute('data-view') === v ? 'on' : ''; });
    var opts = document.getElementById('viewopts'); opts.textContent = '';
    if (v === 'community') {
      var c = comms[arg] || commList[0]; view.arg = c.id;
      var list = el('div'); list.id = 'communities';
      commList.forEach(function (k, i) {
        var row = el('div', null, k.id === c.id ? 'on' : '');
        var sw = el('span', null, 'swatch'); sw.style.background = color(k.id); row.appendChild(sw);
        row.appendChild(el('span', '#' + (i + 1) + ' community ' + k.id + ': ' + k.nodes.length + ' features, layers ' + Object.keys(k.layers).join(',')));
        row.addEventListener('click', function () { setView('community', k.id); });
        list.appendChild(row);
      });
      opts.appendChild(el('div', commList.length + ' communities, largest first:'));
      opts.appendChild(list);
      draw(c.nodes, { labels: true, text: 'community ' + c.id + ' (#' + (commRank[c.id] + 1) + ' by size)' });
    } else if (v === 'top') {
      var n = Math.max(1, Math.min(D.edges.length, Number(arg) || 100)); view.arg = n;
      var sel = el('select');
      [25, 50, 100, 200, 400].forEach(function (k) { var o = el('option', 'strongest ' + k + ' links'); o.value = String(k); if (k === n) o.selected = true; sel.appendChild(o); });
      sel.addEventListener('change', function () { setView('top', Number(sel.value)); });
      opts.appendChild(sel);
      var top = D.edges.slice().sort(function (a, b) { return Math.abs(b.weight) - Math.abs(a.weight); }).slice(0, n);
      var ids = {}; top.forEach(function (e) { ids[e.source] = 1; ids[e.target] = 1; });
      draw(Object.keys(ids), { edges: top, labels: Object.keys(ids).length <= 400, text: 'the ' + n + ' strongest links and their features (one band per community)' });
    } else {
      draw(D.nodes.map(function (x) { return x.id; }), { labels: D.nodes.length <= 120, text: 'everything (one band per community)' });
    }
    if (!keepHash) history.replaceState(null, '', '#' + (v === 'all' ? 'all' : v + '=' + view.arg));
  }
  Array.prototype.forEach.call(document.querySelectorAll('#views button'), function (b) {
    b.addEventListener('click', function () { var v = b.getAttribute('data-view'); setView(v, v === 'top' ? 100 : v === 'community' ? commList[0] && commList[0].id : null); });
  });

  document.getElementById('summary').textContent = D.nodes.length + ' features, ' + D.edges.length + ' links (' + D.stat + '), ' +
    D.communities + ' communities, modularity ' + D.modularity.toFixed(3);
  function nodeLink(id, w) {
    var a = el('a', id + (w != null ? ' (' + w.toFixed(3) + ')' : ''), 'node'); a.addEventListener('click', function () { show(id); }); return a;
  }
  function show(id) {
    var n = byId[id], info = document.getElementById('info');
    if (!n) { info.textContent = 'No feature ' + id + ' in this graph.'; return; }
    if (!circles[id]) setView('community', n.community);
    if (current && circles[current]) circles[current].setAttribute('class', '');
    circles[id].setAttribute('class', 'sel'); current = id;
    circles[id].scrollIntoView({ block: 'center', inline: 'center' });
    info.textContent = '';
    info.appendChild(el('h3', 'Layer ' + n.layer + ', feature ' + n.feature));
    var cm = el('a', 'community ' + n.community + ' (' + comms[n.community].nodes.length + ' features): show it', 'node');
    cm.addEventListener('click', function () { setView('community', n.community); show(id); });
    info.appendChild(cm);
    if (n.url) { var a = el('a', 'Open on Neuronpedia'); a.href = n.url; a.target = '_blank'; a.rel = 'noopener'; info.appendChild(el('br')); info.appendChild(a); }
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

  var h = decodeURIComponent(location.hash.slice(1)), m;
  if ((m = /^community=(-?\\d+)$/.exec(h))) setView('community', Number(m[1]), true);
  else if ((m = /^top=(\\d+)$/.exec(h))) setView('top', Number(m[1]), true);
  else if (h === 'all') setView('all', null, true);
  else if ((m = /^node=(.+)$/.exec(h)) && byId[m[1]]) { setView('community', byId[m[1]].community, true); show(m[1]); }
  else if (commList.length) setView('community', commList[0].id, true);
})();
</script></body></html>
`;
}

/** Write the browser page atomically. */
export function writeFeatureGraphHtml(file: string, graph: FeatureGraph, options: BrowserOptions = {}): void {
  writeFileAtomic(file, featureGraphHtml(graph, options));
}
